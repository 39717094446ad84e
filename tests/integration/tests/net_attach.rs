//! Attaching sandboxes to bridge networks: eth0 with address, MAC, route;
//! dual stack; static addresses; per-sandbox files; detach leaves nothing.
//! Subnets 10.210.10-13.0/24, 10.210.18.0/24 and fd10:210:11::/64.

mod net_util;

use net_util::{assert_one_line_error, ip_json, link_exists, sh, NetEnv};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};
use serde_json::Value;

fn addrs_of(ns: &str, dev: &str) -> Vec<String> {
    let v = ip_json(ns, &["addr", "show", "dev", dev]);
    v[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["scope"] == "global")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
        .collect()
}

fn link_of(ns: &str, dev: &str) -> Value {
    ip_json(ns, &["link", "show", "dev", dev])[0].clone()
}

/// `net.ipv6.conf.<dev>.disable_ipv6` in netns `ns` ("" = the host's).
fn ipv6_disabled(ns: &str, dev: &str) -> bool {
    let path = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
    let v = if ns.is_empty() {
        std::fs::read_to_string(&path).unwrap_or_default()
    } else {
        sh("ip", &["netns", "exec", ns, "cat", &path])
    };
    v.trim() == "1"
}

/// Every IPv6 address on `dev` in netns `ns`, link-local included.
fn ipv6_addrs_of(ns: &str, dev: &str) -> Vec<String> {
    let v = ip_json(ns, &["-6", "addr", "show", "dev", dev]);
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(String::from))
        .collect()
}

fn is_up(link: &Value) -> bool {
    link["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "UP"))
}

#[test]
fn attach_gives_eth0_with_address_mac_default_route_and_lo_up() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(10);
    let bridge = env.create_network("rnd-att", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    sh("ip", &["-n", &ns.name, "link", "set", "lo", "down"]);
    let sys = |f: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{bridge}/{f}"))
            .unwrap_or_else(|e| panic!("read {f} of {bridge}: {e}"))
            .trim()
            .to_string()
    };
    let bridge_mac = sys("address");
    let att = env.attach("rnd-att", &ns, "sb1", &[]);
    // The bridge's MAC was set at creation (NET_ADDR_SET), so a port joining
    // does not change the gateway's MAC.
    assert_eq!(sys("addr_assign_type"), "3", "the bridge's MAC is fixed");
    assert_eq!(
        sys("address"),
        bridge_mac,
        "the bridge's MAC did not change"
    );

    assert_eq!(att["ips"][0]["address"], env.ip(2));
    assert_eq!(att["ips"][0]["gateway"], env.ip(1));
    assert_eq!(
        addrs_of(&ns.name, "eth0"),
        vec![format!("{}/24", env.ip(2))]
    );
    let eth0 = link_of(&ns.name, "eth0");
    assert_eq!(
        eth0["address"], "02:42:0a:d2:0a:02",
        "MAC derived from 10.210.10.2"
    );
    assert!(is_up(&eth0));
    assert!(is_up(&link_of(&ns.name, "lo")), "lo is up");
    let routes = ip_json(&ns.name, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], env.ip(1));
    assert_eq!(routes[0]["dev"], "eth0");
    // The host end is on the bridge, and the gateway answers.
    let veth = env.veth("rnd-att", "sb1");
    let host = ip_json("", &["link", "show", "dev", &veth]);
    assert_eq!(host[0]["master"], bridge.as_str());
    // The bridge was made with multicast snooping off (no querier runs on it,
    // so snooping would only add per-port timers).
    assert_eq!(
        sys("bridge/multicast_snooping"),
        "0",
        "multicast snooping off on {bridge}"
    );
    // No IPv6 on an IPv4-only network: neither end gets a link-local
    // address (whose DAD and MLD the bridge would flood to every port).
    assert!(ipv6_disabled(&ns.name, "eth0"), "IPv6 off on eth0");
    assert!(ipv6_disabled("", &veth), "IPv6 off on the bridge port");
    assert_eq!(ipv6_addrs_of(&ns.name, "eth0"), Vec::<String>::new());
    assert_eq!(ipv6_addrs_of("", &veth), Vec::<String>::new());
    // The peer, born under the host end's name, was renamed: only lo and
    // eth0 are in the sandbox.
    let mut names: Vec<String> = ip_json(&ns.name, &["link", "show"])
        .as_array()
        .expect("ip -j link show: an array")
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["eth0", "lo"]);
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &ns.name,
            "busybox",
            "ping",
            "-c1",
            "-W2",
            &env.ip(1),
        ],
    );

    env.detach("rnd-att", "sb1");
    assert!(!link_exists(&veth));
    let left = ip_json(&ns.name, &["link", "show"]);
    assert_eq!(
        left.as_array().map(Vec::len),
        Some(1),
        "only lo remains: {left}"
    );
    env.assert_no_endpoints();
    // Detaching again is fine (the job is already done).
    env.detach("rnd-att", "sb1");
    env.finish();
}

