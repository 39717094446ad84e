//! `rcrun-oci`: the runc-compatible OCI runtime command line. This module
//! parses the global options and dispatches; each verb lives in its own
//! module and maps onto one call of the `rcrun-runtime` crate.
//!
//! Exit codes follow runc: 0 on success, 1 on any error (`run` in the
//! foreground exits with the container's status instead).

mod create;
mod delete;
mod features;
mod kill;
mod list;
mod log;
mod ps;
mod run;
mod spec;
mod start;
mod state;

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
    /// Root directory for container state (tmpfs).
    #[arg(long, global = true, default_value = "/run/rcrun-oci")]
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
    /// Rootless mode: true, false or auto (accepted for runc compatibility).
    #[arg(long, global = true)]
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
            // --help and --version print and succeed; usage errors exit 1 as runc's do.
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let logger = log::Logger::new(&cli.global);
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            logger.error(&format!("{e:#}"));
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
        Command::Spec(a) => spec::run(a).map(|()| 0),
        Command::Features => features::run().map(|()| 0),
    }
}

/// Open the state store at `--root`.
fn store(g: &GlobalOpts) -> anyhow::Result<StateStore> {
    Ok(StateStore::open(&g.root)?)
}
