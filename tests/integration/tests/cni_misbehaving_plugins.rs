//! cni-host against plugins that misbehave (tests/integration/cni-plugins):
//! garbage, error objects, hangs, crashes mid-chain, old versions; and the
//! exact protocol (env, stdin injection, capability filtering, prevResult
//! chaining and conversion, DEL order, CHECK, STATUS, GC) observed through a
//! recording plugin.

mod cni_common;

use std::time::{Duration, Instant};

use cni_common::*;
use rcrun_cni_host::{
    CapabilityArgs, CniError, CniHost, GcAttachment, PluginFailure, RuntimeConf, SpecVersion,
};
use rcrun_it::unique;
use serde_json::{json, Value};

/// bridge + host-local on 10.220.<octet>.0/24, then `extra` plugins.
fn bridge_then(
    name: &str,
    bridge: &str,
    octet: u8,
    ipam: &std::path::Path,
    extra: &[Value],
) -> Value {
    let mut plugins = vec![
        json!({"type": "bridge", "bridge": bridge, "isGateway": true,
        "ipam": {"type": "host-local", "dataDir": ipam,
                 "ranges": [[{"subnet": format!("10.220.{octet}.0/24")}]]}}),
    ];
    plugins.extend_from_slice(extra);
    json!({"cniVersion": "1.0.0", "name": name, "plugins": plugins})
}

/// The JSON lines a recording plugin wrote.
fn recorded(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
        .collect()
}

fn fake_rt(container: &str) -> RuntimeConf {
    RuntimeConf {
        container_id: container.into(),
        netns: "/run/netns/rcn-none".into(),
        ifname: "eth0".into(),
        ..RuntimeConf::default()
    }
}

#[test]
fn garbage_output_is_an_error_naming_the_plugin_and_the_chain_is_rolled_back() {
    let Some((env, bridge, _link, ns)) = bridge_fixture() else {
        return;
    };
    env.write_conf(
        "10.conflist",
        &bridge_then(
            "rcn-garbage",
            &bridge,
            11,
            env.ipam.path(),
            &[json!({"type": "rcn-garbage"})],
        ),
    );
    let list = env.network("rcn-garbage");
    let err = env
        .host
        .add(&list, &rt(&unique::name("ctr"), &ns))
        .expect_err("garbage must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("\"rcn-garbage\"") && msg.contains("invalid result"),
        "{msg}"
    );
    assert!(matches!(
        err.plugin_failure(),
        Some(PluginFailure::Garbage { .. })
    ));
    assert_rolled_back(&env, &bridge, &ns, "10.220.11.", "rcn-garbage");
}

#[test]
fn empty_output_is_an_error_naming_the_plugin() {
    let env = CniEnv::new();
    let log = env.scratch.path().join("record.log");
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-empty",
                "plugins": [{"type": "rcn-record", "log": log}, {"type": "rcn-empty"}]}),
    );
    let list = env.network("rcn-empty");
    let err = env.host.add(&list, &fake_rt("c1")).expect_err("no result");
    assert!(
        matches!(err.plugin_failure(), Some(PluginFailure::EmptyOutput)),
        "{err}"
    );
    assert!(err.to_string().contains("\"rcn-empty\""), "{err}");
    let cmds: Vec<String> = recorded(&log)
        .iter()
        .map(|l| l["command"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(cmds, ["ADD", "DEL"], "the plugin before it was rolled back");
    assert!(env.cache_files().is_empty());
}

#[test]
fn error_object_gives_code_msg_and_details_to_the_caller() {
    let env = CniEnv::new();
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-err", "plugins": [{"type": "rcn-error"}]}),
    );
    let list = env.network("rcn-err");
    let err = env
        .host
        .add(&list, &fake_rt("c1"))
        .expect_err("rcn-error fails");
    let obj = err.plugin_error().expect("a CNI error object");
    assert_eq!(obj.code, 7);
    assert_eq!(obj.msg, "invalid network config");
    assert_eq!(obj.details, "rcn-error always refuses");
    let msg = err.to_string();
    assert!(
        msg.contains("\"rcn-err\"")
            && msg.contains("\"rcn-error\"")
            && msg.contains("error code 7"),
        "{msg}"
    );
    assert!(env.cache_files().is_empty());
}

