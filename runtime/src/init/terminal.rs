//! `process.terminal`: after pivot_root, the init opens a pty pair on the
//! container's own devpts (`/dev/ptmx`), sends the master over the
//! `--console-socket` connection (SCM_RIGHTS, as runc does, with the pty
//! name as payload), binds the slave over /dev/console, then starts a
//! session with the slave as controlling terminal and stdio.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{open, OFlag};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Process;

/// Set up the terminal and send its master to `console_fd`; with a new mount
/// namespace, bind the slave over /dev/console.
pub(crate) fn setup(process: &Process, console_fd: RawFd, own_mounts: bool) -> Result<(), String> {
    let master = open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("process.terminal: open /dev/ptmx in the container: {e}"))?;
    // SAFETY: `open` returned a fresh descriptor that nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(format!(
            "process.terminal: unlock pty: {}",
            nix::Error::last()
        ));
    }
    if let Some(size) = process.console_size() {
        let ws = libc::winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a valid winsize struct.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(format!("process.consoleSize: {}", nix::Error::last()));
        }
    }
    // The slave through the master (TIOCGPTPEER), not by path: no race with
    // whatever a /dev/pts/N path might point at.
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(format!(
            "process.terminal: open the pty slave: {}",
            nix::Error::last()
        ));
    }
    // SAFETY: the ioctl returned a fresh descriptor that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let name = nix::unistd::ttyname(&slave)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/dev/pts/?".to_string());
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        console_fd,
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| format!("--console-socket: send the pty master: {e}"))?;
    drop(master);
    if own_mounts {
        crate::rootfs::mount_console(slave.as_fd())
            .map_err(|e| format!("process.terminal: {e}"))?;
    }
    nix::unistd::setsid().map_err(|e| format!("process.terminal: setsid: {e}"))?;
    // SAFETY: TIOCSCTTY on our own pty slave with arg 0.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(format!(
            "process.terminal: make the pty our terminal: {}",
            nix::Error::last()
        ));
    }
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target)
            .map_err(|e| format!("process.terminal: dup the pty to fd {target}: {e}"))?;
    }
    Ok(())
}
