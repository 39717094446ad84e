//! One config.json `mounts` entry onto the rootfs: filesystems with
//! `mount(2)` onto `/proc/self/fd/N` of the destination's verified O_PATH fd,
//! binds as detached trees (`open_tree` + `mount_setattr` + `move_mount`)
//! attached onto that fd, so nothing is ever mounted on a path string that a
//! symlink in the image could redirect.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libc::c_ulong;
use nix::errno::Errno;
use oci_spec::runtime::Mount;

use super::cgroup_mount::{self, HostCgroups};
use super::in_root::RootDir;
use super::options::{self, MountOptions};
use super::sys::{self, MountAttr, ProcFdPath};
use super::{copyup, RootfsError};

/// Files below /proc that a mount may cover (lxcfs and friends), as runc.
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// What the mount code needs to know about the container beyond the entry.
#[derive(Debug, Clone, Copy)]
pub struct MountEnv {
    /// The container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Set when the container's namespace was copied from the skeleton:
    /// the propagation (`MS_SLAVE`, `MS_PRIVATE`) that trees copied from
    /// the runtime's namespace get recursively once attached, as they would
    /// have had in a copy of that namespace whose `/` got the root
    /// propagation.
    pub inherit: Option<c_ulong>,
}

/// What one `mounts` entry takes from the runtime's mount namespace,
/// captured ahead (see [`super::host_view`]).
#[derive(Debug)]
pub enum HostSource {
    /// The detached copy of a bind source (or why it could not be made).
    Bind(Result<OwnedFd, Errno>),
    /// The host's cgroups for a `cgroup` entry.
    Cgroup(Result<HostCgroups, RootfsError>),
}

/// The outcome of one entry that the caller must act on later.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Mounted {
    /// `/dev` was bound from elsewhere: do not create device nodes.
    pub dev_is_bind: bool,
    /// `/dev` wants `ro`, postponed until the device nodes exist.
    pub dev_ro_deferred: bool,
}

/// Is the entry (type `typ`, parsed options `opts`) a bind mount?
pub fn is_bind(typ: Option<&str>, opts: &MountOptions) -> bool {
    opts.bind || typ == Some("bind")
}

/// Mount one entry of `mounts` inside `root`; `host` is what was captured
/// for it ahead (`None`: take it from the current namespace now).
pub fn mount_entry(
    root: &RootDir,
    m: &Mount,
    env: MountEnv,
    host: Option<HostSource>,
) -> Result<Mounted, RootfsError> {
    let dest = m.destination().as_path();
    let opts = options::parse(m.options().as_deref().unwrap_or(&[])).map_err(|option| {
        RootfsError::UnsupportedOption {
            dest: dest.to_path_buf(),
            option,
        }
    })?;
    let typ = m.typ().as_deref();
    let is_dev = is_dev(dest);
    if is_bind(typ, &opts) {
        let tree = match host {
            Some(HostSource::Bind(tree)) => Some(tree),
            _ => None,
        };
        bind(root, m, &opts, env, tree)?;
        return Ok(Mounted {
            dev_is_bind: is_dev,
            dev_ro_deferred: false,
        });
    }
    let typ = typ.ok_or_else(|| RootfsError::InvalidMount {
        dest: dest.to_path_buf(),
        reason: "no type (and no bind/rbind option)",
    })?;
    if typ == "cgroup" {
        let host = match host {
            Some(HostSource::Cgroup(h)) => h?,
            _ => HostCgroups::capture(dest, env, false)?,
        };
        cgroup_mount::mount_cgroup(root, dest, &opts, env, host)?;
        return Ok(Mounted::default());
    }
    let defer_ro = is_dev && opts.readonly();
    let source = m.source().as_deref().unwrap_or(Path::new(typ));
    fs_mount(root, dest, source, typ, &opts, defer_ro)?;
    Ok(Mounted {
        dev_is_bind: false,
        dev_ro_deferred: defer_ro,
    })
}

fn is_dev(dest: &Path) -> bool {
    let b = dest.as_os_str().as_bytes();
    let b = b.strip_suffix(b"/").unwrap_or(b);
    b == b"/dev" || b == b"dev"
}

fn resolve_err(dest: &Path) -> impl FnOnce(Errno) -> RootfsError + '_ {
    move |source| RootfsError::Resolve {
        path: dest.to_path_buf(),
        source,
    }
}

