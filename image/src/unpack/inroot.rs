//! In-root path resolution for layer extraction: every path is resolved by
//! the kernel with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on a
//! dirfd of the layer dir, so `..` and symlinks (absolute or relative) stay
//! inside it; files are then created with `*at` calls on the resolved parent.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The overlayfs xattr marking a directory opaque.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// A directory that paths are resolved inside of.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Open `path` (a directory) as the root.
    pub fn open(path: &Path) -> io::Result<Root> {
        let c = cstr(path.as_os_str())?;
        // SAFETY: `c` is a valid NUL-terminated path; the returned fd is owned below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Root {
            // SAFETY: `fd` was just returned by open and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            path: path.to_path_buf(),
        })
    }

    /// The root's own fd (opened read-only, usable for f* calls).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The root's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolve `comps` inside the root with `flags` (`O_PATH` etc.).
    pub fn resolve(&self, comps: &[OsString], flags: i32) -> io::Result<OwnedFd> {
        let rel = join(comps);
        openat2_in_root(self.fd(), &rel, flags)
    }

    /// Open the directory `comps` (as an `O_PATH` fd); with `create`,
    /// missing components are made (mode 0755) and a whiteout in the way is
    /// replaced by an opaque directory (the layer recreates what it hid).
    pub fn dir(&self, comps: &[OsString], create: bool) -> io::Result<OwnedFd> {
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        match self.resolve(comps, flags) {
            Ok(fd) => return Ok(fd),
            Err(e) if !create => return Err(e),
            Err(e) if !matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Err(e)
            }
            Err(_) => {}
        }
        let mut parent = self.resolve(&[], flags)?;
        for i in 0..comps.len() {
            match self.resolve(&comps[..=i], flags) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    mkdirat(parent.as_raw_fd(), &comps[i], 0o755).map_err(|e| {
                        if e.raw_os_error() == Some(libc::EEXIST) {
                            io::Error::other(format!(
                                "parent {:?} is a symlink to a missing directory",
                                join(&comps[..=i])
                            ))
                        } else {
                            e
                        }
                    })?;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    let st = lstatat(parent.as_raw_fd(), &comps[i])?;
                    if !is_whiteout(&st) {
                        return Err(io::Error::other(format!(
                            "parent {:?} is not a directory",
                            join(&comps[..=i])
                        )));
                    }
                    unlinkat(parent.as_raw_fd(), &comps[i], false)?;
                    mkdirat(parent.as_raw_fd(), &comps[i], 0o755)?;
                    set_xattr_at(parent.as_raw_fd(), &comps[i], OPAQUE_XATTR, b"y")?;
                }
                Err(e) => return Err(e),
            }
            parent = self.resolve(&comps[..=i], flags)?;
        }
        Ok(parent)
    }
}

/// `a/b/c` from components (`.` for none).
pub fn join(comps: &[OsString]) -> OsString {
    if comps.is_empty() {
        return OsString::from(".");
    }
    let mut s = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push("/");
        }
        s.push(c);
    }
    s
}

/// Is `st` an overlayfs whiteout (char device 0:0)?
pub fn is_whiteout(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

pub(crate) fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::other("path contains a NUL byte"))
}

fn openat2_in_root(dirfd: RawFd, rel: &OsStr, flags: i32) -> io::Result<OwnedFd> {
    let c = cstr(rel)?;
    // SAFETY: open_how is a plain C struct; all-zero is its valid default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    loop {
        // SAFETY: `c` and `how` outlive the call; the size passed is `how`'s size.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced the lookup; retry as the man page says.
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdirat(dir: RawFd, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid C string for the duration of the call.
    check(unsafe { libc::mkdirat(dir, c.as_ptr(), mode as libc::mode_t) })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn lstatat(dir: RawFd, name: &OsStr) -> io::Result<libc::stat> {
    let c = cstr(name)?;
    // SAFETY: stat is plain data; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` and `st` are valid for the call.
    check(unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

/// `unlinkat(dir, name)` (`rmdir` semantics with `is_dir`).
pub fn unlinkat(dir: RawFd, name: &OsStr, is_dir: bool) -> io::Result<()> {
    let c = cstr(name)?;
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `c` is valid for the call.
    check(unsafe { libc::unlinkat(dir, c.as_ptr(), flags) })
}

/// Remove `name` in `dir`, recursively if it is a directory, never
/// following symlinks.
pub fn remove_all_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    let st = lstatat(dir, name)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return unlinkat(dir, name, false);
    }
    let c = cstr(name)?;
    // SAFETY: `c` is valid; O_NOFOLLOW keeps us from leaving the tree.
    let fd = unsafe {
        libc::openat(
            dir,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is new and owned here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = PathBuf::from(format!("/proc/self/fd/{}", owned.as_raw_fd()));
    let names: Vec<OsString> = std::fs::read_dir(&path)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    for n in names {
        remove_all_at(owned.as_raw_fd(), &n)?;
    }
    unlinkat(dir, name, true)
}

/// Set an xattr on `name` in `dir` without following a symlink at `name`
/// (`lsetxattr` through the resolved parent's `/proc/self/fd` entry).
pub fn set_xattr_at(dir: RawFd, name: &OsStr, key: &str, value: &[u8]) -> io::Result<()> {
    let mut p = OsString::from(format!("/proc/self/fd/{dir}/"));
    p.push(name);
    let path = cstr(&p)?;
    let key = CString::new(key).map_err(|_| io::Error::other("xattr name contains NUL"))?;
    // SAFETY: all pointers are valid for the call and `value.len()` bytes.
    check(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Set an xattr on an open fd (regular files, the root).
pub fn set_xattr_fd(fd: RawFd, key: &str, value: &[u8]) -> io::Result<()> {
    let key = CString::new(key).map_err(|_| io::Error::other("xattr name contains NUL"))?;
    // SAFETY: pointers valid for the call.
    check(unsafe { libc::fsetxattr(fd, key.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
}
