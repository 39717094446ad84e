//! `rcrun-monitor` driving the real `rcrun-oci`: the ready line, logs in the
//! k8s-file format, the exit record, the exit command, subreaping.

mod monitor_common;

use monitor_common::{ppid, skip, status_field, Monitored};

/// `<ts> <stream> <F|P> <text>` split into its four parts.
fn parse(record: &str) -> (String, String, String, String) {
    let mut it = record.splitn(4, ' ');
    let mut next = || it.next().unwrap_or_default().to_string();
    (next(), next(), next(), next())
}

/// An RFC 3339 UTC timestamp with nanoseconds, e.g. 2026-11-21T03:33:14.171874660Z.
fn is_timestamp(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 30
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[29] == b'Z'
        && ts[..4].parse::<u32>().is_ok_and(|y| y >= 2024)
}

#[test]
fn logs_carry_timestamps_stream_names_and_partial_lines() {
    if skip() {
        return;
    }
    let m = Monitored::new(&[
        "sh",
        "-c",
        "echo out1; echo err1 >&2; echo out2; printf part",
    ]);
    m.launch_and_start();
    let exit = m.wait_exit();
    assert_eq!(exit["exitCode"], 0, "{exit}");
    let records: Vec<_> = m.log().iter().map(|r| parse(r)).collect();
    for (ts, _, _, _) in &records {
        assert!(is_timestamp(ts), "bad timestamp {ts:?} in {records:?}");
    }
    let has = |stream: &str, tag: &str, text: &str| {
        records
            .iter()
            .any(|(_, s, t, x)| s == stream && t == tag && x == text)
    };
    assert!(has("stdout", "F", "out1"), "{records:?}");
    assert!(has("stderr", "F", "err1"), "{records:?}");
    assert!(has("stdout", "F", "out2"), "{records:?}");
    assert!(has("stdout", "P", "part"), "{records:?}");
    let out: Vec<_> = records
        .iter()
        .filter(|r| r.1 == "stdout")
        .map(|r| r.3.as_str())
        .collect();
    assert_eq!(out, ["out1", "out2", "part"], "stdout order");
}

#[test]
fn exit_record_holds_the_exit_code() {
    if skip() {
        return;
    }
    let m = Monitored::new(&["sh", "-c", "exit 3"]);
    m.launch_and_start();
    let exit = m.wait_exit();
    assert_eq!(exit["exitCode"], 3, "{exit}");
    assert!(exit["signal"].is_null(), "{exit}");
    assert!(
        is_timestamp(exit["finishedAt"].as_str().unwrap_or_default()),
        "{exit}"
    );
    assert!(!m.dir().join("exit.tmp").exists());
}

#[test]
fn monitor_is_the_inits_parent_and_records_a_kill_signal() {
    if skip() {
        return;
    }
    let m = Monitored::new(&["sleep", "60"]);
    let pid = m.launch_and_start();
    let parent = ppid(pid);
    assert_eq!(
        status_field(parent, "Name"),
        "rcrun-monitor",
        "parent of init {pid}"
    );
    let recorded = std::fs::read_to_string(m.dir().join("monitor.pid")).expect("monitor.pid");
    assert_eq!(
        recorded.trim(),
        parent.to_string(),
        "monitor.pid names the monitor"
    );
    let out = rcrun_it::bins::run(&mut m.oci(&["kill", &m.id, "KILL"]));
    assert!(
        out.status.success(),
        "kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exit = m.wait_exit();
    assert_eq!(exit["exitCode"], 137, "{exit}");
    assert_eq!(exit["signal"], 9, "{exit}");
    monitor_common::wait_gone(parent);
}

#[test]
fn exit_command_runs_after_the_exit_record_is_written() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["sh", "-c", "exit 5"]);
    let seen = m.dir().join("exit-command-saw");
    let script = format!(
        "cat {} > {}; echo \"$0 $1\" >> {}",
        m.dir().join("exit").display(),
        seen.display(),
        seen.display()
    );
    m.extra = [
        "--exit-command",
        "/bin/sh",
        "--exit-command-arg",
        "-c",
        "--exit-command-arg",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        script,
        "--exit-command-arg".into(),
        "first".into(),
        "--exit-command-arg".into(),
        "second".into(),
    ])
    .collect();
    m.launch_and_start();
    m.wait_exit();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let t = std::fs::read_to_string(&seen).unwrap_or_default();
        if t.lines().count() == 2 {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "exit command output: {t:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("\"exitCode\":5"), "{text}");
    assert_eq!(lines[1], "first second");
}

#[test]
fn bad_bundle_is_reported_on_the_ready_fd() {
    if skip() {
        return;
    }
    let m = Monitored::new(&["true"]);
    std::fs::remove_file(m.bundle.path().join("config.json")).expect("remove config.json");
    let (line, status) = m.launch();
    assert!(
        status.success(),
        "the started process only detaches: {status}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let err = v["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("config.json"),
        "error should name the missing file: {line}"
    );
    assert_eq!(line.trim_end().lines().count(), 1);
    let out = rcrun_it::bins::run(&mut m.oci(&["list", "-q"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "nothing created"
    );
    assert!(!m.dir().join("exit").exists());
}

#[test]
fn container_outlives_a_killed_monitor() {
    if skip() {
        return;
    }
    let m = Monitored::new(&["sleep", "60"]);
    let pid = m.launch_and_start();
    let monitor = ppid(pid);
    // SAFETY: kill with a pid read from /proc and a valid signal.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    monitor_common::wait_gone(monitor);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        status_field(pid, "State").starts_with('S'),
        "container init {pid} should still run"
    );
}

#[test]
fn terminal_output_is_logged_as_stdout() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["sh", "-c", "tty; echo hi-from-tty"]);
    m.bundle
        .edit(|c| c["process"]["terminal"] = serde_json::json!(true));
    m.extra = vec!["--tty".into()];
    // The console socket's path is too long for a sockaddr_un: the monitor
    // hands the runtime a /proc/<pid>/fd/<dir> name instead.
    m.use_long_dir();
    m.launch_and_start();
    assert_eq!(m.wait_exit()["exitCode"], 0);
    let log = m.log();
    let texts: Vec<String> = log
        .iter()
        .map(|r| parse(r))
        .filter(|(_, s, _, _)| s == "stdout")
        .map(|(_, _, _, x)| x.trim_end_matches('\r').to_string())
        .collect();
    assert!(texts.iter().any(|t| t.starts_with("/dev/pts/")), "{log:?}");
    assert!(texts.iter().any(|t| t == "hi-from-tty"), "{log:?}");
    assert!(!m.dir().join("console.sock").exists());
}

#[test]
fn bad_command_line_is_reported_on_the_ready_fd() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["true"]);
    m.extra = vec!["--restart".into(), "sometimes".into()];
    let (line, status) = m.launch();
    assert_eq!(
        status.code(),
        Some(1),
        "a usage error is reported before detaching"
    );
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("--restart \"sometimes\""),
        "{line}"
    );
}
