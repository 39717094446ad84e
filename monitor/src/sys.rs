//! Thin wrappers over the libc calls both binaries need: descriptors,
//! processes and signals. Each returns [`Error`] naming what failed.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// `path` as a C string (paths with a NUL byte are a usage error).
pub fn cstr(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::msg(format!("path {} contains a NUL byte", path.display())))
}

/// Turn a `-1` return into an error with `errno`.
pub fn check(ret: libc::c_int, what: impl FnOnce() -> String) -> Result<libc::c_int> {
    if ret == -1 {
        Err(Error::last_os(what()))
    } else {
        Ok(ret)
    }
}

/// Write all of `buf` to `fd`, retrying on EINTR and short writes.
pub fn write_all(fd: libc::c_int, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::last_os(format!("write to fd {fd}")));
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// One `read(2)` into `buf`; `Ok(None)` when it would block, `Ok(Some(0))` at EOF.
pub fn read_some(fd: libc::c_int, buf: &mut [u8]) -> Result<Option<usize>> {
    loop {
        // SAFETY: buf is a valid writable slice of buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            // A pty master reports EIO once the slave side is closed: EOF.
            Some(libc::EIO) => return Ok(Some(0)),
            _ => return Err(Error::last_os(format!("read fd {fd}"))),
        }
    }
}

/// Close `fd`, ignoring errors (used on teardown paths).
pub fn close(fd: libc::c_int) {
    // SAFETY: closing a descriptor this process owns; a stale number only
    // yields EBADF.
    unsafe { libc::close(fd) };
}

/// Close every descriptor above 2 except those in `keep`.
pub fn close_fds_except(keep: &[libc::c_int]) -> Result<()> {
    let mut keep: Vec<libc::c_uint> = keep
        .iter()
        .filter(|&&fd| fd > 2)
        .map(|&fd| fd as libc::c_uint)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first: libc::c_uint = 3;
    for &k in keep.iter().chain(std::iter::once(&libc::c_uint::MAX)) {
        if k > first {
            let last = if k == libc::c_uint::MAX { k } else { k - 1 };
            // SAFETY: close_range only closes descriptors; flags 0.
            let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
            if r != 0 {
                return Err(Error::last_os(format!("close_range {first}..{last}")));
            }
        }
        first = k.saturating_add(1);
    }
    Ok(())
}

/// Point fds 0, 1 and 2 at `/dev/null`.
pub fn stdio_to_devnull() -> Result<()> {
    let fd = open_devnull()?;
    for target in 0..3 {
        dup2(fd, target)?;
    }
    if fd > 2 {
        close(fd);
    }
    Ok(())
}

/// Open `/dev/null` read-write (close-on-exec).
pub fn open_devnull() -> Result<libc::c_int> {
    // SAFETY: the path is a NUL-terminated literal.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    check(fd, || "open /dev/null".to_string())
}

/// `dup2(from, to)`; the new descriptor is not close-on-exec.
pub fn dup2(from: libc::c_int, to: libc::c_int) -> Result<()> {
    // SAFETY: dup2 on descriptor numbers; failure is reported via errno.
    let r = unsafe { libc::dup2(from, to) };
    check(r, || format!("dup2 {from} -> {to}")).map(|_| ())
}

/// A pipe with both ends close-on-exec: `(read, write)`.
pub fn pipe() -> Result<(libc::c_int, libc::c_int)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds points to two writable c_ints.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    check(r, || "pipe2".to_string())?;
    Ok((fds[0], fds[1]))
}

/// Set or clear `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: libc::c_int) -> Result<()> {
    // SAFETY: fcntl F_GETFL/F_SETFL on a descriptor number.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    check(flags, || format!("fcntl F_GETFL fd {fd}"))?;
    // SAFETY: as above.
    let r = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    check(r, || format!("fcntl F_SETFL fd {fd}")).map(|_| ())
}

