//! Running a container in the foreground (`run` without `--detach`): the
//! runtime blocks the signals it forwards before the init is forked (so
//! none is lost; the init unblocks them before exec), forwards each one to
//! the init, and returns the init's exit code, 128+N when killed by signal N.

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Result, RuntimeError};
use crate::process::PidFd;

/// Signals forwarded to the container (all but those the kernel or the
/// runtime's own faults need).
const FORWARDED: [Signal; 15] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGWINCH,
    Signal::SIGIO,
    Signal::SIGPWR,
];

/// Blocks the forwarded signals while alive and reads them from a signalfd.
#[derive(Debug)]
pub struct SignalForwarder {
    fd: SignalFd,
}

impl SignalForwarder {
    /// Block the forwarded signals in this (single-threaded) process.
    pub fn install() -> Result<Self> {
        let mut mask = SigSet::empty();
        for s in FORWARDED {
            mask.add(s);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
            .map_err(|e| RuntimeError::sys("block forwarded signals", e))?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| RuntimeError::sys("signalfd", e))?;
        Ok(SignalForwarder { fd })
    }

    /// The signalfd, to poll it alongside other descriptors.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The forwarded signals that arrived since the last call (non-blocking).
    pub fn pending(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                out.push(sig);
            }
        }
        out
    }

    /// Forward signals to `pid` (a child of this process) until it exits;
    /// returns its exit code, or 128+N when signal N killed it.
    pub fn forward_until_exit(&self, pid: i32) -> Result<i32> {
        let pidfd = PidFd::open(pid, None)?;
        loop {
            let mut fds = [
                PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(RuntimeError::sys("poll signals and the init", e)),
            }
            while let Ok(Some(info)) = self.fd.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = kill(Pid::from_raw(pid), sig);
                }
            }
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                return wait_code(pid);
            }
        }
    }
}

/// Reap `pid` and turn its wait status into a shell-style exit code.
pub fn wait_code(pid: i32) -> Result<i32> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(RuntimeError::sys(format!("wait for the init {pid}"), e)),
        }
    }
}
