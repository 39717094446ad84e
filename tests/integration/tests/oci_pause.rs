//! `pause` / `resume`: a frozen container makes no progress and reports
//! `paused`; resumed, it goes on. Paused containers refuse exec and a
//! plain delete, and die with `delete --force`.

mod oci_common;
mod oci_exec_util;

use std::time::Duration;

use oci_common::skip;
use oci_exec_util::Running;
use serde_json::json;

/// A container counting into /tmp/count (a tmpfs of its own; each value
/// written whole, by rename).
fn counter() -> Running {
    Running::start(
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/count; sleep 0.05; done",
        ],
        |cfg| {
            let mounts = cfg["mounts"].as_array_mut().expect("mounts");
            mounts.push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        },
    )
}

/// Wait (up to 10 s) until the counter is above `than`; returns it.
fn count_above(c: &Running, than: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = count(c);
        if n > than {
            return n;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the counter stayed at {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(c: &Running) -> u64 {
    let p = format!("/proc/{}/root/tmp/count", c.pid);
    std::fs::read_to_string(&p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn pause_stops_progress_and_resume_continues() {
    if skip() {
        return;
    }
    let c = counter();
    count_above(&c, 0);
    c.oci.ok(&["pause", &c.id]);
    assert_eq!(c.oci.status(&c.id), "paused");
    let listed = c.oci.ok(&["list", "--format", "json"]);
    assert!(listed.contains("\"paused\""), "{listed}");
    let frozen_at = count(&c);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&c), frozen_at, "a paused container made progress");
    c.oci.ok(&["resume", &c.id]);
    assert_eq!(c.oci.status(&c.id), "running");
    count_above(&c, frozen_at);
}

#[test]
fn paused_container_refuses_exec_and_plain_delete() {
    if skip() {
        return;
    }
    let c = counter();
    c.oci.ok(&["pause", &c.id]);
    let err = c.oci.fails(&["exec", &c.id, "true"]);
    assert!(err.contains("paused"), "{err}");
    let err = c.oci.fails(&["delete", &c.id]);
    assert!(err.contains("paused"), "{err}");
    let err = c.oci.fails(&["pause", &c.id]);
    assert!(err.contains("paused"), "{err}");
    c.oci.ok(&["delete", "--force", &c.id]);
    c.oci.assert_no_leftovers(&c.id, c.bundle.path());
}

#[test]
fn resume_of_a_running_container_is_refused() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let err = c.oci.fails(&["resume", &c.id]);
    assert!(err.contains("running"), "{err}");
}

#[test]
fn kill_of_a_paused_container_takes_effect() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    c.oci.ok(&["pause", &c.id]);
    c.oci.ok(&["kill", &c.id, "KILL"]);
    c.oci.wait_status(&c.id, "stopped");
}
