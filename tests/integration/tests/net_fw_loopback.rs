//! Publishing on 127.0.0.1 must not expose a container to other hosts that
//! send packets with a loopback destination to the host's MAC (moby had to
//! learn this). Alone in its binary so that, in CI, no other rcrun table
//! masks what this one does. Root only; test number 22 owns 10.211.22.0/24.

mod net_fw_fixture;

use std::time::Duration;

use net_fw_fixture::{curl, sh, tcp, url, Fixture};
use rcrun_it::unique;
use rcrun_netdriver::firewall::FirewallDriver;

/// Rewrites, inside the outside netns, packets to `host:port` into packets
/// to `127.0.0.1:port` after routing (so they still leave by the veth, to the
/// host's MAC), and the replies' source back, so a TCP handshake can finish
/// if the host lets the crafted packets through.
fn craft_loopback(ns: &str, host: &str, ports: &[u16]) {
    let ports = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let script = format!(
        "table ip rnf_craft {{
  chain post {{ type filter hook postrouting priority 0; ip daddr {host} tcp dport {{ {ports} }} ip daddr set 127.0.0.1; }}
  chain pre {{ type filter hook prerouting priority -300; ip saddr 127.0.0.1 tcp sport {{ {ports} }} ip saddr set {host}; }}
}}
"
    );
    let file = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(file.path(), script).expect("write script");
    let path = file.path().to_str().expect("utf-8 path");
    sh("ip", &["netns", "exec", ns, "nft", "-f", path]);
    // A gateway route makes the kernel resolve the host's MAC, not 127.0.0.1's.
    sh(
        "ip",
        &[
            "-n",
            ns,
            "route",
            "replace",
            &format!("{host}/32"),
            "via",
            host,
            "dev",
            "eth0",
            "onlink",
        ],
    );
}

/// A host table of the test counting crafted packets as they arrive (before
/// any rcrun chain), dropped by `Obs` itself on drop.
struct Obs(String);

impl Obs {
    fn new(iface: &str, ports: &[u16]) -> Obs {
        let name = format!("rnf_obs{}", unique::name(""));
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let script = format!(
            "table inet {name} {{
  chain pre {{ type filter hook prerouting priority -400; iifname \"{iface}\" ip daddr 127.0.0.1 tcp dport {{ {ports} }} counter; }}
}}
"
        );
        let file = tempfile::NamedTempFile::new().expect("script file");
        std::fs::write(file.path(), script).expect("write script");
        sh("nft", &["-f", file.path().to_str().expect("utf-8 path")]);
        Obs(name)
    }

    fn packets(&self) -> u64 {
        let text = sh("nft", &["list", "table", "inet", &self.0]);
        text.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Obs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "inet", &self.0])
            .status();
    }
}

/// How many tables of the ruleset carry rcrun's loopback drop rule.
fn loopback_drop_rules() -> usize {
    sh("nft", &["list", "ruleset"])
        .matches("iifname != \"lo\" ip daddr 127.0.0.0/8 drop")
        .count()
}

#[test]
fn remote_packets_to_loopback_are_dropped() {
    let mut fx = Fixture::new(22);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-22");
    let (p_lo, p_any) = (28220, 28221);
    fx.publish(
        &sb,
        &[tcp(Some("127.0.0.1"), p_lo, 80), tcp(None, p_any, 80)],
    );
    assert_eq!(
        curl(None, &format!("http://127.0.0.1:{p_lo}/"), 3).as_deref(),
        Some("hello-22")
    );

    let host = out.host_ip4.to_string();
    craft_loopback(&out.ns, &host, &[p_lo, p_any]);
    let obs = Obs::new(&out.host_veth, &[p_lo, p_any]);

    // Loopback-bound and wildcard mappings alike: crafted packets arrive, none is answered.
    assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p_lo), 2), None);
    assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p_any), 2), None);
    assert!(
        obs.packets() > 0,
        "the crafted packets never reached the host"
    );
    let chain = sh(
        "nft",
        &["list", "chain", "inet", fx.fw.table(), "raw_prerouting"],
    );
    assert!(
        chain.contains("iifname != \"lo\" ip daddr 127.0.0.0/8 drop"),
        "{chain}"
    );

    // Control: without the drop rule the crafted packets do reach the
    // container, so the test above is not vacuous. Only possible when no
    // other rcrun table (a concurrent test, a real rcrun) drops them too.
    if loopback_drop_rules() == 1 {
        sh(
            "nft",
            &["flush", "chain", "inet", fx.fw.table(), "raw_prerouting"],
        );
        std::thread::sleep(Duration::from_millis(100));
        let exposed = curl(Some(&out.ns), &url(out.host_ip4, p_lo), 3);
        let (networks, forwards) = fx.state();
        fx.fw.reload(&networks, &forwards).expect("reload");
        assert_eq!(
            exposed.as_deref(),
            Some("hello-22"),
            "control: crafting did not work"
        );
        assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p_lo), 2), None);
    } else {
        eprintln!("another table drops remote loopback packets too: control step skipped");
    }
    drop(obs);
    fx.finish();
}
