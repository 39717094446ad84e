//! `rcrun-oci create <id> --bundle DIR`: set the container up; its init
//! waits for `start`.

use std::path::PathBuf;

use anyhow::Context;
use rcrun_runtime::{exe_seal, CreateOptions};

use super::GlobalOpts;

/// Options shared by `create` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Path to the bundle directory (holding config.json).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container init's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Pass N more descriptors (3..3+N) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Unix socket that receives the pty master when process.terminal is true.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility; rcrun-oci always uses pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility; no session keyring is created.
    #[arg(long)]
    pub no_new_keyring: bool,
}

/// `create` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
    #[command(flatten)]
    pub opts: CreateArgs,
}

/// Re-exec from a sealed binary (CVE-2019-5736), then create the container.
pub fn create_container(g: &GlobalOpts, id: &str, a: &CreateArgs) -> anyhow::Result<i32> {
    exe_seal::reexec_sealed().context("protect the runtime binary")?;
    let store = super::store(g)?;
    let rec = rcrun_runtime::create(
        &store,
        &CreateOptions {
            id: id.to_string(),
            bundle: a.bundle.clone(),
            pid_file: a.pid_file.clone(),
            preserve_fds: a.preserve_fds,
            console_socket: a.console_socket.clone(),
        },
    )?;
    Ok(rec.pid)
}

/// Run `create`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    create_container(g, &a.id, &a.opts)?;
    Ok(())
}
