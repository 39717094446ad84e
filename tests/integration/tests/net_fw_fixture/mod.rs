//! Fixture of the firewall tests: bridges, sandboxes (netns + veth + busybox
//! httpd) and an "outside" netns connected to the host over a veth pair, made
//! with `ip` so the tests do not depend on the driver's attach code; plus an
//! nft table of the test's own (`rcrun_t…`).
//!
//! Addresses of test number N: bridge A 10.211.N.0/26 (gateway .1), bridge B
//! 10.211.N.64/26 (gateway .65), outside link 10.211.N.128/30 (host .129,
//! outside .130); IPv6 fd10:211:N::1:0/112 (bridge A), fd10:211:N::3:0/112
//! (outside link). `Fixture::finish` tears the firewall down and asserts that
//! no table, iptables rule, link or netns of the test remains.
#![allow(dead_code)] // each test file uses part of the fixture

use std::fs::File;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcrun_it::bins::run;
use rcrun_it::unique;
use rcrun_netapi::{PortMapping, Protocol};
use rcrun_netdriver::firewall::{
    reserve_ports_with, FirewallDriver, NetworkFw, NftFirewall, PortForward, PortReservation,
};

/// Tests that change the iptables FORWARD policy take this lock exclusively;
/// every test that forwards traffic holds it shared.
pub const POLICY_LOCK: &str = "/tmp/rcrun-forward-policy.lock";

/// Run `cmd args`, panicking with its stderr on failure; returns stdout.
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

/// Run and ignore the outcome (cleanup paths).
fn quiet(cmd: &str, args: &[&str]) {
    let _ = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `curl` a URL from the host (`ns` None) or from inside a netns; the body
/// on success, `None` when it cannot connect within `secs`.
pub fn curl(ns: Option<&str>, url: &str, secs: u32) -> Option<String> {
    let secs = secs.to_string();
    let args = ["-s", "-g", "--max-time", &secs, url];
    let out = match ns {
        None => run(Command::new("curl").args(args)),
        Some(ns) => run(Command::new("ip")
            .args(["netns", "exec", ns, "curl"])
            .args(args)),
    };
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `http://IP:PORT/` with IPv6 brackets.
pub fn url(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("http://{a}:{port}/"),
        IpAddr::V6(a) => format!("http://[{a}]:{port}/"),
    }
}

/// A TCP mapping.
pub fn tcp(host_ip: Option<&str>, host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_ip: host_ip.map(|s| s.parse().expect("test IP")),
        host_port,
        container_port,
        protocol: Protocol::Tcp,
    }
}

/// A bridge network of the test.
#[derive(Debug, Clone)]
pub struct Net {
    /// What the firewall is given.
    pub fw: NetworkFw,
    /// Gateway IPv4 address.
    pub gw4: IpAddr,
    /// Gateway IPv6 address on dual-stack networks.
    pub gw6: Option<IpAddr>,
    /// Sandbox IPv4 addresses are `10.211.N.(base4 + index)`.
    v4_prefix: String,
    base4: u8,
    /// Sandbox IPv6 addresses are this prefix + index (hex).
    v6_base: Option<String>,
}

/// A sandbox: a netns with eth0 on a bridge and busybox httpd on port 80.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Netns name.
    pub ns: String,
    /// Sandbox id given to the firewall.
    pub id: String,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// Its network.
    pub net: Net,
}

/// The outside netns: another "host" reaching this one over a veth.
#[derive(Debug, Clone)]
pub struct Outside {
    /// Netns name.
    pub ns: String,
    /// The host-side veth.
    pub host_veth: String,
    /// The host's address on that link (one of the host's own IPs).
    pub host_ip4: IpAddr,
    /// The host's IPv6 address on that link.
    pub host_ip6: IpAddr,
    /// The outside end's address.
    pub ip4: IpAddr,
}

