//! `rcrun-oci exec`: the new process joins the container's namespaces and
//! cgroup with the container's capabilities; exit codes, detach and pid
//! files, `--process`, env/cwd/user overrides, preserved descriptors, and
//! refusals for stopped and paused containers.

mod oci_common;
mod oci_exec_util;

use oci_common::skip;
use oci_exec_util::{inherit_as, Running};
use serde_json::json;

const NS: [&str; 6] = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];

fn cap_eff(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no CapEff in {status}"))
}

#[test]
fn exec_joins_the_init_namespaces_and_gets_its_capabilities() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let script: String = NS
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}; "))
        .chain(std::iter::once("grep CapEff /proc/self/status".to_string()))
        .collect();
    let out = c.exec_ok(&[], &["sh", "-c", &script]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), NS.len() + 1, "{out}");
    for (k, got) in NS.iter().zip(&lines) {
        let init = std::fs::read_link(format!("/proc/{}/ns/{k}", c.pid)).expect("init ns");
        let host = std::fs::read_link(format!("/proc/self/ns/{k}")).expect("host ns");
        assert_eq!(*got, init.display().to_string(), "{k} namespace");
        assert_ne!(*got, host.display().to_string(), "{k} is the host's");
    }
    let init_status = std::fs::read_to_string(format!("/proc/{}/status", c.pid)).expect("status");
    assert_eq!(cap_eff(lines[NS.len()]), cap_eff(&init_status));
    // The runtime's own (full) capabilities must not leak.
    assert_ne!(cap_eff(&init_status), "000001ffffffffff");
}

#[test]
fn exec_exit_codes_are_propagated() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    for (script, code) in [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137)] {
        let out = c.exec(&[], &["sh", "-c", script]);
        assert_eq!(out.status.code(), Some(code), "{script}: {out:?}");
    }
}

#[test]
fn exec_detached_writes_the_pid_file_and_joins_the_cgroup() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let dir = tempfile::tempdir().expect("tempdir");
    let pf = dir.path().join("exec.pid");
    let start = std::time::Instant::now();
    c.exec_ok(
        &["-d", "--pid-file", &pf.display().to_string()],
        &["sleep", "300"],
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    let pid: i32 = std::fs::read_to_string(&pf)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert_eq!(cmdline, b"sleep\x00300\x00");
    let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).expect("ns");
    assert_eq!(ns(pid), ns(c.pid));
    let listed: Vec<i32> =
        serde_json::from_str(&c.oci.ok(&["ps", "-f", "json", &c.id])).expect("ps json");
    assert!(
        listed.contains(&pid) && listed.contains(&c.pid),
        "{listed:?}"
    );
    // Same cgroup as the init in every hierarchy.
    let cg = |p: i32| std::fs::read_to_string(format!("/proc/{p}/cgroup")).expect("cgroup");
    assert_eq!(cg(pid), cg(c.pid));
}

#[test]
fn exec_with_a_process_json() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("process.json");
    // No capabilities or rlimits: those come from the container.
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "echo $RXA_X; pwd; grep CapEff /proc/self/status; exit 5"],
        "env": ["PATH=/bin", "RXA_X=from-json"],
        "cwd": "/tmp"
    });
    std::fs::write(&p, process.to_string()).expect("write process.json");
    let out = c.exec(&["--process", &p.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..2], &["from-json", "/tmp"], "{text}");
    let init_status = std::fs::read_to_string(format!("/proc/{}/status", c.pid)).expect("status");
    assert_eq!(cap_eff(lines[2]), cap_eff(&init_status));
}

#[test]
fn exec_env_cwd_user_and_groups_override_the_config() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let out = c.exec_ok(
        &[
            "-e",
            "RXA_A=1",
            "--env",
            "RXA_B=two",
            "--cwd",
            "/tmp",
            "-u",
            "65534:65534",
            "--additional-gids",
            "10",
        ],
        &[
            "sh",
            "-c",
            "echo $RXA_A $RXA_B $TERM; pwd; id -u; id -g; id -G",
        ],
    );
    assert_eq!(out, "1 two xterm\n/tmp\n65534\n65534\n65534 10\n");
}

#[test]
fn exec_cap_and_no_new_privs_flags() {
    if skip() {
        return;
    }
    let c = Running::start(&["sleep", "1000"], |cfg| {
        cfg["process"]["noNewPrivileges"] = json!(false);
    });
    let st = c.exec_ok(&[], &["cat", "/proc/self/status"]);
    assert!(st.contains("NoNewPrivs:\t0"), "{st}");
    let st = c.exec_ok(
        &["--no-new-privs", "--cap", "CAP_NET_ADMIN"],
        &["cat", "/proc/self/status"],
    );
    assert!(st.contains("NoNewPrivs:\t1"), "{st}");
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_AUDIT_WRITE (29).
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 12) | (1 << 29));
    assert_eq!(cap_eff(&st), want);
}

