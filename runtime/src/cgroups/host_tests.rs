//! Create/apply/destroy against the host's real cgroup filesystem (needs
//! root; skipped otherwise). Every cgroup is named `rtg…` and removed by a
//! guard even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use oci_spec::runtime::LinuxResources;

use super::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Destroys the cgroup (after killing what is left in it) on drop.
struct Guard(CgroupHandle);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(pids) = self.0.pids() {
            for p in pids {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        let _ = self.0.thaw();
        let _ = self.0.destroy();
    }
}

/// A `sleep` child killed and reaped on drop.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleeper() -> Sleeper {
    Sleeper(
        Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep"),
    )
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

fn v1_dir(h: &CgroupHandle, controller: &str) -> Option<PathBuf> {
    v1::dir_for(&h.v1, controller).map(Path::to_path_buf)
}

fn read(dir: &Path, file: &str) -> String {
    fsio::read(dir, file).unwrap_or_else(|e| panic!("{e}"))
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root and a cgroup filesystem");
            return;
        }
    };
}

#[test]
fn create_apply_destroy_on_the_host() {
    require_root!();
    let name = format!("/{}", unique("rtg"));
    let g = Guard(CgroupHandle::create(Path::new(&name)).unwrap());
    let h = &g.0;
    let r = resources(
        r#"{
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 16}
    }"#,
    );
    h.apply(&r).unwrap();
    match h.mode {
        Mode::V1 | Mode::Hybrid => {
            let mem = v1_dir(h, "memory").unwrap();
            assert!(mem.ends_with(name.trim_start_matches('/')));
            assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
            assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "33554432");
            let cpu = v1_dir(h, "cpu").unwrap();
            assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
            assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
            assert_eq!(read(&cpu, "cpu.shares"), "512");
            assert_eq!(read(&v1_dir(h, "pids").unwrap(), "pids.max"), "16");
            let list = read(&v1_dir(h, "devices").unwrap(), "devices.list");
            assert!(list.contains("c 10:229 rw"), "{list}");
            assert!(list.contains("c 1:3 rwm"), "{list}");
            assert!(!list.contains("a *:*"), "{list}");
            if let Some(cs) = v1_dir(h, "cpuset") {
                assert!(
                    !read(&cs, "cpuset.cpus").is_empty(),
                    "cpuset copied from parent"
                );
            }
        }
        Mode::V2 => {
            let d = h.unified.clone().unwrap();
            assert_eq!(read(&d, "memory.max"), "67108864");
            assert_eq!(read(&d, "cpu.max"), "50000 100000");
            assert_eq!(read(&d, "cpu.weight"), "59");
            assert_eq!(read(&d, "pids.max"), "16");
        }
    }
    let dirs: Vec<PathBuf> =
        h.v1.iter()
            .map(|d| d.dir.clone())
            .chain(h.unified_dir().map(Path::to_path_buf))
            .collect();
    assert!(dirs.iter().all(|d| d.is_dir()));
    h.destroy().unwrap();
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    // Destroying twice is fine.
    h.destroy().unwrap();
}

#[test]
fn handle_survives_a_round_trip_through_json() {
    require_root!();
    let name = format!("/{}", unique("rtg"));
    let g = Guard(CgroupHandle::create(Path::new(&name)).unwrap());
    let text = serde_json::to_string(&g.0).unwrap();
    let back: CgroupHandle = serde_json::from_str(&text).unwrap();
    assert_eq!(back, g.0);
    back.destroy().unwrap();
    assert!(g.0.v1.iter().all(|d| !d.dir.exists()));
}

#[test]
fn added_process_is_listed_frozen_thawed_and_drained_on_destroy() {
    require_root!();
    let name = format!("/{}", unique("rtg"));
    let g = Guard(CgroupHandle::create(Path::new(&name)).unwrap());
    let h = &g.0;
    let mut child = sleeper();
    let pid = child.0.id() as i32;
    h.add_pid(pid).unwrap();
    assert_eq!(h.pids().unwrap(), [pid]);
    let self_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(self_cgroup.contains(&name), "{self_cgroup}");

    h.freeze().unwrap();
    if let Some(fz) = v1_dir(h, "freezer") {
        assert_eq!(read(&fz, "freezer.state"), "FROZEN");
    }
    h.thaw().unwrap();
    if let Some(fz) = v1_dir(h, "freezer") {
        assert_eq!(read(&fz, "freezer.state"), "THAWED");
    }

    let stats = h.stats().unwrap();
    assert_eq!(stats.pids_current, Some(1));

    // Kill without reaping first: destroy must wait for the task to leave.
    child.0.kill().unwrap();
    h.destroy().unwrap();
    let _ = child.0.wait();
    assert!(h.v1.iter().all(|d| !d.dir.exists()));
}

#[test]
fn enter_moves_the_calling_thread() {
    require_root!();
    let name = format!("/{}", unique("rtg"));
    let g = Guard(CgroupHandle::create(Path::new(&name)).unwrap());
    let h = g.0.clone();
    if h.mode == Mode::V2 {
        eprintln!("skipped: enter() on v2 would move the whole test process");
        return;
    }
    // A thread of its own, so only it moves (v1 `tasks` takes one thread).
    let seen = std::thread::spawn(move || {
        h.enter().unwrap();
        std::fs::read_to_string("/proc/thread-self/cgroup").unwrap()
    })
    .join()
    .unwrap();
    // Every hierarchy of the handle lists the thread in the new cgroup.
    for d in &g.0.v1 {
        let line = seen
            .lines()
            .find(|l| {
                let ctrls: Vec<&str> = l.split(':').nth(1).unwrap_or("").split(',').collect();
                d.controllers.iter().all(|c| ctrls.contains(&c.as_str()))
            })
            .unwrap_or_else(|| panic!("no {:?} line in {seen}", d.controllers));
        assert!(line.ends_with(&name), "{line} not in {name}");
    }
    // The thread has exited, so the cgroup is empty again.
    g.0.destroy().unwrap();
}

