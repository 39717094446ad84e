//! The overlay root filesystem a container runs on: the image's unpacked
//! layers as read-only lowerdirs, a per-container upper and work dir, one
//! overlay mount at the container's rootfs path. Built with the new mount
//! API (`fsopen`/`fsconfig` with one `lowerdir+` per layer), so the number of
//! layers is not bounded by the one-page limit of mount(2) options; kernels
//! before 6.8 fall back to mount(2) while the options fit.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{ImageError, Result};

/// Mount an overlay at `target` with `layers` (bottom layer first, the order
/// of [`crate::store::Store::layer_dirs`]) as lowerdirs, `upper` and `work`
/// as the container's writable layer. `upper`, `work` and `target` are
/// created if missing; `upper` and `work` must be on one filesystem.
pub fn mount_rootfs(layers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    if layers.is_empty() {
        return Err(ImageError::io(
            "mount overlay on",
            target,
            io::Error::other("the image has no layers"),
        ));
    }
    for d in [upper, work, target] {
        fs::create_dir_all(d).map_err(|e| ImageError::io("create directory", d, e))?;
    }
    match mount_new_api(layers, upper, work, target) {
        Ok(()) => Ok(()),
        Err(NewApiError::Unsupported) => mount_legacy(layers, upper, work, target),
        Err(NewApiError::Failed(e)) => Err(ImageError::io("mount overlay on", target, e)),
    }
}

/// Unmount the overlay at `target` (lazily if it is busy).
pub fn unmount_rootfs(target: &Path) -> Result<()> {
    let c = cpath(target)?;
    // SAFETY: `c` is a valid path for the call.
    if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()), // not mounted (any more)
        Some(libc::EBUSY) => {
            // SAFETY: as above.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                Ok(())
            } else {
                Err(ImageError::io(
                    "unmount",
                    target,
                    io::Error::last_os_error(),
                ))
            }
        }
        _ => Err(ImageError::io("unmount", target, e)),
    }
}

/// Unmount `target` and remove it with the container's `upper` and `work`
/// dirs (the container's changes are gone after this).
pub fn remove_rootfs(upper: &Path, work: &Path, target: &Path) -> Result<()> {
    unmount_rootfs(target)?;
    for d in [target, upper, work] {
        match fs::remove_dir_all(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io("remove", d, e)),
        }
    }
    Ok(())
}

enum NewApiError {
    Unsupported,
    Failed(io::Error),
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| ImageError::io("use path", p, io::Error::other("contains a NUL byte")))
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::other("contains a NUL byte"))
}

fn mount_new_api(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> std::result::Result<(), NewApiError> {
    let fstype = cstring(b"overlay").map_err(NewApiError::Failed)?;
    // SAFETY: `fstype` is a valid C string; the fd returned is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOSYS) => NewApiError::Unsupported,
            _ => NewApiError::Failed(e),
        });
    }
    // SAFETY: fsopen returned a new fd nobody else owns.
    let fsfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let set = |key: &str, value: &Path| -> io::Result<()> {
        let k = cstring(key.as_bytes())?;
        let v = cstring(value.as_os_str().as_bytes())?;
        // SAFETY: both strings outlive the call; fsfd is a valid fs context.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fsfd.as_raw_fd(),
                libc::FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if rc < 0 {
            Err(with_fs_log(fsfd.as_raw_fd(), io::Error::last_os_error()))
        } else {
            Ok(())
        }
    };
    for (i, l) in layers.iter().rev().enumerate() {
        if let Err(e) = set("lowerdir+", l) {
            // Kernels before 6.8 do not know `lowerdir+`.
            if i == 0 && e.raw_os_error() == Some(libc::EINVAL) {
                return Err(NewApiError::Unsupported);
            }
            return Err(NewApiError::Failed(io::Error::other(format!(
                "lowerdir {}: {e}",
                l.display()
            ))));
        }
    }
    set("upperdir", upper).map_err(NewApiError::Failed)?;
    set("workdir", work).map_err(NewApiError::Failed)?;
    // SAFETY: valid fs context fd; no pointers passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fsfd.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc < 0 {
        return Err(NewApiError::Failed(with_fs_log(
            fsfd.as_raw_fd(),
            io::Error::last_os_error(),
        )));
    }
    // SAFETY: valid fs context fd.
    let m = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fsfd.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            0,
        )
    };
    if m < 0 {
        return Err(NewApiError::Failed(io::Error::last_os_error()));
    }
    // SAFETY: fsmount returned a new fd nobody else owns.
    let mfd = unsafe { OwnedFd::from_raw_fd(m as RawFd) };
    let t = cstring(target.as_os_str().as_bytes()).map_err(NewApiError::Failed)?;
    let empty = cstring(b"").map_err(NewApiError::Failed)?;
    // SAFETY: strings valid; attaches the detached mount `mfd` at `target`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mfd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(NewApiError::Failed(io::Error::last_os_error()));
    }
    Ok(())
}

/// Append the messages the kernel logged on the fs context to `e`.
fn with_fs_log(fsfd: RawFd, e: io::Error) -> io::Error {
    // SAFETY: dup of a valid fd; the File owns the duplicate.
    let dup = unsafe { libc::fcntl(fsfd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return e;
    }
    // SAFETY: `dup` is new and owned by the File.
    let mut f = unsafe { fs::File::from_raw_fd(dup) };
    let mut msgs = Vec::new();
    let mut buf = [0u8; 1024];
    // Each read returns one message; ENODATA when there are no more.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        msgs.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
    }
    if msgs.is_empty() {
        e
    } else {
        io::Error::new(e.kind(), format!("{e} ({})", msgs.join("; ")))
    }
}

fn mount_legacy(layers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| l.display().to_string())
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if opts.len() >= 4096 {
        return Err(ImageError::io(
            "mount overlay on",
            target,
            io::Error::other(format!(
                "{} layers make mount options longer than a page and this kernel lacks lowerdir+ (needs Linux 6.8)",
                layers.len()
            )),
        ));
    }
    let src = cstring(b"overlay").map_err(|e| ImageError::io("mount", target, e))?;
    let t = cpath(target)?;
    let o = cstring(opts.as_bytes()).map_err(|e| ImageError::io("mount", target, e))?;
    // SAFETY: all strings valid for the call.
    let rc = unsafe { libc::mount(src.as_ptr(), t.as_ptr(), src.as_ptr(), 0, o.as_ptr().cast()) };
    if rc < 0 {
        return Err(ImageError::io(
            "mount overlay on",
            target,
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}
