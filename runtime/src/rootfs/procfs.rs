//! A verified handle on procfs, for writing `/proc` files safely.
//!
//! The handle is the root of a real procfs mount (`fstatfs` says
//! `PROC_SUPER_MAGIC` and the inode is procfs's root inode), and every file is
//! opened below it with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` and checked to be on procfs too:
//! a bind mount or symlink placed over `/proc/sys/...` (or `/proc` itself
//! replaced by a tmpfs) cannot redirect the write elsewhere (the class of
//! runc CVE-2019-16884 / CVE-2025-52881).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::{sys, RootfsError};

/// procfs's root directory inode number.
const PROC_ROOT_INO: u64 = 1;

/// How files are looked up below the handle.
const BENEATH: u64 = libc::RESOLVE_BENEATH
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_NO_XDEV;

/// An `O_PATH` descriptor of a verified procfs root.
#[derive(Debug)]
pub struct ProcfsHandle {
    fd: OwnedFd,
}

impl ProcfsHandle {
    /// The procfs at `/proc` (the caller's mount namespace and root).
    pub fn open() -> Result<Self, RootfsError> {
        Self::open_at(Path::new("/proc"))
    }

    /// The procfs mounted at `path`.
    pub fn open_at(path: &Path) -> Result<Self, RootfsError> {
        let untrusted = |reason| RootfsError::UntrustedProcfs {
            path: path.to_path_buf(),
            reason,
        };
        let fd = sys::with_cstr(path.as_os_str().as_bytes(), |p| {
            // SAFETY: AT_FDCWD is a valid dirfd for *at calls.
            let cwd = unsafe { std::os::fd::BorrowedFd::borrow_raw(libc::AT_FDCWD) };
            sys::openat(
                cwd,
                p,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
        })
        .map_err(|_| untrusted("cannot open it as a directory"))?;
        if sys::fs_type(fd.as_fd()).map_err(|_| untrusted("fstatfs failed"))?
            != libc::PROC_SUPER_MAGIC
        {
            return Err(untrusted("not a procfs"));
        }
        let st = sys::fstat(fd.as_fd()).map_err(|_| untrusted("fstat failed"))?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(untrusted("not the root of a procfs mount"));
        }
        Ok(ProcfsHandle { fd })
    }

    /// Open `subpath` (relative, e.g. `sys/net/ipv4/ip_forward`) with
    /// `flags`; `EXDEV` if the file is not on procfs.
    pub fn open_file(&self, subpath: &str, flags: libc::c_int) -> Result<OwnedFd, Errno> {
        let fd = sys::with_cstr(subpath.as_bytes(), |p| {
            sys::openat2(self.fd.as_fd(), p, flags | libc::O_NOCTTY, 0, BENEATH)
        })?;
        if sys::fs_type(fd.as_fd())? != libc::PROC_SUPER_MAGIC {
            return Err(Errno::EXDEV);
        }
        Ok(fd)
    }

    /// Write `value` to `subpath` in one `write(2)` (procfs files such as
    /// `uid_map` must be written at once).
    pub fn write(&self, subpath: &str, value: &[u8]) -> Result<(), RootfsError> {
        let err = |source| RootfsError::ProcWrite {
            path: subpath.to_string(),
            value: String::from_utf8_lossy(value).into_owned(),
            source,
        };
        let fd = self.open_file(subpath, libc::O_WRONLY).map_err(err)?;
        // SAFETY: fd is open for writing; `value` is valid for its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), value.as_ptr().cast(), value.len()) };
        if n < 0 {
            return Err(err(Errno::last()));
        }
        if n as usize != value.len() {
            return Err(err(Errno::EIO));
        }
        Ok(())
    }

    /// Read `subpath` whole.
    pub fn read(&self, subpath: &str) -> Result<Vec<u8>, RootfsError> {
        use std::io::Read;
        let err = |source| RootfsError::ProcRead {
            path: subpath.to_string(),
            source,
        };
        let fd = self.open_file(subpath, libc::O_RDONLY).map_err(err)?;
        let mut out = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut out)
            .map_err(|e| err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
        Ok(out)
    }

    /// This process's pid as this procfs sees it (the target of `self`,
    /// which differs from `getpid()` when the procfs belongs to another pid
    /// namespace).
    pub fn self_pid(&self) -> Result<u32, RootfsError> {
        let link = nix::fcntl::readlinkat(Some(self.fd.as_raw_fd()), "self").map_err(|source| {
            RootfsError::ProcRead {
                path: "self".to_string(),
                source,
            }
        })?;
        link.to_str()
            .and_then(|s| s.parse().ok())
            .ok_or(RootfsError::UntrustedProcfs {
                path: PathBuf::from("/proc/self"),
                reason: "self is not a pid",
            })
    }

    /// Write `value` to `/proc/<own pid>/<name>` (e.g. `oom_score_adj`,
    /// `setgroups`), without following the `self` symlink.
    pub fn write_self(&self, name: &str, value: &[u8]) -> Result<(), RootfsError> {
        let pid = self.self_pid()?;
        self.write(&format!("{pid}/{name}"), value)
    }

    /// Write `value` to `/proc/<pid>/<name>` (e.g. a child's `uid_map`).
    pub fn write_pid(&self, pid: i32, name: &str, value: &[u8]) -> Result<(), RootfsError> {
        self.write(&format!("{pid}/{name}"), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_proc_is_trusted_and_reads_own_status() {
        let p = ProcfsHandle::open().expect("open /proc");
        let pid = p.self_pid().expect("self pid");
        assert_eq!(pid, std::process::id());
        let status = p.read(&format!("{pid}/status")).expect("read status");
        assert!(String::from_utf8_lossy(&status).contains("Pid:"));
    }

    #[test]
    fn symlinks_below_proc_are_refused() {
        let p = ProcfsHandle::open().expect("open /proc");
        // "self" and "mounts" are symlinks in procfs.
        assert_eq!(
            p.open_file("self/status", libc::O_RDONLY).err(),
            Some(Errno::ELOOP)
        );
        assert_eq!(
            p.open_file("mounts", libc::O_RDONLY).err(),
            Some(Errno::ELOOP)
        );
        assert_eq!(
            p.open_file("../etc/passwd", libc::O_RDONLY).err(),
            Some(Errno::EXDEV)
        );
    }

    #[test]
    fn a_tmpfs_or_subdir_is_not_a_procfs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            ProcfsHandle::open_at(tmp.path()),
            Err(RootfsError::UntrustedProcfs { .. })
        ));
        assert!(matches!(
            ProcfsHandle::open_at(Path::new("/proc/sys")),
            Err(RootfsError::UntrustedProcfs { .. })
        ));
    }
}
