//! `rcrun-oci exec <id> [COMMAND...]`: run a new process in a container,
//! with runc's flags. In the foreground it forwards signals (or proxies a
//! terminal it allocates when `-t` has no `--console-socket`) and exits with
//! the process's status, 128+N when signal N killed it; `--detach` returns
//! once the process runs.

use std::path::PathBuf;

use anyhow::{bail, Context};
use rcrun_runtime::exe_seal;
use rcrun_runtime::exec::{ExecOptions, ProcessOverrides, ProcessSource};
use rcrun_runtime::foreground::SignalForwarder;
use rcrun_runtime::tty::ConsoleListener;

use super::GlobalOpts;

/// `exec` arguments (runc's).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// Unix socket that receives the pty master (with a terminal).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory of the process.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE), repeatable.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// User to run as: uid[:gid].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids, repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Path to a process.json (a runtime-spec process) instead of COMMAND.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Return once the process runs; do not wait for it.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process (recorded in its spec; this host has no SELinux).
    #[arg(long)]
    pub process_label: Option<String>,
    /// AppArmor profile of the process (recorded in its spec; not applied).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability (e.g. CAP_NET_ADMIN), repeatable.
    #[arg(short, long = "cap")]
    pub cap: Vec<String>,
    /// Pass N more descriptors (3..3+N) to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility: exec into a paused container is refused.
    #[arg(long)]
    pub ignore_paused: bool,
}

/// Run `exec`; returns the exit code.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<i32> {
    exe_seal::reexec_sealed().context("protect the runtime binary")?;
    let (source, terminal) = process_source(a)?;
    if a.detach && terminal && a.console_socket.is_none() {
        bail!("exec -d with a terminal needs --console-socket to send the pty master to");
    }
    let store = super::store(g)?;
    let listener = match (terminal, &a.console_socket, a.detach) {
        (true, None, false) => Some(ConsoleListener::bind(store.root())?),
        _ => None,
    };
    let forwarder = if a.detach {
        None
    } else {
        Some(SignalForwarder::install()?)
    };
    let opts = ExecOptions {
        process: source,
        console_socket: listener
            .as_ref()
            .map(|l| l.path().to_path_buf())
            .or_else(|| a.console_socket.clone()),
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
    };
    let pid = rcrun_runtime::exec::exec(&store, &a.id, &opts)?;
    let Some(fwd) = forwarder else {
        return Ok(0);
    };
    let code = match &listener {
        Some(l) => {
            let master = l.accept_master()?;
            drop(listener);
            rcrun_runtime::tty::proxy_until_exit(&fwd, master, pid)
        }
        None => fwd.forward_until_exit(pid),
    };
    code.with_context(|| format!("wait for process {pid} in container {}", a.id))
}

/// The process spec source and whether it has a terminal.
fn process_source(a: &Args) -> anyhow::Result<(ProcessSource, bool)> {
    if let Some(path) = &a.process {
        if !a.command.is_empty() {
            bail!("give either --process or a command, not both");
        }
        let p = rcrun_runtime::exec::load_process(path)?;
        let terminal = p.terminal() == Some(true);
        return Ok((ProcessSource::Spec(Box::new(p)), terminal));
    }
    if a.command.is_empty() {
        bail!("exec needs a command to run, or --process process.json");
    }
    if let Some(cwd) = a.cwd.as_ref().filter(|c| !c.is_absolute()) {
        bail!("--cwd {}: give an absolute path", cwd.display());
    }
    let user = a
        .user
        .as_deref()
        .map(rcrun_runtime::exec::parse_user)
        .transpose()?;
    let o = ProcessOverrides {
        args: a.command.clone(),
        env: a.env.clone(),
        cwd: a.cwd.clone(),
        user,
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        tty: a.tty,
        no_new_privs: a.no_new_privs.then_some(true),
        apparmor: a.apparmor.clone(),
        process_label: a.process_label.clone(),
    };
    Ok((ProcessSource::Overrides(o), a.tty))
}
