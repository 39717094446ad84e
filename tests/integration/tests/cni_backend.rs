//! `CniBackend` through rcrun's `NetworkBackend` trait (what `--network
//! cni:NAME` uses), and the conf dir rules seen with the real plugin path.

mod cni_common;

use std::net::IpAddr;

use cni_common::*;
use rcrun_cni_host::{CniBackend, CniError, CniHost, ConfDir};
use rcrun_it::unique;
use rcrun_netapi::{AttachOptions, NetworkBackend, PortMapping, Protocol, SandboxRef};
use serde_json::json;

#[test]
fn attach_check_detach_through_the_network_backend_trait() {
    let Some((env, bridge, _link, ns)) = bridge_fixture() else {
        return;
    };
    env.write_conf(
        "10-web.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-web", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true,
             "ipam": {"type": "host-local", "dataDir": env.ipam.path(),
                      "ranges": [[{"subnet": "10.220.13.0/24", "gateway": "10.220.13.1"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "tuning", "capabilities": {"mac": true}}]}),
    );
    let backend: Box<dyn NetworkBackend> = Box::new(CniBackend::new(
        env.conf.path(),
        CniHost::new(plugin_path(), env.cache.path()),
    ));
    let sandbox = SandboxRef {
        id: unique::name("sbx"),
        netns: ns.path(),
    };
    let opts = AttachOptions {
        port_mappings: vec![PortMapping {
            host_ip: None,
            host_port: 0,
            container_port: 80,
            protocol: Protocol::Tcp,
        }],
        mac: Some("02:42:0a:dc:0d:07".into()),
        ..AttachOptions::default()
    };
    let att = backend.attach("rcn-web", &sandbox, &opts).expect("attach");
    let mut guard = Detach {
        backend: &*backend,
        sandbox: &sandbox,
        armed: true,
    };
    assert_eq!(att.network, "rcn-web");
    assert_eq!(att.ips.len(), 1);
    assert_eq!(att.ips[0].interface, "eth0");
    assert_eq!(att.ips[0].prefix_len, 24);
    assert_eq!(
        att.ips[0].gateway,
        Some("10.220.13.1".parse::<IpAddr>().expect("ip"))
    );
    assert_eq!(att.mac.as_deref(), Some("02:42:0a:dc:0d:07"));
    let port = att.port_mappings[0].host_port;
    assert_ne!(port, 0, "host port 0 resolved");

    let _httpd = start_httpd(&ns.name, env.scratch.path(), "backend ok");
    assert_eq!(
        http_get(None, &format!("http://10.220.13.1:{port}/")).as_deref(),
        Some("backend ok")
    );
    match backend.check("rcn-web", &sandbox) {
        Ok(()) => {}
        // Debian's portmap 1.1.1 cannot pass CHECK (containernetworking/plugins#819);
        // bridge and host-local, which run first, passed.
        Err(e)
            if e.to_string().contains("\"portmap\"")
                && e.to_string().contains("could not check ipv6 dnat") => {}
        Err(e) => panic!("check: {e}"),
    }
    // A broken attachment fails CHECK in the plugin that owns it.
    rcrun_it::bins::run_ok(
        std::process::Command::new("ip").args(["-n", &ns.name, "addr", "flush", "dev", "eth0"]),
    );
    let e = backend
        .check("rcn-web", &sandbox)
        .expect_err("check of a broken attachment");
    assert!(e.to_string().contains("\"bridge\""), "{e}");

    // Detach from a fresh backend (another process after a restart).
    let other = CniBackend::new(
        env.conf.path(),
        CniHost::new(plugin_path(), env.cache.path()),
    );
    other.detach("rcn-web", &sandbox).expect("detach");
    guard.armed = false;
    assert!(bridge_ports(&bridge).is_empty());
    assert!(env.ipam_allocations("rcn-web").is_empty());
    assert!(firewall_lines_with(&sandbox.id).is_empty());
    assert!(env.cache_files().is_empty());
    other
        .detach("rcn-web", &sandbox)
        .expect("detach again succeeds");
    let e = other
        .check("rcn-web", &sandbox)
        .expect_err("check after detach");
    assert!(e.to_string().contains("not attached"), "{e}");
}

/// Detaches on drop unless disarmed (a failing test must not leak the attachment).
struct Detach<'a> {
    backend: &'a dyn NetworkBackend,
    sandbox: &'a SandboxRef,
    armed: bool,
}

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.backend.detach("rcn-web", self.sandbox);
        }
    }
}

