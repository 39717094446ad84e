//! The `cgroup` mount type on cgroup v2, v1 and hybrid hosts.
//!
//! - v2 (`/sys/fs/cgroup` is cgroup2): a `cgroup2` mount; if the kernel
//!   refuses (user namespace without cgroup namespace), a bind of the
//!   container's own cgroup directory.
//! - v1 and hybrid (`/sys/fs/cgroup` is a tmpfs): as runc, a tmpfs at the
//!   destination holding one directory per host hierarchy (and `unified` for
//!   the hybrid cgroup2), each a fresh `cgroup -o <controllers>` mount when the
//!   container has a cgroup namespace, else a bind of the container's cgroup
//!   directory in that hierarchy; co-mounted controllers get symlinks
//!   (`cpu -> cpu,cpuacct`); `ro` makes the tmpfs and every hierarchy read-only.
//!
//! The init process must already be in its cgroup when this runs.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::in_root::RootDir;
use super::mountinfo;
use super::mounts::{self, MountEnv};
use super::options::MountOptions;
use super::sys::{self, MountAttr};
use super::RootfsError;

const HOST_CGROUP: &str = "/sys/fs/cgroup";

/// Flags every cgroup (and the v1 tmpfs) is mounted with, as runc.
const BASE_FLAGS: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// One host hierarchy to reproduce in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Directory name under the destination (`cpu,cpuacct`, `unified`).
    name: String,
    /// `-o` options for a v1 mount (`cpu,cpuacct`, `name=systemd`); empty for v2.
    controllers: String,
    /// The host mount point.
    mount_point: String,
    /// The mountinfo root of the host mount.
    root: String,
    /// This is the hybrid host's cgroup2 hierarchy.
    v2: bool,
}

/// What the `cgroup` mount takes from the runtime's mount namespace: which
/// hierarchies the host has and detached copies of the host directories it
/// binds. Captured just before mounting, or before the init leaves the
/// runtime's namespace for the skeleton (`eager`: the v2 fallback's
/// directory is then opened up front too).
#[derive(Debug)]
pub enum HostCgroups {
    /// `/sys/fs/cgroup` is cgroup2. `own`: the container's cgroup
    /// directory and its copy, bound when cgroup2 cannot be mounted afresh
    /// (`None`: open it then).
    V2 {
        own: Option<(PathBuf, Result<OwnedFd, Errno>)>,
    },
    /// A v1 or hybrid host: its hierarchies, and without a cgroup namespace
    /// each one's directory of the container and its copy (in order).
    V1 {
        hierarchies: Vec<Hierarchy>,
        binds: Option<Vec<(PathBuf, Result<OwnedFd, Errno>)>>,
    },
}

impl HostCgroups {
    /// Look at the host's cgroup mounts for a `cgroup` entry at `dest`.
    pub fn capture(dest: &Path, env: MountEnv, eager: bool) -> Result<Self, RootfsError> {
        let host = RootDir::open(Path::new(HOST_CGROUP))
            .and_then(|d| sys::fs_type(d.fd()))
            .map_err(|source| RootfsError::Mount {
                what: format!("cgroup (looking at the host's {HOST_CGROUP})"),
                dest: dest.to_path_buf(),
                source,
            })?;
        if host == libc::CGROUP2_SUPER_MAGIC {
            let own = if eager {
                let pc = mountinfo::read("/proc/self/cgroup")?;
                let own = mountinfo::cgroup_path(&pc, "").unwrap_or("/");
                let host = Path::new(HOST_CGROUP).join(own.trim_start_matches('/'));
                let tree = mounts::open_tree_path(&host, false);
                Some((host, tree))
            } else {
                None
            };
            return Ok(HostCgroups::V2 { own });
        }
        // Our hierarchies (from /proc/self/cgroup) tell when mountinfo has
        // shown them all: the boot-time cgroup mounts come first.
        let proc_cgroup = mountinfo::read("/proc/self/cgroup")?;
        let want = expected_hierarchies(&proc_cgroup);
        let text = mountinfo::read_until("/proc/self/mountinfo", |t| {
            want > 0 && host_hierarchies(t).len() >= want
        })?;
        let hierarchies = host_hierarchies(&text);
        if hierarchies.is_empty() {
            return Err(RootfsError::Cgroup {
                dest: dest.to_path_buf(),
                reason: format!("no cgroup hierarchy is mounted on the host under {HOST_CGROUP}"),
            });
        }
        let binds = (!env.cgroupns).then(|| {
            hierarchies
                .iter()
                .map(|h| {
                    let host = host_dir(h, &proc_cgroup);
                    let tree = mounts::open_tree_path(&host, false);
                    (host, tree)
                })
                .collect()
        });
        Ok(HostCgroups::V1 { hierarchies, binds })
    }
}