fn mount_err<'a>(what: &'a str, dest: &'a Path) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |source| RootfsError::Mount {
        what: what.to_string(),
        dest: dest.to_path_buf(),
        source,
    }
}

/// Refuse a destination that resolved into procfs unless it is `proc` itself
/// or an allowed file: covering e.g. /proc/sys with a writable mount would
/// undo the read-only paths.
pub fn check_not_in_proc(dst: BorrowedFd<'_>, dest: &Path, typ: &str) -> Result<(), RootfsError> {
    let on_proc = sys::fs_type(dst).map_err(resolve_err(dest))? == libc::PROC_SUPER_MAGIC;
    if !on_proc || typ == "proc" {
        return Ok(());
    }
    let d = dest.as_os_str().as_bytes();
    let d = d.strip_suffix(b"/").unwrap_or(d);
    if PROC_ALLOWED.iter().any(|a| a.as_bytes() == d) {
        return Ok(());
    }
    Err(RootfsError::ProcMountDenied {
        dest: dest.to_path_buf(),
    })
}

/// A filesystem mount (`proc`, `tmpfs`, `sysfs`, `devpts`, `mqueue`, ...).
pub fn fs_mount(
    root: &RootDir,
    dest: &Path,
    source: &Path,
    typ: &str,
    opts: &MountOptions,
    defer_ro: bool,
) -> Result<(), RootfsError> {
    let dst = root.mkdir_all(dest, 0o755).map_err(resolve_err(dest))?;
    check_not_in_proc(dst.as_fd(), dest, typ)?;
    if opts.copy_up && typ != "tmpfs" {
        return Err(RootfsError::InvalidMount {
            dest: dest.to_path_buf(),
            reason: "tmpcopyup is only for tmpfs mounts",
        });
    }
    let lower = if opts.copy_up {
        Some(copyup::open_lower(dst.as_fd()).map_err(resolve_err(dest))?)
    } else {
        None
    };
    let mut flags = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    // Read-only comes after the copy for tmpcopyup, after the device nodes
    // for /dev.
    let ro_later = opts.readonly() && (defer_ro || lower.is_some());
    if ro_later {
        flags &= !libc::MS_RDONLY;
    }
    let res = mount_fs_on(dst.as_fd(), source, typ, flags, &opts.data);
    match res {
        Ok(()) => {}
        // Without its own network (sysfs) or IPC (mqueue) namespace a user
        // namespace may not mount these afresh: bind the runtime's instead.
        Err(Errno::EPERM) if typ == "sysfs" || typ == "mqueue" => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            let tree = open_tree_path(Path::new(host), true).map_err(mount_err(typ, dest))?;
            let attr = MountOptions {
                flags,
                ..MountOptions::default()
            }
            .bind_attr();
            attach(tree.as_fd(), dst.as_fd(), &attr, opts, None).map_err(mount_err(typ, dest))?;
            return Ok(());
        }
        Err(e) => return Err(mount_err(typ, dest)(e)),
    }
    if lower.is_some() || !opts.propagation.is_empty() || !opts.rec_attr.is_empty() {
        // `dst` is the directory under the new mount; re-resolve to get the
        // mount's root.
        let top = root.resolve(dest).map_err(resolve_err(dest))?;
        if let Some(lower) = &lower {
            copyup::copy_up(lower.as_fd(), top.as_fd()).map_err(mount_err("tmpcopyup", dest))?;
            if ro_later && !defer_ro {
                let ro = MountAttr {
                    attr_set: sys::MOUNT_ATTR_RDONLY,
                    ..MountAttr::default()
                };
                sys::mount_setattr_fd(top.as_fd(), false, &ro).map_err(mount_err(typ, dest))?;
            }
        }
        post_attach(top.as_fd(), opts).map_err(mount_err(typ, dest))?;
    }
    Ok(())
}

/// `mount(source, /proc/self/fd/<dst>, typ, flags, data)`.
pub fn mount_fs_on(
    dst: BorrowedFd<'_>,
    source: &Path,
    typ: &str,
    flags: c_ulong,
    data: &str,
) -> Result<(), Errno> {
    let target = ProcFdPath::new(dst);
    let data = if data.is_empty() {
        None
    } else {
        Some(CString::new(data).map_err(|_| Errno::EINVAL)?)
    };
    sys::with_cstr(source.as_os_str().as_bytes(), |src| {
        sys::with_cstr(typ.as_bytes(), |t| {
            sys::mount(Some(src), target.as_cstr(), Some(t), flags, data.as_deref())
        })
    })
}

