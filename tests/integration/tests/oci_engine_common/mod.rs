//! Shared pieces of the `engine_*` tests (real engines driving
//! `rcrun-oci`): a tool check that fails with the install hint, an
//! interactive session over a pty, and unmounting what an engine left
//! under a test's directory.
#![allow(dead_code)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of `tool` on PATH; panics (no silent skip) with the install hint.
pub fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{tool} is not installed: run scripts/install-deps.sh (as root) first")
        })
}

/// The built `rcrun-oci`, absolute (engines exec it from other dirs).
pub fn rcrun_oci() -> PathBuf {
    let p = rcrun_it::bins::bin("rcrun-oci");
    std::fs::canonicalize(&p).unwrap_or(p)
}

/// A process whose stdin and stdout we drive, e.g. an engine run with
/// `-it` under `script`, which gives it a pty. Output is collected by a
/// thread so that [`Session::wait_for`] can poll it.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    /// Run `command_line` (for `sh -c`) on a new pty through
    /// util-linux `script -qfec`; its exit code is the command's.
    pub fn on_pty(command_line: &str) -> Self {
        let script = require("script");
        let mut child = Command::new(script)
            .args(["-qfec", command_line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn script for {command_line:?}: {e}"));
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped stdout");
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        Session { child, stdin, out }
    }

    /// Everything read so far, lossily as text.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("output lock")).into_owned()
    }

    /// Wait until the output contains `needle` (panics after `timeout`).
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear within {timeout:?}; output so far:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Type `text` (as if on the terminal).
    pub fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).expect("write to session");
        stdin.flush().expect("flush session");
    }

    /// Wait (up to `timeout`) for the process to exit; its exit code.
    pub fn wait(mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait for session") {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "session did not exit within {timeout:?}; output:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Wait (up to `timeout`) until no process has `dir` in its command line:
/// an engine's helpers that outlive its commands (conmon and the
/// `podman container cleanup` it runs on exit, containerd shims) name the
/// test's directories in their arguments, and may mount there until they
/// are gone. Returns whether none is left.
pub fn wait_for_helpers(dir: &Path, timeout: Duration) -> bool {
    let needle = dir.as_os_str().as_encoded_bytes();
    let deadline = Instant::now() + timeout;
    loop {
        let busy = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|cmd| cmd.windows(needle.len()).any(|w| w == needle));
        if !busy {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Detach every mount at or below `dir` (deepest first): what an engine
/// killed half-way may leave (overlay rootfs, shm, netns bind mounts).
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = CString::new(p) {
            // SAFETY: `c` is a valid NUL-terminated path; umount2 only reads it.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Write a tarball of a busybox rootfs (busybox-static and its applet
/// links) to `path`: what `podman import` and image layouts take.
pub fn busybox_rootfs_tar(path: &Path) {
    std::fs::write(path, rcrun_it::images::busybox_layer()).expect("write busybox rootfs tar");
}

/// Wait until `cond` holds (panics with `what` after `timeout`).
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