/// Everything a firewall test created; [`Fixture::finish`] undoes and checks.
#[derive(Debug)]
pub struct Fixture {
    /// Test number: picks the 10.211.N.0/24 and fd10:211:N::/64 ranges.
    pub n: u8,
    /// The firewall on the test's own table.
    pub fw: NftFirewall,
    links: Vec<String>,
    netns: Vec<String>,
    servers: Vec<Child>,
    dirs: Vec<tempfile::TempDir>,
    networks: Vec<NetworkFw>,
    forwards: Vec<PortForward>,
    reservations: Vec<PortReservation>,
    finished: bool,
    _lock: File,
}

impl Fixture {
    /// A fixture for test number `n` holding the FORWARD policy lock shared.
    pub fn new(n: u8) -> Self {
        Self::with_lock(n, false)
    }

    /// As [`Fixture::new`], holding the FORWARD policy lock exclusively.
    pub fn exclusive(n: u8) -> Self {
        Self::with_lock(n, true)
    }

    fn with_lock(n: u8, exclusive: bool) -> Self {
        assert!(rcrun_it::bins::is_root(), "firewall tests need root");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(POLICY_LOCK)
            .expect("open policy lock");
        if exclusive {
            lock.lock().expect("lock policy lock");
        } else {
            lock.lock_shared().expect("lock policy lock shared");
        }
        // The driver's core sets these on attach; the fixture stands in for it.
        sh(
            "sysctl",
            &[
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        );
        let table = format!("rcrun_t{}", unique::name(""));
        Fixture {
            n,
            fw: NftFirewall::new(&table).expect("test table name"),
            links: Vec::new(),
            netns: Vec::new(),
            servers: Vec::new(),
            dirs: Vec::new(),
            networks: Vec::new(),
            forwards: Vec::new(),
            reservations: Vec::new(),
            finished: false,
            _lock: lock,
        }
    }

    /// Bridge `which` (0 = A, 1 = B), dual-stack when `ipv6`, internal when asked.
    /// The firewall is not told yet (see [`Fixture::setup`]).
    pub fn bridge(&mut self, which: u8, ipv6: bool, internal: bool) -> Net {
        let n = self.n;
        let name = unique::name("rnf");
        let base = 64 * which;
        sh("ip", &["link", "add", &name, "type", "bridge"]);
        self.links.push(name.clone());
        let v4_prefix = format!("10.211.{n}.");
        let gw4 = format!("{v4_prefix}{}", base + 1);
        sh("ip", &["addr", "add", &format!("{gw4}/26"), "dev", &name]);
        let mut subnets = vec![format!("10.211.{n}.{base}/26").parse().expect("subnet")];
        let (gw6, v6_base) = if ipv6 {
            let v6_base = format!("fd10:211:{n}::{}:", which + 1);
            let gw6 = format!("{v6_base}1");
            sh(
                "ip",
                &["addr", "add", &format!("{gw6}/112"), "dev", &name, "nodad"],
            );
            subnets.push(format!("{v6_base}0/112").parse().expect("subnet6"));
            (Some(gw6.parse().expect("gw6")), Some(v6_base))
        } else {
            (None, None)
        };
        sh("ip", &["link", "set", &name, "up"]);
        Net {
            fw: NetworkFw {
                name: format!("net-{name}"),
                bridge: name,
                subnets,
                internal,
            },
            gw4: gw4.parse().expect("gw4"),
            gw6,
            v4_prefix,
            base4: base,
            v6_base,
        }
    }

    /// Tell the firewall about `net` (and remember it for teardown).
    pub fn setup(&mut self, net: &Net) {
        self.fw.setup_network(&net.fw).expect("setup_network");
        self.networks.push(net.fw.clone());
    }

    /// A sandbox on `net` with host index `idx` (address base+idx), serving `body`.
    pub fn sandbox(&mut self, net: &Net, idx: u8, body: &str) -> Sandbox {
        let ns = format!("rnf-{}", unique::name(""));
        let veth = unique::name("rnf");
        sh("ip", &["netns", "add", &ns]);
        self.netns.push(ns.clone());
        sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        sh(
            "ip",
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        );
        sh(
            "ip",
            &["link", "set", &veth, "master", &net.fw.bridge, "up"],
        );
        // As docker without a userland proxy: hairpin lets a DNAT back to the
        // sender be bridged out of the port it came in by (br_netfilter).
        sh(
            "ip",
            &[
                "link",
                "set",
                &veth,
                "type",
                "bridge_slave",
                "hairpin",
                "on",
            ],
        );
        self.links.push(veth.clone());
        let ip4: IpAddr = format!("{}{}", net.v4_prefix, net.base4 + idx)
            .parse()
            .expect("ip4");
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ip4}/26"),
                "dev",
                "eth0",
            ],
        );
        let mut ips = vec![ip4];
        if let Some(b6) = &net.v6_base {
            let ip6: IpAddr = format!("{b6}{idx:x}").parse().expect("ip6");
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{ip6}/112"),
                    "dev",
                    "eth0",
                    "nodad",
                ],
            );
            ips.push(ip6);
        }
        sh("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &net.gw4.to_string(),
            ],
        );
        if let Some(gw6) = net.gw6 {
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &gw6.to_string(),
                ],
            );
        }
        let sb = Sandbox {
            ns,
            id: format!("sb-{veth}"),
            ips,
            net: net.clone(),
        };
        self.serve(&sb, 80, body);
        sb
    }

    /// Start busybox httpd on `port` in `sb` serving `body`, wait until it answers.
    pub fn serve(&mut self, sb: &Sandbox, port: u16, body: &str) {
        self.serve_ns(&sb.ns, port, body);
    }

    /// Start busybox httpd on `port` in netns `ns` serving `body`, wait until it answers.
    pub fn serve_ns(&mut self, ns: &str, port: u16, body: &str) {
        let dir = tempfile::Builder::new()
            .prefix("rnf-www-")
            .tempdir()
            .expect("www dir");
        std::fs::write(dir.path().join("index.html"), format!("{body}\n")).expect("index");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "busybox", "httpd", "-f", "-p"])
            .arg(port.to_string())
            .arg("-h")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn httpd");
        self.servers.push(child);
        self.dirs.push(dir);
        let deadline = Instant::now() + Duration::from_secs(5);
        let local = format!("http://127.0.0.1:{port}/");
        while curl(Some(ns), &local, 1).as_deref() != Some(body) {
            assert!(Instant::now() < deadline, "httpd in {ns} never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Keep a child process (a server) to be killed by finish/drop.
    pub fn adopt(&mut self, child: Child) {
        self.servers.push(child);
    }

    /// The outside netns, connected to the host by a veth pair.
    pub fn outside(&mut self) -> Outside {
        let n = self.n;
        let ns = format!("rnf-{}", unique::name(""));
        let veth = unique::name("rnf");
        sh("ip", &["netns", "add", &ns]);
        self.netns.push(ns.clone());
        sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        sh(
            "ip",
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        );
        self.links.push(veth.clone());
        let host4 = format!("10.211.{n}.129");
        let out4 = format!("10.211.{n}.130");
        let host6 = format!("fd10:211:{n}::3:1");
        let out6 = format!("fd10:211:{n}::3:2");
        sh("ip", &["addr", "add", &format!("{host4}/30"), "dev", &veth]);
        sh(
            "ip",
            &[
                "addr",
                "add",
                &format!("{host6}/112"),
                "dev",
                &veth,
                "nodad",
            ],
        );
        sh("ip", &["link", "set", &veth, "up"]);
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{out4}/30"),
                "dev",
                "eth0",
            ],
        );
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{out6}/112"),
                "dev",
                "eth0",
                "nodad",
            ],
        );
        sh("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        Outside {
            ns,
            host_veth: veth,
            host_ip4: host4.parse().expect("host4"),
            host_ip6: host6.parse().expect("host6"),
            ip4: out4.parse().expect("out4"),
        }
    }

    /// Reserve and publish `mappings` of `sb`; returns the resolved mappings.
    pub fn publish(&mut self, sb: &Sandbox, mappings: &[PortMapping]) -> Vec<PortMapping> {
        let res = reserve_ports_with(mappings, &self.fw).expect("reserve ports");
        let resolved = res.mappings().to_vec();
        let pf = self.forward_of(sb, &resolved);
        self.fw.setup_port_forward(&pf).expect("setup_port_forward");
        self.forwards.push(pf);
        self.reservations.push(res);
        resolved
    }

    /// The `PortForward` for `sb` and `mappings`.
    pub fn forward_of(&self, sb: &Sandbox, mappings: &[PortMapping]) -> PortForward {
        PortForward {
            network: sb.net.fw.name.clone(),
            bridge: sb.net.fw.bridge.clone(),
            sandbox_id: sb.id.clone(),
            container_ips: sb.ips.clone(),
            mappings: mappings.to_vec(),
        }
    }

    /// The networks and forwards set up so far (what a reload is given).
    pub fn state(&self) -> (Vec<NetworkFw>, Vec<PortForward>) {
        (self.networks.clone(), self.forwards.clone())
    }

    /// Forget a forward torn down by the test itself.
    pub fn forget_forward(&mut self, sandbox_id: &str) {
        self.forwards.retain(|f| f.sandbox_id != sandbox_id);
    }

    /// Forget a network torn down by the test itself.
    pub fn forget_network(&mut self, bridge: &str) {
        self.networks.retain(|n| n.bridge != bridge);
    }

    /// Tear down every forward and network through the firewall, remove the
    /// kernel objects, and assert nothing of the test remains.
    pub fn finish(mut self) {
        self.finished = true;
        for f in std::mem::take(&mut self.forwards) {
            self.fw
                .teardown_port_forward(&f)
                .expect("teardown_port_forward");
        }
        for n in std::mem::take(&mut self.networks) {
            self.fw.teardown_network(&n).expect("teardown_network");
        }
        assert_no_table(self.fw.table());
        assert_no_forward_rule(self.fw.table());
        // The table was the test's own: so is its lock file.
        let _ = std::fs::remove_file(self.fw.lock_path());
        self.reservations.clear();
        self.remove_objects();
        for l in &self.links {
            let out = run(Command::new("ip").args(["link", "show", l]));
            assert!(!out.status.success(), "link {l} left behind");
        }
        let list = sh("ip", &["netns", "list"]);
        for ns in &self.netns {
            assert!(
                !list
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(ns)),
                "netns {ns} left behind"
            );
        }
    }

    fn remove_objects(&mut self) {
        for mut c in self.servers.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.netns {
            quiet("ip", &["netns", "del", ns]);
        }
        for l in &self.links {
            quiet("ip", &["link", "del", l]);
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // A failed test: undo everything, best effort.
        let _ = self.fw.reload(&[], &[]);
        let _ = std::fs::remove_file(self.fw.lock_path());
        self.remove_objects();
    }
}

/// Assert `inet <table>` does not exist.
pub fn assert_no_table(table: &str) {
    let tables = sh("nft", &["list", "tables"]);
    assert!(
        !tables
            .lines()
            .any(|l| l.trim() == format!("table inet {table}")),
        "table inet {table} left behind:\n{tables}"
    );
}

/// Assert no iptables FORWARD chain holds the rule of `table`.
pub fn assert_no_forward_rule(table: &str) {
    let legacy = |f: &str| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == "filter")
    };
    let mut bins = vec!["iptables-nft", "ip6tables-nft"];
    // Listing a legacy table would create it: only look where one exists.
    if legacy("/proc/net/ip_tables_names") {
        bins.push("iptables-legacy");
    }
    if legacy("/proc/net/ip6_tables_names") {
        bins.push("ip6tables-legacy");
    }
    for bin in bins {
        let out = run(Command::new(bin).args(["-w", "-S", "FORWARD"]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains(&format!("rcrun table {table}\"")),
            "{bin} FORWARD still has the rule of {table}:\n{text}"
        );
    }
}
