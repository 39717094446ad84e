//! `rcrun-oci` lifecycle as runc users see it: state through create → start
//! → exit, kill, delete (--force), run exit codes, pid file, list.

mod oci_common;

use std::time::Duration;

use oci_common::{id, skip, Oci};
use rcrun_it::bundle::Bundle;

#[test]
fn state_goes_created_running_stopped_by_itself() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sleep", "1"]);
    let id = id();
    let bundle = b.path().display().to_string();
    oci.ok(&["create", "--bundle", &bundle, &id]);
    let st = oci.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], bundle.as_str());
    assert!(st["ociVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with('1')));
    let pid = st["pid"].as_i64().expect("pid");
    assert!(pid > 0);
    // The init waits: it has not exec'd `sleep` yet.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_ne!(comm.trim(), "sleep");

    oci.ok(&["start", &id]);
    assert_eq!(oci.status(&id), "running");
    // Nobody calls anything: the exit is noticed from /proc.
    oci.wait_status(&id, "stopped");
    assert_eq!(oci.state(&id)["pid"], 0);
    oci.ok(&["delete", &id]);
    let err = oci.fails(&["state", &id]);
    assert!(err.contains("does not exist"), "{err}");
    oci.assert_no_leftovers(&id, b.path());
}

#[test]
fn kill_accepts_signal_names_and_numbers() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    // pid 1 of a pid namespace only gets signals it handles: trap them.
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM USR1 HUP; while :; do sleep 0.05; done",
    ]);
    let bundle = b.path().display().to_string();
    for sig in ["TERM", "SIGUSR1", "1", "sighup"] {
        let id = id();
        oci.ok(&["run", "--detach", "--bundle", &bundle, &id]);
        assert_eq!(oci.status(&id), "running");
        oci.ok(&["kill", &id, sig]);
        oci.wait_status(&id, "stopped");
        oci.ok(&["delete", &id]);
        oci.assert_no_leftovers(&id, b.path());
    }
    let id = id();
    oci.ok(&["run", "-d", "--bundle", &bundle, &id]);
    let err = oci.fails(&["kill", &id, "NOSUCHSIG"]);
    assert!(err.contains("NOSUCHSIG"), "{err}");
    oci.ok(&["kill", &id, "9"]);
    oci.wait_status(&id, "stopped");
    let err = oci.fails(&["kill", &id, "KILL"]);
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn kill_all_reaches_every_process_in_the_cgroup() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sh", "-c", "sleep 100 & sleep 100 & sleep 100 & wait"]);
    let id = id();
    oci.ok(&[
        "run",
        "-d",
        "--bundle",
        &b.path().display().to_string(),
        &id,
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let pids: Vec<i64> = loop {
        let p: Vec<i64> = serde_json::from_str(&oci.ok(&["ps", "-f", "json", &id])).expect("pids");
        if p.len() >= 4 || std::time::Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        pids.len() >= 4,
        "sh and three sleeps expected, got {pids:?}"
    );
    let table = oci.ok(&["ps", &id]);
    assert!(table.lines().next().is_some_and(|h| h.contains("PID")));
    assert!(table.contains("sleep 100"), "{table}");
    oci.ok(&["kill", "--all", &id, "KILL"]);
    oci.wait_status(&id, "stopped");
    for p in pids {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{p}/cmdline")).exists()
            && std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| !s.contains(") Z"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "pid {p} survived kill --all"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    oci.ok(&["delete", &id]);
    oci.assert_no_leftovers(&id, b.path());
}

#[test]
fn delete_of_running_needs_force() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = id();
    oci.ok(&[
        "run",
        "-d",
        "--bundle",
        &b.path().display().to_string(),
        &id,
    ]);
    let pid = oci.state(&id)["pid"].as_i64().expect("pid");
    let err = oci.fails(&["delete", &id]);
    assert!(err.contains("running") && err.contains("--force"), "{err}");
    assert_eq!(oci.status(&id), "running");
    oci.ok(&["delete", "--force", &id]);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    assert!(
        stat.is_err() || stat.is_ok_and(|s| s.contains(") Z")),
        "init {pid} still alive"
    );
    oci.assert_no_leftovers(&id, b.path());
    // Deleting what is gone: an error, except with --force.
    oci.fails(&["delete", &id]);
    oci.ok(&["delete", "--force", &id]);
}

#[test]
fn delete_of_created_container_kills_its_init() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["true"]);
    let id = id();
    oci.ok(&["create", "--bundle", &b.path().display().to_string(), &id]);
    oci.ok(&["delete", &id]);
    oci.assert_no_leftovers(&id, b.path());
}

