//! `rcrun-oci run <id> --bundle DIR [--detach]`: create and start. In the
//! foreground it forwards signals to the container, waits, deletes it, and
//! exits with its status (128+N when killed by signal N).

use anyhow::Context;
use rcrun_runtime::foreground::SignalForwarder;

use super::create::{create_container, CreateArgs};
use super::GlobalOpts;

/// `run` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
    #[command(flatten)]
    pub opts: CreateArgs,
    /// Return once the container has started; do not wait for it.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits (foreground only).
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub no_subreaper: bool,
}

/// Run `run`; returns the exit code.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<i32> {
    let forwarder = if a.detach {
        None
    } else {
        Some(SignalForwarder::install()?)
    };
    let pid = create_container(g, &a.id, &a.opts)?;
    let store = super::store(g)?;
    if let Err(e) = rcrun_runtime::start(&store, &a.id) {
        let _ = rcrun_runtime::delete(&store, &a.id, true);
        return Err(e.into());
    }
    let Some(fwd) = forwarder else {
        return Ok(0);
    };
    let code = fwd
        .forward_until_exit(pid)
        .with_context(|| format!("wait for container {}", a.id))?;
    if !a.keep {
        rcrun_runtime::delete(&store, &a.id, true)?;
    }
    Ok(code)
}
