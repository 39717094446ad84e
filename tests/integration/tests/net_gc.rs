//! Crash safety: an attach or detach killed with SIGKILL at a pause point is
//! finished by `rcrun system gc` (when the sandbox is gone) or by the next
//! attach/detach of the same sandbox; a full pool reclaims. Subnets 10.210.30-34.0/24.

mod net_util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use net_util::{link_exists, NetEnv};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};

const PAUSE_ENV: &str = "RCRUN_NETDRIVER_PAUSE_AT";

/// Start `rcrun ARGS` paused at `step`, wait until it says so, then SIGKILL it.
fn kill_at(env: &NetEnv, step: &str, args: &[&str]) {
    let mut child: Child = env
        .rcrun()
        .args(args)
        .env(PAUSE_ENV, step)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rcrun");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if l == format!("paused at {step}") => break,
            Some(Ok(l)) => seen.push(l),
            _ => panic!("rcrun exited before pausing at {step}: {seen:?}"),
        }
    }
    child.kill().expect("SIGKILL rcrun");
    let _ = child.wait();
}

fn nsflag(ns: &NetnsGuard) -> String {
    ns.path().to_string_lossy().into_owned()
}

#[test]
fn gc_finishes_an_attach_killed_after_its_firewall_step_once_the_netns_is_gone() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(30);
    env.create_network("rnd-gc1", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let p = nsflag(&ns);
    kill_at(
        &env,
        "attach:firewall",
        &[
            "network",
            "attach",
            "rnd-gc1",
            "--netns",
            &p,
            "--id",
            "k1",
            "-p",
            "127.0.0.1::80",
        ],
    );
    let veth = env.veth("rnd-gc1", "k1");
    assert!(link_exists(&veth), "the killed attach had made its veth");
    assert_eq!(env.ipam_entries().len(), 1);
    assert!(
        env.nft_table().contains(&format!("{} . 80", env.ip(2))),
        "and its DNAT element"
    );
    // A live sandbox is left alone by gc.
    env.rcrun_ok(&["system", "gc"]);
    assert!(link_exists(&veth));
    drop(ns);
    let out = env.rcrun_ok(&["system", "gc"]);
    assert!(out.contains("rnd-gc1/k1"), "{out}");
    assert!(!link_exists(&veth));
    assert!(
        !env.nft_table().contains(&format!("{} . 80", env.ip(2))),
        "DNAT element removed"
    );
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn next_attach_of_the_same_sandbox_finishes_an_attach_killed_after_links() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(31);
    env.create_network("rnd-gc2", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let p = nsflag(&ns);
    kill_at(
        &env,
        "attach:links",
        &["network", "attach", "rnd-gc2", "--netns", &p, "--id", "k2"],
    );
    assert!(link_exists(&env.veth("rnd-gc2", "k2")));
    let att = env.attach("rnd-gc2", &ns, "k2", &[]);
    let addr = att["ips"][0]["address"]
        .as_str()
        .expect("address")
        .to_string();
    assert_eq!(
        env.ipam_entries().len(),
        1,
        "the killed attach's address was freed"
    );
    let eth0 = net_util::ip_json(&ns.name, &["-4", "addr", "show", "dev", "eth0"]);
    assert_eq!(
        eth0[0]["addr_info"].as_array().map(Vec::len),
        Some(1),
        "{eth0}"
    );
    assert_eq!(eth0[0]["addr_info"][0]["local"], addr.as_str());
    env.detach("rnd-gc2", "k2");
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn detach_killed_half_way_is_finished_by_the_next_detach() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(32);
    env.create_network("rnd-gc3", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-gc3", &ns, "k3", &["-p", "127.0.0.1::8080"]);
    kill_at(
        &env,
        "detach:links",
        &["network", "detach", "--wait", "rnd-gc3", "--id", "k3"],
    );
    assert!(
        !link_exists(&env.veth("rnd-gc3", "k3")),
        "veth went before the kill"
    );
    assert_eq!(env.ipam_entries().len(), 1, "address not yet freed");
    env.detach("rnd-gc3", "k3");
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn gc_reclaims_endpoints_and_addresses_of_deleted_netns() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(33);
    env.create_network("rnd-gc4", &["--subnet", &env.subnet()]);
    let gone = NetnsGuard::new(&unique::name("rnd-"));
    let kept = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-gc4", &gone, "g1", &["-p", "127.0.0.1::80"]);
    env.attach("rnd-gc4", &kept, "g2", &[]);
    // An address whose owner was killed before its record listed it.
    let p = nsflag(&gone);
    kill_at(
        &env,
        "attach:allocated",
        &["network", "attach", "rnd-gc4", "--netns", &p, "--id", "g3"],
    );
    assert_eq!(env.ipam_entries().len(), 3);
    drop(gone);
    let out = env.rcrun_ok(&["system", "gc", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let eps: Vec<&str> = report["network"]["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        eps.contains(&"rnd-gc4/g1") && eps.contains(&"rnd-gc4/g3"),
        "{out}"
    );
    assert!(!eps.contains(&"rnd-gc4/g2"), "{out}");
    assert_eq!(
        env.ipam_entries().len(),
        1,
        "only the live sandbox keeps its address"
    );
    env.detach("rnd-gc4", "g2");
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn full_pool_reclaims_the_address_of_a_vanished_sandbox_on_the_next_attach() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(34);
    // A /30: gateway .1 and a single address for sandboxes, .2.
    env.create_network("rnd-full", &["--subnet", "10.210.34.0/30"]);
    let a = NetnsGuard::new(&unique::name("rnd-"));
    let b = NetnsGuard::new(&unique::name("rnd-"));
    let att = env.attach("rnd-full", &a, "fa", &[]);
    assert_eq!(att["ips"][0]["address"], "10.210.34.2");
    let c = NetnsGuard::new(&unique::name("rnd-"));
    let out = env.try_attach("rnd-full", &c, "fc", &[]);
    net_util::assert_one_line_error(&out, &["no free address", "10.210.34.0/30"]);
    drop(c);
    drop(a); // the sandbox vanishes without a detach
    let att = env.attach("rnd-full", &b, "fb", &[]);
    assert_eq!(att["ips"][0]["address"], "10.210.34.2", "reclaimed from fa");
    // fa was collected whole (record, firewall elements), not just its address.
    assert_eq!(env.endpoint_records().len(), 1, "only fb's record is left");
    assert_eq!(env.ipam_entries().len(), 1);
    env.detach("rnd-full", "fb");
    env.assert_no_endpoints();
    env.finish();
}