#[test]
fn dual_stack_attach_gets_ipv4_and_ipv6_with_default_routes() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(11);
    env.create_network(
        "rnd-ds",
        &[
            "--subnet",
            &env.subnet(),
            "--ipv6",
            "--subnet",
            "fd10:210:11::/64",
        ],
    );
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let att = env.attach("rnd-ds", &ns, "sb1", &[]);
    assert_eq!(att["ips"][1]["address"], "fd10:210:11::2");
    assert_eq!(att["ips"][1]["gateway"], "fd10:210:11::1");
    assert_eq!(
        addrs_of(&ns.name, "eth0"),
        vec![format!("{}/24", env.ip(2)), "fd10:210:11::2/64".to_string()]
    );
    let r6 = ip_json(&ns.name, &["-6", "route", "show", "default"]);
    assert_eq!(r6[0]["gateway"], "fd10:210:11::1");
    // IPv6 stays on in the sandbox (link-local included); the bridge port
    // carries it at layer 2 with IPv6 off on itself.
    assert!(!ipv6_disabled(&ns.name, "eth0"));
    assert!(ipv6_addrs_of(&ns.name, "eth0")
        .iter()
        .any(|a| a.starts_with("fe80:")));
    assert!(ipv6_disabled("", &env.veth("rnd-ds", "sb1")));
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &ns.name,
            "busybox",
            "ping",
            "-6",
            "-c1",
            "-W2",
            "fd10:210:11::1",
        ],
    );
    env.detach("rnd-ds", "sb1");
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn static_ip_is_honoured_and_refused_when_taken() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(12);
    env.create_network("rnd-st", &["--subnet", &env.subnet()]);
    let a = NetnsGuard::new(&unique::name("rnd-"));
    let b = NetnsGuard::new(&unique::name("rnd-"));
    let want = env.ip(50);
    let att = env.attach("rnd-st", &a, "sa", &["--ip", &want]);
    assert_eq!(att["ips"][0]["address"], want.as_str());
    assert_eq!(addrs_of(&a.name, "eth0"), vec![format!("{want}/24")]);

    let out = env.try_attach("rnd-st", &b, "sb", &["--ip", &want]);
    assert_one_line_error(&out, &[&want, "in use by sandbox sa"]);
    let out = env.try_attach("rnd-st", &b, "sb", &["--ip", &env.ip(1)]);
    assert_one_line_error(&out, &["gateway"]);
    let out = env.try_attach("rnd-st", &b, "sb", &["--ip", "10.99.0.1"]);
    assert_one_line_error(&out, &["outside"]);
    // Nothing of the refused attaches is left: no eth0, no record, one address.
    assert_eq!(
        ip_json(&b.name, &["link", "show"]).as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(env.endpoint_records().len(), 1);
    assert_eq!(env.ipam_entries().len(), 1);

    let att = env.attach("rnd-st", &b, "sb", &[]);
    assert_eq!(att["ips"][0]["address"], env.ip(2));
    env.detach("rnd-st", "sa");
    env.detach("rnd-st", "sb");
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn per_sandbox_resolv_conf_hosts_and_hostname_are_written() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(13);
    env.create_network("rnd-files", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_string_lossy().into_owned();
    env.attach(
        "rnd-files",
        &ns,
        "sb1",
        &["--hostname", "web", "--files-dir", &d],
    );
    let hosts = std::fs::read_to_string(dir.path().join("hosts")).expect("hosts");
    assert!(hosts.contains("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.contains(&format!("{}\tweb\n", env.ip(2))), "{hosts}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hostname")).expect("hostname"),
        "web\n"
    );
    let resolv = std::fs::read_to_string(dir.path().join("resolv.conf")).expect("resolv.conf");
    let servers: Vec<&str> = resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    assert!(!servers.is_empty(), "{resolv}");
    for s in servers {
        let ip: std::net::IpAddr = s.parse().expect("nameserver address");
        assert!(!ip.is_loopback(), "loopback nameserver kept: {resolv}");
    }
    env.detach("rnd-files", "sb1");
    env.finish();
}

#[test]
fn bridge_gone_after_a_reboot_is_made_again_by_the_next_attach() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(18);
    let bridge = env.create_network("rnd-reboot", &["--subnet", &env.subnet()]);
    sh("ip", &["link", "del", &bridge]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-reboot", &ns, "sb1", &[]);
    let br = ip_json("", &["addr", "show", "dev", &bridge]);
    let addrs: Vec<&str> = br[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["local"].as_str())
        .collect();
    assert!(
        addrs.contains(&env.ip(1).as_str()),
        "gateway back on {bridge}: {addrs:?}"
    );
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &ns.name,
            "busybox",
            "ping",
            "-c1",
            "-W2",
            &env.ip(1),
        ],
    );
    env.detach("rnd-reboot", "sb1");
    env.finish();
}
