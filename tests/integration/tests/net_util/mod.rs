//! Shared harness of the netdriver tests (`net_*.rs` but not `net_fw_*`):
//! one [`NetEnv`] per test with its own data root, nft table, default bridge
//! name and subnet 10.210.N.0/24, driving the real `rcrun` binary. Its
//! `finish` removes what the test made and asserts nothing of it remains;
//! its `Drop` cleans up best-effort when a test fails half-way.
#![allow(dead_code)] // each test file uses part of the harness

use std::cell::RefCell;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rcrun_it::bins::{bin, run};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::unique;
use serde_json::Value;

/// The firewall tests' FORWARD-policy lock; tests that forward traffic hold it shared.
pub const POLICY_LOCK: &str = "/tmp/rcrun-forward-policy.lock";

/// A shared flock on [`POLICY_LOCK`], released on drop.
pub struct SharedPolicyLock(File);

impl SharedPolicyLock {
    /// Wait until no test changes the FORWARD policy, then hold the lock shared.
    pub fn take() -> Self {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(POLICY_LOCK)
            .expect("open policy lock");
        // SAFETY: flock on an fd we own; no memory is involved.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) };
        assert_eq!(rc, 0, "flock {POLICY_LOCK}");
        SharedPolicyLock(f)
    }
}