#[test]
fn exec_preserves_only_the_fds_asked_for() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fd3");
    let f = std::fs::File::create(&path).expect("create");
    let mut cmd = c.oci.cmd(&[
        "exec",
        "--preserve-fds",
        "1",
        &c.id,
        "sh",
        "-c",
        "echo through-fd3 >&3; ls /proc/self/fd",
    ]);
    inherit_as(&mut cmd, &f, 3);
    let out = oci_common::output_via_files(&mut cmd);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "through-fd3\n"
    );
    // 0, 1, 2, 3 and the fd ls itself opens for /proc/self/fd.
    let fds: Vec<i32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(fds, vec![0, 1, 2, 3, 4], "unexpected descriptors");
}

#[test]
fn exec_into_a_stopped_container_fails_with_one_line() {
    if skip() {
        return;
    }
    let c = Running::start(&["true"], |_| {});
    c.oci.wait_status(&c.id, "stopped");
    let err = c.oci.fails(&["exec", &c.id, "true"]);
    assert!(err.contains("stopped"), "{err}");
    let err = c.oci.fails(&["exec", "rxa-no-such-container", "true"]);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn exec_of_a_missing_program_fails_with_one_line() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let err = c.oci.fails(&["exec", &c.id, "rxa-no-such-program"]);
    assert!(err.contains("not found in $PATH"), "{err}");
    // Nothing of the failed exec is left in the container.
    let listed: Vec<i32> =
        serde_json::from_str(&c.oci.ok(&["ps", "-f", "json", &c.id])).expect("ps json");
    assert_eq!(listed, vec![c.pid]);
}

#[test]
fn exec_joins_a_user_namespace_container() {
    if skip() {
        return;
    }
    let c = Running::start(&["sleep", "1000"], userns);
    let out = c.exec_ok(
        &[],
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    let init = std::fs::read_link(format!("/proc/{}/ns/user", c.pid)).expect("init userns");
    assert_eq!(lines[0], init.display().to_string());
    assert_eq!(lines[1], "0");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
}

/// Config edit: a user namespace mapping root to 100000.
fn userns(cfg: &mut serde_json::Value) {
    let ns = cfg["linux"]["namespaces"].as_array_mut().expect("ns");
    ns.push(json!({"type": "user"}));
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
}

#[test]
fn exec_without_cap_sys_admin_forks_into_the_pid_namespace() {
    if skip() {
        return;
    }
    // Without CAP_SYS_ADMIN in the host user namespace the runtime may not
    // enter the pid namespace itself; it joins the container's user
    // namespace in the child and forks once more there (and its binary
    // seal falls back to a sealed memfd).
    let c = Running::start(&["sleep", "1000"], userns);
    let run = |script: &str| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--bounding-set", "-sys_admin"])
            .arg(rcrun_it::bins::bin("rcrun-oci"))
            .arg("--root")
            .arg(c.oci.root())
            .args(["exec", &c.id, "sh", "-c", script]);
        oci_common::output_via_files(&mut cmd)
    };
    let out = run("readlink /proc/self/ns/pid; echo $$");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let init = std::fs::read_link(format!("/proc/{}/ns/pid", c.pid)).expect("init pidns");
    assert_eq!(lines[0], init.display().to_string());
    assert_ne!(lines[1], "1");
    assert_eq!(run("exit 3").status.code(), Some(3));
}

#[test]
fn exec_gets_the_containers_seccomp_and_rlimits() {
    if skip() {
        return;
    }
    let c = Running::start(&["sleep", "1000"], |cfg| {
        cfg["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 122}]
        });
        cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
    });
    let out = c.exec(
        &[],
        &["sh", "-c", "ulimit -n; ulimit -Hn; mkdir /dev/shm/rxa"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "256\n512\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // EDQUOT (122), the profile's errno: not what mkdir on a tmpfs says.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("quota"), "{err}");
}

#[test]
fn exec_with_an_unwritable_pid_file_leaves_no_process() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let err = c.oci.fails(&[
        "exec",
        "-d",
        "--pid-file",
        "/nonexistent-rxa-dir/exec.pid",
        &c.id,
        "sleep",
        "300",
    ]);
    assert!(err.contains("/nonexistent-rxa-dir"), "{err}");
    let listed: Vec<i32> =
        serde_json::from_str(&c.oci.ok(&["ps", "-f", "json", &c.id])).expect("ps json");
    assert_eq!(listed, vec![c.pid]);
}
