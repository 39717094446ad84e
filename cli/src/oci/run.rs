//! `rcrun-oci run <id> --bundle DIR [--detach]`: create and start. In the
//! foreground it forwards signals to the container (or, when the process has
//! a terminal and no `--console-socket` is given, allocates the pty through
//! its own console socket and proxies it), waits, deletes it, and exits with
//! its status (128+N when killed by signal N).

use anyhow::Context;
use rcrun_runtime::foreground::SignalForwarder;
use rcrun_runtime::tty::ConsoleListener;

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
    // Re-exec (sealed) before anything is set up, not half-way.
    rcrun_runtime::exe_seal::reexec_sealed().context("protect the runtime binary")?;
    let forwarder = if a.detach {
        None
    } else {
        Some(SignalForwarder::install()?)
    };
    let store = super::store(g)?;
    // A foreground terminal without --console-socket: be the socket's
    // other end and proxy the pty (as runc does).
    let listener = if !a.detach && a.opts.console_socket.is_none() && wants_terminal(&a.opts) {
        Some(ConsoleListener::bind(store.root())?)
    } else {
        None
    };
    let mut opts = a.opts.clone();
    if let Some(l) = &listener {
        opts.console_socket = Some(l.path().to_path_buf());
    }
    let pid = create_container(g, &a.id, &opts)?;
    let master = match &listener {
        Some(l) => match l.accept_master() {
            Ok(m) => Some(m),
            Err(e) => {
                let _ = rcrun_runtime::delete(&store, &a.id, true);
                return Err(e.into());
            }
        },
        None => None,
    };
    drop(listener);
    if let Err(e) = rcrun_runtime::start(&store, &a.id) {
        let _ = rcrun_runtime::delete(&store, &a.id, true);
        return Err(e.into());
    }
    let Some(fwd) = forwarder else {
        return Ok(0);
    };
    let waited = match master {
        Some(m) => rcrun_runtime::tty::proxy_until_exit(&fwd, m, pid),
        None => fwd.forward_until_exit(pid),
    };
    let code = waited.with_context(|| format!("wait for container {}", a.id))?;
    if !a.keep {
        rcrun_runtime::delete(&store, &a.id, true)?;
    }
    Ok(code)
}

/// True when the bundle's process asks for a terminal (an unreadable
/// config is left for `create` to report).
fn wants_terminal(opts: &CreateArgs) -> bool {
    rcrun_runtime::spec::load_config(&opts.bundle.join("config.json"))
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        == Some(true)
}
