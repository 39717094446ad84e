//! Shared pieces of the cni-host tests: an isolated conf/cache/IPAM dir
//! trio, guards for links and child processes, and leak probes (links,
//! addresses, iptables/nft rules, host-local files).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcrun_cni_host::{CniHost, ConfDir, NetworkConfigList, PluginPath, RuntimeConf};
use rcrun_it::bins::run_ok;
use serde_json::Value;

/// Where the Debian reference plugins live.
pub const REFERENCE_PLUGINS: &str = "/usr/lib/cni";

/// The misbehaving test plugins of this crate.
pub fn test_plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cni-plugins")
}

/// CNI_PATH for the tests: our test plugins, then the reference plugins.
pub fn plugin_path() -> PluginPath {
    PluginPath::new([test_plugins_dir(), PathBuf::from(REFERENCE_PLUGINS)])
}

/// A conf dir, a cache dir and a host-local data dir of one test, removed on drop.
#[derive(Debug)]
pub struct CniEnv {
    /// The conf dir.
    pub conf: tempfile::TempDir,
    /// The result cache dir.
    pub cache: tempfile::TempDir,
    /// host-local's `dataDir`.
    pub ipam: tempfile::TempDir,
    /// A scratch dir (logs, pid files, web roots).
    pub scratch: tempfile::TempDir,
    /// The host under test.
    pub host: CniHost,
}

impl CniEnv {
    /// Fresh dirs and a host with a 20 s plugin timeout.
    pub fn new() -> Self {
        let mk = |p: &str| {
            tempfile::Builder::new()
                .prefix(p)
                .tempdir()
                .expect("tempdir")
        };
        let cache = mk("rcn-cache-");
        let host = CniHost::new(plugin_path(), cache.path()).with_timeout(Duration::from_secs(20));
        CniEnv {
            conf: mk("rcn-conf-"),
            cache,
            ipam: mk("rcn-ipam-"),
            scratch: mk("rcn-scratch-"),
            host,
        }
    }

    /// Write `file` into the conf dir.
    pub fn write_conf(&self, file: &str, conf: &Value) -> PathBuf {
        let p = self.conf.path().join(file);
        std::fs::write(&p, serde_json::to_vec_pretty(conf).expect("json")).expect("write conf");
        p
    }

    /// Load the conf dir and return the network called `name`.
    pub fn network(&self, name: &str) -> NetworkConfigList {
        let dir = ConfDir::load(self.conf.path(), self.host.plugin_path()).expect("load conf dir");
        match dir.get(name) {
            Ok(l) => l.clone(),
            Err(e) => panic!("network {name}: {e}"),
        }
    }

    /// host-local allocation files left for `network` (IP-named files only).
    pub fn ipam_allocations(&self, network: &str) -> Vec<String> {
        let dir = self.ipam.path().join(network);
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect()
    }

    /// Files in the result cache.
    pub fn cache_files(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.cache.path().join("results")) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }
}

/// Runtime arguments for `container` in `ns` on `eth0`.
pub fn rt(container: &str, ns: &rcrun_it::netns::NetnsGuard) -> RuntimeConf {
    RuntimeConf {
        container_id: container.to_string(),
        netns: ns.path(),
        ifname: "eth0".into(),
        ..RuntimeConf::default()
    }
}

/// A link on the host deleted on drop (bridges the plugins create, test veths).
#[derive(Debug)]
pub struct LinkGuard(pub String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// A child process killed (with its process group) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `busybox httpd` on port 80 inside `ns`, serving a page saying `body`.
pub fn start_httpd(ns: &str, root: &Path, body: &str) -> ChildGuard {
    std::fs::write(root.join("index.html"), body).expect("write index.html");
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "80", "-h",
    ])
    .arg(root)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = ChildGuard(cmd.spawn().expect("spawn busybox httpd"));
    // Wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "busybox", "netstat", "-ltn"])
            .output()
            .expect("netstat");
        if String::from_utf8_lossy(&out.stdout).contains(":80 ") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `curl` a URL (optionally inside a netns); the body, or `None` on failure.
