//! cni-host driving the Debian reference plugins (/usr/lib/cni) into
//! namespaces made by the tests: the bridge, host-local, portmap, firewall,
//! tuning and bandwidth chain with traffic to a published port, the same
//! chain as 0.3.1/0.4.0/1.0.0 configs, macvlan, ptp, static IPAM, GC of a
//! vanished container. Every test asserts DEL leaves no link, address,
//! firewall rule, host-local file or cache entry behind.

mod cni_common;

use std::process::Command;

use cni_common::*;
use rcrun_cni_host::{CapabilityArgs, CniError, CniResult, GcAttachment, SpecVersion};
use rcrun_it::bins::run_ok;
use rcrun_it::netns::NetnsGuard;
use rcrun_it::unique;
use serde_json::{json, Value};

/// The full chain; `firewall` only where the plugin supports the version (0.4.0+).
fn full_chain(name: &str, version: &str, bridge: &str, octet: u8, ipam: &std::path::Path) -> Value {
    let mut plugins = vec![
        json!({"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
               "hairpinMode": true,
               "ipam": {"type": "host-local", "dataDir": ipam,
                        "ranges": [[{"subnet": format!("10.220.{octet}.0/25"),
                                     "gateway": format!("10.220.{octet}.1")}]],
                        "routes": [{"dst": "0.0.0.0/0"}]}}),
        json!({"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}),
    ];
    if version != "0.3.1" {
        plugins.push(json!({"type": "firewall", "backend": "iptables"}));
    }
    plugins.push(json!({"type": "tuning", "capabilities": {"mac": true},
                        "sysctl": {"net.core.somaxconn": "512"}}));
    plugins.push(json!({"type": "bandwidth", "capabilities": {"bandwidth": true}}));
    json!({"cniVersion": version, "name": name, "plugins": plugins})
}

/// True when `hay` mentions `ip` as a whole address.
fn mentions_ip(hay: &str, ip: &str) -> bool {
    hay.match_indices(ip).any(|(i, _)| {
        !hay[i + ip.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

fn firewall_mentions_ip(ip: &str) -> Vec<String> {
    firewall_lines_with(ip)
        .into_iter()
        .filter(|l| mentions_ip(l, ip))
        .collect()
}

/// Host-side interfaces a result names (veth, ifb), for the leak check.
fn host_ifaces(r: &CniResult, bridge: &str) -> Vec<String> {
    r.interfaces
        .iter()
        .filter(|i| i.sandbox.as_deref().unwrap_or("").is_empty() && i.name != bridge)
        .map(|i| i.name.clone())
        .collect()
}

fn sandbox_ip(r: &CniResult) -> String {
    let addr = &r.ips.first().expect("result has an address").address;
    addr.split('/').next().unwrap_or_default().to_string()
}

/// A second namespace wired to the host by a veth pair on
/// 10.220.<octet>.128/30, default route via the host end.
struct Client {
    ns: NetnsGuard,
    _veth: LinkGuard,
}

fn client(octet: u8) -> Client {
    let ns = NetnsGuard::new(&unique::name("rcn-c"));
    let host_end = unique::name("rcnv");
    let peer = unique::name("rcnp");
    run_ok(Command::new("ip").args([
        "link", "add", &host_end, "type", "veth", "peer", "name", &peer,
    ]));
    let veth = LinkGuard(host_end.clone());
    run_ok(Command::new("ip").args(["link", "set", &peer, "netns", &ns.name]));
    run_ok(Command::new("ip").args([
        "addr",
        "add",
        &format!("10.220.{octet}.129/30"),
        "dev",
        &host_end,
    ]));
    run_ok(Command::new("ip").args(["link", "set", &host_end, "up"]));
    run_ok(Command::new("ip").args([
        "-n",
        &ns.name,
        "addr",
        "add",
        &format!("10.220.{octet}.130/30"),
        "dev",
        &peer,
    ]));
    run_ok(Command::new("ip").args(["-n", &ns.name, "link", "set", &peer, "up"]));
    run_ok(Command::new("ip").args([
        "-n",
        &ns.name,
        "route",
        "add",
        "default",
        "via",
        &format!("10.220.{octet}.129"),
    ]));
    Client { ns, _veth: veth }
}

/// CHECK the attachment. Debian's portmap 1.1.1 cannot pass CHECK: it looks
/// for its IPv4 rules in ip6tables (containernetworking/plugins#819, fixed
/// upstream later), so if the whole chain fails it must be exactly that, and
/// every other plugin is then CHECKed with the same cached result.
fn check_chain(
    host: &rcrun_cni_host::CniHost,
    list: &rcrun_cni_host::NetworkConfigList,
    rt: &rcrun_cni_host::RuntimeConf,
) {
    match host.check(list, rt) {
        Ok(()) => {}
        Err(CniError::Plugin {
            plugin, failure, ..
        }) if plugin == "portmap" && failure.to_string().contains("could not check ipv6 dnat") => {
            let mut rest = list.clone();
            rest.plugins.retain(|p| p.plugin_type != "portmap");
            host.check(&rest, rt)
                .expect("CHECK of every plugin but Debian's portmap");
        }
        Err(e) => panic!("CHECK after ADD: {e}"),
    }
}

/// ADD the full chain as `version`, check what the plugins did, optionally
/// send traffic to the published port, CHECK, DEL, and assert nothing is left.
fn exercise_full_chain(version: &str, octet: u8, host_port: u16, traffic: bool) {
    if !root_or_skip() {
        return;
    }
    let env = CniEnv::new();
    let bridge = unique::name("rcn");
    let _bridge_guard = LinkGuard(bridge.clone());
    let ns = NetnsGuard::new(&unique::name("rcn-"));
    let name = format!("rcn-chain-{octet}");
    env.write_conf(
        "10-chain.conflist",
        &full_chain(&name, version, &bridge, octet, env.ipam.path()),
    );
    let list = env.network(&name);
    assert_eq!(list.cni_version.to_string(), version);

    let container = unique::name("ctr");
    let mac = format!("02:42:0a:dc:{octet:02x}:42");
    let mut caps = CapabilityArgs::new();
    caps.set(
        "portMappings",
        json!([{"hostPort": host_port, "containerPort": 80, "protocol": "tcp"}]),
    )
    .mac(&mac)
    .bandwidth(100_000_000, 10_000_000, 100_000_000, 10_000_000);
    let mut rt = rt(&container, &ns);
    rt.capability_args = caps;

    let result = env.host.add(&list, &rt).expect("ADD of the full chain");
    let mut guard = AttachGuard::new(&env.host, &list, &rt);
    assert_eq!(result.cni_version.to_string(), version);
    let ip = sandbox_ip(&result);
    assert!(ip.starts_with(&format!("10.220.{octet}.")), "{ip}");
    assert!(ns_addrs(&ns.name).contains(&ip), "eth0 has {ip}");
    let link = run_ok(Command::new("ip").args(["-n", &ns.name, "link", "show", "eth0"]));
    assert!(
        link.contains(&mac),
        "tuning set the MAC from the mac capability: {link}"
    );
    let somaxconn = run_ok(ns.exec("cat").arg("/proc/sys/net/core/somaxconn"));
    assert_eq!(somaxconn.trim(), "512", "tuning sysctl applied");
    assert_eq!(bridge_ports(&bridge).len(), 1, "one veth on the bridge");
    let host_links = host_ifaces(&result, &bridge);
    assert!(host_links.iter().all(|l| link_exists(l)), "{host_links:?}");
    assert_eq!(env.ipam_allocations(&name), vec![ip.clone()]);
    let cache_name = format!("{name}-{container}-eth0");
    assert_eq!(env.cache_files(), vec![cache_name.clone()]);
    let cached: Value = serde_json::from_slice(
        &std::fs::read(env.cache.path().join("results").join(&cache_name)).expect("cache file"),
    )
    .expect("cache JSON");
    assert_eq!(cached["kind"], "cniCacheV1");
    assert_eq!(cached["result"]["cniVersion"], version);
    assert_eq!(cached["capabilityArgs"]["mac"], mac.as_str());
    assert!(
        !firewall_lines_with(&container).is_empty(),
        "portmap/bridge rules exist"
    );

    if traffic {
        let _httpd = start_httpd(&ns.name, env.scratch.path(), "hello from rcn");
        let gw = format!("http://10.220.{octet}.1:{host_port}/");
        assert_eq!(
            http_get(None, &gw).as_deref(),
            Some("hello from rcn"),
            "host -> gateway address"
        );
        let lo = format!("http://127.0.0.1:{host_port}/");
        assert_eq!(
            http_get(None, &lo).as_deref(),
            Some("hello from rcn"),
            "host -> 127.0.0.1 (portmap snat)"
        );
        let c = client(octet);
        assert_eq!(
            http_get(Some(&c.ns.name), &gw).as_deref(),
            Some("hello from rcn"),
            "second namespace -> host address"
        );
    }

    if list.cni_version >= SpecVersion::V0_4_0 {
        check_chain(&env.host, &list, &rt);
    } else {
        assert!(matches!(
            env.host.check(&list, &rt),
            Err(CniError::NotSupported { .. })
        ));
    }

    // DEL from the cached state alone: a fresh host, arguments without capabilities.
    let rt_del = cni_common::rt(&container, &ns);
    let host2 = rcrun_cni_host::CniHost::new(plugin_path(), env.cache.path());
    host2.del(&list, &rt_del).expect("DEL");
    guard.disarm();
    assert!(bridge_ports(&bridge).is_empty(), "veth left on the bridge");
    assert!(
        !ns_addrs(&ns.name).contains(&ip),
        "address left in the netns"
    );
    for l in &host_links {
        assert!(!link_exists(l), "host link {l} left behind");
    }
    assert!(
        env.ipam_allocations(&name).is_empty(),
        "host-local IP file left"
    );
    assert!(env.cache_files().is_empty(), "cache entry left");
    assert!(
        firewall_lines_with(&container).is_empty(),
        "{:?}",
        firewall_lines_with(&container)
    );
    assert!(
        firewall_mentions_ip(&ip).is_empty(),
        "{:?}",
        firewall_mentions_ip(&ip)
    );
    assert!(host_routes_with(&ip).is_empty());
    host2
        .del(&list, &rt_del)
        .expect("a second DEL succeeds too");
}

#[test]
fn full_chain_publishes_port_to_host_localhost_and_second_netns_then_del_leaves_nothing() {
    exercise_full_chain("1.0.0", 1, 28101, true);
}

#[test]
fn same_chain_as_0_3_1_config() {
    exercise_full_chain("0.3.1", 5, 28105, false);
}

#[test]
fn same_chain_as_0_4_0_config() {
    exercise_full_chain("0.4.0", 6, 28106, true);
}

#[test]
fn same_chain_as_1_0_0_config() {
    exercise_full_chain("1.0.0", 7, 28107, false);
}

#[test]
fn firewall_plugin_in_a_0_3_1_chain_is_a_clear_version_error_and_rolls_back() {
    if !root_or_skip() {
        return;
    }
    let env = CniEnv::new();
    let bridge = unique::name("rcn");
    let _bridge_guard = LinkGuard(bridge.clone());
    let ns = NetnsGuard::new(&unique::name("rcn-"));
    let mut conf = full_chain("rcn-oldfw", "0.3.1", &bridge, 10, env.ipam.path());
    conf["plugins"]
        .as_array_mut()
        .expect("plugins")
        .insert(2, json!({"type": "firewall", "backend": "iptables"}));
    env.write_conf("10.conflist", &conf);
    let list = env.network("rcn-oldfw");
    let container = unique::name("ctr");
    let err = env
        .host
        .add(&list, &rt(&container, &ns))
        .expect_err("firewall refuses 0.3.1");
    assert!(
        matches!(err, CniError::Plugin { .. }),
        "rollback DEL of bridge and portmap succeeded: {err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"firewall\"") && msg.contains("0.3.1") && msg.contains("0.4.0"),
        "{msg}"
    );
    assert!(matches!(
        err.plugin_failure(),
        Some(rcrun_cni_host::PluginFailure::IncompatibleVersion { .. })
    ));
    assert!(
        bridge_ports(&bridge).is_empty(),
        "bridge's veth rolled back"
    );
    assert!(
        env.ipam_allocations("rcn-oldfw").is_empty(),
        "IP released by rollback"
    );
    assert!(env.cache_files().is_empty());
    assert!(firewall_lines_with(&container).is_empty());
}

#[test]
fn macvlan_on_a_parent_link() {
    if !root_or_skip() {
        return;
    }
    // This kernel has no dummy driver; one end of a veth pair is the parent.
    let env = CniEnv::new();
    let parent = unique::name("rcnm");
    let peer = unique::name("rcnq");
    run_ok(Command::new("ip").args([
        "link", "add", &parent, "type", "veth", "peer", "name", &peer,
    ]));
    let _parent = LinkGuard(parent.clone());
    run_ok(Command::new("ip").args(["link", "set", &parent, "up"]));
    let ns = NetnsGuard::new(&unique::name("rcn-"));
    env.write_conf(
        "20-macvlan.conf",
        &json!({"cniVersion": "1.0.0", "name": "rcn-macvlan", "type": "macvlan",
                "master": parent, "mode": "bridge",
                "ipam": {"type": "host-local", "dataDir": env.ipam.path(),
                         "ranges": [[{"subnet": "10.220.2.0/24"}]]}}),
    );
    let list = env.network("rcn-macvlan");
    let container = unique::name("ctr");
    let rt = rt(&container, &ns);
    let r = env.host.add(&list, &rt).expect("macvlan ADD");
    let mut guard = AttachGuard::new(&env.host, &list, &rt);
    let ip = sandbox_ip(&r);
    let detail = run_ok(Command::new("ip").args(["-n", &ns.name, "-d", "link", "show", "eth0"]));
    assert!(detail.contains("macvlan mode bridge"), "{detail}");
    assert!(ns_addrs(&ns.name).contains(&ip));
    env.host.check(&list, &rt).expect("CHECK");
    env.host.del(&list, &rt).expect("DEL");
    guard.disarm();
    assert!(
        !ns_addrs(&ns.name).contains("eth0"),
        "macvlan left in the netns"
    );
    assert!(env.ipam_allocations("rcn-macvlan").is_empty());
    assert!(env.cache_files().is_empty());
}

#[test]
fn ptp_attaches_and_del_removes_veth_and_host_route() {
    if !root_or_skip() {
        return;
    }
    let env = CniEnv::new();
    let ns = NetnsGuard::new(&unique::name("rcn-"));
    env.write_conf(
        "30-ptp.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-ptp", "plugins": [
            {"type": "ptp", "ipMasq": false,
             "ipam": {"type": "host-local", "dataDir": env.ipam.path(),
                      "ranges": [[{"subnet": "10.220.3.0/24"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}}]}),
    );
    let list = env.network("rcn-ptp");
    let container = unique::name("ctr");
    let rt = rt(&container, &ns);
    let r = env.host.add(&list, &rt).expect("ptp ADD");
    let mut guard = AttachGuard::new(&env.host, &list, &rt);
    let ip = sandbox_ip(&r);
    let host_links = host_ifaces(&r, "");
    assert_eq!(host_links.len(), 1, "{:?}", r.interfaces);
    assert!(link_exists(&host_links[0]));
    assert!(
        !host_routes_with(&ip).is_empty(),
        "host route to the container"
    );
    // The container reaches the host end of the pair.
    let gw = r.ips[0].gateway.clone().expect("ptp gives a gateway");
    run_ok(ns.exec("busybox").args(["ping", "-c", "1", "-W", "2", &gw]));
    env.host.check(&list, &rt).expect("CHECK");
    env.host.del(&list, &rt).expect("DEL");
    guard.disarm();
    assert!(!link_exists(&host_links[0]), "ptp veth left");
    assert!(host_routes_with(&ip).is_empty(), "host route left");
    assert!(env.ipam_allocations("rcn-ptp").is_empty());
}

#[test]
fn static_ipam_on_a_bridge() {
    if !root_or_skip() {
        return;
    }
    let env = CniEnv::new();
    let bridge = unique::name("rcn");
    let _bridge_guard = LinkGuard(bridge.clone());
    let ns = NetnsGuard::new(&unique::name("rcn-"));
    env.write_conf(
        "40-static.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-static", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true,
             "ipam": {"type": "static",
                      "addresses": [{"address": "10.220.4.77/24", "gateway": "10.220.4.1"}],
                      "routes": [{"dst": "0.0.0.0/0"}]}}]}),
    );
    let list = env.network("rcn-static");
    let rt = rt(&unique::name("ctr"), &ns);
    let r = env.host.add(&list, &rt).expect("static ADD");
    let mut guard = AttachGuard::new(&env.host, &list, &rt);
    assert_eq!(r.ips[0].address, "10.220.4.77/24");
    assert!(ns_addrs(&ns.name).contains("10.220.4.77/24"));
    run_ok(
        ns.exec("busybox")
            .args(["ping", "-c", "1", "-W", "2", "10.220.4.1"]),
    );
    env.host.check(&list, &rt).expect("CHECK");
    env.host.del(&list, &rt).expect("DEL");
    guard.disarm();
    assert!(bridge_ports(&bridge).is_empty());
    assert!(!ns_addrs(&ns.name).contains("10.220.4.77"));
}

#[test]
fn gc_deletes_a_vanished_containers_attachment_and_frees_its_ip() {
    if !root_or_skip() {
        return;
    }
    let env = CniEnv::new();
    let bridge = unique::name("rcn");
    let _bridge_guard = LinkGuard(bridge.clone());
    env.write_conf(
        "50-gc.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-gc", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true,
             "ipam": {"type": "host-local", "dataDir": env.ipam.path(),
                      "ranges": [[{"subnet": "10.220.8.0/24"}]]}},
            {"type": "portmap", "capabilities": {"portMappings": true}}]}),
    );
    let list = env.network("rcn-gc");
    let keep_ns = NetnsGuard::new(&unique::name("rcn-"));
    let keep = rt(&unique::name("keep"), &keep_ns);
    let kept = env.host.add(&list, &keep).expect("ADD kept container");
    let mut keep_guard = AttachGuard::new(&env.host, &list, &keep);
    let gone_id = unique::name("gone");
    let gone_ip;
    {
        let gone_ns = NetnsGuard::new(&unique::name("rcn-"));
        let mut gone = rt(&gone_id, &gone_ns);
        gone.capability_args.set(
            "portMappings",
            json!([{"hostPort": 28108, "containerPort": 80, "protocol": "tcp"}]),
        );
        gone_ip = sandbox_ip(&env.host.add(&list, &gone).expect("ADD doomed container"));
        assert_eq!(env.ipam_allocations("rcn-gc").len(), 2);
        assert!(!firewall_lines_with(&gone_id).is_empty());
        // The container vanishes without DEL: its netns is deleted here.
    }
    let valid = [GcAttachment {
        container_id: keep.container_id.clone(),
        ifname: "eth0".into(),
    }];
    // GC from another host instance (another process in real life).
    let host2 = rcrun_cni_host::CniHost::new(plugin_path(), env.cache.path());
    host2.gc(&list, &valid).expect("GC");
    assert_eq!(
        env.ipam_allocations("rcn-gc"),
        vec![sandbox_ip(&kept)],
        "only the kept IP remains"
    );
    assert_eq!(
        env.cache_files(),
        vec![format!("rcn-gc-{}-eth0", keep.container_id)]
    );
    assert!(
        firewall_lines_with(&gone_id).is_empty(),
        "portmap rules of the vanished container left"
    );
    assert!(!env.ipam_allocations("rcn-gc").contains(&gone_ip));
    env.host.del(&list, &keep).expect("DEL kept");
    keep_guard.disarm();
    assert!(env.ipam_allocations("rcn-gc").is_empty());
}
