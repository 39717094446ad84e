//! One ADD + DEL of a CNI network through cni-host, as bench/cni.sh runs it:
//! load the conf dir, ADD, DEL, exit.
//!
//! `cni_add_del CONF_DIR NETWORK CACHE_DIR NETNS CONTAINER_ID [HOST_PORT]`
//! (plugins from `$CNI_PATH`; HOST_PORT publishes HOST_PORT->80/tcp through
//! the `portMappings` capability). With `RCN_SELF_CPU=FILE`, appends this
//! process's own CPU time (user+sys, plugins excluded) in microseconds to FILE.

use rcrun_cni_host::{CapabilityArgs, CniHost, ConfDir, PluginPath, RuntimeConf};
use serde_json::json;

fn main() {
    if let Err(e) = run() {
        eprintln!("cni_add_del: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [conf_dir, network, cache_dir, netns, container, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: cni_add_del CONF_DIR NETWORK CACHE_DIR NETNS CONTAINER_ID [HOST_PORT]".into(),
        );
    };
    let host = CniHost::new(PluginPath::from_env(), cache_dir);
    let dir = ConfDir::load(conf_dir.as_ref(), host.plugin_path())?;
    let list = dir.get(network)?;
    let mut capability_args = CapabilityArgs::new();
    if let Some(port) = rest.first() {
        let port: u16 = port.parse()?;
        capability_args.set(
            "portMappings",
            json!([{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]),
        );
    }
    let rt = RuntimeConf {
        container_id: container.clone(),
        netns: netns.into(),
        ifname: "eth0".into(),
        args: Vec::new(),
        capability_args,
    };
    host.add(list, &rt)?;
    host.del(list, &rt)?;
    if let Some(file) = std::env::var_os("RCN_SELF_CPU") {
        use nix::sys::resource::{getrusage, UsageWho};
        use std::io::Write;
        let u = getrusage(UsageWho::RUSAGE_SELF)?;
        let us = |t: nix::sys::time::TimeVal| t.tv_sec() * 1_000_000 + t.tv_usec();
        let total = us(u.user_time()) + us(u.system_time());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)?;
        writeln!(f, "{total}")?;
    }
    Ok(())
}
