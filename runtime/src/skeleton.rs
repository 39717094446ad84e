//! The mount-namespace skeleton of a state root: a small mount namespace
//! (a read-only tmpfs root holding an empty `root/` directory and a procfs at
//! `proc/`) that new containers copy instead of the runtime's own namespace.
//!
//! `unshare(CLONE_NEWNS)` copies every mount of the namespace it is called
//! in, and `pivot_root`'s old root must then be unmounted again: both cost a
//! little per mount, and an engine host holds two mounts per running
//! container (its rootfs overlay and its network-namespace file). A
//! container init that fits the skeleton (see
//! [`crate::rootfs::fits_skeleton`]) takes detached copies of its rootfs and
//! bind sources first, joins the skeleton, unshares a copy of it and builds
//! its root there, so its start costs the same however many containers run.
//!
//! The skeleton is made by the first `create` that needs it while the root
//! holds another container (a lone container copies the runtime's
//! namespace: the skeleton would cost more than it saves), published as a
//! bind mount of its namespace file at `<root>/mntns-skeleton`, and withdrawn
//! by the `delete` that removes the root's last container. Copying a mount
//! namespace skips mount-namespace files, so containers never see it.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Result, RuntimeError};
use crate::store::StateStore;

/// `statfs` type of namespace files (`NSFS_MAGIC`).
const NSFS_MAGIC: libc::__fsword_t = 0x6e73_6673;

/// Name of the published namespace file in the state root.
pub const SKELETON_FILE: &str = "mntns-skeleton";

/// The skeleton of one state root.
#[derive(Debug, Clone)]
pub struct Skeleton {
    path: PathBuf,
    lock: PathBuf,
}

impl Skeleton {
    /// The skeleton of the state root `root`.
    pub fn of_root(root: &Path) -> Self {
        Skeleton {
            path: root.join(SKELETON_FILE),
            lock: root.join(format!("{SKELETON_FILE}.lock")),
        }
    }

    /// Where the namespace is (or will be) published.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An fd of the skeleton namespace for container `id` of `store`:
    /// the published one, or a new one made and published when the root
    /// holds another container too (`None` otherwise: a lone container
    /// copies the runtime's namespace, as it costs no more than making the
    /// skeleton would). The caller must be single-threaded (a child is
    /// forked).
    pub fn open_for(&self, store: &StateStore, id: &str) -> Result<Option<OwnedFd>> {
        if let Ok(fd) = open_ns(&self.path) {
            return Ok(Some(fd));
        }
        if !store.has_container_besides(Some(id))? {
            return Ok(None);
        }
        self.open().map(Some)
    }

    /// An fd of the skeleton namespace, making and publishing it first when
    /// none is. The caller must be single-threaded (a child is forked).
    pub fn open(&self) -> Result<OwnedFd> {
        if let Ok(fd) = open_ns(&self.path) {
            return Ok(fd);
        }
        let _lock = self.lock()?;
        if let Ok(fd) = open_ns(&self.path) {
            return Ok(fd);
        }
        self.publish()?;
        open_ns(&self.path).map_err(|e| RuntimeError::sys(self.what("open"), e))
    }

    /// Withdraw the published skeleton when `store` holds no container any
    /// more (containers already made from it keep their own copies).
    pub fn withdraw_if_unused(&self, store: &StateStore) -> Result<()> {
        if std::fs::symlink_metadata(&self.path).is_err()
            && std::fs::symlink_metadata(&self.lock).is_err()
        {
            return Ok(());
        }
        let _lock = self.lock()?;
        if store.has_container_besides(None)? {
            return Ok(());
        }
        match umount2(&self.path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(RuntimeError::sys(self.what("unmount"), e)),
        }
        remove_if_there(&self.path)?;
        // Still held: a waiter finds it removed and locks a new one.
        remove_if_there(&self.lock)
    }

    fn what(&self, step: &str) -> String {
        format!(
            "{step} the mount-namespace skeleton {}",
            self.path.display()
        )
    }

