//! Container commands other than `run`: `ps`, `stop`, `kill`, `rm`, `wait`,
//! `inspect`, `port`, `logs`, `rename`, `top`, `stats`, and the hidden
//! `container cleanup` the monitor runs when a container exits. Parsing and
//! printing only; the work is in `rcrun_engine`.

use std::io::Write;

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use rcrun_engine::inspect::{port_key, port_text};
use rcrun_engine::logs::{parse_since, LogOptions};
use rcrun_engine::records::Container;
use rcrun_engine::Engine;
use serde_json::json;

use super::engine_cli::engine;
use super::GlobalOpts;

/// Output format of `ps`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// A JSON array.
    Json,
}

/// `ps` options.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show stopped containers too.
    #[arg(short, long)]
    pub all: bool,
    /// Only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Full ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `logs` options.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the output until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines (`all` for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Only since a timestamp, Unix time or duration (10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Container.
    pub container: String,
}

/// `exec` options, docker's spelling.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Run in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Set an environment variable (KEY=VALUE).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// User (name or uid[:group]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Container, then the command and its arguments.
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true,
          value_name = "CONTAINER COMMAND [ARG...]")]
    pub args: Vec<String>,
}

/// `exec`: forwards signals, exits with the process's status.
fn exec(g: &GlobalOpts, a: ExecArgs) -> i32 {
    let fwd = match rcrun_runtime::foreground::SignalForwarder::install() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rcrun: forward signals: {e}");
            return 125;
        }
    };
    let r = (|| -> Result<i32> {
        let engine = engine(g)?;
        let opts = rcrun_engine::exec::ExecOptions {
            command: a.args[1..].to_vec(),
            interactive: a.interactive,
            tty: a.tty,
            env: a.env.clone(),
            user: a.user.clone(),
            workdir: a.workdir.clone(),
            detach: a.detach,
        };
        Ok(engine.exec(&a.args[0], &opts, &fwd)?)
    })();
    match r {
        Ok(code) => code,
        Err(e) => {
            super::report_error(&e);
            super::engine_cli::exit_code(&e)
        }
    }
}

/// Hidden plumbing.
#[derive(Debug, Subcommand)]
pub enum ContainerCmd {
    /// Clean up after a container exited (run by its monitor).
    Cleanup {
        /// Container id.
        id: String,
    },
}

