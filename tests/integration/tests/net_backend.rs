//! The driver as a library, through `rcrun_netapi::NetworkBackend` (what the
//! sandbox orchestration calls): attach, check, detach, and the held host
//! port reservation. Subnet 10.210.21.0/24.

mod net_util;

use std::process::Command;

use net_util::{link_exists, sh};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};
use rcrun_netapi::{parse_port_spec, AttachOptions, NetworkBackend, SandboxRef};
use rcrun_netdriver::{BridgeDriver, CreateNetwork, DriverConfig, NftFirewall, SubnetRequest};

/// Removes the test's bridge and nft table if the test fails half-way, and
/// the table's host-wide lock file always.
struct Leftovers {
    bridge: String,
    table: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if let Ok(fw) = NftFirewall::new(&self.table) {
            let _ = std::fs::remove_file(fw.lock_path());
        }
        if std::thread::panicking() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .output();
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", &self.table])
                .output();
        }
    }
}

#[test]
fn network_backend_attach_check_detach_and_port_reservation() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let data = tempfile::Builder::new()
        .prefix("rnd-data-")
        .tempdir()
        .expect("tempdir");
    let table = format!("rnd_{}", unique::name("t"));
    let bridge = unique::name("rnd");
    let _leftovers = Leftovers {
        bridge: bridge.clone(),
        table: table.clone(),
    };
    let run = tempfile::Builder::new()
        .prefix("rnd-run-")
        .tempdir()
        .expect("tempdir");
    let mut cfg = DriverConfig::new(data.path(), run.path());
    cfg.veth_prefix = "rnd".into();
    let drv = BridgeDriver::new(cfg, Box::new(NftFirewall::new(&table).expect("table name")));
    let req = CreateNetwork {
        name: "rnd-lib".into(),
        subnets: vec![SubnetRequest {
            subnet: "10.210.21.0/24".parse().expect("subnet"),
            gateway: None,
            ip_range: None,
        }],
        options: [("com.docker.network.bridge.name".to_string(), bridge.clone())].into(),
        ..Default::default()
    };
    let (net, note) = drv.create_network(&req).expect("create network");
    assert!(note.is_none());
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    let sb = SandboxRef {
        id: "lib1".into(),
        netns: ns.path(),
    };
    let backend: &dyn NetworkBackend = &drv;
    let opts = AttachOptions {
        port_mappings: parse_port_spec("127.0.0.1::80").expect("spec"),
        ..Default::default()
    };
    let att = backend.attach("rnd-lib", &sb, &opts).expect("attach");
    assert_eq!(att.ips[0].address.to_string(), "10.210.21.2");
    assert_eq!(att.mac.as_deref(), Some("02:42:0a:d2:15:02"));
    let port = att.port_mappings[0].host_port;
    assert_ne!(port, 0);
    backend
        .check("rnd-lib", &sb)
        .expect("check a fresh attachment");
    // The port stays reserved by a held socket while the mapping lives.
    let held = drv
        .take_reservation("rnd-lib", "lib1")
        .expect("held sockets");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
        "port {port} is held"
    );
    // Break the attachment behind the driver's back: check notices.
    sh("ip", &["-n", &ns.name, "link", "del", "eth0"]);
    let err = backend
        .check("rnd-lib", &sb)
        .expect_err("check after eth0 vanished");
    assert!(err.to_string().contains("lib1"), "{err}");
    backend.detach("rnd-lib", &sb).expect("detach");
    backend
        .detach("rnd-lib", &sb)
        .expect("detach again is fine");
    drop(held);
    let veth = rcrun_netdriver::model::host_veth_name("rnd", &net.id, "lib1");
    assert!(!link_exists(&veth));
    drv.remove_network("rnd-lib").expect("rm");
    assert!(!link_exists(&bridge));
    let out = Command::new("nft")
        .args(["list", "table", "inet", &table])
        .output()
        .expect("nft");
    assert!(
        !out.status.success(),
        "table {table} removed with the last network"
    );
    let left: Vec<_> = std::fs::read_dir(data.path().join("ipam"))
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert!(left.iter().all(|n| *n == 0), "IPAM dirs left: {left:?}");
}
