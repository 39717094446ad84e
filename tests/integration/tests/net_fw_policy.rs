//! Filtering and lifecycle of the nftables firewall, for real: isolation
//! between networks, internal networks, reload after the table was deleted,
//! teardown leaving nothing behind. Root only; test number N owns
//! 10.211.N.0/24 and host ports 28000 + 10 N ...

mod net_fw_fixture;

use net_fw_fixture::{assert_no_forward_rule, assert_no_table, curl, sh, tcp, url, Fixture};
use rcrun_netdriver::firewall::FirewallDriver;

fn port(n: u16, k: u16) -> u16 {
    28000 + 10 * n + k
}

#[test]
fn networks_are_isolated_but_published_ports_work() {
    let mut fx = Fixture::new(20);
    let na = fx.bridge(0, false, false);
    let nb = fx.bridge(1, false, false);
    fx.setup(&na);
    fx.setup(&nb);
    let out = fx.outside();
    let a = fx.sandbox(&na, 2, "hello-a");
    let b = fx.sandbox(&nb, 2, "hello-b");
    let pb = port(20, 0);
    fx.publish(&b, &[tcp(None, pb, 80)]);

    assert_eq!(
        curl(Some(&a.ns), &url(b.ips[0], 80), 1),
        None,
        "a reached b directly"
    );
    assert_eq!(
        curl(Some(&b.ns), &url(a.ips[0], 80), 1),
        None,
        "b reached a directly"
    );
    // b's published port still works for a (through the host) and the host.
    assert_eq!(
        curl(Some(&a.ns), &url(out.host_ip4, pb), 3).as_deref(),
        Some("hello-b")
    );
    assert_eq!(
        curl(None, &url(a.ips[0], 80), 3).as_deref(),
        Some("hello-a")
    );
    assert_eq!(
        curl(None, &url(b.ips[0], 80), 3).as_deref(),
        Some("hello-b")
    );
    fx.finish();
}

#[test]
fn internal_network_has_no_way_out() {
    let mut fx = Fixture::new(21);
    let ni = fx.bridge(0, false, true);
    let na = fx.bridge(1, false, false);
    fx.setup(&ni);
    fx.setup(&na);
    let out = fx.outside();
    fx.serve_ns(&out.ns, 80, "outside");
    let i1 = fx.sandbox(&ni, 2, "hello-i1");
    let i2 = fx.sandbox(&ni, 3, "hello-i2");
    let a = fx.sandbox(&na, 2, "hello-a");

    // A normal network leaves (masqueraded: outside has no route back to it).
    assert_eq!(
        curl(Some(&a.ns), &url(out.ip4, 80), 3).as_deref(),
        Some("outside")
    );
    // The internal one does not, neither to the world nor to another network.
    assert_eq!(curl(Some(&i1.ns), &url(out.ip4, 80), 1), None);
    assert_eq!(curl(Some(&i1.ns), &url(a.ips[0], 80), 1), None);
    assert_eq!(curl(Some(&a.ns), &url(i1.ips[0], 80), 1), None);
    // Peers on the internal network still talk to each other.
    assert_eq!(
        curl(Some(&i2.ns), &url(i1.ips[0], 80), 3).as_deref(),
        Some("hello-i1")
    );
    // And no masquerade chain exists for it.
    let table = sh("nft", &["list", "table", "inet", fx.fw.table()]);
    assert!(
        !table.contains(&format!("masq_out_{}", ni.fw.bridge)),
        "{table}"
    );
    assert!(
        table.contains(&format!("masq_out_{}", na.fw.bridge)),
        "{table}"
    );
    fx.finish();
}

#[test]
fn reload_after_table_deleted_restores_reachability() {
    let mut fx = Fixture::new(24);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-24");
    let p = port(24, 0);
    fx.publish(&sb, &[tcp(None, p, 80)]);
    let lo = format!("http://127.0.0.1:{p}/");
    assert_eq!(curl(None, &lo, 3).as_deref(), Some("hello-24"));

    // Someone deletes rcrun's table (as `nft flush ruleset` or a firewalld reload would).
    sh("nft", &["delete", "table", "inet", fx.fw.table()]);
    assert_eq!(curl(None, &lo, 1), None);
    assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p), 1), None);

    let (networks, forwards) = fx.state();
    fx.fw.reload(&networks, &forwards).expect("reload");
    assert_eq!(curl(None, &lo, 3).as_deref(), Some("hello-24"));
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip4, p), 3).as_deref(),
        Some("hello-24")
    );
    // Reload is repeatable: a second one over an intact table changes nothing visible.
    fx.fw.reload(&networks, &forwards).expect("second reload");
    assert_eq!(curl(None, &lo, 3).as_deref(), Some("hello-24"));
    fx.finish();
}

#[test]
fn teardown_of_last_network_leaves_nothing() {
    let mut fx = Fixture::new(25);
    let na = fx.bridge(0, false, false);
    let nb = fx.bridge(1, false, false);
    fx.setup(&na);
    fx.setup(&nb);
    let a = fx.sandbox(&na, 2, "hello-a");
    let b = fx.sandbox(&nb, 2, "hello-b");
    let (pa, pb) = (port(25, 0), port(25, 1));
    fx.publish(&a, &[tcp(None, pa, 80)]);
    fx.publish(&b, &[tcp(None, pb, 80)]);
    let table = fx.fw.table().to_string();

    // Withdraw a's ports and network: b is untouched, nothing of a remains.
    let fa = fx.forward_of(&a, &[tcp(None, pa, 80)]);
    fx.fw
        .teardown_port_forward(&fa)
        .expect("teardown a's ports");
    fx.fw
        .teardown_port_forward(&fa)
        .expect("teardown is idempotent");
    fx.forget_forward(&a.id);
    fx.fw.teardown_network(&na.fw).expect("teardown network a");
    fx.fw
        .teardown_network(&na.fw)
        .expect("network teardown is idempotent");
    fx.forget_network(&na.fw.bridge);
    let listing = sh("nft", &["list", "table", "inet", &table]);
    assert!(!listing.contains(&na.fw.bridge), "{listing}");
    assert!(!listing.contains(&pa.to_string()), "{listing}");
    assert!(listing.contains(&nb.fw.bridge), "{listing}");
    assert_eq!(curl(None, &format!("http://127.0.0.1:{pa}/"), 1), None);
    assert_eq!(
        curl(None, &format!("http://127.0.0.1:{pb}/"), 3).as_deref(),
        Some("hello-b")
    );

    // The last network takes the table and the FORWARD rule with it.
    let fb = fx.forward_of(&b, &[tcp(None, pb, 80)]);
    fx.fw
        .teardown_port_forward(&fb)
        .expect("teardown b's ports");
    fx.forget_forward(&b.id);
    fx.fw.teardown_network(&nb.fw).expect("teardown network b");
    fx.forget_network(&nb.fw.bridge);
    assert_no_table(&table);
    assert_no_forward_rule(&table);
    let ruleset = sh("nft", &["list", "ruleset"]);
    assert!(!ruleset.contains(&table), "{ruleset}");
    // Tearing down again, with the table gone, is still fine.
    fx.fw
        .teardown_network(&nb.fw)
        .expect("teardown without a table");
    fx.fw
        .teardown_port_forward(&fb)
        .expect("ports teardown without a table");
    fx.finish();
}
