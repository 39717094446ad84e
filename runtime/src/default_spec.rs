//! The `config.json` that `rcrun-oci spec` writes: runc's default (busybox
//! `sh`, default mounts, namespaces, masked and read-only paths, three
//! capabilities), with `terminal: false`: a terminal needs `--console-socket`
//! (rcrun-oci sends the pty master there; it does not proxy terminals).
//! [`rootless_spec`] is runc's `spec --rootless` variant of it.

use serde_json::{json, Value};

/// runc's default spec, running `sh`.
pub fn default_spec() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        // 1.0.2 as runc writes it: other runtimes (crun 1.8) refuse newer
        // minor versions they do not know, and nothing here needs a newer one.
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// runc's `spec --rootless`: the default spec for an unprivileged user whose
/// uid and gid are `uid` and `gid`. A user namespace maps container root to
/// that user (one id each, all an unprivileged user may map without
/// newuidmap); the network namespace goes (it would have no network);
/// `/sys` is a read-only rbind of the host's (sysfs may only be mounted by
/// the owner of the network namespace); `uid=`/`gid=` mount options go
/// (those ids are not mapped); `linux.resources` goes (an unprivileged user
/// may not create cgroups).
pub fn rootless_spec(uid: u32, gid: u32) -> Value {
    let mut spec = default_spec();
    let linux = &mut spec["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                continue;
            }
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| {
                    o.as_str()
                        .is_some_and(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                });
            }
        }
    }
    spec
}

/// [`rootless_spec`] for the calling process's effective uid and gid.
pub fn rootless_spec_for_caller() -> Value {
    rootless_spec(
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_and_validates_shape() {
        let s: oci_spec::runtime::Spec =
            serde_json::from_value(default_spec()).expect("default spec parses");
        assert_eq!(s.hostname().as_deref(), Some("runc"));
        assert_eq!(s.mounts().as_ref().map(Vec::len), Some(7));
    }

    #[test]
    fn rootless_spec_is_runcs() {
        let v = rootless_spec(1000, 1001);
        let s: oci_spec::runtime::Spec = serde_json::from_value(v.clone()).expect("parses");
        let linux = s.linux().as_ref().expect("linux");
        let types: Vec<String> = linux
            .namespaces()
            .as_ref()
            .expect("namespaces")
            .iter()
            .map(|n| n.typ().to_string())
            .collect();
        assert!(types.contains(&"user".to_string()), "{types:?}");
        assert!(!types.contains(&"network".to_string()), "{types:?}");
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(v["linux"]["uidMappings"][0]["size"], 1);
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"], 1001);
        assert!(linux.resources().is_none());
        let sys = v["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["destination"] == "/sys")
            .expect("/sys");
        assert_eq!(sys["options"][0], "rbind");
        let text = v["mounts"].to_string();
        assert!(!text.contains("gid=5"), "{text}");
    }
}
