//! Coexistence with other firewalls that drop forwarded traffic: dockerd's
//! iptables (iptables-nft) FORWARD policy DROP, and a user's own nft chain
//! with `policy drop` that accepts rcrun's mark. Both tests take the policy
//! lock exclusively (they drop every forwarded packet of the host for a few
//! seconds) and undo their change in guards even when they fail. Root only;
//! test numbers 23 and 29 own 10.211.23.0/24 and 10.211.29.0/24.

mod net_fw_fixture;

use std::process::Command;

use net_fw_fixture::{curl, sh, tcp, url, Fixture};
use rcrun_netdriver::firewall::FirewallDriver;

/// A mark of this test's own, so that the rule of another rcrun table on the
/// host (same default mark) cannot accept this test's packets.
const TEST_MARK: u32 = 0x0100_0000;

/// Sets the FORWARD policy of `bin` (iptables / ip6tables) and puts the old one back on drop.
struct PolicyGuard {
    bin: &'static str,
    old: String,
}

impl PolicyGuard {
    fn set(bin: &'static str, policy: &str) -> PolicyGuard {
        let listing = sh(bin, &["-w", "-S", "FORWARD"]);
        let old = listing
            .lines()
            .find_map(|l| l.strip_prefix("-P FORWARD "))
            .unwrap_or("ACCEPT")
            .trim()
            .to_string();
        let guard = PolicyGuard { bin, old };
        sh(bin, &["-w", "-P", "FORWARD", policy]);
        guard
    }
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        let _ = Command::new(self.bin)
            .args(["-w", "-P", "FORWARD", &self.old])
            .status();
    }
}

#[test]
fn forward_policy_drop_coexistence() {
    // The fixture takes the lock; the guards (declared after) restore first.
    let mut fx = Fixture::exclusive(23);
    fx.fw = fx.fw.clone().with_mark(TEST_MARK);
    let _p4 = PolicyGuard::set("iptables", "DROP");
    let _p6 = PolicyGuard::set("ip6tables", "DROP");

    let net = fx.bridge(0, true, false);
    fx.setup(&net);
    let out = fx.outside();
    fx.serve_ns(&out.ns, 80, "outside");
    let sb = fx.sandbox(&net, 2, "hello-23");
    let p = 28230;
    fx.publish(&sb, &[tcp(None, p, 80)]);
    let table = fx.fw.table().to_string();

    let rules = sh("iptables", &["-w", "-S", "FORWARD"]);
    let mark = format!("{TEST_MARK:#x}/{TEST_MARK:#x}");
    assert!(
        rules.contains(&format!("--mark {mark}"))
            && rules.contains(&format!("rcrun table {table}")),
        "{rules}"
    );
    // Inbound through a published port, IPv4 and IPv6, and outbound.
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip4, p), 3).as_deref(),
        Some("hello-23")
    );
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip6, p), 3).as_deref(),
        Some("hello-23")
    );
    assert_eq!(
        curl(Some(&sb.ns), &url(out.ip4, 80), 3).as_deref(),
        Some("outside")
    );

    // The iptables rule is what lets it through: without it, DROP wins.
    let comment = format!("rcrun table {table}");
    sh(
        "iptables",
        &[
            "-w",
            "-D",
            "FORWARD",
            "-m",
            "mark",
            "--mark",
            &mark,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "ACCEPT",
        ],
    );
    assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p), 2), None);
    let (networks, forwards) = fx.state();
    fx.fw.reload(&networks, &forwards).expect("reload");
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip4, p), 3).as_deref(),
        Some("hello-23")
    );

    // finish() asserts the rule is gone with the last network; nothing else
    // of iptables was flushed (the policy is still DROP until the guards run).
    fx.finish();
    assert!(sh("iptables", &["-w", "-S", "FORWARD"]).contains("-P FORWARD DROP"));
}

/// A user table of the test with a `policy drop` forward chain; deleted on drop.
struct UserDropChain(String);

impl UserDropChain {
    fn new(accept_mark: Option<u32>) -> UserDropChain {
        let name = format!("rnf_user{}", rcrun_it::unique::name(""));
        let rule = accept_mark
            .map(|m| format!("meta mark & {m:#x} == {m:#x} accept"))
            .unwrap_or_default();
        let script = format!(
            "table inet {name} {{\n  chain userfwd {{ type filter hook forward priority filter; policy drop; {rule}\n  }}\n}}\n"
        );
        let file = tempfile::NamedTempFile::new().expect("script file");
        std::fs::write(file.path(), script).expect("write script");
        sh("nft", &["-f", file.path().to_str().expect("utf-8 path")]);
        UserDropChain(name)
    }
}

impl Drop for UserDropChain {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.0])
            .status();
    }
}

#[test]
fn user_policy_drop_chain_accepts_rcrun_mark() {
    let mut fx = Fixture::exclusive(29);
    fx.fw = fx.fw.clone().with_mark(TEST_MARK);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-29");
    let p = 28290;
    fx.publish(&sb, &[tcp(None, p, 80)]);
    {
        // The documented one-line rule in the user's own drop chain.
        let _user = UserDropChain::new(Some(TEST_MARK));
        assert_eq!(
            curl(Some(&out.ns), &url(out.host_ip4, p), 3).as_deref(),
            Some("hello-29")
        );
    }
    {
        // Without it, the user's chain wins: the mark is what lets rcrun through.
        let _user = UserDropChain::new(None);
        assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p), 2), None);
    }
    fx.finish();
}
