//! Bad input and refused operations: one-line errors naming the problem,
//! exit 1, and nothing left behind (state dir, cgroup, mounts); plus the
//! CVE-2019-5736 seal of the runtime binary.

mod oci_common;

use oci_common::{id, skip, Oci};
use rcrun_it::bundle::Bundle;
use serde_json::json;

/// `create` of `b` must fail with an error containing `needle` and leave nothing.
fn create_fails(oci: &Oci, b: &Bundle, needle: &str) {
    let cid = id();
    let err = oci.fails(&["create", "--bundle", &b.path().display().to_string(), &cid]);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    oci.assert_no_leftovers(&cid, b.path());
}

#[test]
fn invalid_json_names_the_file() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["true"]);
    std::fs::write(b.path().join("config.json"), "{\"ociVersion\": ").expect("write");
    create_fails(&oci, &b, "config.json");
}

#[test]
fn missing_rootfs_is_refused() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    create_fails(&oci, &b, "root.path");
}

#[test]
fn missing_bundle_is_refused() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let cid = id();
    let err = oci.fails(&["create", "--bundle", "/nonexistent/rtc-bundle", &cid]);
    assert!(err.contains("/nonexistent/rtc-bundle"), "{err}");
    assert!(!oci.root().join(&cid).exists());
}

#[test]
fn unknown_namespace_type_is_refused() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .push(json!({"type": "rtcbogus"}))
    });
    create_fails(&oci, &b, "rtcbogus");
}

#[test]
fn missing_namespace_path_is_refused() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "mount"}, {"type": "uts"},
            {"type": "network", "path": "/run/netns/rtc-does-not-exist"}
        ])
    });
    create_fails(&oci, &b, "/run/netns/rtc-does-not-exist");
}

#[test]
fn missing_program_is_refused_at_create() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["rtc-no-such-program"]);
    create_fails(&oci, &b, "rtc-no-such-program");
}

#[test]
fn duplicate_id_is_refused_and_the_first_survives() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let bundle = b.path().display().to_string();
    let cid = id();
    oci.ok(&["create", "--bundle", &bundle, &cid]);
    let err = oci.fails(&["create", "--bundle", &bundle, &cid]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(oci.status(&cid), "created");
    oci.ok(&["delete", "--force", &cid]);
    oci.assert_no_leftovers(&cid, b.path());
}

#[test]
fn start_twice_and_unknown_ids_are_refused() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sleep", "100"]);
    let cid = id();
    oci.ok(&[
        "run",
        "-d",
        "--bundle",
        &b.path().display().to_string(),
        &cid,
    ]);
    let err = oci.fails(&["start", &cid]);
    assert!(err.contains("running"), "{err}");
    let err = oci.fails(&["start", "rtc-unknown"]);
    assert!(err.contains("does not exist"), "{err}");
    let err = oci.fails(&["kill", "rtc-unknown", "KILL"]);
    assert!(err.contains("does not exist"), "{err}");
    let err = oci.fails(&["state", "../etc"]);
    assert!(err.contains("invalid container id"), "{err}");
}

#[test]
fn lowering_oom_score_adj_is_a_clear_error() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| c["process"]["oomScoreAdj"] = json!(-500));
    create_fails(&oci, &b, "process.oomScoreAdj");
}

#[test]
fn raising_oom_score_adj_works() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["cat", "/proc/self/oom_score_adj"]);
    b.edit(|c| c["process"]["oomScoreAdj"] = json!(321));
    assert_eq!(oci.run_stdout(&id(), b.path()), "321\n");
}

#[test]
fn rlimit_above_the_hard_limit_is_a_clear_error() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut host = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut host) };
    let mut b = Bundle::busybox(&["true"]);
    let over = host.rlim_max + 1000;
    b.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": over, "hard": over}])
    });
    create_fails(&oci, &b, "RLIMIT_NOFILE");
}

#[test]
fn bad_cwd_is_a_clear_error() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| c["process"]["cwd"] = json!("/rtc-no-such-dir"));
    create_fails(&oci, &b, "process.cwd");
}

#[test]
fn runtime_binary_in_the_container_is_read_only() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["true"]);
    let cid = id();
    oci.ok(&["create", "--bundle", &b.path().display().to_string(), &cid]);
    let pid = oci.state(&cid)["pid"].as_i64().expect("pid");
    // The waiting init runs the runtime binary. While it runs, writes get
    // ETXTBSY; what protects the host binary once it exits is that
    // /proc/PID/exe is on a read-only mount.
    let exe = std::ffi::CString::new(format!("/proc/{pid}/exe")).expect("path");
    // SAFETY: statvfs writes into a zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::statvfs(exe.as_ptr(), &mut st) }, 0);
    assert_ne!(
        st.f_flag & libc::ST_RDONLY,
        0,
        "the runtime binary's mount is writable"
    );
    assert!(std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/exe"))
        .is_err());
    oci.ok(&["delete", "--force", &cid]);
}

#[test]
fn systemd_cgroup_flag_is_refused() {
    let oci = Oci::new();
    let err = oci.fails(&["--systemd-cgroup", "list"]);
    assert!(err.contains("--systemd-cgroup"), "{err}");
}

#[test]
fn seccomp_profile_denies_the_listed_syscall() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let script = "kill -0 $$ 2>/dev/null && echo allowed || echo denied";
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let plain = Bundle::busybox(&["sh", "-c", script]);
    assert_eq!(oci.run_stdout(&id(), plain.path()), "allowed\n");
    // Loaded last (with no_new_privs) and early (without it).
    for nnp in [true, false] {
        let mut b = Bundle::busybox(&["sh", "-c", script]);
        let p = profile.clone();
        b.edit(|c| {
            c["linux"]["seccomp"] = p;
            c["process"]["noNewPrivileges"] = json!(nnp);
        });
        assert_eq!(
            oci.run_stdout(&id(), b.path()),
            "denied\n",
            "noNewPrivileges {nnp}"
        );
    }
}

#[test]
fn seccomp_notify_is_refused_at_create() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    create_fails(&oci, &b, "SCMP_ACT_NOTIFY");
}

#[test]
fn corrupt_state_is_skipped_by_list_and_removed_by_force_delete() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["true"]);
    let (good, bad) = (id(), id());
    oci.ok(&["create", "--bundle", &b.path().display().to_string(), &good]);
    std::fs::create_dir(oci.root().join(&bad)).expect("mkdir");
    std::fs::write(oci.root().join(&bad).join("state.json"), "{truncated").expect("write");
    let ids = oci.ok(&["list", "-q"]);
    assert_eq!(ids.trim(), good);
    let err = oci.fails(&["delete", &bad]);
    assert!(err.contains("state.json"), "{err}");
    oci.ok(&["delete", "--force", &bad]);
    assert!(!oci.root().join(&bad).exists());
    oci.ok(&["delete", &good]);
    oci.assert_no_leftovers(&good, b.path());
}