#[test]
fn run_in_foreground_exits_with_the_container_status() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let ok = Bundle::busybox(&["true"]);
    let out = oci.run_bundle(&id(), ok.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let three = Bundle::busybox(&["sh", "-c", "echo hello; exit 3"]);
    let id3 = id();
    let out = oci.run_bundle(&id3, three.path());
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    // Foreground run deletes the container when it exits.
    oci.assert_no_leftovers(&id3, three.path());

    let sleeper = Bundle::busybox(&["sleep", "100"]);
    let idk = id();
    let mut child = oci
        .cmd(&[
            "run",
            "--bundle",
            &sleeper.path().display().to_string(),
            &idk,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    oci.wait_status(&idk, "running");
    oci.ok(&["kill", &idk, "KILL"]);
    let status = child.wait().expect("wait run");
    assert_eq!(status.code(), Some(128 + 9));
    oci.assert_no_leftovers(&idk, sleeper.path());
}

#[test]
fn run_forwards_signals_to_the_container() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'exit 7' TERM; while :; do sleep 0.05; done",
    ]);
    let id = id();
    let mut child = oci
        .cmd(&["run", "--bundle", &b.path().display().to_string(), &id])
        .spawn()
        .expect("spawn run");
    oci.wait_status(&id, "running");
    // Give the shell a moment to install its trap.
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on the pid of our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait run");
    assert_eq!(status.code(), Some(7));
}

#[test]
fn pid_file_holds_the_init_pid() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let id = id();
    let pidfile = b.path().join("init.pid");
    oci.ok(&[
        "create",
        "--bundle",
        &b.path().display().to_string(),
        "--pid-file",
        &pidfile.display().to_string(),
        &id,
    ]);
    let written: i64 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a number");
    assert_eq!(Some(written), oci.state(&id)["pid"].as_i64());
    oci.ok(&["delete", "--force", &id]);
}

#[test]
fn list_shows_every_container() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let bundle = b.path().display().to_string();
    let (a, c) = (id(), id());
    oci.ok(&["create", "--bundle", &bundle, &a]);
    oci.ok(&["run", "-d", "--bundle", &bundle, &c]);
    let table = oci.ok(&["list"]);
    let mut lines = table.lines();
    assert!(lines
        .next()
        .is_some_and(|h| h.starts_with("ID ") && h.ends_with("OWNER")));
    assert!(table
        .lines()
        .any(|l| l.starts_with(&a) && l.contains("created")));
    assert!(table
        .lines()
        .any(|l| l.starts_with(&c) && l.contains("running")));
    let json: serde_json::Value =
        serde_json::from_str(&oci.ok(&["list", "--format", "json"])).expect("json");
    let ids: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(
        ids.contains(&a.as_str()) && ids.contains(&c.as_str()),
        "{ids:?}"
    );
    let quiet = oci.ok(&["list", "-q"]);
    assert_eq!(quiet.lines().count(), 2);
}

#[test]
fn spec_writes_a_config_that_runs() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["true"]);
    std::fs::remove_file(b.path().join("config.json")).expect("rm config");
    let bundle = b.path().display().to_string();
    oci.ok(&["spec", "--bundle", &bundle]);
    let err = oci.fails(&["spec", "--bundle", &bundle]);
    assert!(err.contains("exists"), "{err}");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.path().join("config.json")).expect("read"))
            .expect("json");
    assert_eq!(cfg["hostname"], "runc");
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", "hostname"]);
    std::fs::write(b.path().join("config.json"), cfg.to_string()).expect("write");
    assert_eq!(oci.run_stdout(&id(), b.path()), "runc\n");
}

