//! `update`: new limits of a running container land in its cgroup files
//! (flags and `-r` JSON) and are remembered for the next update.

mod oci_common;
mod oci_exec_util;

use oci_common::skip;
use oci_exec_util::Running;

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

fn memory_limit_file(dir: &std::path::Path) -> &'static str {
    if dir.join("memory.limit_in_bytes").exists() {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    }
}

#[test]
fn update_flags_change_memory_pids_and_cpu() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    c.oci.ok(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "42",
        "--cpu-shares",
        "512",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        &c.id,
    ]);
    let mem = c.cgroup_dir("memory");
    assert_eq!(
        read(&mem, memory_limit_file(&mem)),
        (64u64 << 20).to_string()
    );
    assert_eq!(read(&c.cgroup_dir("pids"), "pids.max"), "42");
    let cpu = c.cgroup_dir("cpu");
    if cpu.join("cpu.shares").exists() {
        assert_eq!(read(&cpu, "cpu.shares"), "512");
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    } else {
        assert_eq!(read(&cpu, "cpu.max"), "50000 100000");
    }
    // The container still runs and sees its new limit.
    let out = c.exec_ok(&[], &["true"]);
    assert!(out.is_empty());
}

#[test]
fn update_from_a_resources_file_and_stdin_is_remembered() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("res.json");
    std::fs::write(
        &f,
        r#"{"pids": {"limit": 17}, "memory": {"limit": 33554432}}"#,
    )
    .expect("write");
    c.oci.ok(&["update", "-r", &f.display().to_string(), &c.id]);
    assert_eq!(read(&c.cgroup_dir("pids"), "pids.max"), "17");
    let mut cmd = c.oci.cmd(&["update", "--resources", "-", &c.id]);
    let stdin = dir.path().join("stdin.json");
    std::fs::write(&stdin, r#"{"pids": {"limit": 18}}"#).expect("write");
    cmd.stdin(std::fs::File::open(&stdin).expect("open"));
    let out = oci_common::output_via_files(&mut cmd);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(read(&c.cgroup_dir("pids"), "pids.max"), "18");
    // Remembered: both updates merged in the container's state dir.
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(c.oci.root().join(&c.id).join("resources.json")).expect("resources.json"),
    )
    .expect("json");
    assert_eq!(saved["pids"]["limit"], 18);
    assert_eq!(saved["memory"]["limit"], 33554432);
}

#[test]
fn update_with_a_bad_value_fails_with_one_line() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let err = c.oci.fails(&["update", "--memory", "lots", &c.id]);
    assert!(err.contains("--memory"), "{err}");
    let err = c.oci.fails(&["update", "--cpuset-cpus", "9999", &c.id]);
    assert!(err.contains("cpuset.cpus"), "{err}");
}
