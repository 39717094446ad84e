//! Building the [`Engine`] for the global options, and exit codes for its
//! errors: the helper binaries are found next to the running `rcrun`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use rcrun_engine::{Binaries, Engine, EngineError, Paths};

use super::GlobalOpts;

/// The CNI conf dir (`$CNI_CONF_DIR`, default `/etc/cni/net.d`).
fn cni_conf_dir() -> PathBuf {
    std::env::var_os("CNI_CONF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/cni/net.d"))
}

/// The engine for `g`.
pub fn engine(g: &GlobalOpts) -> Result<Engine> {
    let exe = std::env::current_exe().context("locate the rcrun executable")?;
    let dir = exe
        .parent()
        .map(PathBuf::from)
        .context("the rcrun executable has no directory")?;
    let mut bins = Binaries::in_dir(&dir);
    bins.rcrun = exe;
    let paths = Paths::new(&g.root, &g.data_root);
    Ok(Engine::new(
        paths,
        bins,
        super::network::driver(g)?,
        cni_conf_dir(),
    ))
}

/// The exit code for a command's error: 126/127 when the container's
/// command could not be run, 125 for anything else.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    e.downcast_ref::<EngineError>()
        .map(EngineError::exit_code)
        .unwrap_or(125)
}
