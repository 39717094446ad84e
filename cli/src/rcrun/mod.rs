//! `rcrun`: the docker-like command line. Each subcommand family lives in its
//! own module; this file only parses the global options and dispatches.

use std::path::PathBuf;

pub mod completion;
pub mod container;
pub mod container_stats;
pub mod engine_cli;
pub mod image;
pub mod image_registry;
pub mod network;
pub mod network_cni;
pub mod pod;
pub mod run;
pub mod system;
pub mod volume;

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
#[command(
    name = "rcrun",
    version,
    about = "rcrun: a daemonless container runtime",
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
    /// Show rcrun's version.
    Version,
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Host-wide maintenance (gc).
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Manage named volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    /// Shell completions and man pages.
    #[command(subcommand)]
    Completion(completion::CompletionCmd),
    /// Pull an image from a registry.
    Pull(image_registry::PullArgs),
    /// Push an image to a registry.
    Push(image_registry::PushArgs),
    /// Log in to a registry (credentials go to the auth file).
    Login(image_registry::LoginArgs),
    /// Log out of a registry.
    Logout(image_registry::LogoutArgs),
    #[command(flatten)]
    Image(image::ImageCommands),
    /// Run a command in a new container.
    Run(Box<run::RunArgs>),
    #[command(flatten)]
    Containers(container::ContainerCommands),
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
        Command::Run(a) => return run::run(&cli.global, *a),
        Command::Containers(c) => return container::run(&cli.global, c),
        Command::Version => {
            println!("rcrun version {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Network(cmd) => network::run(&cli.global, cmd),
        Command::System(cmd) => system::run(&cli.global, cmd),
        Command::Volume(cmd) => volume::run(&cli.global, cmd),
        Command::Completion(cmd) => completion::run(cmd),
        Command::Pull(a) => image_registry::pull(&cli.global, a),
        Command::Push(a) => image_registry::push(&cli.global, a),
        Command::Login(a) => image_registry::login(&cli.global, a),
        Command::Logout(a) => image_registry::logout(&cli.global, a),
        Command::Image(c) => image::run(&cli.global, c),
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
    eprintln!("rcrun: {}", one_line(e));
}

/// An error and its causes on one line, skipping a cause whose text the
/// line already holds (errors that print their source themselves).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
