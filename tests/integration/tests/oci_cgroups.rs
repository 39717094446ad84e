//! `linux.cgroupsPath` and `linux.resources` through `rcrun-oci`: limits land
//! in the host's cgroup files, a fork bomb stops at the pids limit, a custom
//! path is used, and nothing is left in any hierarchy after delete.
//!
//! Needs root and a built `rcrun-oci` (`cargo build -p rcrun-cli --bins`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rcrun_it::bins::{bin, is_root, run, run_ok};
use rcrun_it::bundle::Bundle;
use rcrun_it::unique;
use serde_json::{json, Value};

/// A mounted cgroup hierarchy: v1 with its controllers, or cgroup2.
#[derive(Debug)]
struct Hierarchy {
    mount: PathBuf,
    /// v1 controllers (empty for cgroup2 and named hierarchies).
    controllers: Vec<String>,
    v2: bool,
}

/// Every cgroup hierarchy mounted on the host, from /proc/self/mountinfo.
fn hierarchies() -> Vec<Hierarchy> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let (Some(fstype), Some(_src), Some(opts)) = (post.next(), post.next(), post.next()) else {
            continue;
        };
        let Some(mount) = pre.split(' ').nth(4) else {
            continue;
        };
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let v2 = fstype == "cgroup2";
        let controllers = opts
            .split(',')
            .filter(|_| !v2)
            .filter(|o| {
                !matches!(
                    *o,
                    "rw" | "ro" | "relatime" | "noprefix" | "clone_children" | "xattr"
                ) && !o.contains('=')
            })
            .map(str::to_string)
            .collect();
        out.push(Hierarchy {
            mount: PathBuf::from(mount),
            controllers,
            v2,
        });
    }
    out
}

/// The host directory of `pid`'s cgroup that holds `controller` (v1), or its
/// cgroup2 directory when no v1 hierarchy has the controller.
fn host_dir_of(pid: i32, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let hs = hierarchies();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.split(',').any(|c| c == controller) {
            let h = hs
                .iter()
                .find(|h| h.controllers.iter().any(|c| c == controller))?;
            return Some(h.mount.join(path.trim_start_matches('/')));
        }
    }
    // Pure cgroup v2: one hierarchy with every controller.
    let v2 = hs.iter().find(|h| h.v2)?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = v2.mount.join(path.trim_start_matches('/'));
    let offered = fs::read_to_string(v2.mount.join("cgroup.controllers")).ok()?;
    offered
        .split_whitespace()
        .any(|c| c == controller)
        .then_some(dir)
}

/// Every place a cgroup at absolute `path` would be, one per hierarchy.
fn dirs_in_every_hierarchy(path: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.mount.join(path.trim_start_matches('/')))
        .collect()
}

fn assert_gone_everywhere(path: &str) {
    let left: Vec<_> = dirs_in_every_hierarchy(path)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "cgroup dirs left behind: {left:?}");
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

/// A container id with its own state root; `delete --force` on drop, and
/// any directory of its cgroup path removed if a failure left one.
struct Ctr {
    id: String,
    root: tempfile::TempDir,
    cgroup: Option<String>,
}

impl Ctr {
    fn new() -> Self {
        Ctr {
            id: unique::name("rtg"),
            root: tempfile::Builder::new()
                .prefix("rtg-root-")
                .tempdir()
                .expect("state root"),
            cgroup: None,
        }
    }

    fn oci(&self) -> Command {
        let mut c = Command::new(bin("rcrun-oci"));
        c.arg("--root").arg(self.root.path());
        c
    }

    /// Run a command that leaves the container behind (`create`, `run -d`).
    /// Its stdio goes to files, not pipes: the container's init inherits
    /// them, so a pipe would not reach EOF until the container exits.
    fn detached(&self, args: &[&str], bundle: &Path) {
        let log = self.root.path().join("detached.log");
        let out = fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("dup log");
        let status = self
            .oci()
            .args(args)
            .arg("--bundle")
            .arg(bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .expect("spawn rcrun-oci");
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            status.success(),
            "rcrun-oci {args:?} failed ({status}): {text}"
        );
    }

    fn pid(&self) -> i32 {
        let out = run_ok(self.oci().args(["state", &self.id]));
        let state: Value = serde_json::from_str(&out).expect("state JSON");
        state["pid"].as_i64().expect("state has a pid") as i32
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.oci().args(["delete", "--force", &self.id]).output();
        if let Some(path) = &self.cgroup {
            let mut dirs = dirs_in_every_hierarchy(path);
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                let _ = fs::remove_dir(&d);
                if let Some(parent) = d.parent().filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("rtg"))
                }) {
                    let _ = fs::remove_dir(parent);
                }
            }
        }
    }
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

const MIB64: i64 = 64 * 1024 * 1024;

