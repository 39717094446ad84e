//! Foreground terminals (`run` and `exec -t` without `--console-socket`):
//! the runtime plays the console socket's other end itself
//! ([`ConsoleListener`]), receives the pty master the container process
//! sends (SCM_RIGHTS, as to an engine's socket), puts its own stdin
//! terminal in raw mode ([`RawMode`], restored on drop), and copies bytes
//! both ways until the process exits ([`proxy_until_exit`]). SIGWINCH
//! resizes the pty to the runtime's terminal; other forwarded signals go to
//! the process.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::unistd::Pid;

use crate::error::{Result, RuntimeError};
use crate::foreground::{wait_code, SignalForwarder};
use crate::process::PidFd;

/// A listening unix socket that receives one pty master; its file is
/// removed on drop.
#[derive(Debug)]
pub struct ConsoleListener {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleListener {
    /// Listen at a fresh path in `dir` (the state root: short and private).
    pub fn bind(dir: &Path) -> Result<Self> {
        let path = dir.join(format!(".console-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| RuntimeError::io(&path, e))?;
        Ok(ConsoleListener { path, listener })
    }

    /// The socket path, to pass as the console socket.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept the connection the container's process made and receive the
    /// pty master it sent.
    pub fn accept_master(&self) -> Result<OwnedFd> {
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| RuntimeError::io(&self.path, e))?;
        recv_master(conn.as_raw_fd()).map_err(|e| {
            RuntimeError::sys(
                format!("receive the pty master on {}", self.path.display()),
                e,
            )
        })
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Receive one descriptor sent with SCM_RIGHTS on `sock`.
pub fn recv_master(sock: RawFd) -> std::result::Result<OwnedFd, nix::Error> {
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::Error::EINTR) => continue,
            r => break r?,
        }
    };
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS installed a fresh descriptor in this
                // process that nothing else owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(nix::Error::EBADMSG)
}

/// A terminal in raw mode until dropped (then its old settings come back).
#[derive(Debug)]
pub struct RawMode {
    fd: RawFd,
    saved: Termios,
}

impl RawMode {
    /// Put terminal `fd` (our stdin) in raw mode; `None` when it is not a
    /// terminal.
    pub fn enter(fd: BorrowedFd<'_>) -> Result<Option<Self>> {
        let saved = match tcgetattr(fd) {
            Ok(t) => t,
            Err(nix::Error::ENOTTY) | Err(nix::Error::EINVAL) => return Ok(None),
            Err(e) => return Err(RuntimeError::sys("read the terminal's settings", e)),
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw)
            .map_err(|e| RuntimeError::sys("put the terminal in raw mode", e))?;
        Ok(Some(RawMode {
            fd: fd.as_raw_fd(),
            saved,
        }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: the fd is our stdin, open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = tcsetattr(fd, SetArg::TCSANOW, &self.saved);
    }
}

/// Copy the window size of terminal `from` to the pty `to`; false when
/// `from` is not a terminal.
pub fn copy_window_size(from: RawFd, to: RawFd) -> bool {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into a valid struct.
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) } < 0 {
        return false;
    }
    // SAFETY: TIOCSWINSZ reads a valid winsize struct.
    unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) >= 0 }
}

/// The end-of-file character of a pty in its default settings (^D).
const VEOF: u8 = 0x04;

/// How long output is drained after the process exits (background
/// processes may keep the pty open forever).
const DRAIN: Duration = Duration::from_millis(100);

/// Proxy our stdin/stdout and the pty `master` until process `pid` (our
/// child) exits; returns its exit code (128+N for signal N). Our stdin is
/// in raw mode meanwhile when it is a terminal.
pub fn proxy_until_exit(fwd: &SignalForwarder, master: OwnedFd, pid: i32) -> Result<i32> {
    proxy_until_exit_to(fwd, master, pid, &mut std::io::stdout().lock())
}

