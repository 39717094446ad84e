//! `rcrun pod create|ls|inspect|rm`: pods are sandboxes of their own that
//! containers join with `run --pod`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use rcrun_engine::pods::PodOptions;
use rcrun_engine::{Engine, NetworkMode};
use rcrun_netapi::parse_port_spec;
use serde_json::json;

/// `pod create` options.
#[derive(Debug, Args)]
pub struct PodCreateArgs {
    /// Pod name.
    #[arg(long)]
    pub name: Option<String>,
    /// Publish a port of the pod: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO].
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Network: bridge, NAME, none, host, cni:NAME.
    #[arg(long, default_value = "bridge")]
    pub network: String,
    /// Host name of the pod.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Label KEY=VALUE.
    #[arg(short, long)]
    pub label: Vec<String>,
}

/// Manage pods.
#[derive(Debug, Subcommand)]
pub enum PodCmd {
    /// Create a pod (its sandbox starts right away).
    Create(PodCreateArgs),
    /// List pods.
    #[command(alias = "list", alias = "ps")]
    Ls,
    /// Show pods as JSON.
    Inspect {
        /// Pods.
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Remove pods and their containers.
    Rm {
        /// Remove running containers too.
        #[arg(short, long)]
        force: bool,
        /// Pods.
        #[arg(required = true)]
        pods: Vec<String>,
    },
}

/// Run a pod subcommand.
pub fn run(engine: &Engine, cmd: PodCmd) -> Result<i32> {
    let pods = engine.pods();
    match cmd {
        PodCmd::Create(a) => {
            let mut publish = Vec::new();
            for p in &a.publish {
                publish.extend(parse_port_spec(p)?);
            }
            let mut labels = BTreeMap::new();
            for l in &a.label {
                match l.split_once('=') {
                    Some((k, v)) if !k.is_empty() => {
                        labels.insert(k.to_string(), v.to_string());
                    }
                    _ => bail!("invalid --label {l:?}: want KEY=VALUE"),
                }
            }
            let pod = pods.create(
                engine,
                &PodOptions {
                    name: a.name,
                    network: a.network.parse::<NetworkMode>()?,
                    publish,
                    hostname: a.hostname,
                    labels,
                },
            )?;
            println!("{}", pod.id);
        }
        PodCmd::Ls => {
            println!(
                "{:<12}  {:<24}  {:<10}  CONTAINERS",
                "POD ID", "NAME", "STATUS"
            );
            for p in pods.list()? {
                let alive = engine
                    .sandboxes
                    .load(&p.id)?
                    .is_some_and(|s| s.pause_alive());
                println!(
                    "{:<12}  {:<24}  {:<10}  {}",
                    &p.id[..12],
                    p.name,
                    if alive { "running" } else { "stopped" },
                    pods.members(engine, &p)?.len()
                );
            }
        }
        PodCmd::Inspect { pods: names } => {
            let mut out = Vec::new();
            for n in &names {
                let p = pods.resolve(n)?;
                let sb = engine.sandboxes.load(&p.id)?;
                out.push(json!({
                    "Id": p.id,
                    "Name": p.name,
                    "Created": p.created,
                    "Hostname": p.hostname,
                    "Network": p.network.to_string(),
                    "Labels": p.labels,
                    "Containers": pods.members(engine, &p)?,
                    "State": if sb.as_ref().is_some_and(|s| s.pause_alive()) { "running" } else { "stopped" },
                    "PausePid": sb.as_ref().map(|s| s.pause_pid),
                    "Ports": sb.as_ref().map(|s| s.ports()).unwrap_or_default(),
                    "IPs": sb.as_ref().map(|s| s.ips()).unwrap_or_default(),
                    "SandboxKey": sb.as_ref().and_then(|s| s.netns.clone()),
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        PodCmd::Rm { force, pods: names } => {
            for n in &names {
                let p = pods.remove(engine, n, force)?;
                println!("{}", p.id);
            }
        }
    }
    Ok(0)
}
