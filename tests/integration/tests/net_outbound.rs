//! Traffic through the driver as a whole (the firewall's own details are in
//! `net_fw_*`): outbound masquerade to an "outside" netns, `--internal`
//! networks kept in, and a published port reachable from the host at
//! 127.0.0.1 and its own address, with taken ports refused; `network reload`.
//! Hairpin: a container reaching its own or a peer's published port through
//! the host IP. Subnets 10.210.14-17.0/24, 10.210.19.0/24 and 10.210.21.0/24.

mod net_util;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use net_util::{assert_one_line_error, sh, NetEnv, SharedPolicyLock};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};

/// A netns reachable from the host over a veth pair (host 10.210.16.1/24,
/// outside 10.210.16.2/24), with no route back to any container subnet.
struct Outside {
    ns: NetnsGuard,
    host_end: String,
}

impl Outside {
    fn new() -> Self {
        let ns = NetnsGuard::new(&unique::name("rnd-"));
        let host_end = unique::name("rnd");
        let peer = unique::name("rnd");
        sh(
            "ip",
            &[
                "link", "add", &host_end, "type", "veth", "peer", "name", &peer,
            ],
        );
        let o = Outside { ns, host_end };
        sh("ip", &["link", "set", &peer, "netns", &o.ns.name]);
        sh("ip", &["addr", "add", "10.210.16.1/24", "dev", &o.host_end]);
        sh("ip", &["link", "set", &o.host_end, "up"]);
        sh(
            "ip",
            &[
                "-n",
                &o.ns.name,
                "addr",
                "add",
                "10.210.16.2/24",
                "dev",
                &peer,
            ],
        );
        sh("ip", &["-n", &o.ns.name, "link", "set", &peer, "up"]);
        o
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .output();
    }
}

fn ping_from(ns: &NetnsGuard, dst: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "busybox", "ping", "-c1", "-W2", dst,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn outbound_traffic_is_masqueraded_and_internal_networks_cannot_leave() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _policy = SharedPolicyLock::take();
    let env = NetEnv::new(14);
    let outside = Outside::new();
    env.create_network("rnd-out", &["--subnet", "10.210.14.0/24"]);
    env.create_network("rnd-int", &["--subnet", "10.210.15.0/24", "--internal"]);
    let a = NetnsGuard::new(&unique::name("rnd-"));
    let b = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-out", &a, "out1", &[]);
    env.attach("rnd-int", &b, "int1", &[]);
    // The outside netns has no route to 10.210.14.0/24: only a masqueraded
    // packet (source 10.210.16.1) gets an answer.
    assert!(
        ping_from(&a, "10.210.16.2"),
        "masqueraded ping reaches the outside"
    );
    assert!(
        !ping_from(&b, "10.210.16.2"),
        "internal network has no way out"
    );
    // Even with routes added by hand both ways (so no NAT would be needed),
    // the firewall keeps it in.
    sh(
        "ip",
        &[
            "-n",
            &b.name,
            "route",
            "add",
            "default",
            "via",
            "10.210.15.1",
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &outside.ns.name,
            "route",
            "add",
            "10.210.15.0/24",
            "via",
            "10.210.16.1",
        ],
    );
    assert!(
        !ping_from(&b, "10.210.16.2"),
        "internal network is filtered"
    );
    env.detach("rnd-out", "out1");
    env.detach("rnd-int", "int1");
    drop(outside);
    env.finish();
}

/// busybox httpd serving `body` inside `ns` on port 80, killed on drop.
struct Httpd {
    child: Child,
    _root: tempfile::TempDir,
}

impl Httpd {
    fn start(ns: &NetnsGuard, body: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("index.html"), body).expect("write index");
        let child = ns
            .exec("busybox")
            .args(["httpd", "-f", "-p", "80", "-h"])
            .arg(dir.path())
            .spawn()
            .expect("start httpd");
        Httpd { child, _root: dir }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(url: &str) -> Option<String> {
    curl_for(url, Duration::from_secs(5))
}

/// `curl` retried until it answers or `wait` has passed.
fn curl_for(url: &str, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    loop {
        let out = Command::new("curl")
            .args(["-s", "-g", "--max-time", "2", url])
            .output()
            .ok()?;
        if out.status.success() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host's first global IPv4 address outside the test ranges.
fn host_ip() -> String {
    let v = net_util::ip_json("", &["-4", "addr", "show", "scope", "global"]);
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_string))
        .find(|a| !a.starts_with("10.21"))
        .expect("a global IPv4 address on the host")
}

#[test]
fn published_port_answers_on_localhost_and_host_ip_and_taken_ports_are_refused() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _policy = SharedPolicyLock::take();
    let env = NetEnv::new(17);
    env.create_network("rnd-pub", &["--subnet", &env.subnet()]);
    let a = NetnsGuard::new(&unique::name("rnd-"));
    let b = NetnsGuard::new(&unique::name("rnd-"));
    let _httpd = Httpd::start(&a, "from-a\n");
    let att = env.attach("rnd-pub", &a, "pa", &["-p", "80"]);
    let port = att["port_mappings"][0]["host_port"]
        .as_u64()
        .expect("resolved host port");
    assert_ne!(port, 0);
    assert_eq!(
        curl(&format!("http://127.0.0.1:{port}/")).as_deref(),
        Some("from-a\n")
    );
    assert_eq!(
        curl(&format!("http://{}:{port}/", host_ip())).as_deref(),
        Some("from-a\n")
    );

