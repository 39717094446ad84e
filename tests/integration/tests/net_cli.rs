//! `rcrun network create|ls|inspect|rm|prune` and their refusals.
//! Subnets 10.210.40-44.0/24, fd10:210:40::/64.

mod net_util;

use net_util::{assert_one_line_error, ip_json, link_exists, NetEnv};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};
use serde_json::Value;

#[test]
fn network_create_ls_inspect_rm() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(40);
    let bridge = env.create_network(
        "rnd-cli",
        &[
            "--driver",
            "bridge",
            "--subnet",
            "10.210.40.0/24",
            "--gateway",
            "10.210.40.254",
            "--ip-range",
            "10.210.40.128/25",
            "--ipv6",
            "--subnet",
            "fd10:210:40::/64",
            "--label",
            "team=net",
            "--internal",
        ],
    );
    // The bridge exists, up, with both gateways.
    let br = ip_json("", &["addr", "show", "dev", &bridge]);
    let addrs: Vec<&str> = br[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["local"].as_str())
        .collect();
    assert!(
        addrs.contains(&"10.210.40.254") && addrs.contains(&"fd10:210:40::1"),
        "{addrs:?}"
    );

    let table = env.rcrun_ok(&["network", "ls"]);
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.starts_with("NETWORK ID")),
        "{table}"
    );
    assert!(
        table.contains("rnd-cli") && table.contains("10.210.40.0/24,fd10:210:40::/64"),
        "{table}"
    );
    let ls: Value = serde_json::from_str(&env.rcrun_ok(&["network", "ls", "--format", "json"]))
        .expect("ls json");
    assert_eq!(ls.as_array().map(Vec::len), Some(1));
    assert_eq!(ls[0]["Name"], "rnd-cli");

    let inspect: Value =
        serde_json::from_str(&env.rcrun_ok(&["network", "inspect", "rnd-cli"])).expect("json");
    let n = &inspect[0];
    assert_eq!(n["Bridge"], bridge.as_str());
    assert_eq!(n["Internal"], true);
    assert_eq!(n["EnableIPv6"], true);
    assert_eq!(n["Labels"]["team"], "net");
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "10.210.40.254");
    assert_eq!(n["IPAM"]["Config"][0]["IPRange"], "10.210.40.128/25");
    assert_eq!(n["IPAM"]["Config"][1]["Subnet"], "fd10:210:40::/64");
    // The ip-range is honoured.
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let att = env.attach("rnd-cli", &ns, "sb1", &[]);
    assert_eq!(att["ips"][0]["address"], "10.210.40.128");
    env.detach("rnd-cli", "sb1");

    assert_eq!(
        env.rcrun_ok(&["network", "rm", "rnd-cli"]).trim(),
        "rnd-cli"
    );
    assert!(!link_exists(&bridge));
    assert_eq!(env.rcrun_ok(&["network", "ls", "-q"]), "");
    let out = env.try_rcrun(&["network", "inspect", "rnd-cli"]);
    assert_one_line_error(&out, &["rnd-cli", "not found"]);
    env.finish();
}

#[test]
fn network_rm_is_refused_while_a_sandbox_is_attached() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(41);
    let bridge = env.create_network("rnd-busy", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-busy", &ns, "sb1", &[]);
    let out = env.try_rcrun(&["network", "rm", "rnd-busy"]);
    assert_one_line_error(&out, &["rnd-busy", "sb1"]);
    assert!(link_exists(&bridge), "the bridge stays");
    env.detach("rnd-busy", "sb1");
    env.rcrun_ok(&["network", "rm", "rnd-busy"]);
    env.finish();
}

#[test]
fn network_prune_removes_only_unused_networks() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(42);
    let used = env.create_network("rnd-used", &["--subnet", "10.210.42.0/24"]);
    let unused = env.create_network("rnd-unused", &["--subnet", "10.210.43.0/24"]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-used", &ns, "sb1", &[]);
    let pruned = env.rcrun_ok(&["network", "prune", "-f"]);
    assert_eq!(pruned.trim(), "rnd-unused");
    assert!(link_exists(&used) && !link_exists(&unused));
    env.detach("rnd-used", "sb1");
    env.finish();
}

#[test]
fn bad_input_is_a_one_line_error_and_creates_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(44);
    let bridge = env.new_bridge();
    let opt = format!("com.docker.network.bridge.name={bridge}");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--subnet", "10.210.44.0/33"],
            vec!["--subnet", "10.210.44.0/33"],
        ),
        (
            vec!["--subnet", "10.210.44.5/24"],
            vec!["host bits", "10.210.44.0/24"],
        ),
        (
            vec!["--subnet", "10.210.44.0/24", "--gateway", "10.9.9.9"],
            vec!["--gateway", "10.9.9.9"],
        ),
        (
            vec!["--subnet", "10.210.44.0/24", "--gateway", "10.210.44.255"],
            vec!["gateway", "10.210.44.255"],
        ),
        (
            vec!["--subnet", "10.210.44.0/24", "--ip-range", "10.210.45.0/25"],
            vec!["--ip-range"],
        ),
        (vec!["--subnet", "10.210.44.0/24", "--ipv6"], vec!["--ipv6"]),
        (vec!["--subnet", "fd10:210:44::/64"], vec!["--ipv6"]),
        (vec!["--driver", "overlay"], vec!["overlay"]),
        (vec!["-o", "nonsense"], vec!["KEY=VALUE"]),
        (
            vec!["-o", "com.docker.network.bridge.mtu=9000"],
            vec!["unknown driver option"],
        ),
    ];
    for (args, needles) in cases {
        let mut all = vec!["network", "create", "-o", &opt];
        all.extend_from_slice(&args);
        all.push("rnd-bad");
        let out = env.try_rcrun(&all);
        assert_one_line_error(&out, &needles);
    }
    let out = env.try_rcrun(&["network", "create", "--subnet", "10.210.44.0/24", "-x-bad"]);
    assert!(!out.status.success());
    let out = env.try_rcrun(&[
        "network",
        "create",
        "--subnet",
        "10.210.44.0/24",
        "-o",
        &opt,
        "bad/name",
    ]);
    assert_one_line_error(&out, &["invalid network name"]);
    let long_bridge = "com.docker.network.bridge.name=rnd0123456789abcdef";
    let out = env.try_rcrun(&["network", "create", "-o", long_bridge, "rnd-long"]);
    assert_one_line_error(&out, &["interface name"]);
    assert!(!link_exists(&bridge), "nothing created");
    assert_eq!(env.rcrun_ok(&["network", "ls", "-q"]), "");
    // A duplicate name is refused and the first network is untouched.
    env.create_network("rnd-dup", &["--subnet", "10.210.44.0/24"]);
    let out = env.try_rcrun(&["network", "create", "--subnet", "10.210.46.0/24", "rnd-dup"]);
    assert_one_line_error(&out, &["rnd-dup", "already exists"]);
    assert_eq!(env.rcrun_ok(&["network", "ls", "-q"]).trim(), "rnd-dup");
    env.finish();
}
