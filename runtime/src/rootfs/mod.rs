//! The container's root filesystem: propagation, `mounts`, devices, pivot_root,
//! masked and read-only paths, every path resolved inside the rootfs.
//!
//! Called from the container's init process, in this order:
//!
//! 1. [`validate_sysctls`] — in the runtime's own process, before creating
//!    namespaces (it compares a joined netns with the caller's; the checks
//!    that need no host context are repeated by `prepare_rootfs`).
//! 2. [`prepare_rootfs`] — in the init, inside its new mount namespace (and
//!    user namespace with maps written, and already in its cgroup), with the
//!    cwd set to the bundle directory: relative `root.path` and bind sources
//!    are relative to the bundle. It sets the propagation of `/`, binds the
//!    rootfs onto itself, mounts every `mounts` entry, creates devices and
//!    links, pivots into the rootfs and `chdir("/")`. Skip it when joining an
//!    existing mount namespace. With a skeleton ([`fits_skeleton`],
//!    [`crate::skeleton`]) the init is still in the runtime's mount
//!    namespace: it copies the rootfs and the bind sources there
//!    ([`host_view`]), then builds the root in a copy of the skeleton.
//! 3. hostname / domainname (caller), then [`apply_sysctls`].
//! 4. [`mount_console`] when `process.terminal` (caller opens the pty slave
//!    from the container's /dev/pts).
//! 5. [`finalize_rootfs`] — readonlyPaths, maskedPaths, `root.readonly`.
//!
//! Security: every destination is resolved with `openat2(RESOLVE_IN_ROOT)`
//! ([`in_root::RootDir`]), created if missing, and mounted onto the resolved
//! inode through its fd (`/proc/self/fd/N` for `mount(2)` before pivot,
//! `move_mount` to the fd otherwise), so symlinks in the image (`/proc ->
//! /etc`, `../../..`, absolute links) cannot redirect a mount to the host.
//! Bind sources and `root.path` come from the spec author and are taken as
//! given. procfs writes go through [`procfs::ProcfsHandle`].
//!
//! Needs Linux >= 5.12 (`openat2`, `open_tree`, `move_mount`, `mount_setattr`).

mod cgroup_mount;
mod copyup;
mod devices;
mod error;
mod host_view;
pub mod in_root;
mod masks;
pub(crate) mod mountinfo;
mod mounts;
pub mod options;
mod pivot;
pub mod procfs;
mod sys;
mod sysctl;

use std::os::fd::BorrowedFd;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub use error::RootfsError;
pub use masks::mount_console;
pub use procfs::ProcfsHandle;
pub use sysctl::{apply_sysctls, validate_sysctls};

/// Filesystem types whose mounts take nothing from the runtime's mount
/// namespace (their source is only a name).
const SKELETON_TYPES: &[&str] = &[
    "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2",
];

/// Can the container's mount namespace be a copy of the skeleton
/// ([`crate::skeleton`]) instead of the runtime's? Yes when `/` gets a
/// recursive slave or private propagation (the default `rslave` included)
/// and every mount is a bind or a filesystem of [`SKELETON_TYPES`]: all
/// that comes from the runtime's namespace is then the rootfs and the bind
/// sources, which are copied before the init leaves it. The caller checks
/// the rest: a new mount namespace, no user namespace, no
/// `createContainer` hooks (they run in the container's namespace before
/// the rootfs is built, and see the runtime's mounts there).
pub fn fits_skeleton(spec: &Spec) -> bool {
    let prop = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref());
    let prop_ok = match prop {
        None | Some("") => true,
        Some(p) => options::parse_propagation(p).is_some_and(|f| {
            f & libc::MS_REC != 0
                && f & (libc::MS_SLAVE | libc::MS_PRIVATE) != 0
                && f & (libc::MS_SHARED | libc::MS_UNBINDABLE) == 0
        }),
    };
    prop_ok
        && spec.mounts().as_deref().unwrap_or(&[]).iter().all(|m| {
            let typ = m.typ().as_deref();
            // An entry whose options do not parse fails either way; the
            // runtime's namespace gives the error as before.
            options::parse(m.options().as_deref().unwrap_or(&[])).is_ok_and(|opts| {
                mounts::is_bind(typ, &opts) || typ.is_some_and(|t| SKELETON_TYPES.contains(&t))
            })
        })
}

/// Set up the rootfs from `spec` and pivot into it (see the module docs for
/// where and when to call it). `rootfs` is the bundle's `root.path`, absolute
/// or relative to the cwd (the bundle). With `skeleton` (a mount-namespace
/// fd; only when [`fits_skeleton`]), the init is still in the runtime's
/// mount namespace: it copies the rootfs and the bind sources, then joins
/// and unshares a copy of the skeleton and builds the root there.
pub fn prepare_rootfs(
    spec: &Spec,
    rootfs: &Path,
    skeleton: Option<BorrowedFd<'_>>,
) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => None,
        Some(p) => Some(
            options::parse_propagation(p)
                .ok_or_else(|| RootfsError::InvalidPropagation(p.to_string()))?,
        ),
    };
    // Never write a sysctl the container's namespaces do not isolate.
    sysctl::check_sysctls(spec, false)?;
    // Modes given in the spec (devices, directories) are exact.
    let old_umask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let res = prepare(spec, rootfs, propagation, skeleton);
    nix::sys::stat::umask(old_umask);
    res
}

fn prepare(
    spec: &Spec,
    rootfs: &Path,
    propagation: Option<libc::c_ulong>,
    skeleton: Option<BorrowedFd<'_>>,
) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    let mut env = mounts::MountEnv {
        cgroupns: linux
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup)),
        inherit: None,
    };
    let entries = spec.mounts().as_deref().unwrap_or(&[]);
    let (root, sources) = match skeleton {
        None => (pivot::prepare_root(rootfs, propagation)?, Vec::new()),
        Some(skel) => {
            let host = host_view::capture(rootfs, entries, env)?;
            let flags = propagation.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
            env.inherit = Some(flags & !libc::MS_REC);
            let root = pivot::enter_skeleton(skel, host.rootfs, rootfs, flags)?;
            (root, host.sources)
        }
    };
    let mut sources = sources.into_iter();
    let mut dev_is_bind = false;
    let mut dev_ro = false;
    for m in entries {
        let done = mounts::mount_entry(&root, m, env, sources.next().flatten())?;
        dev_is_bind |= done.dev_is_bind;
        dev_ro |= done.dev_ro_deferred;
    }
    if !dev_is_bind {
        let devices = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
        devices::create_devices(&root, devices)?;
    }
    if dev_ro {
        mounts::remount_ro(&root, Path::new("/dev"))?;
    }
    pivot::pivot(&root, rootfs, propagation)
}

/// After pivot_root, hostname and sysctls: `linux.readonlyPaths`, then
/// `linux.maskedPaths`, then `root.readonly`. Missing paths are skipped.
pub fn finalize_rootfs(spec: &Spec) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    let ro_paths = linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[]);
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[]);
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if ro_paths.is_empty() && masked.is_empty() && !readonly {
        return Ok(());
    }
    let root = in_root::RootDir::open(Path::new("/")).map_err(|source| RootfsError::Resolve {
        path: "/".into(),
        source,
    })?;
    masks::readonly_paths(&root, ro_paths)?;
    masks::mask_paths(&root, masked)?;
    if readonly {
        masks::readonly_root(&root)?;
    }
    Ok(())
}
