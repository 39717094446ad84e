//! What the container's process sees, checked from inside with busybox and
//! /proc: namespaces, joined netns, hostname, capabilities, no_new_privs,
//! rlimits, uid/gid/groups, user namespace maps, descriptors.

mod oci_common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;

use oci_common::{chmod_755, id, skip, Oci};
use rcrun_it::bundle::Bundle;
use rcrun_it::netns::NetnsGuard;
use serde_json::json;

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{key} missing in:\n{status}"))
}

#[test]
fn namespaces_differ_from_the_hosts() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];
    let script: String = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}; "))
        .collect();
    let b = Bundle::busybox(&["sh", "-c", &script]);
    let out = oci.run_stdout(&id(), b.path());
    let inside: Vec<&str> = out.lines().collect();
    assert_eq!(inside.len(), kinds.len(), "{out}");
    for (k, ns) in kinds.iter().zip(inside) {
        let host = std::fs::read_link(format!("/proc/self/ns/{k}")).expect("host ns");
        assert!(ns.starts_with(&format!("{k}:[")), "{ns}");
        assert_ne!(
            ns,
            host.display().to_string(),
            "{k} namespace is the host's"
        );
    }
}

#[test]
fn init_is_pid_1_of_its_pid_namespace() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sh", "-c", "echo $$"]);
    assert_eq!(oci.run_stdout(&id(), b.path()), "1\n");
}

#[test]
fn joined_netns_is_the_one_given() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let ns = NetnsGuard::new(&rcrun_it::unique::name("rtc"));
    let inode = std::fs::metadata(ns.path()).expect("netns file").ino();
    let mut b = Bundle::busybox(&["readlink", "/proc/self/ns/net"]);
    let path = ns.path().display().to_string();
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "network", "path": path}, {"type": "ipc"},
            {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
        ]);
    });
    assert_eq!(oci.run_stdout(&id(), b.path()), format!("net:[{inode}]\n"));
}

#[test]
fn joined_pid_namespace_is_entered_with_a_fork() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let host = Bundle::busybox(&["sleep", "100"]);
    let hid = id();
    oci.ok(&[
        "run",
        "-d",
        "--bundle",
        &host.path().display().to_string(),
        &hid,
    ]);
    let hpid = oci.state(&hid)["pid"].as_i64().expect("pid");
    let want = std::fs::read_link(format!("/proc/{hpid}/ns/pid")).expect("ns");
    let mut b = Bundle::busybox(&["readlink", "/proc/self/ns/pid"]);
    let path = format!("/proc/{hpid}/ns/pid");
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "pid", "path": path}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
        ]);
    });
    assert_eq!(
        oci.run_stdout(&id(), b.path()),
        format!("{}\n", want.display())
    );
}

#[test]
fn hostname_and_domainname_are_set() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"]);
    b.edit(|c| {
        c["hostname"] = json!("rtc-box");
        c["domainname"] = json!("rtc.example");
    });
    assert_eq!(oci.run_stdout(&id(), b.path()), "rtc-box\nrtc.example\n");
}

#[test]
fn capabilities_and_no_new_privs_match_the_spec() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["cat", "/proc/self/status"]);
    let st = oci.run_stdout(&id(), b.path());
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    for k in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&st, k), want, "{k}");
    }
    // runc's default lists ambient caps without inheritable ones: the kernel
    // refuses those, so they are skipped (as runc does).
    assert_eq!(status_field(&st, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&st, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&st, "NoNewPrivs"), "1");
}

#[test]
fn omitted_capability_sets_are_empty() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["cat", "/proc/self/status"]);
    b.edit(|c| {
        c["process"]["capabilities"] =
            json!({"effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]});
        c["process"]["noNewPrivileges"] = json!(false);
    });
    let st = oci.run_stdout(&id(), b.path());
    assert_eq!(status_field(&st, "CapBnd"), "0000000000000000");
    // Root's capabilities after exec are capped by the (empty) bounding set.
    assert_eq!(status_field(&st, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&st, "CapPrm"), "0000000000000000");
    assert_eq!(status_field(&st, "NoNewPrivs"), "0");
}

#[test]
fn rlimits_are_applied() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["sh", "-c", "ulimit -n; ulimit -Hn"]);
    b.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048}]);
    });
    assert_eq!(oci.run_stdout(&id(), b.path()), "512\n2048\n");
}