/// Processes whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
    {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after "(comm)": state ppid pgrp ...
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && f.first() != Some(&"Z") {
            out.push(pid);
        }
    }
    out
}

#[test]
fn hanging_plugin_is_killed_with_its_process_group_after_the_timeout() {
    let env = CniEnv::new();
    let pidfile = env.scratch.path().join("pids");
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-hang",
                "plugins": [{"type": "rcn-hang", "pidFile": pidfile}]}),
    );
    let list = env.network("rcn-hang");
    let host =
        CniHost::new(plugin_path(), env.cache.path()).with_timeout(Duration::from_millis(800));
    let t0 = Instant::now();
    let err = host
        .add(&list, &fake_rt("c1"))
        .expect_err("a hang must time out");
    let took = t0.elapsed();
    assert!(
        matches!(err.plugin_failure(), Some(PluginFailure::Timeout { .. })),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"rcn-hang\"") && msg.contains("killed its process group"),
        "{msg}"
    );
    // ADD (timeout) + rollback DEL (quick): well under the hang's hour.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let pids = std::fs::read_to_string(&pidfile).expect("plugin wrote its pids");
    let mut it = pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok());
    let (plugin_pid, child_pid) = (
        it.next().expect("plugin pid"),
        it.next().expect("child pid"),
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        group_members(plugin_pid).is_empty(),
        "processes of the plugin's group remain"
    );
    let child = std::fs::read_to_string(format!("/proc/{child_pid}/stat")).unwrap_or_default();
    assert!(
        child.is_empty() || child.contains(") Z "),
        "background child alive: {child}"
    );
}

#[test]
fn crash_mid_chain_runs_del_for_the_plugins_already_added() {
    let Some((env, bridge, _link, ns)) = bridge_fixture() else {
        return;
    };
    let log = env.scratch.path().join("crash.log");
    env.write_conf(
        "10.conflist",
        &bridge_then(
            "rcn-crash",
            &bridge,
            9,
            env.ipam.path(),
            &[
                json!({"type": "tuning", "sysctl": {"net.core.somaxconn": "300"}}),
                json!({"type": "rcn-crash", "log": log}),
            ],
        ),
    );
    let list = env.network("rcn-crash");
    let container = unique::name("ctr");
    let err = env
        .host
        .add(&list, &rt(&container, &ns))
        .expect_err("crash");
    match err.plugin_failure() {
        Some(PluginFailure::Signal { signal, .. }) => assert_eq!(*signal, libc::SIGSEGV),
        other => panic!("want a signal failure, got {other:?} ({err})"),
    }
    assert!(err.to_string().contains("\"rcn-crash\""), "{err}");
    // DEL ran for the crashed plugin and, in reverse, the ones before it.
    assert_eq!(
        std::fs::read_to_string(&log).unwrap_or_default().trim(),
        format!("DEL {container}")
    );
    assert_rolled_back(&env, &bridge, &ns, "10.220.9.", "rcn-crash");
}