/// Mount the spec's `cgroup` entry at `dest` from what `host` found.
pub fn mount_cgroup(
    root: &RootDir,
    dest: &Path,
    opts: &MountOptions,
    env: MountEnv,
    host: HostCgroups,
) -> Result<(), RootfsError> {
    match host {
        HostCgroups::V2 { own } => mount_v2(root, dest, opts, env, own),
        HostCgroups::V1 { hierarchies, binds } => {
            mount_v1(root, dest, opts, env, &hierarchies, binds)
        }
    }
}

fn merr<'a>(what: &str, dest: &'a Path) -> impl FnOnce(Errno) -> RootfsError + 'a {
    let what = what.to_string();
    move |source| RootfsError::Mount {
        what,
        dest: dest.to_path_buf(),
        source,
    }
}

fn mount_v2(
    root: &RootDir,
    dest: &Path,
    opts: &MountOptions,
    env: MountEnv,
    own: Option<(PathBuf, Result<OwnedFd, Errno>)>,
) -> Result<(), RootfsError> {
    let dst = root
        .mkdir_all(dest, 0o755)
        .map_err(|source| RootfsError::Resolve {
            path: dest.to_path_buf(),
            source,
        })?;
    mounts::check_not_in_proc(dst.as_fd(), dest, "cgroup2")?;
    let flags = BASE_FLAGS | (opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT));
    match mounts::mount_fs_on(
        dst.as_fd(),
        Path::new("cgroup2"),
        "cgroup2",
        flags,
        &opts.data,
    ) {
        Ok(()) => {
            if !opts.propagation.is_empty() || !opts.rec_attr.is_empty() {
                let top = root.resolve(dest).map_err(|source| RootfsError::Resolve {
                    path: dest.to_path_buf(),
                    source,
                })?;
                mounts::post_attach(top.as_fd(), opts).map_err(merr("cgroup2", dest))?;
            }
            Ok(())
        }
        Err(Errno::EPERM | Errno::EBUSY) => {
            let (host, tree) = match own {
                Some(own) => own,
                None => {
                    let pc = mountinfo::read("/proc/self/cgroup")?;
                    let own = mountinfo::cgroup_path(&pc, "").unwrap_or("/");
                    let host = Path::new(HOST_CGROUP).join(own.trim_start_matches('/'));
                    let tree = mounts::open_tree_path(&host, false);
                    (host, tree)
                }
            };
            let what = format!("bind from {}", host.display());
            let tree = tree.map_err(merr(&what, dest))?;
            let attr = MountOptions {
                flags,
                ..MountOptions::default()
            }
            .bind_attr();
            mounts::attach(tree.as_fd(), dst.as_fd(), &attr, opts, env.inherit)
                .map_err(merr(&what, dest))
        }
        Err(e) => Err(merr("cgroup2", dest)(e)),
    }
}

/// How many hierarchies [`host_hierarchies`] finds for a process in the
/// cgroups of `proc_cgroup`: one per line (each v1 hierarchy, named ones
/// included, and the cgroup2 one).
fn expected_hierarchies(proc_cgroup: &str) -> usize {
    proc_cgroup.lines().filter(|l| !l.trim().is_empty()).count()
}

