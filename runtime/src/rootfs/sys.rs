//! Thin, allocation-free wrappers over the path and mount syscalls that nix
//! 0.29 does not cover: `openat2`, `open_tree`, `move_mount`, `mount_setattr`,
//! `fsopen`/`fsconfig`/`fsmount`, plus `mount(2)` on C strings and the
//! `/proc/self/fd/N` path of a descriptor.
//!
//! Constants are the stable kernel ABI (`linux/mount.h`, `linux/openat2.h`);
//! the `libc` crate does not export all of them yet. Needs Linux >= 5.12.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// `open_tree`: clone the tree instead of opening the mount itself.
pub const OPEN_TREE_CLONE: u32 = 1;
/// `open_tree`: close the returned fd on exec.
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
/// `*at` flag: apply to the whole subtree.
pub const AT_RECURSIVE: u32 = 0x8000;
/// `*at` flag: operate on the fd itself when the path is empty.
pub const AT_EMPTY_PATH: u32 = libc::AT_EMPTY_PATH as u32;
/// `move_mount`: the source is the fd itself.
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
/// `move_mount`: the target is the fd itself.
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// `mount_setattr` attribute bits (`MOUNT_ATTR_*`).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// Ignore suid and sgid bits.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// Disallow access to device special files.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// Disallow program execution.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// Mask of the three atime modes.
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
/// Update atime relative to mtime/ctime (the value inside `MOUNT_ATTR__ATIME`).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
/// Do not update access times.
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
/// Always update access times.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
/// Do not update directory access times.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
/// Do not follow symlinks.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

const FSOPEN_CLOEXEC: u32 = 1;
const FSMOUNT_CLOEXEC: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    /// Attributes to set.
    pub attr_set: u64,
    /// Attributes to clear.
    pub attr_clr: u64,
    /// `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or `MS_UNBINDABLE`; 0 = unchanged.
    pub propagation: u64,
    /// User namespace fd for `MOUNT_ATTR_IDMAP` (unused here).
    pub userns_fd: u64,
}

impl MountAttr {
    /// True when applying this would change nothing.
    pub fn is_empty(&self) -> bool {
        self.attr_set == 0 && self.attr_clr == 0 && self.propagation == 0
    }
}

/// `struct open_how` of `openat2(2)` (libc's is `#[non_exhaustive]`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn cvt_fd(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

fn cvt(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `openat2(dir, path, flags, mode, resolve)`; retried on `EAGAIN`, which the
/// kernel returns when a concurrent rename might have let `..` escape.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: u64::from(mode),
        resolve,
    };
    let mut tries = 0;
    loop {
        // SAFETY: `how` is a valid, fully initialised open_how of the size we
        // pass; `path` is NUL-terminated and outlives the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match cvt_fd(ret) {
            Err(Errno::EAGAIN) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

/// `open_tree(dir, path, flags)`: an fd for the mount at `path`, or with
/// [`OPEN_TREE_CLONE`] a detached copy of it (a bind mount not yet attached).
pub fn open_tree(dir: RawFd, path: &CStr, flags: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall on a NUL-terminated path; returns a new fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dir,
            path.as_ptr(),
            flags | OPEN_TREE_CLOEXEC,
        )
    };
    cvt_fd(ret)
}