#[test]
fn relative_path_hangs_below_the_runtimes_own_cgroup() {
    require_root!();
    let rel = unique("rtg");
    let g = Guard(CgroupHandle::create(Path::new(&rel)).unwrap());
    let layout = host_layout().unwrap();
    for (d, h) in g.0.v1.iter().zip(&layout.v1) {
        let expected = h.mount.join(h.own.trim_start_matches('/')).join(&rel);
        assert_eq!(d.dir, expected);
        assert!(d.dir.is_dir());
    }
}

#[test]
fn hugepage_limit_on_hybrid_goes_to_cgroup2_and_is_removed() {
    require_root!();
    let layout = host_layout().unwrap();
    let offered = layout
        .unified
        .as_deref()
        .and_then(|m| fsio::read(m, "cgroup.controllers").ok())
        .unwrap_or_default();
    if layout.mode != Mode::Hybrid
        || layout.v1_with("hugetlb").is_some()
        || !offered.contains("hugetlb")
    {
        eprintln!("skipped: needs a hybrid host with hugetlb on cgroup2");
        return;
    }
    let name = format!("/{}", unique("rtg"));
    let g = Guard(CgroupHandle::create(Path::new(&name)).unwrap());
    assert_eq!(g.0.unified_dir(), None, "cgroup2 dir not made until needed");
    g.0.apply(&resources(
        r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}"#,
    ))
    .unwrap();
    let dir =
        g.0.unified_dir()
            .expect("cgroup2 dir made for hugetlb")
            .to_path_buf();
    assert_eq!(read(&dir, "hugetlb.2MB.max"), "4194304");
    g.0.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn errors_name_the_field_or_path() {
    require_root!();
    let name = format!("/{}", unique("rtg"));
    let g = Guard(CgroupHandle::create(Path::new(&name)).unwrap());
    let err =
        g.0.apply(&resources(r#"{"memory": {"swappiness": 101}}"#))
            .unwrap_err();
    if g.0.mode != Mode::V2 {
        assert!(err.to_string().contains("swappiness"), "{err}");
    }
    let err =
        g.0.apply(&resources(
            r#"{"pids": {"limit": 5}, "cpu": {"cpus": "9999"}}"#,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("cpuset.cpus"), "{err}");
    let err = CgroupHandle::create(Path::new("/rtg/../../etc")).unwrap_err();
    assert!(matches!(err, CgroupError::InvalidPath { .. }), "{err}");
}

/// A bare cgroup2 directory removed on drop (after its tasks have left).
struct V2Dir(PathBuf);

impl Drop for V2Dir {
    fn drop(&mut self) {
        let _ = fsio::remove_tree(&self.0, std::time::Duration::from_secs(2));
    }
}

#[test]
fn ebpf_device_program_denies_what_the_rules_deny() {
    require_root!();
    let Some(mount) = host_layout().unwrap().unified.clone() else {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    };
    let dir = V2Dir(mount.join(unique("rtg")));
    std::fs::create_dir(&dir.0).unwrap();
    let spec: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
        serde_json::from_str(r#"[{"allow": false, "access": "rwm"}]"#).unwrap();
    devices_bpf::attach(&dir.0, &devices::rules(&spec).unwrap()).unwrap();
    // The shell moves itself in, then opens an allowed and a denied node.
    let script = format!(
        "echo $$ > {}/cgroup.procs || exit 9; \
         : < /dev/null && echo null-ok; \
         (: < /dev/kmsg) 2>/dev/null && echo kmsg-ok || echo kmsg-denied",
        dir.0.display()
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("null-ok"), "{stdout}");
    assert!(stdout.contains("kmsg-denied"), "{stdout}");
}

#[test]
fn v2_handle_works_on_the_cgroup2_hierarchy() {
    require_root!();
    let Some(mount) = host_layout().unwrap().unified.clone() else {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    };
    // A v2-mode handle on this host's cgroup2 mount (on a hybrid host it
    // holds no v1 controllers, but freezing, process lists, device programs
    // and unified keys are all cgroup2 core).
    let name = unique("rtg");
    let dir = mount.join(&name);
    fsio::mkdir_v2(&mount, &dir, &[]).unwrap();
    let g = Guard(CgroupHandle {
        path: PathBuf::from(format!("/{name}")),
        mode: Mode::V2,
        v1: Vec::new(),
        unified: Some(dir.clone()),
    });
    let h = &g.0;
    h.apply(&resources(
        r#"{"devices": [{"allow": false, "access": "rwm"}],
            "unified": {"cgroup.max.descendants": "3"}}"#,
    ))
    .unwrap();
    assert_eq!(read(&dir, "cgroup.max.descendants"), "3");

    let mut child = sleeper();
    let pid = child.0.id() as i32;
    h.add_pid(pid).unwrap();
    assert_eq!(h.pids().unwrap(), [pid]);
    h.freeze().unwrap();
    assert!(read(&dir, "cgroup.events").contains("frozen 1"));
    h.thaw().unwrap();
    assert!(read(&dir, "cgroup.events").contains("frozen 0"));
    assert!(h.stats().unwrap().cpu_usage_ns.is_some());

    child.0.kill().unwrap();
    h.destroy().unwrap();
    let _ = child.0.wait();
    assert!(!dir.exists());
}