/// [`proxy_until_exit`] with the pty's output copied to `out` instead of
/// our stdout (a writer that also logs it, say).
pub fn proxy_until_exit_to(
    fwd: &SignalForwarder,
    master: OwnedFd,
    pid: i32,
    mut out: &mut dyn Write,
) -> Result<i32> {
    let stdin = std::io::stdin();
    let raw = RawMode::enter(stdin.as_fd())?;
    let is_tty = raw.is_some();
    if is_tty {
        copy_window_size(0, master.as_raw_fd());
    }
    let pidfd = PidFd::open(pid, None)?;
    let mut master_file = std::fs::File::from(master);
    let mut stdin_open = true;
    let mut master_open = true;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Fixed slots: 0 signals, 1 the process, 2 the master, 3 stdin; a
        // closed one is polled as -1, which poll(2) ignores.
        let mut fds = [
            pollfd(fwd.as_fd().as_raw_fd(), true),
            pollfd(pidfd.as_fd().as_raw_fd(), true),
            pollfd(master_file.as_raw_fd(), master_open),
            pollfd(0, stdin_open),
        ];
        // SAFETY: `fds` is a valid array of pollfd of the length passed.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            let e = nix::Error::last();
            if e == nix::Error::EINTR {
                continue;
            }
            return Err(RuntimeError::sys("poll the terminal", e));
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents != 0).collect();
        if ready[0] {
            for sig in fwd.pending() {
                if sig == Signal::SIGWINCH && is_tty {
                    copy_window_size(0, master_file.as_raw_fd());
                } else {
                    let _ = kill(Pid::from_raw(pid), sig);
                }
            }
        }
        if master_open && ready[2] {
            // EOF/EIO: every slave descriptor is closed.
            master_open = copy_out(&mut master_file, &mut out, &mut buf)?;
        }
        if stdin_open && ready[3] {
            match (&stdin).read(&mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    // Piped input ended: pass an end-of-file (VEOF, ^D) so a
                    // reader in canonical mode sees it too. A terminal
                    // sends its own ^D as a byte.
                    if !is_tty && master_open {
                        let _ = master_file.write_all(&[VEOF]);
                    }
                }
                Ok(n) => {
                    if master_open {
                        master_file
                            .write_all(&buf[..n])
                            .map_err(|e| RuntimeError::io("pty master", e))?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => stdin_open = false,
            }
        }
        if ready[1] {
            if master_open {
                drain(&mut master_file, &mut out, &mut buf)?;
            }
            drop(raw);
            return wait_code(pid);
        }
    }
}

fn pollfd(fd: RawFd, active: bool) -> libc::pollfd {
    libc::pollfd {
        fd: if active { fd } else { -1 },
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Copy one read of the master to stdout; false at EOF/EIO (pty closed).
fn copy_out(master: &mut std::fs::File, out: &mut impl Write, buf: &mut [u8]) -> Result<bool> {
    match master.read(buf) {
        Ok(0) => Ok(false),
        Ok(n) => {
            out.write_all(&buf[..n])
                .and_then(|()| out.flush())
                .map_err(|e| RuntimeError::io("stdout", e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
        // EIO once the last slave descriptor closed.
        Err(_) => Ok(false),
    }
}

/// Copy what is left in the pty after the process exited.
fn drain(master: &mut std::fs::File, out: &mut impl Write, buf: &mut [u8]) -> Result<()> {
    let t = PollTimeout::try_from(DRAIN).unwrap_or(PollTimeout::ZERO);
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, t) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(_) => return Ok(()),
        }
        if !copy_out(master, out, buf)? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_survives_the_trip_over_a_socket() {
        use nix::sys::socket::{
            sendmsg, socketpair, AddressFamily, ControlMessage, SockFlag, SockType,
        };
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        let f = tempfile::tempfile().expect("tempfile");
        let fds = [f.as_raw_fd()];
        sendmsg::<()>(
            a.as_raw_fd(),
            &[std::io::IoSlice::new(b"/dev/pts/0")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .expect("sendmsg");
        let got = recv_master(b.as_raw_fd()).expect("recv");
        let st = nix::sys::stat::fstat(got.as_raw_fd()).expect("fstat");
        let want = nix::sys::stat::fstat(f.as_raw_fd()).expect("fstat");
        assert_eq!(st.st_ino, want.st_ino);
    }

    #[test]
    fn raw_mode_on_a_non_terminal_is_none() {
        let f = tempfile::tempfile().expect("tempfile");
        assert!(RawMode::enter(f.as_fd()).expect("enter").is_none());
    }
}
