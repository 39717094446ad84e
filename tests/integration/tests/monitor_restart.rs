//! `rcrun-monitor --restart`: the monitor re-creates and restarts the
//! container as docker's restart policies say, and stops doing so when the
//! engine vetoes it with `<container-dir>/no-restart`.

mod monitor_common;

use monitor_common::{skip, Monitored};

#[test]
fn on_failure_restarts_up_to_the_limit() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["sh", "-c", "echo run; exit 2"]);
    m.extra = vec!["--restart".into(), "on-failure:2".into()];
    m.launch_and_start();
    let exit = m.wait_exit();
    assert_eq!(exit["exitCode"], 2, "{exit}");
    let runs = m
        .log()
        .iter()
        .filter(|r| r.ends_with(" stdout F run"))
        .count();
    assert_eq!(runs, 3, "first run + 2 restarts: {:?}", m.log());
    let restarts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(m.dir().join("restarts")).expect("restarts record"),
    )
    .expect("restarts JSON");
    assert_eq!(restarts["restartCount"], 2, "{restarts}");
    assert_eq!(restarts["lastExit"]["exitCode"], 2, "{restarts}");
}

#[test]
fn on_failure_does_not_restart_a_success() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["sh", "-c", "echo once"]);
    m.extra = vec!["--restart".into(), "on-failure".into()];
    m.launch_and_start();
    assert_eq!(m.wait_exit()["exitCode"], 0);
    assert_eq!(m.log().len(), 1, "{:?}", m.log());
    assert!(!m.dir().join("restarts").exists());
}

#[test]
fn always_restarts_until_the_engine_vetoes() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["sleep", "60"]);
    m.extra = vec!["--restart".into(), "always".into()];
    let first = m.launch_and_start();
    // A kill without veto: the monitor brings the container back.
    let out = rcrun_it::bins::run(&mut m.oci(&["kill", &m.id, "KILL"]));
    assert!(
        out.status.success(),
        "kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let second = loop {
        let pid: i32 = std::fs::read_to_string(m.dir().join("pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        if pid != 0 && pid != first && monitor_common::status_field(pid, "State").starts_with('S') {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "not restarted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        !m.dir().join("exit").exists(),
        "no exit record while restarting"
    );
    // `rcrun stop` vetoes the restart first, then kills.
    std::fs::write(m.dir().join("no-restart"), "").expect("write no-restart");
    let out = rcrun_it::bins::run(&mut m.oci(&["kill", &m.id, "KILL"]));
    assert!(
        out.status.success(),
        "kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exit = m.wait_exit();
    assert_eq!(exit["exitCode"], 137, "{exit}");
    monitor_common::wait_gone(second);
}