    // The same host port again: refused, naming the port and who has it.
    let spec = format!("{port}:80");
    let out = env.try_attach("rnd-pub", &b, "pb", &["-p", &spec]);
    assert_one_line_error(&out, &[&port.to_string(), "pa"]);
    // A port a host process listens on: refused too.
    let l = TcpListener::bind("0.0.0.0:0").expect("bind");
    let busy = l.local_addr().expect("addr").port();
    let spec = format!("{busy}:80");
    let out = env.try_attach("rnd-pub", &b, "pb", &["-p", &spec]);
    assert_one_line_error(&out, &[&busy.to_string()]);
    assert_eq!(
        env.ipam_entries().len(),
        1,
        "refused attaches left no address"
    );

    env.detach("rnd-pub", "pa");
    assert_eq!(
        curl_for(&format!("http://127.0.0.1:{port}/"), Duration::ZERO),
        None,
        "unpublished"
    );
    env.finish();
}

#[test]
fn network_reload_recreates_the_rules_after_the_table_was_deleted() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _policy = SharedPolicyLock::take();
    let env = NetEnv::new(19);
    env.create_network("rnd-reload", &["--subnet", &env.subnet()]);
    let a = NetnsGuard::new(&unique::name("rnd-"));
    let _httpd = Httpd::start(&a, "reloaded\n");
    let att = env.attach("rnd-reload", &a, "ra", &["-p", "127.0.0.1::80"]);
    let port = att["port_mappings"][0]["host_port"]
        .as_u64()
        .expect("host port");
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(curl(&url).as_deref(), Some("reloaded\n"));
    // Someone flushes rcrun's rules (this test's own table).
    sh("nft", &["delete", "table", "inet", &env.table]);
    assert_eq!(
        curl_for(&url, Duration::ZERO),
        None,
        "no DNAT without the table"
    );
    let out = env.try_rcrun(&["network", "reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        curl(&url).as_deref(),
        Some("reloaded\n"),
        "reload re-created the mapping"
    );
    env.detach("rnd-reload", "ra");
    env.finish();
}

/// `busybox wget` from inside `ns`, retried for up to 5 s.
fn wget_from(ns: &NetnsGuard, url: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // (busybox 1.35's `wget -T` crashes; `timeout` bounds the call instead.)
        let out = ns
            .exec("timeout")
            .args(["3", "busybox", "wget", "-q", "-O", "-", url])
            .output()
            .ok()?;
        if out.status.success() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn hairpin_container_reaches_its_own_and_a_peers_published_port_via_host_ip() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _policy = SharedPolicyLock::take();
    let env = NetEnv::new(21);
    env.create_network("rnd-hairpin", &["--subnet", &env.subnet()]);
    let a = NetnsGuard::new(&unique::name("rnd-"));
    let b = NetnsGuard::new(&unique::name("rnd-"));
    let _httpd = Httpd::start(&a, "hairpin-a\n");
    let att = env.attach("rnd-hairpin", &a, "ha", &["-p", "80"]);
    env.attach("rnd-hairpin", &b, "hb", &[]);
    let port = att["port_mappings"][0]["host_port"]
        .as_u64()
        .expect("resolved host port");
    let url = format!("http://{}:{port}/", host_ip());
    assert_eq!(
        wget_from(&a, &url).as_deref(),
        Some("hairpin-a\n"),
        "a container reaches its own published port through the host IP"
    );
    assert_eq!(
        wget_from(&b, &url).as_deref(),
        Some("hairpin-a\n"),
        "a peer on the same bridge reaches it through the host IP"
    );
    env.detach("rnd-hairpin", "ha");
    env.detach("rnd-hairpin", "hb");
    env.finish();
}