#[test]
fn features_lists_namespaces_and_capabilities() {
    let oci = Oci::new();
    let f: serde_json::Value = serde_json::from_str(&oci.ok(&["features"])).expect("json");
    assert_eq!(f["ociVersionMin"], "1.0.0");
    let ns = f["linux"]["namespaces"].as_array().expect("namespaces");
    assert!(ns.iter().any(|n| n == "network") && ns.iter().any(|n| n == "user"));
    assert!(f["linux"]["capabilities"]
        .as_array()
        .expect("caps")
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
}

#[test]
fn errors_go_to_the_log_file_as_json() {
    let oci = Oci::new();
    let log = oci.root().join("rtc.log");
    let out = oci.out(&[
        "--log",
        &log.display().to_string(),
        "--log-format",
        "json",
        "state",
        "rtc-missing",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).expect("log written");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("json line");
    assert_eq!(line["level"], "error");
    assert!(line["msg"]
        .as_str()
        .is_some_and(|m| m.contains("rtc-missing")));
    assert!(line["time"].as_str().is_some());
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let oci = Oci::new();
    assert_eq!(
        oci.out(&["create", "--no-such-flag", "x"]).status.code(),
        Some(1)
    );
    assert_eq!(oci.out(&["no-such-verb"]).status.code(), Some(1));
    let help = oci.out(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("create"));
}

#[test]
fn hooks_run_at_their_lifecycle_points() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["cat", "/dev/shm/rtc-started"]);
    let dir = b.path().display().to_string();
    let host_hook = |name: &str, script: String| serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 10, "env": [format!("RTC_HOOK={name}")]}]);
    let hooks = serde_json::json!({
        "createRuntime": host_hook("cr", format!("cat > {dir}/rtc-createRuntime.json")),
        "createContainer": host_hook("cc", format!("readlink /proc/self/ns/net > {dir}/rtc-createContainer")),
        // Resolved inside the container (busybox sh), after pivot_root.
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo started > /dev/shm/rtc-started"]}],
        "poststart": host_hook("ps", format!("echo $RTC_HOOK > {dir}/rtc-poststart")),
        "poststop": host_hook("pt", format!("cat > {dir}/rtc-poststop.json")),
    });
    b.edit(|c| c["hooks"] = hooks);
    let cid = id();
    assert_eq!(oci.run_stdout(&cid, b.path()), "started\n");
    let cr: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(b.path().join("rtc-createRuntime.json"))
            .expect("createRuntime ran"),
    )
    .expect("state JSON on stdin");
    assert_eq!(cr["id"], cid.as_str());
    assert_eq!(cr["status"], "creating");
    assert!(cr["pid"].as_i64().is_some_and(|p| p > 0));
    let cc =
        std::fs::read_to_string(b.path().join("rtc-createContainer")).expect("createContainer ran");
    let host_net = std::fs::read_link("/proc/self/ns/net").expect("host netns");
    assert_ne!(
        cc.trim(),
        host_net.display().to_string(),
        "createContainer must run in the container's netns"
    );
    assert_eq!(
        std::fs::read_to_string(b.path().join("rtc-poststart")).expect("poststart ran"),
        "ps\n"
    );
    let pt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(b.path().join("rtc-poststop.json")).expect("poststop ran"),
    )
    .expect("state JSON");
    assert_eq!(pt["status"], "stopped");
}

#[test]
fn failing_create_runtime_hook_aborts_create() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| c["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]}));
    let cid = id();
    let err = oci.fails(&["create", "--bundle", &b.path().display().to_string(), &cid]);
    assert!(err.contains("hooks.createRuntime[0] /bin/false"), "{err}");
    oci.assert_no_leftovers(&cid, b.path());
}
