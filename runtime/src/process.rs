//! Facts about host processes read from `/proc`, and pidfds: is the process
//! we recorded still the same process (pid + start time), signal it without
//! racing pid reuse, wait for it to exit.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::error::{Result, RuntimeError};

/// `state` and `starttime` (clock ticks after boot) of `/proc/PID/stat`, or
/// `None` when the process does not exist.
pub fn stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(char, u64)> {
    // The comm field may hold spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields after comm start at #3 (state); starttime is #22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// True when `pid` is alive (not a zombie) and started at `start_time`.
pub fn is_same_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    matches!(stat(pid), Some((state, start)) if start == start_time && state != 'Z' && state != 'X')
}

/// A pidfd on a process, so signals and waits cannot hit a reused pid.
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    /// Open a pidfd on `pid`, and check it is still the process that started
    /// at `start_time` (when given) after opening.
    pub fn open(pid: i32, start_time: Option<u64>) -> Result<Self> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
        if r < 0 {
            return Err(RuntimeError::sys(
                format!("pidfd_open({pid})"),
                nix::Error::last(),
            ));
        }
        // SAFETY: the syscall returned a fresh descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
        let me = PidFd { fd, pid };
        if let Some(st) = start_time {
            if !is_same_alive(pid, st) {
                return Err(RuntimeError::sys(
                    format!("process {pid} has exited"),
                    nix::Error::ESRCH,
                ));
            }
        }
        Ok(me)
    }

    /// The pid this fd refers to.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Send `sig` to the process.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        // SAFETY: pidfd_send_signal with a valid pidfd, a signal number, no
        // siginfo and no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig as i32,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        if r < 0 {
            return Err(RuntimeError::sys(
                format!("send {sig} to process {}", self.pid),
                nix::Error::last(),
            ));
        }
        Ok(())
    }

    /// Wait until the process exits, at most `timeout` (forever when `None`).
    /// Returns true when it exited.
    pub fn wait_exit(&self, timeout: Option<Duration>) -> Result<bool> {
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        loop {
            let mut fds = [PollFd::new(
                // SAFETY-free: borrow of our owned fd for the duration of poll.
                std::os::fd::AsFd::as_fd(&self.fd),
                PollFlags::POLLIN,
            )];
            match poll(&mut fds, t) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(RuntimeError::sys(format!("poll pidfd of {}", self.pid), e)),
            }
        }
    }

    /// The descriptor, to poll it with others.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }
}

/// Number of threads of the calling process (entries of `/proc/self/task`).
pub fn thread_count() -> Result<usize> {
    let n = std::fs::read_dir("/proc/self/task")
        .map_err(|e| RuntimeError::io("/proc/self/task", e))?
        .count();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
    }

    #[test]
    fn own_process_is_alive_with_its_start_time() {
        let me = std::process::id() as i32;
        let (_, start) = stat(me).expect("own stat");
        assert!(is_same_alive(me, start));
        assert!(!is_same_alive(me, start + 1));
    }
}
