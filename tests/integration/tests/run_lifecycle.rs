//! The life of a detached container: `stop` of a process ignoring SIGTERM
//! (SIGKILL after -t), logs after exit with streams and timestamps,
//! `inspect`/`ps`/`wait`/`rename`/`rm`, the restart policy, and `kill -9`
//! of the monitor followed by `system gc` leaving nothing behind.

mod run_common;

use std::time::{Duration, Instant};

use run_common::{free_port, http_get, http_get_retry, stderr, RunEnv};
use serde_json::Value;

#[test]
fn stop_kills_a_process_that_ignores_sigterm_after_the_timeout() {
    let env = RunEnv::new(20);
    let image = env.load_busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--network",
        &env.net,
        &image,
        "sh",
        "-c",
        "trap '' TERM; echo up; while true; do sleep 1; done",
    ]);
    let start = Instant::now();
    env.ok(&["stop", "-t", "1", "stubborn"]);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "stop waited for the timeout: {took:?}"
    );
    let st = &env.inspect("stubborn")["State"];
    assert_eq!(st["Status"], "exited");
    assert_eq!(st["ExitCode"], 137);
    env.finish();
}

#[test]
fn logs_after_exit_keep_streams_and_timestamps() {
    let env = RunEnv::new(21);
    let image = env.load_busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "--network",
        &env.net,
        &image,
        "sh",
        "-c",
        "echo one; echo two >&2; printf partial; echo; echo three",
    ]);
    assert_eq!(env.ok(&["wait", "talker"]), "0");
    let out = env.try_rcrun(&["logs", "talker"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "one\npartial\nthree\n"
    );
    assert_eq!(stderr(&out), "two\n");
    // --tail counts lines of both streams, in the order they were logged.
    let out = env.try_rcrun(&["logs", "--tail", "2", "talker"]);
    let lines = String::from_utf8_lossy(&out.stdout).lines().count() + stderr(&out).lines().count();
    assert_eq!(lines, 2, "{out:?}");
    let ts = env.ok(&["logs", "-t", "talker"]);
    let first = ts.lines().next().unwrap();
    let (stamp, text) = first.split_once(' ').unwrap();
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{first}");
    assert_eq!(text, "one");
    assert_eq!(
        env.ok(&["logs", "--since", "1h", "talker"]).lines().count(),
        3
    );
    assert_eq!(
        env.ok(&["logs", "--since", "2000-01-01T00:00:00Z", "talker"])
            .lines()
            .count(),
        3
    );
    // -f follows a running container until it exits.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--network",
        &env.net,
        &image,
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done",
    ]);
    assert_eq!(env.ok(&["logs", "-f", "ticker"]), "1\n2\n3");
    // -f on an exited container prints everything and returns.
    assert_eq!(env.ok(&["logs", "-f", "talker"]).lines().count(), 3);
    // A foreground run goes to the terminal and to the log, each stream
    // to its own.
    let run = env.try_rcrun(&[
        "run",
        "--name",
        "attached",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "echo out; echo err >&2; printf tail",
    ]);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "out\ntail");
    assert_eq!(stderr(&run), "err\n");
    let out = env.try_rcrun(&["logs", "attached"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\ntail");
    assert_eq!(stderr(&out), "err\n");
    env.finish();
}

#[test]
fn inspect_ps_rename_and_rm_show_and_change_the_container() {
    let env = RunEnv::new(22);
    let image = env.load_busybox();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let ip = format!("10.230.{}.77", env.n);
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--network",
        &env.net,
        "--ip",
        &ip,
        "-p",
        &publish,
        "--label",
        "a=b",
        "-e",
        "GREETING=hi",
        &image,
        "sleep",
        "60",
    ]);
    let v = env.inspect(&id[..12]);
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], "/box");
    assert_eq!(v["State"]["Running"], true);
    assert_eq!(v["Config"]["Labels"]["a"], "b");
    assert!(v["Config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&Value::from("GREETING=hi")));
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        port.to_string()
    );
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostIp"],
        "127.0.0.1"
    );
    let net = &v["NetworkSettings"]["Networks"][&env.net];
    assert_eq!(net["IPAddress"], ip.as_str(), "--ip");
    assert_eq!(net["Gateway"], format!("10.230.{}.1", env.n));

    let ps: Value = serde_json::from_str(&env.ok(&["ps", "--format", "json"])).unwrap();
    assert_eq!(ps[0]["Names"][0], "box");
    assert_eq!(ps[0]["State"], "running");

    let out = env.try_rcrun(&["rm", "box"]);
    assert!(
        !out.status.success(),
        "rm of a running container is refused"
    );
    assert!(stderr(&out).contains("rm -f"), "{}", stderr(&out));

    env.ok(&["rename", "box", "crate"]);
    assert_eq!(env.inspect("crate")["Name"], "/crate");
    env.ok(&["rm", "-f", "crate"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    env.finish();
}

#[test]
fn restart_on_failure_restarts_up_to_the_limit() {
    let env = RunEnv::new(23);
    let image = env.load_busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "--network",
        &env.net,
        &image,
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = env.inspect("flaky");
        if v["State"]["Status"] == "exited" && v["RestartCount"] == 2 {
            assert_eq!(v["State"]["ExitCode"], 3);
            break;
        }
        assert!(Instant::now() < deadline, "no 2 restarts: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(env.ok(&["logs", "flaky"]), "run\nrun\nrun");
    // A stop vetoes the restart of an `always` container.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "forever",
        "--restart",
        "always",
        "--network",
        &env.net,
        &image,
        "sleep",
        "60",
    ]);
    env.ok(&["stop", "-t", "1", "forever"]);
    std::thread::sleep(Duration::from_millis(500));
    let v = env.inspect("forever");
    assert_eq!(v["State"]["Status"], "exited", "{v}");
    assert_eq!(v["RestartCount"], 0);
    // A foreground run has no monitor to restart it.
    let out = env.try_rcrun(&["run", "--rm", "--restart", "always", &image, "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    env.finish();
}

#[test]
fn gc_after_kill_9_of_the_monitor_leaves_nothing_behind() {
    let env = RunEnv::new(24);
    let image = env.load_busybox();
    let vol = env.www_volume("gc me\n");
    let port = free_port();
    let publish = format!("{port}:80");
    let id = env.run_httpd(
        &[
            "--name",
            "orphan",
            "--network",
            &env.net,
            "-p",
            &publish,
            "-v",
            &vol,
        ],
        &image,
    );
    assert_eq!(
        http_get_retry("127.0.0.1", port, "/", Duration::from_secs(5)).as_deref(),
        Some("gc me\n")
    );
    let monitor = env.inspect("orphan")["State"]["MonitorPid"]
        .as_i64()
        .unwrap() as i32;
    assert!(monitor > 0);
    // SAFETY: kill(2) with a pid read from the container's record.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    // SIGKILL is delivered asynchronously: wait until the monitor is dead.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{monitor}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    }) {
        assert!(
            Instant::now() < deadline,
            "monitor {monitor} survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let report = env.ok(&["system", "gc", "--json"]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["containers"][0], id.as_str(), "{report}");
    assert!(
        http_get("127.0.0.1", port, "/").is_none(),
        "port still answers"
    );
    let st = &env.inspect("orphan")["State"];
    assert_eq!(st["Status"], "exited");
    // Everything but the (stopped) container record is gone already.
    let sandboxes = run_common::entries(&env.run_root().join("sandboxes"));
    assert!(sandboxes.is_empty(), "{sandboxes:?}");
    env.ok(&["rm", "orphan"]);
    env.assert_clean(&[id]);
    env.finish();
}

#[test]
fn exec_runs_in_the_container_with_its_exit_code() {
    let env = RunEnv::new(25);
    let image = env.load_busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "host",
        "--network",
        &env.net,
        &image,
        "sleep",
        "60",
    ]);
    let hostname = env.inspect("host")["Config"]["Hostname"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.ok(&["exec", "host", "hostname"]), hostname);
    let out = env.ok(&[
        "exec",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "host",
        "sh",
        "-c",
        "echo $A $(pwd) $(id -u)",
    ]);
    assert_eq!(out, "1 /tmp 65534");
    let out = env.try_rcrun(&["exec", "host", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let out = env.try_rcrun(&["exec", "host", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    env.ok(&["stop", "-t", "0", "host"]);
    let out = env.try_rcrun(&["exec", "host", "true"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "exec into a stopped container"
    );
    env.finish();
}