#[test]
fn plugin_supporting_only_older_versions_gets_a_clear_error() {
    let env = CniEnv::new();
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-new", "plugins": [{"type": "rcn-old"}]}),
    );
    env.write_conf(
        "20.conflist",
        &json!({"cniVersion": "0.3.1", "name": "rcn-old31", "plugins": [{"type": "rcn-old"}]}),
    );
    let list = env.network("rcn-new");
    let err = env
        .host
        .add(&list, &fake_rt("c1"))
        .expect_err("1.0.0 config, 0.3.x plugin");
    match err.plugin_failure() {
        Some(PluginFailure::IncompatibleVersion { asked, supported }) => {
            assert_eq!(asked, "1.0.0");
            assert_eq!(supported, &["0.3.0".to_string(), "0.3.1".into()]);
        }
        other => panic!("want IncompatibleVersion, got {other:?} ({err})"),
    }
    assert!(
        matches!(err, CniError::Plugin { .. }),
        "no rollback DEL of a plugin that refused the version: {err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"rcn-old\"") && msg.contains("0.3.1") && msg.contains("1.0.0"),
        "{msg}"
    );
    let verr = env.host.validate(&list).expect_err("validate sees it too");
    assert!(matches!(
        verr.plugin_failure(),
        Some(PluginFailure::IncompatibleVersion { .. })
    ));
    // The same plugin under a config of its own version works.
    let old = env.network("rcn-old31");
    let r = env.host.add(&old, &fake_rt("c2")).expect("0.3.1 config");
    assert_eq!(r.cni_version, SpecVersion::V0_3_1);
    assert_eq!(r.to_json()["ips"][0]["version"], "4");
    env.host.del(&old, &fake_rt("c2")).expect("DEL");
}

#[test]
fn chain_protocol_env_injection_capabilities_and_result_conversion() {
    let env = CniEnv::new();
    let log = env.scratch.path().join("record.log");
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-proto", "plugins": [
            {"type": "rcn-oldresult"},
            {"type": "rcn-record", "log": log, "capabilities": {"portMappings": true, "mac": false}},
            {"type": "rcn-record", "log": log, "capabilities": {"mac": true, "bandwidth": true}}]}),
    );
    let list = env.network("rcn-proto");
    let mut rt = fake_rt("ctr-proto");
    rt.args = vec![
        ["K8S_POD_NAME".into(), "web".into()],
        ["IgnoreUnknown".into(), "1".into()],
    ];
    let mut caps = CapabilityArgs::new();
    caps.set(
        "portMappings",
        json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
    )
    .mac("02:00:00:00:00:99")
    .ips(&["10.220.12.5".into()]);
    rt.capability_args = caps;
    let result = env.host.add(&list, &rt).expect("ADD");
    assert_eq!(result.cni_version, SpecVersion::V1_0_0);
    assert!(
        matches!(
            env.host.add(&list, &rt),
            Err(CniError::AlreadyAttached { .. })
        ),
        "a second ADD without DEL is refused"
    );

    let lines = recorded(&log);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        assert_eq!(l["command"], "ADD");
        assert_eq!(l["containerId"], "ctr-proto");
        assert_eq!(l["netns"], "/run/netns/rcn-none");
        assert_eq!(l["ifname"], "eth0");
        assert_eq!(l["args"], "K8S_POD_NAME=web;IgnoreUnknown=1");
        assert_eq!(l["path"], plugin_path().joined());
        assert_eq!(l["stdin"]["name"], "rcn-proto", "name injected");
        assert_eq!(l["stdin"]["cniVersion"], "1.0.0", "cniVersion injected");
    }
    // Only declared capabilities reach each plugin.
    assert_eq!(
        lines[0]["stdin"]["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
    );
    assert_eq!(
        lines[1]["stdin"]["runtimeConfig"],
        json!({"mac": "02:00:00:00:00:99"})
    );
    // rcn-oldresult printed a 0.3.1 result; the next plugin got it as 1.0.0.
    let prev = &lines[0]["stdin"]["prevResult"];
    assert_eq!(prev["cniVersion"], "1.0.0");
    assert_eq!(prev["ips"][0]["address"], "10.220.251.7/24");
    assert!(
        prev["ips"][0].get("version").is_none(),
        "0.3.x `version` dropped: {prev}"
    );
    assert_eq!(prev["ips"][0]["interface"], 0);
    assert_eq!(
        lines[1]["stdin"]["prevResult"]["ips"][0]["address"],
        "10.220.252.9/24"
    );

    // CHECK in order with the cached result, from another host instance.
    let host2 = CniHost::new(plugin_path(), env.cache.path());
    host2.check(&list, &fake_rt("ctr-proto")).expect("CHECK");
    let lines = recorded(&log);
    let checks: Vec<&Value> = lines.iter().filter(|l| l["command"] == "CHECK").collect();
    assert_eq!(checks.len(), 2);
    for c in &checks {
        assert_eq!(
            c["stdin"]["prevResult"]["ips"][0]["address"],
            "10.220.252.9/24"
        );
        assert_eq!(
            c["args"], "K8S_POD_NAME=web;IgnoreUnknown=1",
            "CNI_ARGS from the cache"
        );
    }
    assert_eq!(
        checks[0]["stdin"]["runtimeConfig"]["portMappings"][0]["hostPort"],
        8080
    );

    // DEL in reverse with the cached result, capability args from the cache.
    host2.del(&list, &fake_rt("ctr-proto")).expect("DEL");
    let lines = recorded(&log);
    let dels: Vec<&Value> = lines.iter().filter(|l| l["command"] == "DEL").collect();
    assert_eq!(dels.len(), 2);
    assert_eq!(
        dels[0]["stdin"]["runtimeConfig"],
        json!({"mac": "02:00:00:00:00:99"}),
        "last plugin first"
    );
    assert!(dels[1]["stdin"]["runtimeConfig"]["portMappings"].is_array());
    for d in &dels {
        assert_eq!(d["stdin"]["prevResult"]["cniVersion"], "1.0.0");
        assert_eq!(
            d["stdin"]["prevResult"]["ips"][0]["address"],
            "10.220.252.9/24"
        );
    }
    assert!(env.cache_files().is_empty(), "cache entry removed by DEL");
    // CHECK of something not attached is an error, not a plugin call.
    assert!(matches!(
        host2.check(&list, &fake_rt("ctr-proto")),
        Err(CniError::NotAttached { .. })
    ));
}

