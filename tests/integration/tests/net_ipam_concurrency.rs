//! IPAM under concurrency: 50 `rcrun network attach` processes started at
//! once get 50 distinct addresses. Subnet 10.210.20.0/24.

mod net_util;

use std::collections::BTreeSet;
use std::process::Stdio;

use net_util::NetEnv;
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};
use serde_json::Value;

#[test]
fn fifty_concurrent_attaches_from_separate_processes_get_fifty_distinct_addresses() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(20);
    env.create_network("rnd-conc", &["--subnet", &env.subnet()]);
    let sandboxes: Vec<NetnsGuard> = (0..50)
        .map(|_| NetnsGuard::new(&unique::name("rnd-")))
        .collect();
    let children: Vec<_> = sandboxes
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let id = format!("c{i}");
            env.rcrun()
                .args(["network", "attach", "rnd-conc", "--netns"])
                .arg(ns.path())
                .args(["--id", &id])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn rcrun")
        })
        .collect();
    let mut addrs = BTreeSet::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().expect("wait rcrun");
        assert!(
            out.status.success(),
            "attach c{i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let att: Value = serde_json::from_slice(&out.stdout).expect("json");
        let a = att["ips"][0]["address"]
            .as_str()
            .expect("address")
            .to_string();
        assert!(a.starts_with("10.210.20."), "{a}");
        addrs.insert(a);
    }
    assert_eq!(addrs.len(), 50, "distinct addresses: {addrs:?}");
    assert_eq!(env.ipam_entries().len(), 50);
    // The kernel agrees: each sandbox holds the address IPAM gave it.
    let mut seen = BTreeSet::new();
    for ns in &sandboxes {
        let v = net_util::ip_json(&ns.name, &["-4", "addr", "show", "dev", "eth0"]);
        seen.insert(
            v[0]["addr_info"][0]["local"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(seen, addrs);

    let detaches: Vec<_> = (0..50)
        .map(|i| {
            env.rcrun()
                .args([
                    "network",
                    "detach",
                    "--wait",
                    "rnd-conc",
                    "--id",
                    &format!("c{i}"),
                ])
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn rcrun")
        })
        .collect();
    for d in detaches {
        let out = d.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..50 {
        assert!(!net_util::link_exists(
            &env.veth("rnd-conc", &format!("c{i}"))
        ));
    }
    env.assert_no_endpoints();
    env.finish();
}