/// A detached copy of the host tree at `path` (relative paths: to the cwd).
pub fn open_tree_path(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let flags = sys::OPEN_TREE_CLONE | if recursive { sys::AT_RECURSIVE } else { 0 };
    sys::with_cstr(path.as_os_str().as_bytes(), |p| {
        sys::open_tree(libc::AT_FDCWD, p, flags)
    })
}

/// A detached copy of the tree at `fd`.
pub fn open_tree_fd(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    let flags =
        sys::OPEN_TREE_CLONE | sys::AT_EMPTY_PATH | if recursive { sys::AT_RECURSIVE } else { 0 };
    sys::open_tree(fd.as_raw_fd(), c"", flags)
}

/// Set `attr` (top mount) and the options' recursive attributes on the
/// detached `tree`, attach it onto `dst`, give it the `inherit`ed
/// propagation (recursively) and then the options' propagation.
pub fn attach(
    tree: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    attr: &MountAttr,
    opts: &MountOptions,
    inherit: Option<c_ulong>,
) -> Result<(), Errno> {
    if !attr.is_empty() {
        sys::mount_setattr_fd(tree, false, attr)?;
    }
    if !opts.rec_attr.is_empty() {
        sys::mount_setattr_fd(tree, true, &opts.rec_attr)?;
    }
    sys::move_mount_fd(tree, dst)?;
    if let Some(p) = inherit {
        propagate(tree, &[p | libc::MS_REC])?;
    }
    propagate(tree, &opts.propagation)
}

/// Recursive attributes and propagation on an attached mount's root `top`.
pub fn post_attach(top: BorrowedFd<'_>, opts: &MountOptions) -> Result<(), Errno> {
    if !opts.rec_attr.is_empty() {
        sys::mount_setattr_fd(top, true, &opts.rec_attr)?;
    }
    propagate(top, &opts.propagation)
}

/// Apply propagation changes (`MS_PRIVATE [| MS_REC]`, ...) in order.
fn propagate(top: BorrowedFd<'_>, changes: &[c_ulong]) -> Result<(), Errno> {
    for &p in changes {
        let prop = MountAttr {
            propagation: p & !libc::MS_REC,
            ..MountAttr::default()
        };
        sys::mount_setattr_fd(top, p & libc::MS_REC != 0, &prop)?;
    }
    Ok(())
}

/// A `bind`/`rbind` mount: the host source (taken as given; relative to the
/// cwd, the bundle) onto the destination resolved inside the rootfs, which is
/// created as a directory or an empty file to match the source.
fn bind(
    root: &RootDir,
    m: &Mount,
    opts: &MountOptions,
    env: MountEnv,
    tree: Option<Result<OwnedFd, Errno>>,
) -> Result<(), RootfsError> {
    let dest = m.destination().as_path();
    let src = m
        .source()
        .as_deref()
        .ok_or_else(|| RootfsError::InvalidMount {
            dest: dest.to_path_buf(),
            reason: "bind mount without a source",
        })?;
    let what = || format!("bind from {}", src.display());
    let tree = tree.unwrap_or_else(|| open_tree_path(src, opts.recursive));
    let tree = tree.map_err(|source| RootfsError::Mount {
        what: what(),
        dest: dest.to_path_buf(),
        source,
    })?;
    let st = sys::fstat(tree.as_fd()).map_err(|source| RootfsError::Mount {
        what: what(),
        dest: dest.to_path_buf(),
        source,
    })?;
    let dst = if sys::is_type(&st, libc::S_IFDIR) {
        root.mkdir_all(dest, 0o755)
    } else {
        root.create_file(dest, 0o644)
    }
    .map_err(resolve_err(dest))?;
    check_not_in_proc(dst.as_fd(), dest, "bind")?;
    attach(
        tree.as_fd(),
        dst.as_fd(),
        &opts.bind_attr(),
        opts,
        env.inherit,
    )
    .map_err(|source| RootfsError::Mount {
        what: what(),
        dest: dest.to_path_buf(),
        source,
    })
}

/// Make the mount at `dest` (already mounted) read-only, keeping its other
/// flags: the deferred `ro` of `/dev`.
pub fn remount_ro(root: &RootDir, dest: &Path) -> Result<(), RootfsError> {
    let top = root.resolve(dest).map_err(resolve_err(dest))?;
    let attr = MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    sys::mount_setattr_fd(top.as_fd(), false, &attr).map_err(mount_err("ro remount", dest))
}