#[test]
fn memory_pids_and_cpu_limits_reach_the_host_cgroup() {
    require_root!();
    let mut ctr = Ctr::new();
    let path = format!("/{}/{}", unique::name("rtg"), ctr.id);
    ctr.cgroup = Some(path.clone());
    let mut b = Bundle::busybox(&["sleep", "30"]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"]["memory"] = json!({"limit": MIB64});
        c["linux"]["resources"]["pids"] = json!({"limit": 20});
        c["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    });
    ctr.detached(&["create"], b.path());
    let pid = ctr.pid();

    let mem = host_dir_of(pid, "memory").expect("init is in a memory cgroup");
    assert!(
        mem.ends_with(path.trim_start_matches('/')),
        "{}",
        mem.display()
    );
    let limit = if mem.join("memory.limit_in_bytes").exists() {
        read(&mem, "memory.limit_in_bytes")
    } else {
        read(&mem, "memory.max")
    };
    assert_eq!(limit, MIB64.to_string());

    let pids = host_dir_of(pid, "pids").expect("init is in a pids cgroup");
    assert_eq!(read(&pids, "pids.max"), "20");

    let cpu = host_dir_of(pid, "cpu").expect("init is in a cpu cgroup");
    if cpu.join("cpu.cfs_quota_us").exists() {
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    } else {
        assert_eq!(read(&cpu, "cpu.max"), "50000 100000");
    }

    run_ok(ctr.oci().args(["delete", "--force", &ctr.id]));
    assert_gone_everywhere(&path);
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    require_root!();
    let ctr = Ctr::new();
    // Each line is printed after one more background sleep started; the
    // shell dies when fork fails.
    let script =
        "i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); echo $i; done; echo all-started";
    let mut b = Bundle::busybox(&["sh", "-c", script]);
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 8}));
    let out = run(ctr
        .oci()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&ctr.id));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let started: u32 = stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0);
    assert!(!stdout.contains("all-started"), "no limit hit:\n{stdout}");
    assert!(
        (1..8).contains(&started),
        "started {started} sleeps under a limit of 8:\n{stdout}\n{stderr}"
    );
    assert!(!out.status.success(), "the shell should fail to fork");
    assert!(stderr.contains("fork"), "stderr: {stderr}");
}

#[test]
fn custom_cgroups_path_holds_the_container_and_is_removed_on_delete() {
    require_root!();
    let mut ctr = Ctr::new();
    let path = format!("/{}", unique::name("rtg"));
    ctr.cgroup = Some(path.clone());
    let mut b = Bundle::busybox(&["sleep", "30"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    ctr.detached(&["run", "--detach"], b.path());
    let pid = ctr.pid();
    let hs = hierarchies();
    let pure_v2 = hs.iter().all(|h| h.controllers.is_empty());
    let mut checked = 0;
    for h in hs
        .iter()
        .filter(|h| !h.controllers.is_empty() || (pure_v2 && h.v2))
    {
        let dir = h.mount.join(path.trim_start_matches('/'));
        let procs = read(&dir, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "pid {pid} not in {}: {procs:?}",
            dir.display()
        );
        checked += 1;
    }
    assert!(checked > 0, "no controller hierarchy mounted");
    let ps = run_ok(ctr.oci().args(["ps", "--format", "json", &ctr.id]));
    assert!(ps.contains(&pid.to_string()), "ps: {ps}");

    run_ok(ctr.oci().args(["kill", &ctr.id, "KILL"]));
    run_ok(ctr.oci().args(["delete", "--force", &ctr.id]));
    assert_gone_everywhere(&path);
}

#[test]
fn run_to_completion_leaves_no_cgroup_behind() {
    require_root!();
    let ctr = Ctr::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": MIB64}));
    run_ok(
        ctr.oci()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&ctr.id),
    );
    // The runtime's default path for a spec without cgroupsPath.
    assert_gone_everywhere(&format!("/rcrun-oci/{}", ctr.id));
}

#[test]
fn impossible_resource_fails_create_and_leaves_nothing() {
    require_root!();
    let mut ctr = Ctr::new();
    let path = format!("/{}", unique::name("rtg"));
    ctr.cgroup = Some(path.clone());
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"]["cpu"] = json!({"cpus": "4095"});
    });
    let out = run(ctr
        .oci()
        .args(["create", "--bundle"])
        .arg(b.path())
        .arg(&ctr.id));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "create with cpus 4095 succeeded");
    assert!(
        stderr.contains("cpuset.cpus"),
        "error does not name the file: {stderr}"
    );
    assert_gone_everywhere(&path);
    let state = run(ctr.oci().args(["state", &ctr.id]));
    assert!(!state.status.success(), "state dir left behind");
}

/// Runs `sh -c` in a bundle that bind-mounts the host's /dev/loop-control
/// (char 10:237, opened without any capability check) with `extra_rules`
/// after the default deny-all; returns stdout.
fn open_loop_control_with_rules(extra_rules: Value) -> String {
    let ctr = Ctr::new();
    let script = "(: < /dev/loop-control) 2>/dev/null && echo lc-opened || echo lc-denied; \
                  (: < /dev/null) && echo null-opened";
    let mut b = Bundle::busybox(&["sh", "-c", script]);
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/dev/loop-control", "type": "bind", "source": "/dev/loop-control",
            "options": ["bind", "ro"]
        }));
        let rules = c["linux"]["resources"]["devices"]
            .as_array_mut()
            .expect("device rules");
        rules.extend(extra_rules.as_array().expect("rules array").iter().cloned());
    });
    run_ok(
        ctr.oci()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&ctr.id),
    )
}

#[test]
fn device_outside_the_rules_cannot_be_opened() {
    require_root!();
    let out = open_loop_control_with_rules(json!([]));
    assert!(out.contains("lc-denied"), "{out}");
    assert!(out.contains("null-opened"), "{out}");
}

#[test]
fn device_rule_allows_reading_a_node() {
    require_root!();
    let out = open_loop_control_with_rules(json!([
        {"allow": true, "type": "c", "major": 10, "minor": 237, "access": "r"}
    ]));
    assert!(out.contains("lc-opened"), "{out}");
}