/// `fork(2)`: `Ok(0)` in the child, the child's pid in the parent.
///
/// Both binaries are single-threaded, so the child may run arbitrary code.
pub fn fork() -> Result<libc::pid_t> {
    // SAFETY: this crate's processes are single-threaded (no threads are ever
    // spawned), so the child inherits consistent allocator and libc state.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::last_os("fork"));
    }
    Ok(pid)
}

/// `_exit(code)` without running destructors or flushing stdio (for forked
/// children that fail before exec).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Block `signals` in this thread; returns the mask as a `sigset_t`.
pub fn block_signals(signals: &[libc::c_int]) -> Result<libc::sigset_t> {
    let set = sigset(signals);
    // SAFETY: set is an initialised sigset_t; the old mask is not wanted.
    let r = unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    check(r, || "sigprocmask".to_string())?;
    Ok(set)
}

/// Unblock every signal (for a child about to exec).
pub fn unblock_all_signals() {
    let set = sigset(&[]);
    // SAFETY: set is an initialised (empty) sigset_t.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
}

/// A `sigset_t` holding `signals`.
pub fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset on valid
    // signal numbers only touches the set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Set the disposition of `sig` to `handler` (`SIG_IGN`, `SIG_DFL` or a
/// function address).
pub fn set_signal(sig: libc::c_int, handler: libc::sighandler_t) -> Result<()> {
    // SAFETY: a zeroed sigaction with a valid handler value; no flags.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        libc::sigemptyset(&mut sa.sa_mask);
        check(libc::sigaction(sig, &sa, std::ptr::null_mut()), || {
            format!("sigaction {sig}")
        })?;
    }
    Ok(())
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by signal `sig`.
    Signaled(i32),
}

impl ExitStatus {
    /// From a raw `waitpid` status; `None` for stop/continue reports.
    pub fn from_raw(status: libc::c_int) -> Option<Self> {
        if libc::WIFEXITED(status) {
            Some(ExitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ExitStatus::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    /// The shell/docker convention: the code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// Wait (blocking) for `pid` to end.
pub fn wait_pid(pid: libc::pid_t) -> Result<ExitStatus> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::last_os(format!("waitpid {pid}")));
        }
        if let Some(s) = ExitStatus::from_raw(status) {
            return Ok(s);
        }
    }
}

/// Reap one ended child without blocking: `Some((pid, status))` or `None`
/// when no child has ended (or there are none).
pub fn reap_any() -> Option<(libc::pid_t, ExitStatus)> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return None;
        }
        if let Some(s) = ExitStatus::from_raw(status) {
            return Some((r, s));
        }
    }
}

/// A NULL-terminated `argv` pointer array over `args` (built before a fork so
/// the child need not allocate).
pub fn argv_ptrs(args: &[CString]) -> Vec<*const libc::c_char> {
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    ptrs
}

/// Exec `ptrs[0]` (looked up in PATH when it has no slash); only returns on
/// failure, without allocating (safe in a forked child).
pub fn exec(ptrs: &[*const libc::c_char]) {
    // SAFETY: callers pass an array from `argv_ptrs`: NULL-terminated, over
    // C strings that outlive this call.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
}

/// Args as C strings (an argument with a NUL byte is a usage error).
pub fn cstrings(args: &[String]) -> Result<Vec<CString>> {
    args.iter()
        .map(|a| {
            CString::new(a.as_bytes())
                .map_err(|_| Error::msg(format!("argument {a:?} contains a NUL byte")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_code_follows_docker() {
        assert_eq!(ExitStatus::Exited(3).code(), 3);
        assert_eq!(ExitStatus::Signaled(9).code(), 137);
    }

    #[test]
    fn pipe_roundtrip_and_nonblocking_read() {
        let (r, w) = pipe().unwrap();
        set_nonblocking(r).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read_some(r, &mut buf).unwrap(), None);
        write_all(w, b"hi").unwrap();
        assert_eq!(read_some(r, &mut buf).unwrap(), Some(2));
        close(w);
        assert_eq!(read_some(r, &mut buf).unwrap(), Some(0));
        close(r);
    }
}