/// The host's cgroup hierarchies from mountinfo: every v1 hierarchy once,
/// plus the first cgroup2 mount (hybrid's `unified`).
fn host_hierarchies(mountinfo_text: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for e in mountinfo::parse(mountinfo_text) {
        let v2 = match e.fstype {
            "cgroup" => false,
            "cgroup2" => true,
            _ => continue,
        };
        let controllers = if v2 {
            String::new()
        } else {
            mountinfo::v1_controllers(e.super_opts)
        };
        if !v2 && controllers.is_empty() {
            continue;
        }
        let name = match e.mount_point.rsplit('/').next() {
            Some(n) if !n.is_empty() && n != "." && n != ".." => n.to_string(),
            _ => continue,
        };
        // The same hierarchy bound elsewhere (other containers) comes later.
        if out
            .iter()
            .any(|h| h.v2 == v2 && (h.controllers == controllers || h.name == name))
        {
            continue;
        }
        out.push(Hierarchy {
            name,
            controllers,
            mount_point: e.mount_point.into_owned(),
            root: e.root.into_owned(),
            v2,
        });
    }
    out
}

fn mount_v1(
    root: &RootDir,
    dest: &Path,
    opts: &MountOptions,
    env: MountEnv,
    hierarchies: &[Hierarchy],
    binds: Option<Vec<(PathBuf, Result<OwnedFd, Errno>)>>,
) -> Result<(), RootfsError> {
    let mut binds = binds.map(|b| b.into_iter());
    let tmpfs_opts = MountOptions {
        flags: BASE_FLAGS,
        data: "mode=755".to_string(),
        ..MountOptions::default()
    };
    mounts::fs_mount(root, dest, Path::new("tmpfs"), "tmpfs", &tmpfs_opts, false)?;
    let top = root.resolve(dest).map_err(|source| RootfsError::Resolve {
        path: dest.to_path_buf(),
        source,
    })?;
    let sub_flags = BASE_FLAGS | (opts.flags & libc::MS_RDONLY);

    for h in hierarchies {
        let sub_dest = dest.join(&h.name);
        let sub = subdir(&top, &h.name).map_err(|source| RootfsError::Resolve {
            path: sub_dest.clone(),
            source,
        })?;
        match binds.as_mut() {
            None => {
                let (typ, data) = if h.v2 {
                    ("cgroup2", "")
                } else {
                    ("cgroup", h.controllers.as_str())
                };
                mounts::mount_fs_on(sub.as_fd(), Path::new(typ), typ, sub_flags, data)
                    .map_err(merr(&format!("{typ} {}", h.name), &sub_dest))?;
            }
            Some(binds) => {
                let (host, tree) = binds.next().ok_or_else(|| RootfsError::Cgroup {
                    dest: sub_dest.clone(),
                    reason: "the host's hierarchies changed while the container was set up"
                        .to_string(),
                })?;
                let what = format!("bind from {}", host.display());
                let tree = tree.map_err(merr(&what, &sub_dest))?;
                let attr = MountOptions {
                    flags: sub_flags,
                    ..MountOptions::default()
                }
                .bind_attr();
                let none = MountOptions::default();
                mounts::attach(tree.as_fd(), sub.as_fd(), &attr, &none, env.inherit)
                    .map_err(merr(&what, &sub_dest))?;
            }
        }
        if h.name.contains(',') {
            for part in h.name.split(',') {
                comount_link(&top, &h.name, part).map_err(|source| RootfsError::Resolve {
                    path: dest.join(part),
                    source,
                })?;
            }
        }
    }

    if opts.readonly() {
        let ro = MountAttr {
            attr_set: sys::MOUNT_ATTR_RDONLY,
            ..MountAttr::default()
        };
        sys::mount_setattr_fd(top.as_fd(), false, &ro).map_err(merr("ro tmpfs", dest))?;
    }
    mounts::post_attach(top.as_fd(), opts).map_err(merr("tmpfs", dest))
}

