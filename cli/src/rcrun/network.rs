//! `rcrun network …`: create, list, inspect, remove and prune built-in bridge
//! networks, reload their firewall rules. The hidden `attach`/`detach` verbs
//! are a debug surface (used by the integration tests and the benchmark) that
//! attach an existing netns without any container orchestration.
//!
//! Environment knobs (for tests and unusual hosts): `RCRUN_NET_DEFAULT_BRIDGE`
//! (bridge of the default network, `rcrun0`), `RCRUN_NET_DEFAULT_POOL`
//! (comma-separated candidate subnets for networks created without
//! `--subnet`), `RCRUN_NET_VETH_PREFIX` (host veth name prefix, `veth`),
//! `RCRUN_NFT_TABLE` (the `inet` nftables table rcrun owns, `rcrun`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use ipnet::IpNet;
use rcrun_netapi::{parse_port_spec, AttachOptions};
use rcrun_netdriver::{
    files, subnet, BridgeDriver, CreateNetwork, DriverConfig, NetError, Network, NftFirewall,
    Sandbox, SubnetRequest,
};
use serde_json::json;

use super::GlobalOpts;

/// Manage networks.
#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a bridge network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks as JSON (`cni:NAME` for a CNI network).
    Inspect {
        /// Network names.
        #[arg(required = true)]
        names: Vec<String>,
        /// CNI configuration directory.
        #[arg(long, env = "CNI_CONF_DIR", default_value = "/etc/cni/net.d")]
        cni_conf_dir: PathBuf,
    },
    /// Remove networks (refused while sandboxes are attached).
    #[command(alias = "remove")]
    Rm {
        /// Network names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every network without attached sandboxes.
    Prune {
        /// Do not ask (rcrun never asks; accepted for docker compatibility).
        #[arg(short, long)]
        force: bool,
    },
    /// Re-create every rcrun firewall rule from the state on disk.
    Reload,
    /// Debug: attach an existing netns to a network.
    #[command(hide = true)]
    Attach(AttachArgs),
    /// Debug: detach a sandbox from a network.
    #[command(hide = true)]
    Detach {
        /// Network name.
        network: String,
        /// Sandbox id.
        #[arg(long)]
        id: String,
        /// Do the whole teardown before returning. Without it the endpoint
        /// is marked detaching and a background `rcrun` process removes the
        /// veth, firewall elements and address (attaches that want its
        /// ports wait for it; `system gc` finishes it after a crash).
        #[arg(long)]
        wait: bool,
    },
}

/// `network create` options, docker's spelling.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver (only `bridge` is built in).
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR form; give one IPv4 and, with --ipv6, one IPv6.
    #[arg(long)]
    subnet: Vec<String>,
    /// Gateway of the subnet that contains it.
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate addresses only from this range (inside a subnet).
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// No outbound NAT, no route outside.
    #[arg(long)]
    internal: bool,
    /// Dual stack (needs an IPv6 --subnet).
    #[arg(long)]
    ipv6: bool,
    /// Driver option KEY=VALUE (com.docker.network.bridge.name=NAME).
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Label KEY=VALUE.
    #[arg(long)]
    label: Vec<String>,
    /// Network name.
    name: String,
}

/// Output format of `ls`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// A JSON array.
    Json,
}

/// `network ls` options.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Only names.
    #[arg(short, long)]
    quiet: bool,
    /// CNI configuration directory whose networks are listed too.
    #[arg(long, env = "CNI_CONF_DIR", default_value = "/etc/cni/net.d")]
    cni_conf_dir: PathBuf,
}

/// `network attach` (debug) options.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Network name (`bridge` is created on first use).
    network: String,
    /// Path of the sandbox's network namespace.
    #[arg(long)]
    netns: PathBuf,
    /// Sandbox id.
    #[arg(long)]
    id: String,
    /// Publish a port: [IP:][HOST:]CTR[/PROTO], ranges allowed.
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Static address.
    #[arg(long)]
    ip: Vec<String>,
    /// MAC address of the sandbox interface.
    #[arg(long)]
    mac: Option<String>,
    /// Interface name inside the sandbox.
    #[arg(long, default_value = "eth0")]
    ifname: String,
    /// Hostname for the generated hosts/hostname files.
    #[arg(long)]
    hostname: Option<String>,
    /// Write resolv.conf, hosts and hostname into this directory.
    #[arg(long)]
    files_dir: Option<PathBuf>,
}