#[test]
fn attach_refuses_ports_when_no_plugin_declares_port_mappings() {
    let env = CniEnv::new();
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-noports", "plugins": [{"type": "rcn-record"}]}),
    );
    let backend = CniBackend::new(
        env.conf.path(),
        CniHost::new(plugin_path(), env.cache.path()),
    );
    let sandbox = SandboxRef {
        id: "c1".into(),
        netns: "/run/netns/rcn-none".into(),
    };
    let opts = AttachOptions {
        port_mappings: vec![PortMapping {
            host_ip: None,
            host_port: 28113,
            container_port: 80,
            protocol: Protocol::Tcp,
        }],
        ..AttachOptions::default()
    };
    let e = backend
        .attach("rcn-noports", &sandbox, &opts)
        .expect_err("ports unsupported");
    assert!(e.to_string().contains("portMappings"), "{e}");
    assert!(env.cache_files().is_empty(), "nothing was run");
}

#[test]
fn conf_dir_rejects_bad_names_duplicates_and_missing_plugins_naming_the_file() {
    let env = CniEnv::new();
    env.write_conf(
        "05-first.conf",
        &json!({"cniVersion": "1.0.0", "name": "rcn-first", "type": "bridge", "bridge": "rcnx0"}),
    );
    env.write_conf(
        "10-badname.conflist",
        &json!({"cniVersion": "1.0.0", "name": "has space", "plugins": [{"type": "bridge"}]}),
    );
    env.write_conf(
        "20-missing.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-missing",
                "plugins": [{"type": "bridge", "ipam": {"type": "rcn-no-such-ipam"}}]}),
    );
    env.write_conf(
        "30-dup.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-dup", "plugins": [{"type": "bridge"}]}),
    );
    env.write_conf(
        "31-dup.json",
        &json!({"cniVersion": "1.0.0", "name": "rcn-dup", "type": "ptp"}),
    );
    std::fs::write(env.conf.path().join("40-broken.conflist"), "{ not json").expect("write");
    let dir = ConfDir::load(env.conf.path(), &plugin_path()).expect("load");
    assert_eq!(dir.default_network().expect("default").name, "rcn-first");
    assert_eq!(dir.networks().len(), 1);
    let rejected: Vec<String> = dir.rejected().iter().map(ToString::to_string).collect();
    assert_eq!(rejected.len(), 4, "{rejected:#?}");
    assert!(rejected
        .iter()
        .any(|e| e.contains("10-badname.conflist") && e.contains("network name")));
    assert!(rejected
        .iter()
        .any(|e| e.contains("40-broken.conflist") && e.contains("JSON")));
    match dir.get("rcn-missing") {
        Err(e @ CniError::PluginNotFound { .. }) => {
            let s = e.to_string();
            assert!(
                s.contains("20-missing.conflist") && s.contains("rcn-no-such-ipam"),
                "{s}"
            );
        }
        other => panic!("{other:?}"),
    }
    match dir.get("rcn-dup") {
        Err(e @ CniError::DuplicateNetwork { .. }) => {
            let s = e.to_string();
            assert!(
                s.contains("30-dup.conflist") && s.contains("31-dup.json"),
                "{s}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn attach_with_a_static_ip_through_the_ips_capability() {
    let Some((env, bridge, _link, ns)) = bridge_fixture() else {
        return;
    };
    env.write_conf(
        "10-ips.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-ips", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true,
             "capabilities": {"ips": true},
             "ipam": {"type": "host-local", "dataDir": env.ipam.path(),
                      "ranges": [[{"subnet": "10.220.14.0/24"}]]}}]}),
    );
    let backend = CniBackend::new(
        env.conf.path(),
        CniHost::new(plugin_path(), env.cache.path()),
    );
    let sandbox = SandboxRef {
        id: unique::name("sbx"),
        netns: ns.path(),
    };
    let opts = AttachOptions {
        static_ips: vec!["10.220.14.77".parse().expect("ip")],
        ..AttachOptions::default()
    };
    let att = backend.attach("rcn-ips", &sandbox, &opts).expect("attach");
    let result = std::panic::catch_unwind(|| {
        assert_eq!(
            att.ips[0].address,
            "10.220.14.77".parse::<IpAddr>().expect("ip")
        );
        assert!(ns_addrs(&ns.name).contains("10.220.14.77/24"));
        assert_eq!(
            env.ipam_allocations("rcn-ips"),
            vec!["10.220.14.77".to_string()]
        );
    });
    backend.detach("rcn-ips", &sandbox).expect("detach");
    assert!(env.ipam_allocations("rcn-ips").is_empty());
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