#[test]
fn disable_check_skips_check_and_0_3_x_del_has_no_prev_result() {
    let env = CniEnv::new();
    let log = env.scratch.path().join("record.log");
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-nocheck", "disableCheck": true,
                "plugins": [{"type": "rcn-record", "log": log}]}),
    );
    env.write_conf(
        "20.conflist",
        &json!({"cniVersion": "0.3.1", "name": "rcn-v031",
                "plugins": [{"type": "rcn-record", "log": log}, {"type": "rcn-record", "log": log}]}),
    );
    let list = env.network("rcn-nocheck");
    env.host.add(&list, &fake_rt("c1")).expect("ADD");
    env.host
        .check(&list, &fake_rt("c1"))
        .expect("CHECK is a no-op");
    assert!(recorded(&log).iter().all(|l| l["command"] != "CHECK"));
    env.host.del(&list, &fake_rt("c1")).expect("DEL");

    let old = env.network("rcn-v031");
    let r = env.host.add(&old, &fake_rt("c2")).expect("ADD 0.3.1");
    assert_eq!(r.to_json()["ips"][0]["version"], "4");
    assert!(matches!(
        env.host.check(&old, &fake_rt("c2")),
        Err(CniError::NotSupported { .. })
    ));
    env.host.del(&old, &fake_rt("c2")).expect("DEL 0.3.1");
    let lines = recorded(&log);
    let adds: Vec<&Value> = lines
        .iter()
        .filter(|l| l["command"] == "ADD" && l["stdin"]["name"] == "rcn-v031")
        .collect();
    assert_eq!(
        adds[1]["stdin"]["prevResult"]["ips"][0]["version"], "4",
        "0.3.1 prevResult form"
    );
    let dels: Vec<&Value> = lines
        .iter()
        .filter(|l| l["command"] == "DEL" && l["stdin"]["name"] == "rcn-v031")
        .collect();
    assert_eq!(dels.len(), 2);
    assert!(
        dels.iter().all(|d| d["stdin"].get("prevResult").is_none()),
        "no prevResult on 0.3.x DEL"
    );
}

