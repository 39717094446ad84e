//! Helpers of the `oci_exec*`, `oci_tty*`, `oci_pause*`, `oci_update*` and
//! `oci_events*` tests: a detached busybox container that lives as long as
//! the guard, ids with this area's prefix, descriptor passing and ptys.
#![allow(dead_code)]

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rcrun_it::bundle::Bundle;

use crate::oci_common::Oci;

/// A unique container id for these tests.
pub fn id() -> String {
    rcrun_it::unique::name("rxa")
}

/// A running container (`run -d`) in its own state root; force-deleted
/// (with its bundle) on drop through [`Oci`]'s guard.
pub struct Running {
    /// The isolated rcrun-oci (drop deletes its containers).
    pub oci: Oci,
    /// The bundle.
    pub bundle: Bundle,
    /// The container id.
    pub id: String,
    /// Host pid of the init.
    pub pid: i32,
}

impl Running {
    /// `run -d` a busybox container running `args`, after `edit` of its config.
    pub fn start(args: &[&str], edit: impl FnOnce(&mut serde_json::Value)) -> Self {
        let oci = Oci::new();
        let mut bundle = Bundle::busybox(args);
        // Reachable by a user-namespaced root too.
        crate::oci_common::chmod_755(bundle.path());
        bundle.edit(edit);
        let id = id();
        oci.ok(&[
            "run",
            "-d",
            "--bundle",
            &bundle.path().display().to_string(),
            &id,
        ]);
        let pid = oci.state(&id)["pid"].as_i64().expect("init pid") as i32;
        Running {
            oci,
            bundle,
            id,
            pid,
        }
    }

    /// A container whose init sleeps.
    pub fn sleeper() -> Self {
        Self::start(&["sleep", "1000"], |_| {})
    }

    /// `rcrun-oci exec <id> <args...>` output (stdout/stderr via files).
    pub fn exec(&self, flags: &[&str], args: &[&str]) -> std::process::Output {
        let mut all = vec!["exec"];
        all.extend_from_slice(flags);
        all.push(&self.id);
        all.extend_from_slice(args);
        self.oci.out(&all)
    }

    /// `exec` that must succeed; returns stdout.
    pub fn exec_ok(&self, flags: &[&str], args: &[&str]) -> String {
        let out = self.exec(flags, args);
        assert!(
            out.status.success(),
            "exec {flags:?} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container's cgroup directory in the v1 hierarchy `controller`
    /// (or the cgroup2 one when there is no such hierarchy).
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        cgroup_dir_of(self.pid, controller)
    }
}

/// The cgroup directory of `pid` for `controller`: its v1 hierarchy's, or
/// its cgroup2 directory.
pub fn cgroup_dir_of(pid: i32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("/proc/PID/cgroup");
    let mut unified = None;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == controller) {
            return PathBuf::from("/sys/fs/cgroup")
                .join(ctrls)
                .join(path.trim_start_matches('/'));
        }
        if ctrls.is_empty() {
            unified = Some(path.to_string());
        }
    }
    let path = unified.expect("no cgroup for the controller");
    let base = if std::path::Path::new("/sys/fs/cgroup/unified").exists() {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    PathBuf::from(base).join(path.trim_start_matches('/'))
}

/// Make `file` descriptor `fd` (inheritable) in the spawned command.
pub fn inherit_as(cmd: &mut std::process::Command, file: &std::fs::File, fd: i32) {
    use std::os::unix::process::CommandExt;
    let src = file.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe; they only touch descriptors.
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

/// A pty pair the test owns: (master, slave).
pub fn openpty(rows: u16, cols: u16) -> (std::fs::File, std::fs::File) {
    let (mut m, mut s) = (-1, -1);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors; name and termios may be null.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two fresh descriptors we now own.
    unsafe {
        (
            std::fs::File::from(OwnedFd::from_raw_fd(m)),
            std::fs::File::from(OwnedFd::from_raw_fd(s)),
        )
    }
}

/// Read `f` (a pty master or socket) until `want` shows up in what was read,
/// or `timeout`; returns everything read. A read error (EIO when the pty's
/// other side is closed) ends the wait.
pub fn read_until(f: &mut std::fs::File, want: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if r <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
