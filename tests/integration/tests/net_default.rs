//! The default network (created on first use) and subnets that overlap host
//! routes. Subnets 10.210.1-4.0/24.

mod net_util;

use net_util::{assert_one_line_error, ip_json, link_exists, DummyRoute, NetEnv};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};

#[test]
fn default_network_is_created_on_first_attach() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(1);
    assert_eq!(env.rcrun_ok(&["network", "ls", "-q"]), "");
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let att = env.attach("bridge", &ns, "sb1", &[]);
    assert_eq!(att["network"], "bridge");
    assert_eq!(att["ips"][0]["address"], env.ip(2));

    let inspect: serde_json::Value =
        serde_json::from_str(&env.rcrun_ok(&["network", "inspect", "bridge"])).expect("json");
    assert_eq!(inspect[0]["Bridge"], env.default_bridge.as_str());
    assert_eq!(inspect[0]["IPAM"]["Config"][0]["Subnet"], env.subnet());
    assert_eq!(inspect[0]["Endpoints"][0]["sandbox"]["id"], "sb1");
    let br = ip_json("", &["addr", "show", "dev", &env.default_bridge]);
    let gw: Vec<&str> = br[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["local"].as_str())
        .collect();
    assert!(
        gw.contains(&env.ip(1).as_str()),
        "bridge holds the gateway: {gw:?}"
    );

    env.detach("bridge", "sb1");
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn default_subnet_moves_past_a_host_route_and_says_where() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut env = NetEnv::new(2);
    let dummy = DummyRoute::new("10.210.2.1/24");
    env.pool = "10.210.2.0/24,10.210.3.0/24".into();
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let out = env.try_attach("bridge", &ns, "sb1", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("10.210.2.0/24")
            && err.contains(&dummy.name)
            && err.contains("using 10.210.3.0/24"),
        "the note names the route and the new subnet: {err}"
    );
    let att: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(att["ips"][0]["address"], "10.210.3.2");
    env.detach("bridge", "sb1");
    env.finish();
}

#[test]
fn requested_subnet_overlapping_a_host_route_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(4);
    let dummy = DummyRoute::new("10.210.4.1/24");
    let bridge = env.new_bridge();
    let opt = format!("com.docker.network.bridge.name={bridge}");
    let out = env.try_rcrun(&[
        "network",
        "create",
        "--subnet",
        "10.210.4.128/25",
        "-o",
        &opt,
        "rnd-ov",
    ]);
    assert_one_line_error(&out, &["10.210.4.128/25", "10.210.4.0/24", &dummy.name]);
    assert!(!link_exists(&bridge), "no bridge made");
    assert_eq!(
        env.rcrun_ok(&["network", "ls", "-q"]),
        "",
        "no network defined"
    );
    // Another network of the test's own overlapping a user network is refused too.
    let dummy_free = "10.210.5.0/24";
    env.create_network("rnd-a", &["--subnet", dummy_free]);
    let out = env.try_rcrun(&["network", "create", "--subnet", "10.210.5.0/26", "rnd-b"]);
    assert_one_line_error(&out, &["overlaps", "network \"rnd-a\""]);
    env.finish();
}
