//! `rcrun`: the docker-like command line. Each subcommand family lives in its
//! own module; this file only parses the global options and dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Global options shared by every `rcrun` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// Runtime state root (tmpfs): containers, netns bind mounts, locks.
    #[arg(long, global = true, env = "RCRUN_ROOT", default_value = "/run/rcrun")]
    pub root: PathBuf,
    /// Persistent data root: images, layers, networks, IPAM.
    #[arg(
        long,
        global = true,
        env = "RCRUN_DATA_ROOT",
        default_value = "/var/lib/rcrun"
    )]
    pub data_root: PathBuf,
    /// Log debug output to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
}

/// rcrun: a daemonless container runtime.
#[derive(Debug, Parser)]
#[command(name = "rcrun", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show rcrun's version.
    Version,
}

/// Parse the command line, run the command, and return the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    if cli.global.debug {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    let result = match cli.command {
        Command::Version => {
            println!("rcrun version {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            report_error(&e);
            125
        }
    }
}

/// Print an error as one line (with its causes) to stderr, prefixed `rcrun: `.
pub fn report_error(e: &anyhow::Error) {
    eprintln!("rcrun: {e:#}");
}
