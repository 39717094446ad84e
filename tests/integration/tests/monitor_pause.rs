//! `rcrun-pause`: the sandbox's pause process joins the given network
//! namespace, owns new uts/ipc/mnt (and pid) namespaces, has no
//! capabilities, keeps only the descriptors it is given, exits on SIGTERM.

mod monitor_common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command};

use monitor_common::{pass_fd, pipe, read_to_eof, skip, status_field};
use rcrun_it::bins::bin;
use rcrun_it::netns::NetnsGuard;

/// A running pause process, SIGKILLed on drop if still there.
struct Pause {
    child: Child,
    ready: String,
}

impl Pause {
    fn start(netns: &std::path::Path, extra: &[&str], keep: &[i32]) -> Self {
        let (r, w) = pipe();
        let mut cmd = Command::new(bin("rcrun-pause"));
        cmd.arg("--netns")
            .arg(netns)
            .arg("--ready-fd")
            .arg(w.as_raw_fd().to_string())
            .args(extra);
        pass_fd(&mut cmd, w.as_raw_fd());
        for &fd in keep {
            pass_fd(&mut cmd, fd);
        }
        let child = cmd.spawn().expect("spawn rcrun-pause");
        drop(w);
        Pause {
            child,
            ready: read_to_eof(r),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn term(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill with our child's pid and a valid signal.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        self.child.wait().expect("wait rcrun-pause")
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Process `pid` sees one mount: an empty read-only root.
fn assert_empty_read_only_root(pid: &str) {
    let root: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/root"))
        .expect("read its root")
        .collect();
    assert!(root.is_empty(), "the pause root should be empty: {root:?}");
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    assert_eq!(mounts.lines().count(), 1, "only the empty root: {mounts}");
    assert!(mounts.contains(" / / ro,"), "read-only root: {mounts}");
}

#[test]
fn pause_joins_the_netns_owns_new_namespaces_and_has_no_capabilities() {
    if skip() {
        return;
    }
    let net = NetnsGuard::new(&rcrun_it::unique::name("rxd"));
    let mut p = Pause::start(&net.path(), &["--hostname", "rxd-sandbox"], &[]);
    assert_eq!(p.ready, "ok\n");
    let pid = p.pid().to_string();
    let net_ino = std::fs::metadata(net.path()).expect("stat netns").ino();
    assert_eq!(ns_link(&pid, "net"), format!("net:[{net_ino}]"));
    for ns in ["uts", "ipc", "mnt"] {
        assert_ne!(
            ns_link(&pid, ns),
            ns_link("self", ns),
            "{ns} namespace should be new"
        );
    }
    assert_eq!(ns_link(&pid, "pid"), ns_link("self", "pid"));
    for cap in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(p.pid(), cap), "0000000000000000", "{cap}");
    }
    assert_eq!(status_field(p.pid(), "NoNewPrivs"), "1");
    let host = Command::new("nsenter")
        .args(["-t", &pid, "-u", "hostname"])
        .output()
        .expect("nsenter hostname");
    assert_eq!(String::from_utf8_lossy(&host.stdout).trim(), "rxd-sandbox");
    assert_empty_read_only_root(&pid);
    assert_eq!(p.term().code(), Some(0));
}

/// Unmounts and removes a bind-mounted mount namespace file on drop.
struct NsMount(std::path::PathBuf);

impl Drop for NsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn pause_joins_a_published_mount_namespace_and_makes_its_own_without_one() {
    if skip() {
        return;
    }
    let net = NetnsGuard::new(&rcrun_it::unique::name("rxd"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = NsMount(dir.path().join("pause-mntns"));
    // Nothing published (missing, then a plain file): its own empty root.
    let mntns = file.0.display().to_string();
    let mut first = Pause::start(&net.path(), &["--mntns", &mntns], &[]);
    assert_eq!(first.ready, "ok\n");
    std::fs::write(&file.0, b"").expect("plain file");
    let mut second = Pause::start(&net.path(), &["--mntns", &mntns], &[]);
    assert_eq!(second.ready, "ok\n");
    let (p1, p2) = (first.pid().to_string(), second.pid().to_string());
    assert_ne!(ns_link(&p1, "mnt"), ns_link(&p2, "mnt"));
    assert_ne!(ns_link(&p1, "mnt"), ns_link("self", "mnt"));
    // Publish the first one's namespace, as the engine does: a third pause
    // process joins it, with the same empty read-only root and no mounts of
    // its own.
    let out = Command::new("mount")
        .arg("--bind")
        .arg(format!("/proc/{p1}/ns/mnt"))
        .arg(&file.0)
        .output()
        .expect("mount --bind");
    assert!(out.status.success(), "{out:?}");
    let mut third = Pause::start(&net.path(), &["--mntns", &mntns], &[]);
    assert_eq!(third.ready, "ok\n");
    let p3 = third.pid().to_string();
    assert_eq!(ns_link(&p3, "mnt"), ns_link(&p1, "mnt"));
    for ns in ["uts", "ipc"] {
        assert_ne!(ns_link(&p3, ns), ns_link(&p1, ns), "{ns} stays its own");
    }
    assert_empty_read_only_root(&p3);
    for cap in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(third.pid(), cap), "0000000000000000", "{cap}");
    }
    for p in [&mut first, &mut second, &mut third] {
        assert_eq!(p.term().code(), Some(0));
    }
}

#[test]
fn pause_keeps_only_the_given_descriptors() {
    if skip() {
        return;
    }
    let net = NetnsGuard::new(&rcrun_it::unique::name("rxd"));
    let kept = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let stray = std::fs::File::open("/etc/hostname").expect("open a stray file");
    let keep = kept.as_raw_fd();
    let mut p = Pause::start(
        &net.path(),
        &["--keep-fd", &keep.to_string()],
        &[keep, stray.as_raw_fd()],
    );
    assert_eq!(p.ready, "ok\n");
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{}/fd", p.pid()))
        .expect("list fds")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    fds.sort_unstable();
    assert_eq!(fds, vec![0, 1, 2, keep], "only stdio and the kept socket");
    let target = std::fs::read_link(format!("/proc/{}/fd/{keep}", p.pid())).expect("readlink");
    assert!(
        target.display().to_string().starts_with("socket:"),
        "{target:?}"
    );
    assert_eq!(p.term().code(), Some(0));
}

#[test]
fn pause_with_new_pid_runs_pid_1_of_its_namespace() {
    if skip() {
        return;
    }
    let net = NetnsGuard::new(&rcrun_it::unique::name("rxd"));
    let mut p = Pause::start(&net.path(), &["--new-pid"], &[]);
    assert_eq!(p.ready, "ok\n");
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", p.pid())).expect("children");
    let init: i32 = children.trim().parse().expect("exactly one child");
    let nspid = status_field(init, "NSpid");
    assert!(nspid.ends_with("\t1"), "pid 1 in its namespace: {nspid:?}");
    assert_eq!(
        ns_link(&p.pid().to_string(), "pid_for_children"),
        ns_link(&init.to_string(), "pid")
    );
    assert_eq!(status_field(init, "CapEff"), "0000000000000000");
    assert_eq!(p.term().code(), Some(0));
    monitor_common::wait_gone(init);
}

#[test]
fn pause_reports_a_missing_netns_on_the_ready_fd() {
    if skip() {
        return;
    }
    let mut p = Pause::start(
        std::path::Path::new("/run/netns/rxd-does-not-exist"),
        &[],
        &[],
    );
    assert!(
        p.ready
            .starts_with("error: open netns /run/netns/rxd-does-not-exist"),
        "{:?}",
        p.ready
    );
    assert_eq!(p.child.wait().expect("wait").code(), Some(1));
}

#[test]
fn pause_reports_a_bad_command_line_on_the_ready_fd() {
    if skip() {
        return;
    }
    let mut p = Pause::start(
        std::path::Path::new("/run/netns/rxd-unused"),
        &["--bogus"],
        &[],
    );
    assert_eq!(p.ready, "error: unknown option --bogus\n");
    assert_eq!(p.child.wait().expect("wait").code(), Some(1));
}