#[test]
fn user_group_ids_and_umask_are_applied() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["sh", "-c", "cat /proc/self/status; umask"]);
    b.edit(|c| {
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 63});
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        c["process"]["capabilities"]["inheritable"] = caps;
    });
    let out = oci.run_stdout(&id(), b.path());
    assert_eq!(status_field(&out, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(&out, "Gid"), "1001\t1001\t1001\t1001");
    assert_eq!(status_field(&out, "Groups"), "10 20");
    // Non-root keeps its capabilities through exec as ambient ones.
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    assert_eq!(status_field(&out, "CapAmb"), want);
    assert_eq!(status_field(&out, "CapEff"), want);
    assert!(out.trim_end().ends_with("0077"), "{out}");
}

#[test]
fn user_namespace_maps_ids() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
    ]);
    // The container root is host uid 100000: it must be able to reach its rootfs.
    chmod_755(b.path());
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("ns");
        ns.push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let out = oci.run_stdout(&id(), b.path());
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"]);
    assert_eq!(lines[1], ["0"]);
    assert_eq!(lines[2], ["0", "100000", "65536"]);
    assert_eq!(lines[3], ["0", "200000", "65536"]);
}

#[test]
fn descriptors_of_the_runtime_do_not_reach_the_container() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["ls", "/proc/self/fd"]);
    let leak = std::fs::File::open("/").expect("open /");
    let mut cmd = oci.cmd(&["run", "--bundle", &b.path().display().to_string(), &id()]);
    inherit_as(&mut cmd, &leak, 9);
    let out = oci_common::output_via_files(&mut cmd);
    assert!(out.status.success(), "{out:?}");
    let fds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        !fds.contains(&"9".to_string()),
        "leaked fd 9 visible: {fds:?}"
    );
    // 0-2 plus the directory fd `ls` opens itself.
    assert!(fds.len() <= 4, "unexpected fds: {fds:?}");
}

#[test]
fn preserved_descriptors_do_reach_the_container() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["sh", "-c", "echo through-fd3 >&3"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = std::fs::File::create(dir.path().join("out")).expect("create");
    let mut cmd = oci.cmd(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        &b.path().display().to_string(),
        &id(),
    ]);
    inherit_as(&mut cmd, &file, 3);
    let out = oci_common::output_via_files(&mut cmd);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).expect("read"),
        "through-fd3\n"
    );
}

/// Make `file` descriptor `fd` (inheritable) in the spawned command.
fn inherit_as(cmd: &mut std::process::Command, file: &std::fs::File, fd: i32) {
    use std::os::fd::AsRawFd;
    let src = file.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; it only touches descriptors.
    unsafe {
        cmd.pre_exec(move || {
            if src != fd && libc::dup2(src, fd) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn cwd_through_a_leaked_descriptor_is_refused() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let leak = std::fs::File::open("/").expect("open /");
    // Try the leaked host fd and every low fd the runtime itself may hold.
    for n in 3..16 {
        let mut b = Bundle::busybox(&["ls", "/"]);
        b.edit(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}")));
        let cid = id();
        let mut cmd = oci.cmd(&["run", "--bundle", &b.path().display().to_string(), &cid]);
        inherit_as(&mut cmd, &leak, 7);
        let out = oci_common::output_via_files(&mut cmd);
        assert_eq!(
            out.status.code(),
            Some(1),
            "cwd /proc/self/fd/{n} was accepted: {out:?}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("process.cwd"), "fd {n}: {err}");
        oci.assert_no_leftovers(&cid, b.path());
    }
}

#[test]
fn terminal_master_goes_to_the_console_socket() {
    if skip() {
        return;
    }
    use std::io::Read;
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["sh", "-c", "tty; echo rtc-hello"]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 40, "width": 100});
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let receiver = std::thread::spawn(move || {
        let (s, _) = listener.accept().expect("accept");
        rcrun_it::fdpass::recv_fd(&s)
    });
    let cid = id();
    let bundle = b.path().display().to_string();
    let sock_s = sock.display().to_string();
    oci.ok(&[
        "create",
        "--bundle",
        &bundle,
        "--console-socket",
        &sock_s,
        &cid,
    ]);
    let mut master = receiver.join().expect("receiver");
    oci.ok(&["start", &cid]);
    let mut out = Vec::new();
    // Reading the master ends with EIO once the container closes the slave.
    let _ = master.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("rtc-hello"), "{text:?}");
    // Without a console socket a terminal is refused.
    let err = oci.fails(&["create", "--bundle", &bundle, &id()]);
    assert!(err.contains("--console-socket"), "{err}");
}