/// The host directory of this process's cgroup in hierarchy `h`.
fn host_dir(h: &Hierarchy, proc_cgroup: &str) -> PathBuf {
    let own = mountinfo::cgroup_path(proc_cgroup, &h.controllers).unwrap_or("/");
    let rel = own.strip_prefix(h.root.as_str()).unwrap_or(own);
    Path::new(&h.mount_point).join(rel.trim_start_matches('/'))
}

/// Create (if needed) and open the directory `name` in the fresh tmpfs.
fn subdir(top: &OwnedFd, name: &str) -> Result<OwnedFd, Errno> {
    sys::with_cstr(name.as_bytes(), |c| {
        match sys::mkdirat(top.as_fd(), c, 0o755) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        sys::openat(
            top.as_fd(),
            c,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
    })
}

/// `part -> name` in the tmpfs (`cpu -> cpu,cpuacct`), unless it exists.
fn comount_link(top: &OwnedFd, name: &str, part: &str) -> Result<(), Errno> {
    sys::with_cstr(name.as_bytes(), |target| {
        sys::with_cstr(part.as_bytes(), |link| {
            match sys::symlinkat(target, top.as_fd(), link) {
                Ok(()) | Err(Errno::EEXIST) => Ok(()),
                Err(e) => Err(e),
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_hierarchies_are_the_lines_of_proc_self_cgroup() {
        let pc = "3:memory:/a\n2:cpu,cpuacct:/a\n1:name=systemd:/\n0::/\n";
        assert_eq!(expected_hierarchies(pc), 4);
        // The mount table's boot-time part already holds all four.
        let boot: String = HYBRID.lines().take(5).map(|l| format!("{l}\n")).collect();
        assert_eq!(host_hierarchies(&boot).len(), 4);
        assert_eq!(host_hierarchies(&boot), host_hierarchies(HYBRID));
    }

    #[test]
    fn reading_mountinfo_can_stop_early_and_still_read_whole_lines() {
        let first = mountinfo::read_until("/proc/self/mountinfo", |_| true).expect("read");
        assert!(first.ends_with('\n') && !first.is_empty());
        assert_eq!(mountinfo::parse(&first).count(), first.lines().count());
        let whole = mountinfo::read_until("/proc/self/mountinfo", |_| false).expect("read");
        assert!(whole.lines().count() >= first.lines().count().min(1));
    }

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 80 0:32 /ctr /var/lib/x/rootfs/sys/fs/cgroup/memory ro - cgroup cgroup rw,memory
91 80 0:38 /ctr /var/lib/x/rootfs/sys/fs/cgroup/unified ro - cgroup2 cgroup2 rw
";

    #[test]
    fn hierarchies_of_a_hybrid_host_once_each() {
        let h = host_hierarchies(HYBRID);
        let names: Vec<&str> = h.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["cpu,cpuacct", "memory", "systemd", "unified"]);
        assert_eq!(h[2].controllers, "name=systemd");
        assert!(h[3].v2 && h[3].controllers.is_empty());
    }

    #[test]
    fn host_dir_joins_own_cgroup_below_mount_root() {
        let h = host_hierarchies(HYBRID);
        let pc = "4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/u/v\n";
        assert_eq!(
            host_dir(&h[1], pc),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            host_dir(&h[0], pc),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(
            host_dir(&h[3], pc),
            PathBuf::from("/sys/fs/cgroup/unified/u/v")
        );
        let nested = Hierarchy {
            root: "/ctr".into(),
            ..h[1].clone()
        };
        assert_eq!(
            host_dir(&nested, "4:memory:/ctr/sub\n"),
            PathBuf::from("/sys/fs/cgroup/memory/sub")
        );
    }
}
