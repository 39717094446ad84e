//! Root propagation, the rootfs bind onto itself, and `pivot_root`.
//!
//! Before anything is mounted, `/` gets `linux.rootfsPropagation` (default
//! `rslave`, as runc: host mount events still reach the container, nothing
//! the container mounts reaches the host). The rootfs is bind-mounted onto
//! itself so it is a mount point `pivot_root` accepts, and after
//! `pivot_root(".", ".")` the old root, stacked under the new one, is made
//! `rslave` and lazily unmounted.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use libc::c_ulong;
use nix::errno::Errno;
use nix::sched::{setns, unshare, CloneFlags};

use super::in_root::RootDir;
use super::sys::MountAttr;
use super::{mountinfo, sys, RootfsError};

fn root_err<'a>(step: &'static str, rootfs: &'a Path) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |source| RootfsError::Root {
        step,
        rootfs: rootfs.to_path_buf(),
        source,
    }
}

fn mount_path(target: &Path, flags: c_ulong) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    sys::with_cstr(target.as_os_str().as_bytes(), |t| {
        sys::mount(None, t, None, flags, None)
    })
}

/// Set the propagation of `/`, make sure the mount holding the rootfs is not
/// shared, bind the rootfs onto itself and open it as the [`RootDir`] every
/// later path is resolved in.
pub fn prepare_root(rootfs: &Path, propagation: Option<c_ulong>) -> Result<RootDir, RootfsError> {
    let flags = propagation.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    mount_path(Path::new("/"), flags).map_err(root_err("set propagation of /", rootfs))?;
    // A recursive slave/private / leaves no shared mount: skip mountinfo.
    let rec_unshared = flags & libc::MS_REC != 0
        && flags & (libc::MS_SLAVE | libc::MS_PRIVATE) != 0
        && flags & libc::MS_SHARED == 0;
    if !rec_unshared {
        make_parent_private(rootfs)?;
    }
    use std::os::unix::ffi::OsStrExt;
    sys::with_cstr(rootfs.as_os_str().as_bytes(), |r| {
        sys::mount(Some(r), r, None, libc::MS_BIND | libc::MS_REC, None)
    })
    .map_err(root_err("bind rootfs onto itself", rootfs))?;
    RootDir::open(rootfs).map_err(root_err("open rootfs", rootfs))
}

/// Leave the runtime's mount namespace for a private copy of the skeleton
/// `skel`, attach `tree` (the detached copy of the rootfs) on its `/root`
/// with the root propagation `flags` (recursive slave or private: the
/// skeleton's own mounts are private already) and open it as the
/// [`RootDir`]. [`pivot`] then works as with a copy of the runtime's
/// namespace.
pub fn enter_skeleton(
    skel: BorrowedFd<'_>,
    tree: OwnedFd,
    rootfs: &Path,
    flags: c_ulong,
) -> Result<RootDir, RootfsError> {
    setns(skel, CloneFlags::CLONE_NEWNS)
        .map_err(root_err("join the mount-namespace skeleton", rootfs))?;
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(root_err("copy the mount-namespace skeleton", rootfs))?;
    let at = Path::new(SKELETON_ROOT);
    let dst = RootDir::open(at).map_err(root_err("open the skeleton's /root", rootfs))?;
    sys::move_mount_fd(tree.as_fd(), dst.fd()).map_err(root_err("attach the rootfs", rootfs))?;
    let prop = MountAttr {
        propagation: flags & !libc::MS_REC,
        ..MountAttr::default()
    };
    sys::mount_setattr_fd(tree.as_fd(), true, &prop)
        .map_err(root_err("set the propagation of the rootfs", rootfs))?;
    RootDir::open(at).map_err(root_err("open rootfs", rootfs))
}

/// Where the skeleton has its empty directory for the rootfs.
const SKELETON_ROOT: &str = "/root";

/// `pivot_root` requires that neither the new root nor its parent mount be
/// shared: make the mount that holds the rootfs private (as runc).
fn make_parent_private(rootfs: &Path) -> Result<(), RootfsError> {
    let abs = std::fs::canonicalize(rootfs).map_err(|source| RootfsError::HostInfo {
        path: rootfs.to_path_buf(),
        source,
    })?;
    let mi = mountinfo::read("/proc/self/mountinfo")?;
    let mp = mountinfo::mount_point_of(mountinfo::parse(&mi), &abs)
        .unwrap_or_else(|| PathBuf::from("/"));
    mount_path(&mp, libc::MS_PRIVATE)
        .map_err(root_err("make the rootfs's parent mount private", rootfs))
}

/// `pivot_root` into `root` (the rootfs bind), detach the old root and
/// `chdir("/")`; then apply a non-private `rootfsPropagation` to the new `/`
/// (it could not be applied to the rootfs before it became `/` without
/// leaking to the host).
pub fn pivot(
    root: &RootDir,
    rootfs: &Path,
    propagation: Option<c_ulong>,
) -> Result<(), RootfsError> {
    let old = RootDir::open(Path::new("/")).map_err(root_err("open old /", rootfs))?;
    nix::unistd::fchdir(root.fd().as_raw_fd()).map_err(root_err("chdir into rootfs", rootfs))?;
    nix::unistd::pivot_root(".", ".").map_err(root_err("pivot_root", rootfs))?;
    // The old root now sits under the new one at "."; go to it explicitly.
    nix::unistd::fchdir(old.fd().as_fd().as_raw_fd())
        .map_err(root_err("chdir into old root", rootfs))?;
    mount_path(Path::new("."), libc::MS_SLAVE | libc::MS_REC)
        .map_err(root_err("make old root rslave", rootfs))?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
        .map_err(root_err("detach old root", rootfs))?;
    nix::unistd::chdir("/").map_err(root_err("chdir /", rootfs))?;
    if let Some(p) = propagation {
        if p & libc::MS_PRIVATE == 0 {
            mount_path(Path::new("/"), p)
                .map_err(root_err("set rootfsPropagation of /", rootfs))?;
        }
    }
    Ok(())
}
