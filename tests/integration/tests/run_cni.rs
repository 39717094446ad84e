//! `rcrun run --network cni:NAME -p`: the sandbox is attached by the CNI
//! host with the Debian reference plugins (bridge, host-local, portmap);
//! `-p` goes to portmap as the `portMappings` capability. Removing the
//! container runs DEL: no link, address or portmap rule is left.

mod run_common;

use std::process::Command;
use std::time::Duration;

use run_common::{free_port, host_ip, http_get, http_get_retry, RunEnv};
use serde_json::json;

fn iptables_nat() -> String {
    let out = Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cni_network_with_portmap_publishes_a_port() {
    let env = RunEnv::new(40);
    let image = env.load_busybox();
    let conf = env.cni_conf_dir();
    let ipam = env.scratch("host-local");
    let bridge = "rxccni40";
    let subnet = "10.230.140.0/24";
    let list = json!({
        "cniVersion": "1.0.0",
        "name": "rxccni",
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
             "hairpinMode": true,
             "ipam": {"type": "host-local", "dataDir": ipam,
                      "ranges": [[{"subnet": subnet, "gateway": "10.230.140.1"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
        ]
    });
    std::fs::write(conf.join("50-rxccni.conflist"), list.to_string()).unwrap();
    let vol = env.www_volume("via cni\n");
    let port = free_port();
    let publish = format!("{port}:80");
    let id = env.run_httpd(
        &[
            "--name",
            "c",
            "--network",
            "cni:rxccni",
            "-p",
            &publish,
            "-v",
            &vol,
        ],
        &image,
    );
    let ip = env.ip_of("c");
    assert!(ip.starts_with("10.230.140."), "{ip}");
    assert_eq!(
        http_get_retry(&host_ip(), port, "/", Duration::from_secs(5)).as_deref(),
        Some("via cni\n")
    );
    assert!(
        iptables_nat().contains(&format!("{ip}:80")),
        "portmap DNAT rule"
    );

    env.ok(&["rm", "-f", "c"]);
    assert!(http_get(&host_ip(), port, "/").is_none());
    let nat = iptables_nat();
    assert!(
        !nat.contains(&format!("{ip}:80")),
        "portmap rule left: {nat}"
    );
    let leases: Vec<String> = run_common::entries(&ipam.join("rxccni"))
        .into_iter()
        .filter(|n| n.starts_with("10.230.140."))
        .collect();
    assert!(leases.is_empty(), "host-local leases left: {leases:?}");
    env.assert_clean(&[id]);
    let _ = Command::new("ip").args(["link", "del", bridge]).output();
    env.finish();
}
