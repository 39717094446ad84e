//! File-descriptor hygiene: keep the runtime's own descriptors out of the
//! range passed to the container, and close everything but stdio, the
//! preserved fds and the init's internal fds before exec (CVE-2024-21626).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg};

use crate::error::{Result, RuntimeError};

/// A `F_DUPFD_CLOEXEC` copy of `fd` numbered `>= min`; the original is closed
/// when the caller drops it.
pub fn dup_above(fd: &impl AsRawFd, min: i32) -> Result<OwnedFd> {
    let raw = fd.as_raw_fd();
    if raw >= min {
        let new = fcntl(raw, FcntlArg::F_DUPFD_CLOEXEC(raw))
            .map_err(|e| RuntimeError::sys(format!("dup fd {raw}"), e))?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) returned a fresh descriptor we now own.
        return Ok(unsafe { OwnedFd::from_raw_fd(new) });
    }
    let new = fcntl(raw, FcntlArg::F_DUPFD_CLOEXEC(min))
        .map_err(|e| RuntimeError::sys(format!("dup fd {raw} above {min}"), e))?;
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Replace `fd` by a copy numbered `>= min` (closing the old number).
pub fn move_above(fd: OwnedFd, min: i32) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    dup_above(&fd, min)
}

/// Close every descriptor `>= first` that is not in `keep`.
pub fn close_all_except(first: i32, keep: &[i32]) -> Result<()> {
    let mut keep: Vec<i32> = keep.iter().copied().filter(|&k| k >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first as u32;
    for k in keep {
        let k = k as u32;
        if k > lo {
            close_range(lo, k - 1)?;
        }
        lo = k + 1;
    }
    close_range(lo, u32::MAX)
}

/// Clear close-on-exec on the open descriptors in `lo..hi` (the preserved
/// ones), so they reach the container; descriptors that are not open are
/// skipped.
pub fn inherit_range(lo: i32, hi: i32) -> Result<()> {
    for fd in lo..hi {
        // SAFETY: F_SETFD only changes the flags of `fd`, if it is open.
        let r = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        if r < 0 && nix::Error::last() != nix::Error::EBADF {
            return Err(RuntimeError::sys(
                format!("clear FD_CLOEXEC on fd {fd}"),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}

fn close_range(lo: u32, hi: u32) -> Result<()> {
    // SAFETY: close_range only closes descriptors; no Rust object owns the
    // ones in this range (the caller keeps its live fds in `keep`).
    let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
    if r < 0 {
        return Err(RuntimeError::sys(
            format!("close_range({lo}, {hi})"),
            nix::Error::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dup_above_moves_past_min() {
        let f = std::fs::File::open("/dev/null").expect("open");
        let d = dup_above(&f, 200).expect("dup");
        assert!(d.as_raw_fd() >= 200);
    }
}
