//! Namespaces and the empty read-only root of the pause process.

use std::path::Path;

use crate::error::{Error, Result};
use crate::sys;

/// Join the network namespace bind-mounted at `path`.
pub fn join_netns(path: &Path) -> Result<()> {
    let c = sys::cstr(path)?;
    // SAFETY: c is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    sys::check(fd, || format!("open netns {}", path.display()))?;
    // SAFETY: setns on the descriptor just opened.
    let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    sys::close(fd);
    sys::check(r, || format!("setns {}", path.display())).map(|_| ())
}

/// Join the mount namespace bind-mounted at `path` and `chdir("/")`.
/// Returns false, having changed nothing, when `path` is missing or is not
/// a namespace file (nobody has published one yet, or it was withdrawn).
pub fn join_mntns(path: &Path) -> Result<bool> {
    let c = sys::cstr(path)?;
    // SAFETY: c is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = Error::last_os(format!("open mntns {}", path.display()));
        return match e.errno {
            Some(libc::ENOENT) => Ok(false),
            _ => Err(e),
        };
    }
    // SAFETY: setns on the descriptor just opened.
    let r = unsafe { libc::setns(fd, libc::CLONE_NEWNS) };
    let e = Error::last_os(format!("setns {}", path.display()));
    sys::close(fd);
    if r != 0 {
        // EINVAL: a plain file (the namespace was withdrawn after the last
        // sandbox went, or is not published yet).
        return match e.errno {
            Some(libc::EINVAL) => Ok(false),
            _ => Err(e),
        };
    }
    // SAFETY: path is a valid C string.
    sys::check(unsafe { libc::chdir(c"/".as_ptr()) }, || {
        "chdir /".to_string()
    })?;
    Ok(true)
}

/// `unshare(flags)`.
pub fn unshare(flags: libc::c_int) -> Result<()> {
    // SAFETY: unshare with namespace flags; affects only this process.
    let r = unsafe { libc::unshare(flags) };
    sys::check(r, || format!("unshare {flags:#x}")).map(|_| ())
}

/// Set the hostname of this (new) uts namespace.
pub fn set_hostname(name: &str) -> Result<()> {
    // SAFETY: name points to name.len() readable bytes.
    let r = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    sys::check(r, || format!("sethostname {name:?}")).map(|_| ())
}

/// One `mount(2)`.
fn mount(
    src: &std::ffi::CStr,
    target: &std::ffi::CStr,
    fstype: &std::ffi::CStr,
    flags: libc::c_ulong,
    data: &std::ffi::CStr,
) -> Result<()> {
    // SAFETY: all pointers are valid C strings.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    sys::check(r, || {
        format!(
            "mount {} on {}",
            fstype.to_string_lossy(),
            target.to_string_lossy()
        )
    })
    .map(|_| ())
}

/// In a fresh mount namespace: make every mount private, mount an empty
/// read-only tmpfs on `/tmp` (in this namespace only), pivot into it and
/// detach the old root. Afterwards only that empty tmpfs is visible.
pub fn pivot_to_empty_root() -> Result<()> {
    // SAFETY: NULL source/fstype/data are allowed for a propagation change.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    sys::check(r, || "make / private".to_string())?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(
        c"tmpfs",
        c"/tmp",
        c"tmpfs",
        flags,
        c"size=4k,nr_inodes=4,mode=0555",
    )?;
    mount(
        c"none",
        c"/tmp",
        c"",
        flags | libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
        c"",
    )?;
    // SAFETY: path is a valid C string.
    sys::check(unsafe { libc::chdir(c"/tmp".as_ptr()) }, || {
        "chdir /tmp".to_string()
    })?;
    // pivot_root(".", "."): the old root ends up stacked on the new one and
    // is detached right away, so no put_old directory is needed.
    // SAFETY: both arguments are valid C strings.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) };
    if r != 0 {
        return Err(Error::last_os("pivot_root into the empty tmpfs"));
    }
    // SAFETY: path is a valid C string.
    let r = unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) };
    sys::check(r, || "detach the old root".to_string())?;
    // SAFETY: path is a valid C string.
    sys::check(unsafe { libc::chdir(c"/".as_ptr()) }, || {
        "chdir /".to_string()
    })
    .map(|_| ())
}
