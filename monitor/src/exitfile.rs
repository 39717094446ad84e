//! `<container-dir>/exit`: how the container's init ended, written
//! atomically (temp file, fsync, rename, fsync of the directory).

use std::ffi::CString;
use std::path::Path;

use crate::error::{Error, Result};
use crate::sys::{self, ExitStatus};

/// The exit record as one JSON line:
/// `{"exitCode":N,"signal":S|null,"finishedAt":"RFC3339"}`.
pub fn to_json(status: ExitStatus, finished_at: &str) -> String {
    let signal = match status {
        ExitStatus::Signaled(s) => s.to_string(),
        ExitStatus::Exited(_) => "null".to_string(),
    };
    format!(
        "{{\"exitCode\":{},\"signal\":{},\"finishedAt\":{}}}\n",
        status.code(),
        signal,
        crate::json::string(finished_at)
    )
}

/// Write `contents` to `path` so readers see the old file or the whole new
/// one, and it survives a crash once this returns.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::msg(format!("{} has no parent directory", path.display())))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let ctmp = sys::cstr(&tmp)?;
    let cpath = sys::cstr(path)?;
    // SAFETY: ctmp is a valid C string; flags and mode are plain integers.
    let fd = unsafe {
        libc::open(
            ctmp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    sys::check(fd, || format!("create {}", tmp.display()))?;
    let res = sys::write_all(fd, contents).and_then(|()| {
        // SAFETY: fsync on the descriptor just opened.
        sys::check(unsafe { libc::fsync(fd) }, || {
            format!("fsync {}", tmp.display())
        })
    });
    sys::close(fd);
    res?;
    // SAFETY: both are valid C strings.
    let r = unsafe { libc::rename(ctmp.as_ptr(), cpath.as_ptr()) };
    sys::check(r, || {
        format!("rename {} to {}", tmp.display(), path.display())
    })?;
    fsync_dir(dir)
}

/// fsync a directory so a rename in it is durable.
fn fsync_dir(dir: &Path) -> Result<()> {
    let c: CString = sys::cstr(dir)?;
    // SAFETY: c is a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    sys::check(fd, || format!("open {}", dir.display()))?;
    // SAFETY: fsync on the descriptor just opened.
    let r = unsafe { libc::fsync(fd) };
    sys::close(fd);
    sys::check(r, || format!("fsync {}", dir.display())).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_for_exit_and_signal() {
        assert_eq!(
            to_json(ExitStatus::Exited(3), "2026-01-01T00:00:00.000000000Z"),
            "{\"exitCode\":3,\"signal\":null,\"finishedAt\":\"2026-01-01T00:00:00.000000000Z\"}\n"
        );
        assert_eq!(
            to_json(ExitStatus::Signaled(9), "t"),
            "{\"exitCode\":137,\"signal\":9,\"finishedAt\":\"t\"}\n"
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("rxd-exitfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("exit");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!dir.join("exit.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
