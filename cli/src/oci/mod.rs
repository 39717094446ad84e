//! `rcrun-oci`: the runc-compatible OCI runtime command line. This module
//! parses the global options and dispatches; each verb lives in its own
//! module and maps onto one call of the `rcrun-runtime` crate.
//!
//! Exit codes follow runc: 0 on success, 1 on any error (`run` and `exec`
//! in the foreground exit with the process's status instead).

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod log;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};
use rcrun_runtime::StateStore;

/// Log line format (`--log-format`), as runc: text or JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time="..." level=error msg="..."`
    Text,
    /// `{"level":"error","msg":"...","time":"..."}`
    Json,
}

/// Global options (runc's), accepted before or after the verb.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// Root directory for container state (tmpfs). An unprivileged user
    /// who keeps the default gets `$XDG_RUNTIME_DIR/rcrun-oci`, as with runc.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Write log lines to this file instead of stderr.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug output.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported: there is no systemd driver).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Path to criu (accepted for runc compatibility; checkpointing is not supported).
    #[arg(long, global = true)]
    pub criu: Option<PathBuf>,
    /// Rootless mode: true, false or auto (accepted for runc compatibility;
    /// before the verb only, as runc: `spec --rootless` is the spec's flag).
    #[arg(long)]
    pub rootless: Option<String>,
}

/// rcrun-oci: an OCI runtime with runc's command line.
#[derive(Debug, Parser)]
#[command(
    name = "rcrun-oci",
    version,
    about = "rcrun-oci: an OCI runtime with runc's command line",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(create::Args),
    /// Start the process of a created container.
    Start(start::Args),
    /// Print the state of a container as JSON.
    State(state::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::Args),
    /// Delete a container's resources.
    Delete(delete::Args),
    /// Create and start a container; wait for it unless --detach.
    Run(run::Args),
    /// List containers.
    List(list::Args),
    /// Show the processes running in a container.
    Ps(ps::Args),
    /// Run a new process in a container.
    Exec(exec::Args),
    /// Freeze every process of a running container.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(resume::Args),
    /// Print a container's resource usage (cpu, memory, pids) as JSON events.
    Events(events::Args),
    /// Change the resource limits of a running container.
    Update(update::Args),
    /// Write a default config.json into a bundle.
    Spec(spec::Args),
    /// Print the features this runtime implements, as JSON.
    Features,
}

/// Parse the command line, run the command, and return the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and succeed; usage errors exit 1 as
            // runc's do, and reach `--log` too (engines read only that).
            let _ = e.print();
            if !e.use_stderr() {
                return 0;
            }
            let args: Vec<String> = std::env::args().skip(1).collect();
            log::usage_error(&args, &e.to_string());
            return 1;
        }
    };
    let logger = log::Logger::new(&cli.global);
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            logger.error(&error_line(&e));
            1
        }
    }
}

fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    let g = &cli.global;
    if g.systemd_cgroup {
        bail!(
            "--systemd-cgroup is not supported: rcrun-oci manages cgroupfs directly; drop the flag"
        );
    }
    match &cli.command {
        Command::Create(a) => create::run(g, a).map(|()| 0),
        Command::Start(a) => start::run(g, a).map(|()| 0),
        Command::State(a) => state::run(g, a).map(|()| 0),
        Command::Kill(a) => kill::run(g, a).map(|()| 0),
        Command::Delete(a) => delete::run(g, a).map(|()| 0),
        Command::Run(a) => run::run(g, a),
        Command::List(a) => list::run(g, a).map(|()| 0),
        Command::Ps(a) => ps::run(g, a).map(|()| 0),
        Command::Exec(a) => exec::run(g, a),
        Command::Pause(a) => pause::run(g, a).map(|()| 0),
        Command::Resume(a) => resume::run(g, a).map(|()| 0),
        Command::Events(a) => events::run(g, a).map(|()| 0),
        Command::Update(a) => update::run(g, a).map(|()| 0),
        Command::Spec(a) => spec::run(a).map(|()| 0),
        Command::Features => features::run().map(|()| 0),
    }
}

/// The error and its causes on one line, `a: b: c`, skipping a cause whose
/// text an outer message already includes (the runtime's errors quote their
/// OS error).
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The default `--root`.
const DEFAULT_ROOT: &str = "/run/rcrun-oci";

/// Open the state store at `--root` (see [`state_root`]).
fn store(g: &GlobalOpts) -> anyhow::Result<StateStore> {
    let root = state_root(&g.root, std::env::var_os("XDG_RUNTIME_DIR"));
    if root.as_os_str() == DEFAULT_ROOT && !is_root() && !writable(&root) {
        bail!(
            "{DEFAULT_ROOT} is root's: as an unprivileged user pass --root DIR (a directory you own) or set XDG_RUNTIME_DIR"
        );
    }
    Ok(StateStore::open(&root)?)
}

/// Whether this process may create entries in `dir` (or create `dir`).
fn writable(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let probe = if dir.exists() {
        dir
    } else {
        dir.parent().unwrap_or(dir)
    };
    let Ok(c) = std::ffi::CString::new(probe.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path; access only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// `root` as given, except that an unprivileged user left at the default
/// (which only root may write) with `xdg_runtime_dir` set gets
/// `$XDG_RUNTIME_DIR/rcrun-oci`, as runc does.
fn state_root(root: &std::path::Path, xdg_runtime_dir: Option<std::ffi::OsString>) -> PathBuf {
    match xdg_runtime_dir {
        Some(xdg) if root.as_os_str() == DEFAULT_ROOT && !xdg.is_empty() && !is_root() => {
            PathBuf::from(xdg).join("rcrun-oci")
        }
        _ => root.to_path_buf(),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_skips_causes_already_quoted() {
        let io = std::io::Error::from_raw_os_error(2);
        let e = anyhow::Error::new(rcrun_runtime::RuntimeError::io("/b/config.json", io))
            .context("load bundle");
        assert_eq!(
            error_line(&e),
            "load bundle: /b/config.json: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn state_root_is_as_given_for_root_or_an_explicit_dir() {
        let xdg = Some(std::ffi::OsString::from("/run/user/1000"));
        let given = std::path::Path::new("/tmp/state");
        assert_eq!(state_root(given, xdg.clone()), given);
        let default = std::path::Path::new(DEFAULT_ROOT);
        let want = if is_root() {
            PathBuf::from(DEFAULT_ROOT)
        } else {
            PathBuf::from("/run/user/1000/rcrun-oci")
        };
        assert_eq!(state_root(default, xdg), want);
        assert_eq!(state_root(default, None), default);
    }

    #[test]
    fn spec_rootless_is_the_spec_flag() {
        let cli = Cli::try_parse_from(["rcrun-oci", "spec", "--rootless"]).expect("parses");
        assert!(matches!(cli.command, Command::Spec(ref a) if a.rootless));
        let cli =
            Cli::try_parse_from(["rcrun-oci", "--rootless", "true", "state", "x"]).expect("parses");
        assert_eq!(cli.global.rootless.as_deref(), Some("true"));
    }
}