/// The driver for the global options, with the environment overrides.
pub fn driver(g: &GlobalOpts) -> Result<BridgeDriver> {
    let mut cfg = DriverConfig::new(&g.data_root, &g.root);
    if let Ok(b) = std::env::var("RCRUN_NET_DEFAULT_BRIDGE") {
        cfg.default_bridge = b;
    }
    if let Ok(p) = std::env::var("RCRUN_NET_DEFAULT_POOL") {
        cfg.default_pool = subnet::parse_pool(&p).context("RCRUN_NET_DEFAULT_POOL")?;
    }
    if let Ok(p) = std::env::var("RCRUN_NET_VETH_PREFIX") {
        if p.is_empty() || p.len() > 8 {
            bail!("RCRUN_NET_VETH_PREFIX must be 1 to 8 bytes, got {p:?}");
        }
        cfg.veth_prefix = p;
    }
    let fw = match std::env::var("RCRUN_NFT_TABLE") {
        Ok(t) => NftFirewall::new(&t).context("RCRUN_NFT_TABLE")?,
        Err(_) => NftFirewall::default(),
    };
    Ok(BridgeDriver::new(cfg, Box::new(fw)))
}

/// Run a `network` subcommand.
pub fn run(g: &GlobalOpts, cmd: NetworkCmd) -> Result<()> {
    let drv = driver(g)?;
    match cmd {
        NetworkCmd::Create(a) => create(&drv, a),
        NetworkCmd::Ls(a) => ls(&drv, a),
        NetworkCmd::Inspect {
            names,
            cni_conf_dir,
        } => {
            let mut out = Vec::new();
            for n in names {
                out.push(inspect_one(&drv, &n, &cni_conf_dir)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        NetworkCmd::Rm { names } => {
            for n in names {
                drv.remove_network(&n)?;
                println!("{n}");
            }
            Ok(())
        }
        NetworkCmd::Prune { force: _ } => {
            for n in drv.prune()? {
                println!("{n}");
            }
            Ok(())
        }
        NetworkCmd::Reload => {
            let (nets, fwds) = drv.reload()?;
            eprintln!("reloaded firewall rules of {nets} network(s), {fwds} sandbox(es) with published ports");
            Ok(())
        }
        NetworkCmd::Attach(a) => attach(&drv, a),
        NetworkCmd::Detach { network, id, wait } => {
            if wait {
                return Ok(drv.detach_sandbox(&network, &id)?);
            }
            if drv.begin_detach(&network, &id)? {
                spawn_finisher(g, &network, &id)?;
            }
            Ok(())
        }
    }
}

/// Start `rcrun network detach --wait` in its own session, detached from
/// our stdio, to do the kernel half of a deferred detach.
fn spawn_finisher(g: &GlobalOpts, network: &str, id: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().context("locating the rcrun executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(&g.root)
        .arg("--data-root")
        .arg(&g.data_root)
        .args(["network", "detach", "--wait", network, "--id", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()
        .with_context(|| format!("starting the teardown of sandbox {id} on {network}"))?;
    Ok(())
}

fn parse_net(s: &str, what: &str) -> Result<IpNet> {
    s.parse().map_err(|_| {
        anyhow::anyhow!("invalid {what} {s:?}: want CIDR like 10.1.0.0/24 or fd00:1::/64")
    })
}

fn parse_ip(s: &str, what: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| anyhow::anyhow!("invalid {what} {s:?}: want an IPv4 or IPv6 address"))
}

fn key_value(s: &str, what: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("invalid {what} {s:?}: want KEY=VALUE"),
    }
}

fn create(drv: &BridgeDriver, a: CreateArgs) -> Result<()> {
    if a.driver != "bridge" {
        bail!(
            "unknown driver {:?}: only `bridge` is built in (CNI networks come from the CNI config dir)",
            a.driver
        );
    }
    let mut subnets = Vec::new();
    for s in &a.subnet {
        subnets.push(SubnetRequest {
            subnet: parse_net(s, "--subnet")?,
            gateway: None,
            ip_range: None,
        });
    }
    for gw in &a.gateway {
        let gw = parse_ip(gw, "--gateway")?;
        let s = subnets
            .iter_mut()
            .find(|s| s.subnet.contains(&gw))
            .with_context(|| format!("--gateway {gw} is not inside any --subnet"))?;
        s.gateway = Some(gw);
    }
    for r in &a.ip_range {
        let r = parse_net(r, "--ip-range")?;
        let s = subnets
            .iter_mut()
            .find(|s| s.subnet.contains(&r))
            .with_context(|| format!("--ip-range {r} is not inside any --subnet"))?;
        s.ip_range = Some(r);
    }
    let mut options = BTreeMap::new();
    for o in &a.opt {
        let (k, v) = key_value(o, "option")?;
        options.insert(k, v);
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = key_value(l, "label")?;
        labels.insert(k, v);
    }
    let req = CreateNetwork {
        name: a.name,
        subnets,
        internal: a.internal,
        ipv6: a.ipv6,
        labels,
        options,
    };
    let (net, note) = drv.create_network(&req)?;
    if let Some(note) = note {
        eprintln!("rcrun: {note}");
    }
    println!("{}", net.id);
    Ok(())
}

fn network_json(n: &Network) -> serde_json::Value {
    json!({
        "Name": n.name,
        "Id": n.id,
        "Driver": n.driver,
        "Bridge": n.bridge,
        "Internal": n.internal,
        "EnableIPv6": n.ipv6,
        "Created": n.created,
        "IPAM": {"Config": n.subnets.iter().map(|s| json!({
            "Subnet": s.subnet.to_string(),
            "Gateway": s.gateway.to_string(),
            "IPRange": s.ip_range.map(|r| r.to_string()),
        })).collect::<Vec<_>>()},
        "Labels": n.labels,
        "Options": n.options,
    })
}

/// One row of `network ls`.
struct Row {
    id: String,
    name: String,
    driver: String,
    subnets: String,
    json: serde_json::Value,
}

fn ls(drv: &BridgeDriver, a: LsArgs) -> Result<()> {
    let mut rows: Vec<Row> = drv
        .list()?
        .iter()
        .map(|n| Row {
            id: n.id[..12].to_string(),
            name: n.name.clone(),
            driver: n.driver.clone(),
            subnets: n
                .subnets
                .iter()
                .map(|s| s.subnet.to_string())
                .collect::<Vec<_>>()
                .join(","),
            json: network_json(n),
        })
        .collect();
    rows.extend(cni_rows(&a.cni_conf_dir));
    if a.quiet {
        for r in &rows {
            println!("{}", r.name);
        }
        return Ok(());
    }
    match a.format {
        Format::Json => {
            let v: Vec<&serde_json::Value> = rows.iter().map(|r| &r.json).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
            println!(
                "{:<12}  {:<w$}  {:<7}  SUBNETS",
                "NETWORK ID", "NAME", "DRIVER"
            );
            for r in &rows {
                println!(
                    "{:<12}  {:<w$}  {:<7}  {}",
                    r.id, r.name, r.driver, r.subnets
                );
            }
        }
    }
    Ok(())
}

/// CNI networks of the conf dir, with driver `cni` (none when the dir does
/// not exist; a dir that cannot be read is reported on stderr, not fatal).
fn cni_rows(conf_dir: &std::path::Path) -> Vec<Row> {
    if !conf_dir.exists() {
        return Vec::new();
    }
    match super::network_cni::list(conf_dir) {
        Ok(rows) => rows
            .into_iter()
            .map(|r| Row {
                id: "-".into(),
                name: r.name.clone(),
                driver: "cni".into(),
                subnets: r
                    .error
                    .clone()
                    .map(|e| format!("(invalid: {e})"))
                    .unwrap_or_default(),
                json: json!({
                    "Name": r.name,
                    "Driver": "cni",
                    "File": r.file,
                    "CniVersion": r.cni_version,
                    "Plugins": r.plugins,
                    "Default": r.default,
                    "Error": r.error,
                }),
            })
            .collect(),
        Err(e) => {
            eprintln!("rcrun: warning: CNI networks not listed: {e:#}");
            Vec::new()
        }
    }
}

/// `inspect NAME`: a bridge network, else (or with a `cni:` prefix) a CNI one.
fn inspect_one(
    drv: &BridgeDriver,
    name: &str,
    conf_dir: &std::path::Path,
) -> Result<serde_json::Value> {
    if name.starts_with("cni:") {
        return super::network_cni::inspect(conf_dir, name);
    }
    match drv.inspect(name) {
        Ok((net, eps)) => {
            let mut v = network_json(&net);
            v["Endpoints"] = serde_json::to_value(&eps)?;
            Ok(v)
        }
        Err(e @ NetError::NoSuchNetwork(_)) => {
            super::network_cni::inspect(conf_dir, name).map_err(|_| anyhow::Error::new(e))
        }
        Err(e) => Err(e.into()),
    }
}

fn attach(drv: &BridgeDriver, a: AttachArgs) -> Result<()> {
    let mut port_mappings = Vec::new();
    for p in &a.publish {
        port_mappings.extend(parse_port_spec(p)?);
    }
    let static_ips =
        a.ip.iter()
            .map(|s| parse_ip(s, "--ip"))
            .collect::<Result<Vec<_>>>()?;
    let (_, note) = drv.network_or_default(&a.network)?;
    if let Some(note) = note {
        eprintln!("rcrun: {note}");
    }
    let opts = AttachOptions {
        ifname: Some(a.ifname),
        port_mappings,
        static_ips,
        mac: a.mac,
        aliases: Vec::new(),
        hostname: a.hostname.clone(),
    };
    let sb = Sandbox {
        id: a.id.clone(),
        netns: a.netns,
    };
    let att = drv.attach_sandbox(&a.network, &sb, &opts)?;
    if let Some(dir) = &a.files_dir {
        let hostname = a
            .hostname
            .unwrap_or_else(|| a.id.chars().take(12).collect());
        let ips: Vec<IpAddr> = att.ips.iter().map(|i| i.address).collect();
        let dns = att.dns.clone().unwrap_or_default();
        if let Err(e) = files::write_sandbox_files(dir, &hostname, &[], &ips, &dns) {
            let _ = drv.detach_sandbox(&a.network, &a.id);
            return Err(e).context("write sandbox files");
        }
    }
    println!("{}", serde_json::to_string_pretty(&att)?);
    Ok(())
}
