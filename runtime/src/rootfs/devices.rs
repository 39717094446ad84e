//! Device nodes in the container's /dev: the default set (null, zero, full,
//! random, urandom, tty), `linux.devices`, `/dev/ptmx -> pts/ptmx`, and the
//! `/dev/fd`, `stdin`, `stdout`, `stderr` (and `core`) links.
//!
//! Nodes are made with `mknodat` relative to the resolved /dev directory fd.
//! Where `mknod` is not allowed (a user namespace), the host's node at the
//! same path is bind-mounted instead, after checking it is the device asked
//! for.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::in_root::RootDir;
use super::mounts::open_tree_fd;
use super::sys;
use super::RootfsError;

/// The devices every container gets (runc's `AllowedDevices` nodes).
const DEFAULT_DEVICES: &[(&str, i64, i64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The links runc makes in /dev.
const DEV_LINKS: &[(&CStr, &CStr)] = &[
    (c"/proc/self/fd", c"fd"),
    (c"/proc/self/fd/0", c"stdin"),
    (c"/proc/self/fd/1", c"stdout"),
    (c"/proc/self/fd/2", c"stderr"),
];

/// One node to create.
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    path: &'a Path,
    kind: libc::mode_t,
    perm: libc::mode_t,
    major: i64,
    minor: i64,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl Node<'_> {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            libc::S_IFBLK => "block",
            libc::S_IFIFO => "fifo",
            _ => "char",
        }
    }

    fn err(&self, source: Errno) -> RootfsError {
        RootfsError::Device {
            path: self.path.to_path_buf(),
            source,
        }
    }

    fn rdev(&self) -> Result<libc::dev_t, RootfsError> {
        let major = u32::try_from(self.major).map_err(|_| self.err(Errno::EINVAL))?;
        let minor = u32::try_from(self.minor).map_err(|_| self.err(Errno::EINVAL))?;
        Ok(libc::makedev(major, minor))
    }
}

/// Create the default devices, the spec's `linux.devices`, `/dev/ptmx` and
/// the /dev links inside `root`.
pub fn create_devices(root: &RootDir, spec_devices: &[LinuxDevice]) -> Result<(), RootfsError> {
    let dev = root
        .mkdir_all(Path::new("/dev"), 0o755)
        .map_err(|source| RootfsError::Resolve {
            path: "/dev".into(),
            source,
        })?;
    for &(path, major, minor) in DEFAULT_DEVICES {
        if spec_devices.iter().any(|d| d.path().as_os_str() == path) {
            continue;
        }
        let n = Node {
            path: Path::new(path),
            kind: libc::S_IFCHR,
            perm: 0o666,
            major,
            minor,
            uid: None,
            gid: None,
        };
        create_node(root, &dev, &n)?;
    }
    for d in spec_devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::Device {
                    path: d.path().clone(),
                    source: Errno::EINVAL,
                })
            }
        };
        let n = Node {
            path: d.path(),
            kind,
            perm: d.file_mode().unwrap_or(0o666) & 0o7777,
            major: d.major(),
            minor: d.minor(),
            uid: d.uid(),
            gid: d.gid(),
        };
        create_node(root, &dev, &n)?;
    }
    dev_links(dev.as_fd())
}

/// The last component when `path` is directly in /dev.
fn name_in_dev(path: &Path) -> Option<&OsStr> {
    let b = path.as_os_str().as_bytes();
    let name = b.strip_prefix(b"/dev/")?;
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
        return None;
    }
    Some(OsStr::from_bytes(name))
}

fn create_node(root: &RootDir, dev: &OwnedFd, n: &Node<'_>) -> Result<(), RootfsError> {
    let rdev = n.rdev()?;
    let parent: OwnedFd;
    let (dir, name) = match name_in_dev(n.path) {
        Some(name) => (dev.as_fd(), name),
        None => {
            let (d, name) = root.parent_and_name(n.path).map_err(|e| n.err(e))?;
            parent = d;
            (parent.as_fd(), name)
        }
    };
    let made = sys::with_cstr(name.as_bytes(), |c| {
        sys::mknodat(dir, c, n.kind | n.perm, rdev)?;
        if n.uid.is_some() || n.gid.is_some() {
            sys::fchownat_nofollow(dir, c, n.uid.unwrap_or(u32::MAX), n.gid.unwrap_or(u32::MAX))?;
        }
        Ok(())
    });
    match made {
        // An existing node is kept, as runc does.
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(Errno::EPERM) => bind_host_node(root, n, rdev),
        Err(e) => Err(n.err(e)),
    }
}