    /// Lock the lock file, which `withdraw_if_unused` removes (so a state
    /// root with no container holds no file of ours): a lock taken on a
    /// file that was removed meanwhile is retried on the new one.
    fn lock(&self) -> Result<File> {
        use std::os::unix::fs::MetadataExt;
        loop {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&self.lock)
                .map_err(|e| RuntimeError::io(&self.lock, e))?;
            f.lock().map_err(|e| RuntimeError::io(&self.lock, e))?;
            let held = f.metadata().map_err(|e| RuntimeError::io(&self.lock, e))?;
            match std::fs::metadata(&self.lock) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(f),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(RuntimeError::io(&self.lock, e)),
            }
        }
    }

    /// Make a skeleton in a forked child and bind its namespace file onto
    /// the path (held: the caller has the lock).
    fn publish(&self) -> Result<()> {
        // A stale bind (or file) from before is replaced.
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o444)
            .open(&self.path)
            .map_err(|e| RuntimeError::io(&self.path, e))?;
        let root = self.path.parent().unwrap_or(Path::new("/"));
        let dirs = Dirs::new(root).map_err(|e| RuntimeError::sys(self.what("make"), e))?;
        let child = Child::make(&dirs).map_err(|e| RuntimeError::sys(self.what("make"), e))?;
        let ns = PathBuf::from(format!("/proc/{}/ns/mnt", child.pid));
        let res = mount(
            Some(&ns),
            &self.path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        );
        drop(child);
        res.map_err(|e| RuntimeError::sys(self.what("publish"), e))
    }
}

fn remove_if_there(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io(path, e)),
    }
}

/// Open `path` if it is a namespace file.
fn open_ns(path: &Path) -> std::result::Result<OwnedFd, Errno> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let st = nix::sys::statfs::fstatfs(&f)?;
    if st.filesystem_type().0 != NSFS_MAGIC {
        return Err(Errno::ENOENT);
    }
    Ok(OwnedFd::from(f))
}

/// A forked child that built the skeleton in its own mount namespace and
/// holds it until dropped.
struct Child {
    pid: libc::pid_t,
    release: Option<File>,
}