/// Run `cmd args` and return stdout; panic with stderr on failure.
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = run(Command::new(cmd).args(args));
    assert!(
        out.status.success(),
        "{cmd} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when link `name` exists in the host netns.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A link holding `addr`, so the host has a route to its subnet; deleted on
/// drop. (A veth pair: this kernel has no dummy driver.)
pub struct DummyRoute {
    /// Link name (the end holding the address).
    pub name: String,
}

impl DummyRoute {
    /// `ip link add NAME type veth peer …; ip addr add ADDR dev NAME; up`.
    pub fn new(addr: &str) -> Self {
        let name = unique::name("rnd");
        let peer = unique::name("rnd");
        sh(
            "ip",
            &["link", "add", &name, "type", "veth", "peer", "name", &peer],
        );
        let d = DummyRoute { name };
        sh("ip", &["addr", "add", addr, "dev", &d.name]);
        sh("ip", &["link", "set", &d.name, "up"]);
        sh("ip", &["link", "set", &peer, "up"]);
        d
    }
}

impl Drop for DummyRoute {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

/// One test's world.
pub struct NetEnv {
    /// Data root (tempdir).
    pub data: tempfile::TempDir,
    /// State root (tempdir).
    pub state: tempfile::TempDir,
    /// The test's subnet number N (10.210.N.0/24).
    pub n: u8,
    /// Bridge of the default network.
    pub default_bridge: String,
    /// The nft table.
    pub table: String,
    /// Candidate pool for the default network.
    pub pool: String,
    bridges: RefCell<Vec<String>>,
    veths: RefCell<Vec<String>>,
    addrs: RefCell<Vec<String>>,
}

impl NetEnv {
    /// A fresh world for test number `n`.
    pub fn new(n: u8) -> Self {
        let data = tempfile::Builder::new()
            .prefix("rnd-data-")
            .tempdir()
            .expect("tempdir");
        let state = tempfile::Builder::new()
            .prefix("rnd-state-")
            .tempdir()
            .expect("tempdir");
        let default_bridge = unique::name("rnd");
        let table = format!("rnd_{}", unique::name("t"));
        NetEnv {
            data,
            state,
            n,
            pool: format!("10.210.{n}.0/24"),
            bridges: RefCell::new(vec![default_bridge.clone()]),
            default_bridge,
            table,
            veths: RefCell::new(Vec::new()),
            addrs: RefCell::new(Vec::new()),
        }
    }

    /// The test's IPv4 subnet.
    pub fn subnet(&self) -> String {
        format!("10.210.{}.0/24", self.n)
    }

    /// Address `host` of the test's IPv4 subnet.
    pub fn ip(&self, host: u8) -> String {
        format!("10.210.{}.{host}", self.n)
    }

    /// The data root.
    pub fn data_root(&self) -> &Path {
        self.data.path()
    }

    /// `rcrun` with this world's roots and environment.
    pub fn rcrun(&self) -> Command {
        let mut c = Command::new(bin("rcrun"));
        c.arg("--data-root")
            .arg(self.data.path())
            .arg("--root")
            .arg(self.state.path())
            .env("RCRUN_NET_DEFAULT_BRIDGE", &self.default_bridge)
            .env("RCRUN_NET_DEFAULT_POOL", &self.pool)
            .env("RCRUN_NET_VETH_PREFIX", "rnd")
            .env("RCRUN_NFT_TABLE", &self.table)
            .env("CNI_CONF_DIR", self.data.path().join("no-cni"));
        c
    }

    /// Run `rcrun ARGS`, return its output whatever the status.
    pub fn try_rcrun(&self, args: &[&str]) -> Output {
        run(self.rcrun().args(args))
    }

    /// Run `rcrun ARGS`, panic on failure, return stdout.
    pub fn rcrun_ok(&self, args: &[&str]) -> String {
        let out = self.try_rcrun(args);
        assert!(
            out.status.success(),
            "rcrun {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new bridge name owned by this test (removed in cleanup if left).
    pub fn new_bridge(&self) -> String {
        let b = unique::name("rnd");
        self.bridges.borrow_mut().push(b.clone());
        b
    }

    /// `network create` with this test's subnet N (and `extra` args); returns the bridge.
    pub fn create_network(&self, name: &str, extra: &[&str]) -> String {
        let bridge = self.new_bridge();
        let opt = format!("com.docker.network.bridge.name={bridge}");
        let mut args = vec!["network", "create", "-o", &opt];
        args.extend_from_slice(extra);
        args.push(name);
        self.rcrun_ok(&args);
        bridge
    }

    /// The host veth name the driver uses for (network, id).
    pub fn veth(&self, network: &str, id: &str) -> String {
        self.veth_opt(network, id)
            .unwrap_or_else(|| panic!("network {network} is not defined"))
    }

    /// The host veth name, `None` while the network is not defined.
    pub fn veth_opt(&self, network: &str, id: &str) -> Option<String> {
        let def = self
            .data
            .path()
            .join("networks")
            .join(format!("{network}.json"));
        let text = std::fs::read_to_string(def).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        let net_id = v["id"].as_str()?;
        Some(rcrun_netdriver::model::host_veth_name("rnd", net_id, id))
    }

    /// Attach netns `ns` as sandbox `id`; returns the attachment JSON.
    pub fn attach(&self, network: &str, ns: &NetnsGuard, id: &str, extra: &[&str]) -> Value {
        let out = self.try_attach(network, ns, id, extra);
        assert!(
            out.status.success(),
            "attach {id} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("attachment JSON")
    }

    /// Attach and return the raw output (for refusals).
    pub fn try_attach(&self, network: &str, ns: &NetnsGuard, id: &str, extra: &[&str]) -> Output {
        let path = ns.path();
        let path = path.to_string_lossy();
        let mut args = vec!["network", "attach", network, "--netns", &path, "--id", id];
        args.extend_from_slice(extra);
        let out = self.try_rcrun(&args);
        // The network exists now (the default one is made on first use).
        if let Some(v) = self.veth_opt(network, id) {
            self.veths.borrow_mut().push(v);
        }
        if out.status.success() {
            if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
                for ip in v["ips"].as_array().into_iter().flatten() {
                    if let Some(a) = ip["address"].as_str() {
                        self.addrs.borrow_mut().push(a.to_string());
                    }
                }
            }
        }
        out
    }

    /// Detach sandbox `id`.
    pub fn detach(&self, network: &str, id: &str) {
        self.rcrun_ok(&["network", "detach", "--wait", network, "--id", id]);
    }

    /// IPAM entries (address files) of every network.
    pub fn ipam_entries(&self) -> Vec<PathBuf> {
        files_in(&self.data.path().join("ipam"), |n| !n.starts_with('.'))
    }

    /// Endpoint records of every network (under the run root).
    pub fn endpoint_records(&self) -> Vec<PathBuf> {
        files_in(&self.state.path().join("endpoints"), |n| {
            n.ends_with(".json")
        })
    }

    /// The test's nft table as text (empty when it does not exist).
    pub fn nft_table(&self) -> String {
        let out = run(Command::new("nft").args(["list", "table", "inet", &self.table]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Assert no endpoint of this test remains: no veth, IPAM entry, record,
    /// or nft map element pointing at one of its addresses.
    pub fn assert_no_endpoints(&self) {
        for v in self.veths.borrow().iter() {
            assert!(!link_exists(v), "veth {v} leaked");
        }
        assert_eq!(
            self.ipam_entries(),
            Vec::<PathBuf>::new(),
            "IPAM entries leaked"
        );
        assert_eq!(
            self.endpoint_records(),
            Vec::<PathBuf>::new(),
            "endpoint records leaked"
        );
        let table = self.nft_table();
        for a in self.addrs.borrow().iter() {
            let needle = format!("{a} . ");
            assert!(
                !table.contains(&needle),
                "nft element for {a} leaked:\n{table}"
            );
        }
    }

    /// Remove every network of the test, then assert nothing remains: no
    /// bridge, veth, IPAM entry, record, nft table, network definition.
    pub fn finish(self) {
        self.remove_all();
        self.assert_no_endpoints();
        for b in self.bridges.borrow().iter() {
            assert!(!link_exists(b), "bridge {b} leaked");
        }
        assert_eq!(self.nft_table(), "", "nft table {} leaked", self.table);
        let lock = self.remove_nft_lock();
        assert!(!lock.exists(), "nft lock file {} leaked", lock.display());
        let defs = files_in(&self.data.path().join("networks"), |n| n.ends_with(".json"));
        assert_eq!(defs, Vec::<PathBuf>::new(), "network definitions leaked");
    }

    fn remove_all(&self) {
        for rec in self.endpoint_records() {
            let net = rec
                .parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned());
            let id = rec.file_stem().map(|s| s.to_string_lossy().into_owned());
            if let (Some(net), Some(id)) = (net, id) {
                let _ = self.try_rcrun(&["network", "detach", "--wait", &net, "--id", &id]);
            }
        }
        let ls = self.try_rcrun(&["network", "ls", "-q"]);
        for name in String::from_utf8_lossy(&ls.stdout).lines() {
            let out = self.try_rcrun(&["network", "rm", name]);
            assert!(
                out.status.success(),
                "network rm {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for NetEnv {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        self.remove_all_quietly();
    }
}

impl NetEnv {
    fn remove_all_quietly(&self) {
        for rec in self.endpoint_records() {
            let net = rec
                .parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned());
            let id = rec.file_stem().map(|s| s.to_string_lossy().into_owned());
            if let (Some(net), Some(id)) = (net, id) {
                let _ = self.try_rcrun(&["network", "detach", "--wait", &net, "--id", &id]);
            }
        }
        let ls = self.try_rcrun(&["network", "ls", "-q"]);
        for name in String::from_utf8_lossy(&ls.stdout).lines() {
            let _ = self.try_rcrun(&["network", "rm", name]);
        }
        for v in self
            .veths
            .borrow()
            .iter()
            .chain(self.bridges.borrow().iter())
        {
            let _ = Command::new("ip").args(["link", "del", v]).output();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .output();
        self.remove_nft_lock();
    }

    /// Remove the host-wide lock file of this test's nft table (the driver
    /// keeps it for the table's lifetime; the test's table is gone now).
    fn remove_nft_lock(&self) -> PathBuf {
        let path = rcrun_netdriver::NftFirewall::new(&self.table)
            .map(|f| f.lock_path())
            .unwrap_or_else(|e| panic!("nft table name {}: {e}", self.table));
        let _ = std::fs::remove_file(&path);
        path
    }
}

fn files_in(dir: &Path, keep: impl Fn(&str) -> bool + Copy) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_in(&p, keep));
        } else if keep(&e.file_name().to_string_lossy()) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `ip -n NS -j ADDR/ROUTE/LINK ...` parsed (`ns` empty: the host).
pub fn ip_json(ns: &str, args: &[&str]) -> Value {
    let mut all = if ns.is_empty() {
        vec!["-j"]
    } else {
        vec!["-n", ns, "-j"]
    };
    all.extend_from_slice(args);
    serde_json::from_str(&sh("ip", &all)).expect("ip -j output")
}

/// Assert an error output: non-zero exit, exactly one line on stderr,
/// containing every `needles`.
pub fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    for n in needles {
        assert!(err.contains(n), "{err:?} does not mention {n:?}");
    }
}
