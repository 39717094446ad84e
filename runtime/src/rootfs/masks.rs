//! After pivot_root: `linux.readonlyPaths`, `linux.maskedPaths`,
//! `root.readonly`, and the terminal on /dev/console.
//!
//! Everything is done on descriptors: the path is resolved inside `/` with
//! openat2, and the mount is attached onto that very inode (`move_mount` to
//! the fd). The /dev/null bound over masked files is checked to be the real
//! character device 1:3 first (CVE-2025-31133: a container that swaps
//! /dev/null for a symlink to, say, /proc/sys/kernel/core_pattern must not get
//! that file bound writable where a masked path was).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use super::in_root::RootDir;
use super::mounts::open_tree_fd;
use super::sys::{self, MountAttr};
use super::RootfsError;

/// Bind every existing path onto itself, read-only, nosuid, nodev, noexec,
/// recursively; other flags are kept. Missing paths are skipped.
pub fn readonly_paths(root: &RootDir, paths: &[String]) -> Result<(), RootfsError> {
    let attr = MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY
            | sys::MOUNT_ATTR_NOSUID
            | sys::MOUNT_ATTR_NODEV
            | sys::MOUNT_ATTR_NOEXEC,
        ..MountAttr::default()
    };
    for p in paths {
        let err = |source| RootfsError::ReadonlyPath {
            path: p.into(),
            source,
        };
        let target = match root.resolve(Path::new(p)) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(err(e)),
        };
        let tree = open_tree_fd(target.as_fd(), true).map_err(err)?;
        sys::mount_setattr_fd(tree.as_fd(), true, &attr).map_err(err)?;
        sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(err)?;
    }
    Ok(())
}

/// Cover every existing path: directories with an empty read-only tmpfs,
/// anything else with the verified /dev/null. Missing paths are skipped.
pub fn mask_paths(root: &RootDir, paths: &[String]) -> Result<(), RootfsError> {
    let mut null: Option<OwnedFd> = None;
    // The first masked directory gets a fresh tmpfs; the others a clone of it.
    let mut empty_dir: Option<OwnedFd> = None;
    for p in paths {
        let err = |source| RootfsError::Mask {
            path: p.into(),
            source,
        };
        let target = match root.resolve(Path::new(p)) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(err(e)),
        };
        let st = sys::fstat(target.as_fd()).map_err(err)?;
        if sys::is_type(&st, libc::S_IFDIR) {
            match &empty_dir {
                Some(first) => {
                    let tree = open_tree_fd(first.as_fd(), false).map_err(err)?;
                    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(err)?;
                }
                None => {
                    let attrs = sys::MOUNT_ATTR_RDONLY
                        | sys::MOUNT_ATTR_NOSUID
                        | sys::MOUNT_ATTR_NODEV
                        | sys::MOUNT_ATTR_NOEXEC;
                    let tmpfs = sys::detached_tmpfs(attrs).map_err(err)?;
                    sys::move_mount_fd(tmpfs.as_fd(), target.as_fd()).map_err(err)?;
                    empty_dir = Some(tmpfs);
                }
            }
        } else {
            let null = match &null {
                Some(fd) => fd,
                None => null.insert(verified_dev_null(root, Path::new(p))?),
            };
            let tree = open_tree_fd(null.as_fd(), false).map_err(err)?;
            sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(err)?;
        }
    }
    Ok(())
}

/// The container's /dev/null, opened without following a final symlink and
/// checked to be the character device 1:3.
fn verified_dev_null(root: &RootDir, masking: &Path) -> Result<OwnedFd, RootfsError> {
    let fake = || RootfsError::FakeDevNull {
        path: masking.to_path_buf(),
    };
    let fd = root
        .resolve_nofollow(Path::new("/dev/null"))
        .map_err(|_| fake())?;
    let st = sys::fstat(fd.as_fd()).map_err(|_| fake())?;
    if !sys::is_type(&st, libc::S_IFCHR) || st.st_rdev != libc::makedev(1, 3) {
        return Err(fake());
    }
    Ok(fd)
}

/// Make `root` (the container's `/`, a mount root after pivot_root)
/// read-only, keeping its other flags (`root.readonly`).
pub fn readonly_root(root: &RootDir) -> Result<(), RootfsError> {
    let attr = MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    sys::mount_setattr_fd(root.fd(), false, &attr).map_err(RootfsError::ReadonlyRoot)
}

/// Bind the terminal `pty` (a pty slave opened in the container's mount
/// namespace, e.g. from its /dev/pts after pivot_root) over /dev/console,
/// which is created as an empty file if missing and must otherwise be a
/// regular file or character device, never a symlink.
pub fn mount_console(pty: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let err = |source| RootfsError::Console { source };
    let root = RootDir::open(Path::new("/")).map_err(err)?;
    let target = match root.resolve_nofollow(Path::new("/dev/console")) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => root
            .create_file(Path::new("/dev/console"), 0o666)
            .map_err(err)?,
        Err(e) => return Err(err(e)),
    };
    let st = sys::fstat(target.as_fd()).map_err(err)?;
    if !sys::is_type(&st, libc::S_IFREG) && !sys::is_type(&st, libc::S_IFCHR) {
        return Err(err(Errno::EINVAL));
    }
    let tree = open_tree_fd(pty, false).map_err(err)?;
    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(err)
}