/// Container commands (flattened into the top level).
#[derive(Debug, Subcommand)]
pub enum ContainerCommands {
    /// List containers.
    #[command(alias = "ls")]
    Ps(PsArgs),
    /// Stop containers: their stop signal, then SIGKILL after -t seconds.
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short, long)]
        time: Option<u64>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers.
    Kill {
        /// Signal (name or number).
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill and remove running containers.
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes (rcrun creates none; accepted).
        #[arg(short, long)]
        volumes: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Wait for containers to exit and print their exit codes.
    Wait {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Show containers as JSON.
    Inspect {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Show a container's published ports.
    Port {
        /// Container.
        container: String,
        /// Only this container port (80 or 80/tcp).
        port: Option<String>,
    },
    /// Show a container's output.
    Logs(LogsArgs),
    /// Rename a container.
    Rename {
        /// Container.
        container: String,
        /// New name.
        name: String,
    },
    /// Show a container's processes.
    Top {
        /// Container.
        container: String,
    },
    /// Show containers' resource usage.
    Stats {
        /// Print one sample and exit (the only mode).
        #[arg(long)]
        no_stream: bool,
        /// Containers (all running ones by default).
        containers: Vec<String>,
    },
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Manage pods.
    #[command(subcommand)]
    Pod(super::pod::PodCmd),
    /// Container plumbing.
    #[command(subcommand, hide = true)]
    Container(ContainerCmd),
}

/// Run a container command; returns the exit code.
pub fn run(g: &GlobalOpts, cmd: ContainerCommands) -> i32 {
    let cmd = match cmd {
        ContainerCommands::Exec(a) => return exec(g, a),
        other => other,
    };
    let r = (|| -> Result<i32> {
        let engine = engine(g)?;
        dispatch(&engine, cmd)
    })();
    match r {
        Ok(code) => code,
        Err(e) => {
            super::report_error(&e);
            super::engine_cli::exit_code(&e).max(1)
        }
    }
}

/// Apply `f` to each container, printing what it returns; errors are
/// printed and make the exit code 1, as docker does.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<String>) -> i32 {
    let mut code = 0;
    for n in names {
        match f(n) {
            Ok(out) => println!("{out}"),
            Err(e) => {
                super::report_error(&e);
                code = 1;
            }
        }
    }
    code
}

fn dispatch(engine: &Engine, cmd: ContainerCommands) -> Result<i32> {
    match cmd {
        ContainerCommands::Ps(a) => ps(engine, &a).map(|_| 0),
        ContainerCommands::Stop { time, containers } => Ok(each(&containers, |n| {
            engine.stop(n, time)?;
            Ok(n.to_string())
        })),
        ContainerCommands::Kill { signal, containers } => Ok(each(&containers, |n| {
            engine.kill(n, &signal)?;
            Ok(n.to_string())
        })),
        ContainerCommands::Rm {
            force, containers, ..
        } => Ok(each(&containers, |n| {
            engine.remove(n, force)?;
            Ok(n.to_string())
        })),
        ContainerCommands::Wait { containers } => {
            Ok(each(&containers, |n| Ok(engine.wait(n)?.to_string())))
        }
        ContainerCommands::Inspect { containers } => {
            let mut out = Vec::new();
            for n in &containers {
                let c = engine.records.resolve(n)?;
                out.push(engine.inspect_json(&c)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
        ContainerCommands::Port { container, port } => {
            let c = engine.records.resolve(&container)?;
            let want = port.map(|p| {
                if p.contains('/') {
                    p
                } else {
                    format!("{p}/tcp")
                }
            });
            let mut shown = false;
            for p in engine.ports(&c) {
                if want.as_ref().is_some_and(|w| *w != port_key(&p)) {
                    continue;
                }
                let host = format!(
                    "{}:{}",
                    p.host_ip
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "0.0.0.0".into()),
                    p.host_port
                );
                if want.is_some() {
                    println!("{host}");
                } else {
                    println!("{} -> {host}", port_key(&p));
                }
                shown = true;
            }
            if let (Some(w), false) = (want, shown) {
                bail!("no public port {w} published for {container}");
            }
            Ok(0)
        }
        ContainerCommands::Logs(a) => {
            let tail = match a.tail.as_str() {
                "all" | "-1" => None,
                t => Some(t.parse::<usize>().map_err(|_| {
                    anyhow::anyhow!("invalid --tail {t:?}: want a number of lines or `all`")
                })?),
            };
            let opts = LogOptions {
                follow: a.follow,
                tail,
                since: a.since.as_deref().map(parse_since).transpose()?,
                timestamps: a.timestamps,
            };
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr();
            engine.logs(&a.container, &opts, &mut out, &mut err)?;
            out.flush()?;
            Ok(0)
        }
        ContainerCommands::Rename { container, name } => {
            engine.rename(&container, &name)?;
            Ok(0)
        }
        ContainerCommands::Top { container } => super::container_stats::top(engine, &container),
        ContainerCommands::Stats { containers, .. } => {
            super::container_stats::stats(engine, &containers)
        }
        ContainerCommands::Pod(cmd) => super::pod::run(engine, cmd),
        ContainerCommands::Exec(_) => Err(anyhow::anyhow!(
            "exec is dispatched before the engine is built"
        )),
        ContainerCommands::Container(ContainerCmd::Cleanup { id }) => {
            engine.cleanup(&id)?;
            Ok(0)
        }
    }
}

/// "Up 3 minutes", "Exited (0) 2 seconds ago", "Created".
fn status_text(engine: &Engine, c: &Container) -> String {
    match engine.live_status(c) {
        ("running", _) => format!(
            "Up {}",
            human_duration(Engine::age_secs(
                c.state.started_at.as_deref().unwrap_or("")
            ))
        ),
        ("exited", code) => format!(
            "Exited ({}) {} ago",
            code.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
            human_duration(Engine::age_secs(
                c.state.finished_at.as_deref().unwrap_or("")
            ))
        ),
        (s, _) => {
            let mut t = s.to_string();
            if let Some(f) = t.get_mut(0..1) {
                f.make_ascii_uppercase();
            }
            t
        }
    }
}

fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{} seconds", s.max(1)),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 86400 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

fn ps(engine: &Engine, a: &PsArgs) -> Result<()> {
    let rows: Vec<(Container, &'static str)> = engine
        .records
        .list()?
        .into_iter()
        .map(|c| {
            let s = engine.live_status(&c).0;
            (c, s)
        })
        .filter(|(_, s)| a.all || *s == "running")
        .collect();
    if a.quiet {
        for (c, _) in &rows {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(());
    }
    match a.format {
        Format::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(c, s)| {
                    json!({
                        "Id": c.id,
                        "Names": [c.name],
                        "Image": c.image,
                        "ImageID": c.image_id,
                        "Command": c.process.args,
                        "Created": c.created,
                        "State": s,
                        "Status": status_text(engine, c),
                        "ExitCode": engine.live_status(c).1,
                        "Ports": engine.ports(c).iter().map(port_text).collect::<Vec<_>>(),
                        "Labels": c.labels,
                        "Pod": c.options.pod,
                        "Pid": c.state.pid,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            println!(
                "{:<12}  {:<24}  {:<22}  {:<16}  {:<24}  {:<30}  NAMES",
                "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"
            );
            for (c, _) in &rows {
                let mut cmd = c.process.args.join(" ");
                if !a.no_trunc && cmd.len() > 20 {
                    cmd.truncate(19);
                    cmd.push('…');
                }
                let ports = engine
                    .ports(c)
                    .iter()
                    .map(port_text)
                    .collect::<Vec<_>>()
                    .join(", ");
                println!(
                    "{:<12}  {:<24}  {:<22}  {:<16}  {:<24}  {:<30}  {}",
                    if a.no_trunc { &c.id } else { c.short_id() },
                    c.image,
                    format!("\"{cmd}\""),
                    format!("{} ago", human_duration(Engine::age_secs(&c.created))),
                    status_text(engine, c),
                    ports,
                    c.name
                );
            }
        }
    }
    Ok(())
}