#[test]
fn status_and_gc_of_a_1_1_network() {
    let env = CniEnv::new();
    let log = env.scratch.path().join("record.log");
    env.write_conf(
        "10.conflist",
        &json!({"cniVersion": "1.1.0", "name": "rcn-v11", "plugins": [{"type": "rcn-record", "log": log}]}),
    );
    env.write_conf(
        "20.conflist",
        &json!({"cniVersion": "1.1.0", "name": "rcn-down",
                "plugins": [{"type": "rcn-record", "log": log, "unavailable": "yes"}]}),
    );
    env.write_conf(
        "30.conflist",
        &json!({"cniVersion": "1.1.0", "name": "rcn-nogc", "disableGC": true,
                "plugins": [{"type": "rcn-record", "log": log}]}),
    );
    env.write_conf(
        "40.conflist",
        &json!({"cniVersion": "1.0.0", "name": "rcn-v10", "plugins": [{"type": "rcn-record", "log": log}]}),
    );
    let list = env.network("rcn-v11");
    env.host.status(&list).expect("STATUS ok");
    let status = recorded(&log).pop().expect("STATUS recorded");
    assert_eq!(status["command"], "STATUS");
    assert_eq!(status["containerId"], "");
    assert_eq!(status["stdin"]["name"], "rcn-v11");
    let down = env
        .host
        .status(&env.network("rcn-down"))
        .expect_err("code 50");
    assert_eq!(down.plugin_error().map(|o| o.code), Some(50));
    let before = recorded(&log).len();
    env.host
        .status(&env.network("rcn-v10"))
        .expect("1.0.0: assumed ready");
    assert_eq!(
        recorded(&log).len(),
        before,
        "no STATUS call for a 1.0.0 list"
    );

    env.host.add(&list, &fake_rt("keep")).expect("ADD keep");
    env.host.add(&list, &fake_rt("gone")).expect("ADD gone");
    let nogc = env.network("rcn-nogc");
    env.host
        .add(&nogc, &fake_rt("gone"))
        .expect("ADD gone on nogc");
    let valid = [GcAttachment {
        container_id: "keep".into(),
        ifname: "eth0".into(),
    }];
    let before = recorded(&log).len();
    env.host.gc(&list, &valid).expect("GC");
    let new: Vec<Value> = recorded(&log).split_off(before);
    assert_eq!(new.len(), 2, "{new:?}");
    assert_eq!(new[0]["command"], "DEL");
    assert_eq!(new[0]["containerId"], "gone");
    assert_eq!(
        new[0]["stdin"]["prevResult"]["ips"][0]["address"],
        "10.220.252.9/24"
    );
    assert_eq!(new[1]["command"], "GC");
    assert_eq!(new[1]["containerId"], "");
    assert_eq!(
        new[1]["stdin"]["cni.dev/valid-attachments"],
        json!([{"containerID": "keep", "ifname": "eth0"}])
    );
    assert_eq!(
        new[1]["stdin"]["cni.dev/attachments"],
        json!([{"containerID": "keep", "ifname": "eth0"}]),
        "libcni's second name for the list"
    );
    let mut files = env.cache_files();
    files.sort();
    assert_eq!(
        files,
        vec!["rcn-nogc-gone-eth0".to_string(), "rcn-v11-keep-eth0".into()]
    );
    // disableGC: nothing at all.
    let before = recorded(&log).len();
    env.host.gc(&nogc, &[]).expect("GC disabled");
    assert_eq!(recorded(&log).len(), before);
    assert!(env
        .cache_files()
        .contains(&"rcn-nogc-gone-eth0".to_string()));
}
