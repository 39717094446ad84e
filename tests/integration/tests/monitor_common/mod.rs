//! Shared helpers of the `monitor_*` tests: run `rcrun-monitor` on a busybox
//! bundle with the real `rcrun-oci`, read its ready line, start the
//! container, wait for the exit record. Everything is removed on drop.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcrun_it::bins::{bin, run};
use rcrun_it::bundle::Bundle;
use serde_json::Value;

/// Skip (return true) when not root.
pub fn skip() -> bool {
    if !rcrun_it::bins::is_root() {
        eprintln!("skipping: needs root");
        return true;
    }
    false
}

/// A pipe `(read, write)`, both ends close-on-exec in this process.
pub fn pipe() -> (File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds points to two writable c_ints.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Let `fd` survive the exec of `cmd` (only in the child).
pub fn pass_fd(cmd: &mut Command, fd: i32) {
    // SAFETY: the closure only calls fcntl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Read one line from `r` (the ready protocol), failing after 20 s.
pub fn read_line(r: File) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(r).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("no ready line within 20 s")
}

/// Read `r` to EOF (the writer reported and closed its end), failing after 20 s.
pub fn read_to_eof(mut r: File) -> String {
    use std::io::Read;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = r.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("ready fd not closed within 20 s")
}

/// A container under `rcrun-monitor` with its own runtime root.
pub struct Monitored {
    /// Container id.
    pub id: String,
    /// The bundle (kept alive while the container runs).
    pub bundle: Bundle,
    root: tempfile::TempDir,
    dir: tempfile::TempDir,
    /// Extra monitor arguments.
    pub extra: Vec<String>,
    /// A nested container directory (see [`Monitored::use_long_dir`]).
    long: Option<PathBuf>,
}

impl Monitored {
    /// A monitored busybox container running `args` (not started yet).
    pub fn new(args: &[&str]) -> Self {
        Monitored {
            id: rcrun_it::unique::name("rxdm"),
            bundle: Bundle::busybox(args),
            root: tempfile::Builder::new()
                .prefix("rxd-root-")
                .tempdir()
                .expect("root tempdir"),
            dir: tempfile::Builder::new()
                .prefix("rxd-ctr-")
                .tempdir()
                .expect("container tempdir"),
            extra: Vec::new(),
            long: None,
        }
    }

    /// Use a container directory whose socket paths are longer than a
    /// `sockaddr_un` holds (as under a deep `--root`).
    pub fn use_long_dir(&mut self) {
        let d = self.dir.path().join("l".repeat(100));
        std::fs::create_dir_all(&d).expect("create long container dir");
        self.long = Some(d);
    }

    /// The container directory (`pid`, `exit`, `attach.sock`, ...).
    pub fn dir(&self) -> &Path {
        self.long.as_deref().unwrap_or(self.dir.path())
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("ctr.log")
    }

    /// `rcrun-oci --root ROOT <args>`.
    pub fn oci(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("rcrun-oci"));
        c.arg("--root").arg(self.root.path()).args(args);
        c
    }

    /// Run the monitor; returns (ready line, exit status of the started process).
    pub fn launch(&self) -> (String, std::process::ExitStatus) {
        let (r, w) = pipe();
        let mut cmd = Command::new(bin("rcrun-monitor"));
        cmd.arg("--id")
            .arg(&self.id)
            .arg("--runtime")
            .arg(bin("rcrun-oci"))
            .args(["--runtime-arg", "--root", "--runtime-arg"])
            .arg(self.root.path())
            .arg("--bundle")
            .arg(self.bundle.path())
            .arg("--container-dir")
            .arg(self.dir())
            .arg("--log-path")
            .arg(self.log_path())
            .arg("--ready-fd")
            .arg(w.as_raw_fd().to_string())
            .args(&self.extra);
        pass_fd(&mut cmd, w.as_raw_fd());
        let status = cmd.status().expect("spawn rcrun-monitor");
        drop(w);
        (read_line(r), status)
    }

    /// Launch, expect `{"pid":N}`, start the container; returns the pid.
    pub fn launch_and_start(&self) -> i32 {
        let (line, status) = self.launch();
        assert!(status.success(), "rcrun-monitor exited {status}");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        let pid = v["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in {line:?}")) as i32;
        let out = run(&mut self.oci(&["start", &self.id]));
        assert!(
            out.status.success(),
            "start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pid
    }

    /// Wait (up to 20 s) for the exit record and return it.
    pub fn wait_exit(&self) -> Value {
        let p = self.dir().join("exit");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !p.exists() {
            assert!(Instant::now() < deadline, "no exit file after 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&p).expect("read exit file");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("exit file {text:?}: {e}"))
    }

    /// The log's records.
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Monitored {
    fn drop(&mut self) {
        let _ = run(&mut self.oci(&["delete", "--force", &self.id]));
    }
}

/// The pid of `pid`'s parent.
pub fn ppid(pid: i32) -> i32 {
    status_field(pid, "PPid").parse().unwrap_or(0)
}

/// A field of /proc/<pid>/status (trimmed), or "" when absent.
pub fn status_field(pid: i32, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// Wait (up to 10 s) until process `pid` is gone.
pub fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        let state = status_field(pid, "State");
        if state.starts_with('Z') {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} still there after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
