//! Exit codes of `rcrun run` as docker's (0/1 from the container, 125 for
//! rcrun's own errors, 126 cannot invoke, 127 not found, 137 SIGKILL),
//! `--rm` leaving nothing behind, and bad input rejected with one clear
//! line and nothing left half-made.

mod run_common;

use std::process::Command;
use std::time::Duration;

use rcrun_it::bins::bin;
use run_common::{assert_one_line_error, free_port, stderr, RunEnv};

#[test]
fn exit_codes_follow_docker() {
    let env = RunEnv::new(10);
    let image = env.load_busybox();
    let code = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", &env.net, &image];
        all.extend_from_slice(args);
        env.try_rcrun(&all).status.code()
    };
    assert_eq!(code(&["true"]), Some(0));
    assert_eq!(code(&["sh", "-c", "exit 1"]), Some(1));
    assert_eq!(code(&["sh", "-c", "exit 42"]), Some(42));
    assert_eq!(code(&["/etc/passwd"]), Some(126), "not executable");
    assert_eq!(code(&["no-such-command"]), Some(127), "not in $PATH");
    assert_eq!(code(&["/no/such/file"]), Some(127), "no such file");
    let out = env.try_rcrun(&["run", "--rm", "--bogus-flag", &image]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    env.finish();
}

#[test]
fn foreground_run_forwards_sigterm_and_exits_with_the_containers_status() {
    let env = RunEnv::new(11);
    let image = env.load_busybox();
    let mut child = env
        .rcrun()
        .args([
            "run",
            "--rm",
            "--name",
            "fg",
            "--network",
            &env.net,
            &image,
            "sh",
            "-c",
            "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7), "the trap's exit status");

    // SIGKILL of the container: 137.
    let id = env.ok(&["run", "-d", "--network", &env.net, &image, "sleep", "60"]);
    env.ok(&["kill", &id]);
    assert_eq!(env.ok(&["wait", &id]), "137");
    env.finish();
}

#[test]
fn rm_flag_leaves_nothing_behind() {
    let env = RunEnv::new(12);
    let image = env.load_busybox();
    let port = free_port().to_string();
    let publish = format!("{port}:80");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &env.net,
        "-p",
        &publish,
        &image,
        "sh",
        "-c",
        "echo hello from rxc",
    ]);
    assert_eq!(out, "hello from rxc");
    let id = env.ok(&[
        "run",
        "-d",
        "--rm",
        "--network",
        &env.net,
        &image,
        "sleep",
        "0.2",
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !env.ok(&["ps", "-aq"]).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "", "{id} removed after exit");
    env.assert_clean(&[id]);
    env.finish();
}

#[test]
fn bad_input_is_one_clear_line_and_leaves_nothing() {
    let env = RunEnv::new(13);
    let image = env.load_busybox();
    let net = env.net.clone();

    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        &net,
        "rxc/no-such-image:1",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rxc/no-such-image"),
        "{}",
        stderr(&out)
    );

    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        &net,
        "-p",
        "80x:80",
        &image,
        "true",
    ]);
    assert_one_line_error(&out, 125, &["80x:80"]);

    let out = env.try_rcrun(&["run", "--rm", "--network", "rxc-nonet", &image, "true"]);
    assert_one_line_error(&out, 125, &["rxc-nonet", "not found"]);

    env.ok(&[
        "run",
        "-d",
        "--name",
        "taken",
        "--network",
        &net,
        &image,
        "sleep",
        "60",
    ]);
    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--name",
        "taken",
        "--network",
        &net,
        &image,
        "true",
    ]);
    assert_one_line_error(&out, 125, &["taken", "already in use"]);

    // A host port held by a host process.
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let publish = format!("{port}:80");
    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        &net,
        "-p",
        &publish,
        &image,
        "true",
    ]);
    assert_one_line_error(&out, 125, &[&port.to_string()]);
    drop(holder);

    // A host port another container publishes.
    let publish = format!("{}:80", free_port());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "pub",
        "--network",
        &net,
        "-p",
        &publish,
        &image,
        "sleep",
        "60",
    ]);
    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        &net,
        "-p",
        &publish,
        &image,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already published"),
        "{}",
        stderr(&out)
    );

    // Only the two sleepers exist; nothing else was left half-made.
    let ids = env.all_ids();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let sandboxes: Vec<String> = run_common::entries(&env.run_root().join("sandboxes"))
        .into_iter()
        .filter(|n| !n.starts_with('.') && !n.ends_with(".lock"))
        .collect();
    assert_eq!(sandboxes.len(), 2, "{sandboxes:?}");
    assert_eq!(
        run_common::entries(&env.run_root().join("netns")).len(),
        2,
        "netns mounts"
    );
    env.finish();
}

#[test]
fn version_completion_and_system_info_work() {
    let out = Command::new(bin("rcrun")).arg("version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("rcrun version"));
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin("rcrun"))
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("rcrun") && text.contains("run"), "{shell}");
    }
    let env = RunEnv::new(14);
    let info: serde_json::Value = serde_json::from_str(&env.ok(&["system", "info"])).unwrap();
    assert_eq!(info["Containers"], 0);
    assert_eq!(info["DataRoot"], env.data_root().display().to_string());
    env.finish();
}
