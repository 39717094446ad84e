//! The OCI `config.json` of an engine container: the image's process with
//! the run options applied, the overlay rootfs, docker's default mounts,
//! masked and read-only paths, the sandbox's hosts/resolv.conf/hostname
//! bind-mounted, the sandbox's net/ipc/uts namespaces joined by path, new
//! pid/mount/cgroup namespaces, resources, and the security profile.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::Result;
use crate::options::{NetworkMode, RunOptions};
use crate::records::ProcessInfo;
use crate::sandbox::SandboxRecord;
use crate::security;

/// cgroup parent of engine containers (`/rcrun/<id>` in every hierarchy).
pub const CGROUP_PARENT: &str = "/rcrun";

/// docker's masked paths.
const MASKED: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// docker's read-only paths.
const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Everything a bundle is made of.
#[derive(Debug)]
pub struct BundleInput<'a> {
    /// Container id.
    pub id: &'a str,
    /// The mounted rootfs.
    pub rootfs: &'a Path,
    /// The process.
    pub process: &'a ProcessInfo,
    /// uid, gid and additional gids of the user.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Additional gids.
    pub additional_gids: &'a [u32],
    /// Run options.
    pub opts: &'a RunOptions,
    /// The sandbox joined.
    pub sandbox: &'a SandboxRecord,
    /// Where the sandbox's hosts/resolv.conf/hostname are.
    pub files_dir: &'a Path,
    /// Extra mounts (volumes, tmpfs), already OCI mounts.
    pub extra_mounts: Vec<Value>,
    /// Extra host paths to bind read-only (the `--init` binary).
    pub init_bin: Option<&'a Path>,
}

/// Build `config.json` as JSON.
pub fn build(input: &BundleInput<'_>) -> Result<Value> {
    let opts = input.opts;
    let mut args = input.process.args.clone();
    if let Some(init) = input.init_bin {
        let _ = init;
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let mut process = json!({
        "terminal": opts.tty,
        "user": {"uid": input.uid, "gid": input.gid},
        "args": args,
        "env": input.process.env,
        "cwd": input.process.cwd,
        "noNewPrivileges": false,
    });
    if !input.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(input.additional_gids);
    }
    if opts.tty && !input.process.env.iter().any(|e| e.starts_with("TERM=")) {
        if let Some(env) = process["env"].as_array_mut() {
            env.push(json!("TERM=xterm"));
        }
    }
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    for f in ["hosts", "resolv.conf", "hostname"] {
        mounts.push(json!({
            "destination": format!("/etc/{f}"),
            "type": "bind",
            "source": input.files_dir.join(f),
            "options": ["rbind", "rprivate"],
        }));
    }
    if let Some(init) = input.init_bin {
        mounts.push(json!({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["rbind", "rprivate", "ro"]}));
    }
    mounts.extend(input.extra_mounts.iter().cloned());

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let sb = input.sandbox;
    if sb.network != NetworkMode::Host {
        if let Some(netns) = &sb.netns {
            namespaces.push(json!({"type": "network", "path": netns}));
        }
        if let Some(p) = sb.pause_ns("ipc") {
            namespaces.push(json!({"type": "ipc", "path": p}));
        }
        if let Some(p) = sb.pause_ns("uts") {
            namespaces.push(json!({"type": "uts", "path": p}));
        }
    } else {
        namespaces.push(json!({"type": "ipc"}));
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("{CGROUP_PARENT}/{}", input.id),
        "resources": resources(opts),
    });
    if !opts.privileged {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": input.rootfs, "readonly": opts.read_only},
        "mounts": mounts,
        "linux": linux,
    });
    security::apply(&mut spec, opts)?;
    Ok(spec)
}

/// Where `--init` puts the reaping init inside the container.
pub const INIT_PATH: &str = "/.rcrun-init";

fn resources(opts: &RunOptions) -> Value {
    let mut r = json!({});
    if let Some(m) = opts.memory {
        r["memory"] = json!({"limit": m});
    }
    if let Some(c) = opts.cpus {
        let period: u64 = 100_000;
        r["cpu"] = json!({"quota": (c * period as f64) as i64, "period": period});
    }
    if let Some(p) = opts.pids_limit {
        r["pids"] = json!({"limit": p});
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(network: NetworkMode) -> SandboxRecord {
        SandboxRecord {
            id: "s".into(),
            network,
            netns: Some("/run/rcrun/netns/s".into()),
            pause_pid: 42,
            pause_start: 1,
            attachment: None,
            hostname: "h".into(),
            names: vec![],
            add_hosts: vec![],
            members: vec![],
            pod: None,
            created: String::new(),
        }
    }

    #[test]
    fn joins_the_sandbox_namespaces_and_applies_limits() {
        let opts = RunOptions {
            memory: Some(64 << 20),
            cpus: Some(0.5),
            pids_limit: Some(100),
            read_only: true,
            ..Default::default()
        };
        let process = ProcessInfo {
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            ..Default::default()
        };
        let sb = sandbox(NetworkMode::Bridge("n".into()));
        let spec = build_test_spec(&opts, &process, &sb);
        let ns = spec["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.contains(&json!({"type": "network", "path": "/run/rcrun/netns/s"})));
        assert!(ns.contains(&json!({"type": "uts", "path": "/proc/42/ns/uts"})));
        assert_eq!(spec["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(spec["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(spec["root"]["readonly"], true);
        let mounts = spec["mounts"].as_array().unwrap();
        assert!(mounts
            .iter()
            .any(|m| m["destination"] == "/etc/hosts" && m["source"] == "/f/hosts"));
    }

    /// The spec of container `c1` with rootfs `/r` and files in `/f`.
    fn build_test_spec(opts: &RunOptions, process: &ProcessInfo, sb: &SandboxRecord) -> Value {
        build(&BundleInput {
            id: "c1",
            rootfs: Path::new("/r"),
            process,
            uid: 0,
            gid: 0,
            additional_gids: &[],
            opts,
            sandbox: sb,
            files_dir: Path::new("/f"),
            extra_mounts: vec![],
            init_bin: None,
        })
        .unwrap()
    }

    #[test]
    fn host_mode_shares_the_host_network() {
        let opts = RunOptions::default();
        let process = ProcessInfo::default();
        let mut sb = sandbox(NetworkMode::Host);
        sb.netns = None;
        sb.pause_pid = 0;
        let spec = build_test_spec(&opts, &process, &sb);
        let ns = spec["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "network"));
    }
}
