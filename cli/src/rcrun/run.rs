//! `rcrun run [OPTIONS] IMAGE [COMMAND [ARG...]]`: pull the image if it is
//! missing, create the container (sandbox, rootfs, bundle) and start it.
//!
//! Detached (`-d`): a `rcrun-monitor` supervises the container; the id is
//! printed. Foreground: `rcrun` itself is the container's parent: the
//! container writes straight to this terminal's stdout/stderr (and reads
//! stdin with `-i`), signals sent to `rcrun` are forwarded to it, and
//! `rcrun` exits with its status once it has cleaned up. Exit codes as
//! docker's: 125 for rcrun's own errors, 126 when the command cannot be
//! invoked, 127 when it is not found, else the container's (128+N when
//! killed by signal N). With `-t` the container gets a pty whose other end
//! `rcrun` proxies to its own terminal (raw mode, window size).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args};
use rcrun_engine::options::{parse_add_host, parse_cpus, parse_env_file, parse_memory};
use rcrun_engine::{NetworkMode, RestartPolicy, RunOptions};
use rcrun_netapi::parse_port_spec;
use rcrun_runtime::foreground::SignalForwarder;

use super::engine_cli::{engine, exit_code};
use super::GlobalOpts;

/// `run` options, docker's spelling.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    pub detach: bool,
    /// Container name.
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO], ranges allowed.
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a random host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Bind a host path or a named volume: SRC:DST[:ro].
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS].
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Working directory in the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User (name|uid[:group|gid]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Override the image's entrypoint ("" clears it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Nameserver for the container's resolv.conf.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add a hosts entry: NAME:IP.
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add a capability (CAP_NET_ADMIN or NET_ADMIN, ALL).
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop a capability.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// All capabilities, no seccomp, no masked paths, host devices.
    #[arg(long)]
    pub privileged: bool,
    /// no-new-privileges, seccomp=unconfined|PROFILE.json.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Memory limit (512m, 1g).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// CPU limit (1.5).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Process limit.
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Run a reaping init (tini) as PID 1.
    #[arg(long)]
    pub init: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Restart policy: no, on-failure[:MAX], always, unless-stopped. The
    /// container's monitor restarts it (with -d) until stopped, killed or
    /// removed by a person.
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Label KEY=VALUE.
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Network: bridge, NAME, none, host, container:ID, cni:NAME.
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    /// Static IPv4 or IPv6 address on the network.
    #[arg(long)]
    pub ip: Option<String>,
    /// Extra name on the network.
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Join a pod.
    #[arg(long)]
    pub pod: Option<String>,
    /// Verify TLS when pulling (`--tls-verify=false` for a plain-HTTP registry).
    #[arg(long = "tls-verify", action = ArgAction::Set, default_value_t = true,
          num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,
    /// Image, then the command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND [ARG...]]"
    )]
    pub args: Vec<String>,
}

fn key_value(s: &str, what: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("invalid {what} {s:?}: want KEY=VALUE"),
    }
}

