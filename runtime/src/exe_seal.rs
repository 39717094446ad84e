//! CVE-2019-5736 protection: the runtime process that ends up inside a
//! container must not let the container write the host's runtime binary
//! through `/proc/PID/exe`.
//!
//! Before creating a container the runtime re-executes itself from a
//! read-only view of its binary: a detached bind mount of `/proc/self/exe`
//! (`open_tree(OPEN_TREE_CLONE)`), made read-only and unbindable with
//! `mount_setattr`, executed with `execveat(AT_EMPTY_PATH)` and then
//! dissolved when the fd closes. `/proc/PID/exe` of the process then points at
//! a file on a mount that is read-only, in no mount namespace (so it cannot
//! be remounted) and unbindable (so it cannot be cloned writable): opening it
//! for writing fails with `EROFS`. This is runc 1.1's "bindfd" seal done with
//! the new mount API, and costs one `execve`, no copy.
//!
//! Where the mount API is refused (no `CAP_SYS_ADMIN` in the caller's mount
//! namespace), it falls back to a sealed memfd copy of the binary
//! (`F_SEAL_WRITE|SHRINK|GROW|SEAL`), as the `pentacle` crate does.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use nix::errno::Errno;

use crate::error::{Result, RuntimeError};

const OPEN_TREE_CLONE: u32 = 1;
const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
const AT_EMPTY_PATH: u32 = libc::AT_EMPTY_PATH as u32;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MS_UNBINDABLE: u64 = libc::MS_UNBINDABLE;
const REQUIRED_SEALS: i32 =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// True when this process's executable cannot be written through
/// `/proc/self/exe`: it lives on a read-only mount, or is a sealed memfd.
pub fn is_sealed() -> bool {
    let Ok(f) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    if let Ok(st) = nix::sys::statvfs::fstatvfs(&f) {
        if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            return true;
        }
    }
    // SAFETY: F_GET_SEALS on a valid fd; returns the seal bits or -1.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & REQUIRED_SEALS == REQUIRED_SEALS
}

/// Re-execute the current program (same argv and environment) from a sealed
/// view of its binary, unless it already runs from one. Returns `Ok(())` only
/// when already sealed; on success of the re-exec it does not return.
pub fn reexec_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    let exe = match ro_detached_binary() {
        Ok(fd) => fd,
        Err(Errno::EPERM) | Err(Errno::ENOSYS) | Err(Errno::EINVAL) => sealed_memfd_copy()?,
        Err(e) => {
            return Err(RuntimeError::sys(
                "open_tree(/proc/self/exe) for CVE-2019-5736 protection",
                e,
            ))
        }
    };
    let argv = to_cstrings(std::env::args_os())?;
    let envp = to_cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }))?;
    let e = nix::unistd::execveat(
        Some(exe.as_raw_fd()),
        c"",
        &argv,
        &envp,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )
    .err()
    .unwrap_or(Errno::EINVAL);
    Err(RuntimeError::sys(
        "re-exec the runtime from its sealed binary",
        e,
    ))
}

/// A read-only, unbindable, detached bind mount of `/proc/self/exe`.
fn ro_detached_binary() -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: open_tree on a NUL-terminated path; returns a new fd or -1.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/proc/self/exe".as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_tree returned a fresh descriptor we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: MS_UNBINDABLE,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr of the size passed; fd is ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(fd)
}

/// A memfd holding a copy of the binary, sealed against any change.
fn sealed_memfd_copy() -> Result<OwnedFd> {
    let what = "sealed memfd copy of /proc/self/exe";
    // SAFETY: memfd_create with a static name; returns a new fd or -1.
    let r = unsafe {
        libc::memfd_create(
            c"rcrun-oci".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if r < 0 {
        return Err(RuntimeError::sys(what, Errno::last()));
    }
    // SAFETY: memfd_create returned a fresh descriptor we now own.
    let mut mem = unsafe { std::fs::File::from_raw_fd(r) };
    let mut src =
        std::fs::File::open("/proc/self/exe").map_err(|e| RuntimeError::io("/proc/self/exe", e))?;
    std::io::copy(&mut src, &mut mem).map_err(|e| RuntimeError::io("/proc/self/exe", e))?;
    // SAFETY: F_ADD_SEALS on our memfd.
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, REQUIRED_SEALS) } < 0 {
        return Err(RuntimeError::sys(what, Errno::last()));
    }
    Ok(OwnedFd::from(mem))
}

fn to_cstrings(items: impl Iterator<Item = OsString>) -> Result<Vec<CString>> {
    items
        .map(|s| {
            CString::new(s.into_vec()).map_err(|_| {
                RuntimeError::sys("argument or environment holds a NUL byte", Errno::EINVAL)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfd_copy_is_sealed() {
        let fd = sealed_memfd_copy().expect("memfd");
        // SAFETY: F_GET_SEALS on a valid fd.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(seals & REQUIRED_SEALS, REQUIRED_SEALS);
        let f = std::fs::File::from(fd);
        use std::io::Write;
        assert!(
            (&f).write_all(b"x").is_err(),
            "a sealed memfd must refuse writes"
        );
    }

    #[test]
    fn detached_binary_is_read_only() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let fd = ro_detached_binary().expect("open_tree");
        let st = nix::sys::statvfs::fstatvfs(&fd).expect("statvfs");
        assert!(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    }
}
