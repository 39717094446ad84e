//! `events`: `--stats` prints one runc-style stats event read from the
//! container's cgroup; without it, a stream at `--interval`.

mod oci_common;
mod oci_exec_util;

use std::time::Duration;

use oci_common::skip;
use oci_exec_util::Running;

#[test]
fn events_stats_has_cpu_memory_and_pids() {
    if skip() {
        return;
    }
    let c = Running::start(&["sleep", "1000"], |cfg| {
        cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 99});
    });
    // Some CPU time to account.
    c.exec_ok(
        &[],
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done",
        ],
    );
    let out = c.oci.ok(&["events", "--stats", &c.id]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("event JSON");
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], c.id.as_str());
    let d = &v["data"];
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{d}");
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{d}"
    );
    assert!(d["memory"]["usage"]["limit"].as_u64().is_some(), "{d}");
    assert_eq!(d["pids"]["current"], 1, "{d}");
    assert_eq!(d["pids"]["limit"], 99, "{d}");
}

#[test]
fn events_streams_at_the_interval_until_the_container_stops() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out_path = out_dir.path().join("events");
    let mut child = c
        .oci
        .cmd(&["events", "--interval", "100ms", &c.id])
        .stdout(std::fs::File::create(&out_path).expect("create"))
        .spawn()
        .expect("spawn events");
    // Three events at least, then stop the container.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&out_path)
        .unwrap_or_default()
        .lines()
        .count()
        < 3
    {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than 3 events in 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    c.oci.ok(&["kill", &c.id, "KILL"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "events did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&out_path).expect("read");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line"))
        .collect();
    assert!(lines.len() >= 3, "expected several events: {text}");
    assert!(lines.iter().all(|e| e["type"] == "stats"), "{text}");
}

#[test]
fn events_of_a_stopped_container_fail_with_one_line() {
    if skip() {
        return;
    }
    let c = Running::start(&["true"], |_| {});
    c.oci.wait_status(&c.id, "stopped");
    let err = c.oci.fails(&["events", "--stats", &c.id]);
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn events_report_an_oom_kill() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    c.oci
        .ok(&["update", "--memory", "16m", "--memory-swap", "16m", &c.id]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out_path = out_dir.path().join("events");
    let mut child = c
        .oci
        .cmd(&["events", "--interval", "10s", &c.id])
        .stdout(std::fs::File::create(&out_path).expect("create"))
        .spawn()
        .expect("spawn events");
    // A shell variable of 60 MB in a 16 MB container.
    let out = c.exec(
        &[],
        &[
            "sh",
            "-c",
            "x=$(head -c 60000000 /dev/zero | tr '\\0' a); echo ${#x}",
        ],
    );
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while !text.contains("\"oom\"") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        text = std::fs::read_to_string(&out_path).unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    let oom = format!(r#"{{"type":"oom","id":"{}"}}"#, c.id);
    assert!(text.lines().any(|l| l == oom), "{text}");
}