/// Attach the (detached) mount `from` on top of whatever `onto` refers to.
pub fn move_mount_fd(from: BorrowedFd<'_>, onto: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: both fds are valid for the call; the paths are empty C strings.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            onto.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    cvt(ret)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`: change the
/// attributes of the mount whose root `fd` is, keeping every other flag.
pub fn mount_setattr_fd(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: &MountAttr,
) -> Result<(), Errno> {
    let flags = AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` is a valid mount_attr of the size passed; fd is valid.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    cvt(ret)
}

/// A new, detached, empty tmpfs mount with mount attributes `attrs`
/// (`fsopen` + `fsconfig(CREATE)` + `fsmount`).
pub fn detached_tmpfs(attrs: u64) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with a static NUL-terminated fs name.
    let fs = cvt_fd(unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: fs is a valid fs context fd; CMD_CREATE takes no key/value.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: fs is a created fs context; returns a new mount fd.
    cvt_fd(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

/// `mount(2)` on C strings.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is null or a NUL-terminated string that outlives
    // the call; the kernel copies them.
    let ret = unsafe {
        libc::mount(
            p(source),
            target.as_ptr(),
            p(fstype),
            flags,
            data.map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    };
    cvt(ret.into())
}

/// `/proc/self/fd/<fd>` as a C string on the stack: the path through which
/// `mount(2)` reaches exactly the inode an fd refers to.
#[derive(Debug)]
pub struct ProcFdPath {
    buf: [u8; 32],
    len: usize,
}

impl ProcFdPath {
    /// The path of `fd`.
    pub fn new(fd: BorrowedFd<'_>) -> Self {
        const PREFIX: &[u8] = b"/proc/self/fd/";
        let mut buf = [0u8; 32];
        buf[..PREFIX.len()].copy_from_slice(PREFIX);
        let mut digits = [0u8; 10];
        let mut n = fd.as_raw_fd().unsigned_abs();
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let d = &digits[i..];
        buf[PREFIX.len()..PREFIX.len() + d.len()].copy_from_slice(d);
        // buf[len] stays 0: the terminator.
        ProcFdPath {
            buf,
            len: PREFIX.len() + d.len(),
        }
    }

    /// The NUL-terminated path.
    pub fn as_cstr(&self) -> &CStr {
        // The buffer holds ASCII digits and one trailing NUL at `len`.
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).unwrap_or(c"/proc/self/fd/")
    }
}

/// `fstatfs(fd).f_type`.
pub fn fs_type(fd: BorrowedFd<'_>) -> Result<libc::__fsword_t, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fd is valid; `st` is written entirely on success.
    let ret = unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fstatfs succeeded, so `st` is initialised.
    Ok(unsafe { st.assume_init() }.f_type)
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fd is valid; `st` is written entirely on success.
    let ret = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fstat succeeded, so `st` is initialised.
    Ok(unsafe { st.assume_init() })
}

/// True when `st` is of file type `kind` (`libc::S_IFDIR`, `S_IFCHR`, ...).
pub fn is_type(st: &libc::stat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}

/// Run `f` on `bytes` as a NUL-terminated C string built on the stack
/// (nix's `NixPath`; no allocation for names shorter than PATH_MAX).
pub fn with_cstr<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> Result<T, Errno>) -> Result<T, Errno> {
    use nix::NixPath;
    bytes.with_nix_path(f)?
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)` as an owned fd.
pub fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> Result<OwnedFd, Errno> {
    // SAFETY: `name` is NUL-terminated; the result is a new fd or -1.
    let ret = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            libc::c_uint::from(mode),
        )
    };
    cvt_fd(ret.into())
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }.into())
}

/// `mknodat(dir, name, mode, dev)`.
pub fn mknodat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, dev) }.into())
}

/// `symlinkat(target, dir, name)`.
pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }.into())
}

/// `unlinkat(dir, name, 0)`.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }.into())
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`; `u32::MAX` keeps an id.
pub fn fchownat_nofollow(
    dir: BorrowedFd<'_>,
    name: &CStr,
    uid: u32,
    gid: u32,
) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn proc_fd_path_formats_the_number() {
        let f = std::fs::File::open("/").expect("open /");
        let p = ProcFdPath::new(f.as_fd());
        assert_eq!(
            p.as_cstr().to_str().expect("ascii"),
            format!("/proc/self/fd/{}", f.as_raw_fd())
        );
    }

    #[test]
    fn proc_fd_path_of_zero() {
        // SAFETY: fd 0 is only borrowed for formatting, never used.
        let fd = unsafe { BorrowedFd::borrow_raw(0) };
        assert_eq!(ProcFdPath::new(fd).as_cstr(), c"/proc/self/fd/0");
    }
}