/// Bind the host's node at the same path, if it is the device asked for.
fn bind_host_node(root: &RootDir, n: &Node<'_>, rdev: libc::dev_t) -> Result<(), RootfsError> {
    let host = sys::with_cstr(n.path.as_os_str().as_bytes(), |p| {
        // SAFETY: AT_FDCWD is a valid dirfd for *at calls.
        let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
        sys::openat(cwd, p, libc::O_PATH, 0)
    })
    .map_err(|e| n.err(e))?;
    let st = sys::fstat(host.as_fd()).map_err(|e| n.err(e))?;
    if !sys::is_type(&st, n.kind) || st.st_rdev != rdev {
        return Err(RootfsError::DeviceMismatch {
            path: n.path.to_path_buf(),
            kind: n.kind_name(),
            major: n.major,
            minor: n.minor,
        });
    }
    let target = root.create_file(n.path, 0o644).map_err(|e| n.err(e))?;
    let tree = open_tree_fd(host.as_fd(), false).map_err(|e| n.err(e))?;
    sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(|e| n.err(e))
}

/// `/dev/ptmx -> pts/ptmx` (replacing whatever is there), the fd/stdio links
/// and `/dev/core -> /proc/kcore` when the host has a kcore.
fn dev_links(dev: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let link_err = |name: &CStr, source| RootfsError::Device {
        path: Path::new("/dev").join(OsStr::from_bytes(name.to_bytes())),
        source,
    };
    match sys::symlinkat(c"pts/ptmx", dev, c"ptmx") {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            sys::unlinkat(dev, c"ptmx").map_err(|e| link_err(c"ptmx", e))?;
            sys::symlinkat(c"pts/ptmx", dev, c"ptmx").map_err(|e| link_err(c"ptmx", e))?;
        }
        Err(e) => return Err(link_err(c"ptmx", e)),
    }
    let kcore = Path::new("/proc/kcore").exists();
    let core: &[(&CStr, &CStr)] = if kcore {
        &[(c"/proc/kcore", c"core")]
    } else {
        &[]
    };
    for &(target, name) in DEV_LINKS.iter().chain(core) {
        match sys::symlinkat(target, dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(link_err(name, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_in_dev_only_for_direct_children() {
        assert_eq!(
            name_in_dev(Path::new("/dev/null")),
            Some(OsStr::new("null"))
        );
        assert_eq!(name_in_dev(Path::new("/dev/net/tun")), None);
        assert_eq!(name_in_dev(Path::new("/dev/..")), None);
        assert_eq!(name_in_dev(Path::new("/dev/")), None);
        assert_eq!(name_in_dev(Path::new("/etc/x")), None);
    }

    #[test]
    fn links_and_devices_in_a_tempdir() {
        // mknod needs CAP_MKNOD: run the node part only as root.
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = RootDir::open(tmp.path()).expect("open");
        let dev = root.mkdir_all(Path::new("/dev"), 0o755).expect("dev");
        dev_links(dev.as_fd()).expect("links");
        let l = std::fs::read_link(tmp.path().join("dev/stdout")).expect("stdout link");
        assert_eq!(l, Path::new("/proc/self/fd/1"));
        let l = std::fs::read_link(tmp.path().join("dev/ptmx")).expect("ptmx link");
        assert_eq!(l, Path::new("pts/ptmx"));
        // A second run replaces ptmx and keeps the rest.
        dev_links(dev.as_fd()).expect("links again");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        create_devices(&root, &[]).expect("devices");
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let m = std::fs::metadata(tmp.path().join("dev/urandom")).expect("urandom");
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), libc::makedev(1, 9));
    }
}