pub fn http_get(ns: Option<&str>, url: &str) -> Option<String> {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "curl"]);
            c
        }
        None => Command::new("curl"),
    };
    let out = cmd
        .args(["-s", "--noproxy", "*", "--max-time", "5", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Lines of the host's firewall state (iptables, ip6tables, nft) containing `needle`.
pub fn firewall_lines_with(needle: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (prog, args) in [
        ("iptables-save", &[][..]),
        ("ip6tables-save", &[][..]),
        ("nft", &["list", "ruleset"][..]),
    ] {
        if let Ok(out) = Command::new(prog).args(args).output() {
            lines.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| l.contains(needle))
                    .map(|l| format!("{prog}: {l}")),
            );
        }
    }
    lines
}

/// Host links enslaved to `bridge`.
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// True when the host has a link called `name`.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Host links whose name starts with `prefix`.
pub fn links_with_prefix(prefix: &str) -> Vec<String> {
    let out = run_ok(Command::new("ip").args(["-o", "link", "show"]));
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Addresses inside `ns` (`ip -o addr`), loopback excluded.
pub fn ns_addrs(ns: &str) -> String {
    let out = run_ok(Command::new("ip").args(["-n", ns, "-o", "addr", "show"]));
    out.lines()
        .filter(|l| !l.contains(" lo "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Host routes mentioning `needle`.
pub fn host_routes_with(needle: &str) -> Vec<String> {
    let out = run_ok(Command::new("ip").args(["route", "show"]));
    out.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// True when the tests can touch the kernel; they print why and pass otherwise.
pub fn root_or_skip() -> bool {
    if rcrun_it::bins::is_root() {
        true
    } else {
        eprintln!("skipped: needs root");
        false
    }
}

/// Runs DEL for an attachment on drop unless disarmed, so a failing test
/// leaves no rules, links or IPAM files behind.
#[derive(Debug)]
pub struct AttachGuard {
    host: CniHost,
    list: NetworkConfigList,
    rt: RuntimeConf,
    armed: bool,
}

impl AttachGuard {
    /// Guard the attachment `rt` of `list`.
    pub fn new(host: &CniHost, list: &NetworkConfigList, rt: &RuntimeConf) -> Self {
        AttachGuard {
            host: host.clone(),
            list: list.clone(),
            rt: rt.clone(),
            armed: true,
        }
    }

    /// The test deleted it itself.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = self.host.del(&self.list, &self.rt) {
                eprintln!("cleanup DEL of {}: {e}", self.rt.container_id);
            }
        }
    }
}

/// A root-only test's bridge setup: isolated dirs, a unique bridge name
/// with its guard (the link deleted on drop) and a network namespace; or
/// `None` (test skipped) when not root. Bind the guard to a named variable
/// (`_link`) so it lives to the end of the test.
pub fn bridge_fixture() -> Option<(CniEnv, String, LinkGuard, rcrun_it::netns::NetnsGuard)> {
    if !root_or_skip() {
        return None;
    }
    let env = CniEnv::new();
    let bridge = rcrun_it::unique::name("rcn");
    let link = LinkGuard(bridge.clone());
    let ns = rcrun_it::netns::NetnsGuard::new(&rcrun_it::unique::name("rcn-"));
    Some((env, bridge, link, ns))
}

/// A failed ADD on network `network` left nothing behind: no veth on the
/// bridge, no address of `subnet_prefix` (`10.220.9.`) in the namespace, no
/// IPAM allocation, no cache file.
pub fn assert_rolled_back(
    env: &CniEnv,
    bridge: &str,
    ns: &rcrun_it::netns::NetnsGuard,
    subnet_prefix: &str,
    network: &str,
) {
    assert!(bridge_ports(bridge).is_empty(), "bridge's veth left");
    assert!(
        !ns_addrs(&ns.name).contains(subnet_prefix),
        "address left in the netns"
    );
    assert!(
        env.ipam_allocations(network).is_empty(),
        "host-local's IP not released"
    );
    assert!(env.cache_files().is_empty());
}