impl RunArgs {
    /// The engine's options from the command line.
    pub fn to_options(&self) -> Result<RunOptions> {
        let lookup = |k: &str| std::env::var(k).ok();
        let mut env = Vec::new();
        for f in &self.env_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("--env-file {}", f.display()))?;
            env.extend(parse_env_file(&text, &lookup));
        }
        for e in &self.env {
            if e.contains('=') {
                env.push(e.clone());
            } else if let Some(v) = lookup(e) {
                env.push(format!("{e}={v}"));
            }
        }
        let mut publish = Vec::new();
        for p in &self.publish {
            publish.extend(parse_port_spec(p)?);
        }
        let mut dns = Vec::new();
        for d in &self.dns {
            dns.push(d.parse::<IpAddr>().map_err(|_| {
                anyhow::anyhow!("invalid --dns {d:?}: want an IPv4 or IPv6 address")
            })?);
        }
        let mut labels = BTreeMap::new();
        for l in &self.label {
            let (k, v) = key_value(l, "--label")?;
            labels.insert(k, v);
        }
        let ip = match &self.ip {
            Some(s) => Some(s.parse::<IpAddr>().map_err(|_| {
                anyhow::anyhow!("invalid --ip {s:?}: want an IPv4 or IPv6 address")
            })?),
            None => None,
        };
        let (image, command) = match self.args.split_first() {
            Some((i, c)) => (i.clone(), c.to_vec()),
            None => bail!("give an image to run"),
        };
        Ok(RunOptions {
            image,
            command,
            name: self.name.clone(),
            detach: self.detach,
            auto_remove: self.rm,
            publish,
            publish_all: self.publish_all,
            env,
            volumes: self.volume.clone(),
            tmpfs: self.tmpfs.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            entrypoint: self.entrypoint.clone(),
            hostname: self.hostname.clone(),
            dns,
            add_hosts: self
                .add_host
                .iter()
                .map(|h| parse_add_host(h))
                .collect::<Result<_, _>>()?,
            read_only: self.read_only,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
            memory: self.memory.as_deref().map(parse_memory).transpose()?,
            cpus: self.cpus.as_deref().map(parse_cpus).transpose()?,
            pids_limit: self.pids_limit,
            init: self.init,
            interactive: self.interactive,
            tty: self.tty,
            restart: self.restart.parse::<RestartPolicy>()?,
            labels,
            network: self.network.parse::<NetworkMode>()?,
            ip,
            network_aliases: self.network_alias.clone(),
            pod: self.pod.clone(),
            insecure_registry: !self.tls_verify,
        })
    }
}

/// Run `run`; returns the process exit code.
pub fn run(g: &GlobalOpts, a: RunArgs) -> i32 {
    // Block the forwarded signals before any thread exists (the netlink and
    // registry code start threads); the container init unblocks them.
    let fwd = if a.detach {
        None
    } else {
        match SignalForwarder::install() {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("rcrun: forward signals: {e}");
                return 125;
            }
        }
    };
    match run_inner(g, &a, fwd.as_ref()) {
        Ok(code) => code,
        Err(e) => {
            super::report_error(&e);
            exit_code(&e)
        }
    }
}

fn run_inner(g: &GlobalOpts, a: &RunArgs, fwd: Option<&SignalForwarder>) -> Result<i32> {
    let opts = a.to_options()?;
    let engine = engine(g)?;
    tracing::debug!(image = %opts.image, "run: looking up the image");
    let image = match engine.find_image(&opts.image)? {
        Some(i) => i,
        None => {
            eprintln!("Unable to find image '{}' locally; pulling", opts.image);
            engine.pull(&opts.image, opts.insecure_registry)?
        }
    };
    let mut c = engine.create(&opts, &image)?;
    match fwd {
        None => {
            if let Err(e) = engine.start_detached(&mut c) {
                let _ = engine.discard(&c);
                return Err(e.into());
            }
            tracing::debug!(id = %c.id, "run: started");
            println!("{}", c.id);
            Ok(0)
        }
        Some(fwd) => match engine.run_foreground(&mut c, fwd) {
            Ok(code) => Ok(code),
            Err(e) => {
                let _ = engine.discard(&c);
                Err(e.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::super::Cli;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_options_parse_like_docker() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "rcrun",
            "run",
            "-d",
            "--rm",
            "-p",
            "8080:80",
            "-e",
            "A=1",
            "--restart",
            "on-failure:3",
            "--network",
            "container:web",
            "busybox",
            "ls",
            "-l",
        ])
        .unwrap();
        let super::super::Command::Run(a) = cli.command else {
            panic!("not run");
        };
        let o = a.to_options().unwrap();
        assert_eq!(o.image, "busybox");
        assert_eq!(o.command, vec!["ls", "-l"]);
        assert!(o.detach && o.auto_remove);
        assert_eq!(o.publish[0].host_port, 8080);
        assert_eq!(o.env, vec!["A=1"]);
        assert_eq!(
            o.network,
            rcrun_engine::NetworkMode::Container("web".into())
        );
        assert!(
            Cli::try_parse_from(["rcrun", "run", "-p", "x:y", "busybox"])
                .map(|c| match c.command {
                    super::super::Command::Run(a) => a.to_options().is_err(),
                    _ => false,
                })
                .unwrap()
        );
    }
}
