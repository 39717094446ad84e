//! Helper processes: spawning with chosen descriptors inherited (pipes for
//! readiness, held port sockets), reading a readiness line, and checking
//! whether a recorded pid is still the same process.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::error::{EngineError, Result};

/// A pipe whose read end stays here and whose write end a child inherits.
#[derive(Debug)]
pub struct ReadyPipe {
    /// Read end (close-on-exec).
    pub read: OwnedFd,
    /// Write end (handed to the child).
    pub write: OwnedFd,
}

impl ReadyPipe {
    /// A new close-on-exec pipe.
    pub fn new() -> Result<Self> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| EngineError::Sys {
                op: "pipe".into(),
                source: e,
            })?;
        Ok(ReadyPipe { read, write })
    }

    /// Read what the child writes until it closes its end (or `timeout`).
    pub fn read_all(self, timeout: Duration) -> Result<String> {
        drop(self.write);
        let deadline = Instant::now() + timeout;
        let mut f = File::from(self.read);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&f),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(ms)) {
                Ok(0) => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(EngineError::Sys {
                        op: "poll readiness pipe".into(),
                        source: e,
                    })
                }
            }
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(EngineError::io("read", "readiness pipe", e)),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Spawn `cmd` in a new session with stdio on /dev/null, letting it
/// inherit `fds` (their close-on-exec flag is cleared in the child only).
pub fn spawn_detached(cmd: &mut Command, fds: &[RawFd]) -> Result<Child> {
    let fds = fds.to_vec();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: runs in the forked child before exec; fcntl and setsid are
    // async-signal-safe and touch only the child's own descriptors.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // A foreground `rcrun run` blocks the signals it forwards; the
            // helper must not inherit that mask.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::setsid();
            Ok(())
        });
    }
    let program = std::path::PathBuf::from(cmd.get_program());
    cmd.spawn()
        .map_err(|source| EngineError::Spawn { program, source })
}

/// The start time of `pid` (clock ticks after boot), if it is alive.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    rcrun_runtime::process::stat(pid).and_then(|(state, start)| (state != 'Z').then_some(start))
}

/// Is `pid` alive and the same process that started at `start`?
pub fn is_alive(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid).is_some_and(|s| start == 0 || s == start)
}

/// Send `sig` to `pid` if it is still the process that started at `start`.
pub fn signal(pid: i32, start: u64, sig: Signal) {
    if is_alive(pid, start) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// Wait until `pid` is gone (or a zombie), up to `timeout`; true if gone.
pub fn wait_gone(pid: i32, start: u64, timeout: Duration) -> bool {
    // A pidfd wakes us the moment the process exits; without one (old
    // kernel, or already gone) fall back to polling /proc.
    let start_time = (start != 0).then_some(start);
    if let Ok(fd) = rcrun_runtime::process::PidFd::open(pid, start_time) {
        if let Ok(exited) = fd.wait_exit(Some(timeout)) {
            return exited;
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        if !is_alive(pid, start) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Raw fds of owned descriptors.
pub fn raw_fds(fds: &[OwnedFd]) -> Vec<RawFd> {
    fds.iter().map(|f| f.as_raw_fd()).collect()
}
