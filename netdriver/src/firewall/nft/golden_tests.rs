//! Golden-text tests of the generated nft scripts (no root needed). A small
//! matrix: a dual-stack network, an internal network, a sandbox's ports, a
//! network's removal, a reload. Regenerate with `RCRUN_UPDATE_GOLDEN=1` and
//! review the diff.

use std::net::IpAddr;
use std::path::PathBuf;

use rcrun_netapi::{PortMapping, Protocol};

use super::forward::elements;
use super::script::Script;
use super::NftFirewall;
use crate::firewall::{FirewallError, NetworkFw, PortForward};

fn golden(name: &str, script: &Script) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/firewall/nft/testdata")
        .join(name);
    let got = script.text();
    if std::env::var_os("RCRUN_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e} (RCRUN_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(got, want, "script differs from {}", path.display());
}

fn fw() -> NftFirewall {
    NftFirewall::new("rcrun").unwrap()
}

fn dual() -> NetworkFw {
    NetworkFw {
        name: "web".into(),
        bridge: "rcrun-web".into(),
        subnets: vec![
            "10.88.1.0/24".parse().unwrap(),
            "fd10:88:1::/64".parse().unwrap(),
        ],
        internal: false,
    }
}

fn internal() -> NetworkFw {
    NetworkFw {
        name: "db".into(),
        bridge: "rcrun-db".into(),
        subnets: vec!["10.88.2.0/24".parse().unwrap()],
        internal: true,
    }
}

fn map(host_ip: Option<&str>, host: u16, ctr: u16, protocol: Protocol) -> PortMapping {
    PortMapping {
        host_ip: host_ip.map(|s| s.parse().unwrap()),
        host_port: host,
        container_port: ctr,
        protocol,
    }
}

fn ports() -> PortForward {
    PortForward {
        network: "web".into(),
        bridge: "rcrun-web".into(),
        sandbox_id: "sb-1".into(),
        container_ips: vec![
            "10.88.1.2".parse().unwrap(),
            "fd10:88:1::2".parse().unwrap(),
        ],
        mappings: vec![
            map(None, 8080, 80, Protocol::Tcp),
            map(Some("127.0.0.1"), 8081, 80, Protocol::Tcp),
            map(Some("0.0.0.0"), 5353, 53, Protocol::Udp),
            map(Some("fd00::2"), 9000, 9000, Protocol::Sctp),
        ],
    }
}

#[test]
fn dual_stack_network_script() {
    golden(
        "network_dual_stack.nft",
        &fw().network_script(&dual()).unwrap(),
    );
}

#[test]
fn internal_network_script_has_no_masquerade_and_no_way_out() {
    let s = fw().network_script(&internal()).unwrap();
    let text = s.text();
    assert!(!text.contains("masq_out_rcrun-db"), "{text}");
    assert!(text.contains("add rule inet rcrun from_rcrun-db drop"));
    golden("network_internal.nft", &s);
}

#[test]
fn port_forward_script() {
    golden("forward_add.nft", &fw().forward_script(&ports()).unwrap());
}

#[test]
fn port_forward_removal_script() {
    let p = ports();
    let mut s = Script::new();
    fw().layout
        .forward_remove(&mut s, &p.sandbox_id, &elements(&p).unwrap());
    golden("forward_remove.nft", &s);
}

#[test]
fn network_removal_script() {
    let mut s = Script::new();
    fw().layout.network_removal(&mut s, &dual());
    golden("network_remove.nft", &s);
}

#[test]
fn reload_script() {
    let s = fw()
        .reload_script(&[dual(), internal()], &[ports()])
        .unwrap();
    golden("reload.nft", &s);
}

#[test]
fn reload_without_networks_only_drops_the_table() {
    let s = fw().reload_script(&[], &[]).unwrap();
    assert_eq!(s.text(), "add table inet rcrun\ndelete table inet rcrun\n");
}

#[test]
fn wildcard_mapping_follows_the_sandbox_families() {
    let mut p = ports();
    p.container_ips.truncate(1); // IPv4 only
    p.mappings.truncate(1);
    let els = elements(&p).unwrap();
    assert_eq!(els.len(), 1);
    assert_eq!(els[0].map, "dnat_tcp4_any");
}

#[test]
fn ipv6_loopback_and_family_mismatch_are_refused() {
    let mut p = ports();
    p.mappings = vec![map(Some("::1"), 8080, 80, Protocol::Tcp)];
    let err = elements(&p).unwrap_err().to_string();
    assert!(err.starts_with("port mapping [::1]:8080:80/tcp:"), "{err}");
    p.container_ips.truncate(1);
    p.mappings = vec![map(Some("fd00::2"), 8080, 80, Protocol::Tcp)];
    assert!(matches!(
        elements(&p),
        Err(FirewallError::BadMapping { .. })
    ));
    p.mappings = vec![map(None, 0, 80, Protocol::Tcp)];
    assert!(matches!(
        elements(&p),
        Err(FirewallError::BadMapping { .. })
    ));
}

#[test]
fn unsafe_names_never_reach_a_script() {
    let mut n = dual();
    n.bridge = "br; flush ruleset".into();
    assert!(matches!(
        fw().network_script(&n),
        Err(FirewallError::BadName { .. })
    ));
    let mut p = ports();
    p.sandbox_id = "x\" : 1.2.3.4 . 1 }".into();
    assert!(matches!(
        fw().forward_script(&p),
        Err(FirewallError::BadName { .. })
    ));
    assert!(NftFirewall::new("rcrun; flush").is_err());
    let _: IpAddr = "10.88.1.2".parse().unwrap();
}