impl Child {
    /// Fork a child into a new mount namespace, where it builds the
    /// skeleton on `dirs` and pivots into it.
    fn make(dirs: &Dirs) -> std::result::Result<Child, Errno> {
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (release_r, release_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // The caller is single-threaded (create checks).
        let pid = crate::raw_fork::raw_fork(libc::CLONE_NEWNS)?;
        if pid == 0 {
            drop(ready_r);
            drop(release_w);
            let code: u8 = match build(dirs) {
                Ok(()) => 0,
                Err(e) => u8::try_from(e as i32).unwrap_or(u8::MAX),
            };
            let _ = nix::unistd::write(&ready_w, &[code]);
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(release_r.as_raw_fd(), &mut b);
            // SAFETY: this forked child is done; _exit skips the parent's
            // destructors and atexit handlers.
            unsafe { libc::_exit(0) }
        }
        drop(ready_w);
        drop(release_r);
        let child = Child {
            pid,
            release: Some(File::from(release_w)),
        };
        let mut code = [u8::MAX; 1];
        let mut ready = File::from(ready_r);
        match ready.read(&mut code) {
            Ok(1) if code[0] == 0 => Ok(child),
            Ok(1) => Err(Errno::from_raw(i32::from(code[0]))),
            Ok(_) => Err(Errno::ECHILD),
            Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        drop(self.release.take());
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

/// The directories the child mounts on, as C strings made before the fork
/// (the child allocates nothing).
struct Dirs {
    scratch: CString,
    proc: CString,
    root: CString,
}

impl Dirs {
    /// `scratch` (any existing directory) and the two made in its tmpfs.
    fn new(scratch: &Path) -> std::result::Result<Dirs, Errno> {
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL);
        Ok(Dirs {
            scratch: c(scratch)?,
            proc: c(&scratch.join("proc"))?,
            root: c(&scratch.join("root"))?,
        })
    }
}

/// In the child's new mount namespace: make everything private, mount the
/// skeleton's tmpfs (with `root/` and a procfs at `proc/`) on the scratch
/// directory, pivot into it, drop the old root and make the tmpfs read-only.
fn build(dirs: &Dirs) -> std::result::Result<(), Errno> {
    let none = None::<&CStr>;
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        none,
        c"/",
        none,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        none,
    )?;
    mount(
        Some(c"tmpfs"),
        dirs.scratch.as_c_str(),
        Some(c"tmpfs"),
        base,
        Some(c"mode=755,size=16k"),
    )?;
    let mode = |m| nix::sys::stat::Mode::from_bits_truncate(m);
    nix::unistd::mkdir(dirs.proc.as_c_str(), mode(0o555))?;
    nix::unistd::mkdir(dirs.root.as_c_str(), mode(0o755))?;
    mount(
        Some(c"proc"),
        dirs.proc.as_c_str(),
        Some(c"proc"),
        base,
        none,
    )?;
    nix::unistd::chdir(dirs.scratch.as_c_str())?;
    nix::unistd::pivot_root(c".", c".")?;
    umount2(c".", MntFlags::MNT_DETACH)?;
    nix::unistd::chdir(c"/")?;
    mount(
        none,
        c"/",
        none,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | base,
        none,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_is_not_a_namespace() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join(SKELETON_FILE);
        std::fs::write(&p, b"").expect("write");
        assert_eq!(open_ns(&p).err(), Some(Errno::ENOENT));
        assert!(open_ns(&d.path().join("missing")).is_err());
    }

    #[test]
    fn paths_are_in_the_state_root() {
        let s = Skeleton::of_root(Path::new("/run/x"));
        assert_eq!(s.path(), Path::new("/run/x/mntns-skeleton"));
        assert_eq!(s.lock, Path::new("/run/x/mntns-skeleton.lock"));
    }

    /// The skeleton holds exactly a read-only tmpfs root and a procfs, is
    /// published once, and is withdrawn when the store is empty.
    #[test]
    fn publish_open_and_withdraw() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let d = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(d.path()).expect("store");
        let sk = Skeleton::of_root(d.path());
        let fd = sk.open().expect("open");
        let again = sk.open().expect("open again");
        let id = |f: &OwnedFd| nix::sys::stat::fstat(f.as_raw_fd()).expect("fstat").st_ino;
        assert_eq!(id(&fd), id(&again), "one namespace per root");
        // What a process sees in it: a forked child joins and reports.
        let (r, w) = nix::unistd::pipe().expect("pipe");
        // SAFETY: the child only makes syscalls on fds and buffers it owns.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let ok = nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNS).is_ok();
                let mut buf = [0u8; 4096];
                let n = std::fs::File::open("/proc/self/mountinfo")
                    .and_then(|mut f| f.read(&mut buf))
                    .unwrap_or(0);
                let _ = nix::unistd::write(&w, if ok { &buf[..n] } else { b"setns failed" });
                // SAFETY: end the forked child without the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(w);
                let mut out = String::new();
                std::fs::File::from(r)
                    .read_to_string(&mut out)
                    .expect("read");
                nix::sys::wait::waitpid(child, None).expect("wait");
                let lines: Vec<&str> = out.lines().collect();
                assert_eq!(lines.len(), 2, "{out}");
                assert!(
                    lines[0].contains(" / / ro,") && lines[0].contains(" tmpfs "),
                    "{out}"
                );
                assert!(
                    lines[1].contains(" /proc ") && lines[1].contains(" proc "),
                    "{out}"
                );
            }
        }
        sk.withdraw_if_unused(&store).expect("withdraw");
        assert!(!sk.path().exists());
        assert_eq!(
            std::fs::read_dir(d.path()).expect("ls").count(),
            0,
            "files left"
        );
        let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(!mi.contains(&d.path().display().to_string()), "{mi}");
        // A container in the store keeps it published.
        let _fd = sk.open().expect("open");
        std::fs::create_dir(d.path().join("c1")).expect("mkdir");
        sk.withdraw_if_unused(&store).expect("withdraw");
        assert!(open_ns(sk.path()).is_ok());
        std::fs::remove_dir(d.path().join("c1")).expect("rmdir");
        sk.withdraw_if_unused(&store).expect("withdraw");
        assert!(!sk.path().exists());
    }
}
