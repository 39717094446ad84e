//! Persistent network namespaces: a new netns bind-mounted on a file (as
//! `ip netns add` does), so it outlives the processes in it until removed.
//! The namespace is made in a short child process (unshare + bind mount,
//! then exec `true`), never by unsharing a thread of the caller.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{EngineError, Result};
use crate::fsutil::Lock;

/// Programs tried, in order, as the child's no-op after the bind mount.
const TRUE_BINS: [&str; 2] = ["/bin/true", "/usr/bin/true"];

/// Create a new network namespace (with only `lo`, brought up here so
/// `--network none` and joined containers have localhost) and bind-mount it
/// on `path` (created; its directory too).
pub fn create(path: &Path) -> Result<()> {
    // The file is made under the directory's lock: `release_dir` only
    // unmounts an empty directory.
    let _lock = match path.parent() {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::io("create directory", dir, e))?;
            let lock = Lock::acquire(&dir_lock(dir))?;
            ensure_own_mount(dir)?;
            Some(lock)
        }
        None => None,
    };
    std::fs::File::create(path).map_err(|e| EngineError::io("create", path, e))?;
    drop(_lock);
    let target = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| EngineError::invalid("netns path", path.display().to_string(), "NUL byte"))?;
    let source = c"/proc/self/ns/net";
    let program = TRUE_BINS
        .iter()
        .find(|p| Path::new(p).exists())
        .copied()
        .unwrap_or(TRUE_BINS[0]);
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe system calls on data prepared before fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            mount_flags(source.as_ptr(), target.as_ptr(), libc::MS_BIND)?;
            // An all-zero ifreq is valid; name "lo", flags up (plain stores).
            let mut lo_up: libc::ifreq = std::mem::zeroed();
            for (d, s) in lo_up.ifr_name.iter_mut().zip(b"lo\0") {
                *d = *s as libc::c_char;
            }
            lo_up.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if sock < 0 || libc::ioctl(sock, libc::SIOCSIFFLAGS, &lo_up) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(sock);
            Ok(())
        });
    }
    let status = cmd.status().map_err(|e| {
        let _ = std::fs::remove_file(path);
        EngineError::io("create network namespace at", path, e)
    })?;
    if !status.success() {
        remove(path)?;
        return Err(EngineError::io(
            "create network namespace at",
            path,
            std::io::Error::other(format!("helper exited with {status}")),
        ));
    }
    Ok(())
}

/// Unmount and remove the namespace file at `path` — a netns, or the shared
/// pause mount namespace (missing or unmounted is fine).
pub fn remove(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| EngineError::invalid("netns path", path.display().to_string(), "NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated path for the call.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) {
            return Err(EngineError::io("unmount", path, e));
        }
    }
    crate::fsutil::remove_file(path)
}

/// Remove the netns file at `path` (as `remove`), then the directory's own
/// mount once no netns is left in it.
pub fn remove_netns(path: &Path) -> Result<()> {
    remove(path)?;
    match path.parent() {
        Some(dir) => release_dir(dir),
        None => Ok(()),
    }
}

/// The lock serialising the netns directory's mount and unmount.
fn dir_lock(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    dir.with_file_name(name)
}

/// Make `dir` a (private) mount of its own, as `ip netns` does for
/// /run/netns: the netns bind mounts are then its children rather than
/// children of the run root's file system, whose files (a sandbox's hosts
/// and resolv.conf) containers bind-mount; cloning a mount for a bind walks
/// the children of the mount it comes from, one per sandbox otherwise.
///
/// Only an empty directory is mounted over: one holding netns mounts
/// already (made by an rcrun before this layout) keeps them visible, and
/// gets its own mount once they are all gone.
fn ensure_own_mount(dir: &Path) -> Result<()> {
    if is_mount_root(dir)? {
        return Ok(());
    }
    if !is_empty_dir(dir)? {
        return Ok(());
    }
    let c = cpath(dir)?;
    // SAFETY: `c` is a valid NUL-terminated path for each call.
    unsafe {
        mount_flags(c.as_ptr(), c.as_ptr(), libc::MS_BIND)
            .map_err(|e| EngineError::io("bind-mount onto itself", dir, e))?;
        if let Err(e) = mount_flags(std::ptr::null(), c.as_ptr(), libc::MS_PRIVATE) {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
            return Err(EngineError::io("make private", dir, e));
        }
    }
    Ok(())
}

/// `mount(source, target, NULL, flags, NULL)`: a bind or a propagation
/// change. Allocates nothing, so a `pre_exec` closure may call it.
///
/// # Safety
/// `target` must be a valid NUL-terminated path, `source` one or null.
unsafe fn mount_flags(
    source: *const libc::c_char,
    target: *const libc::c_char,
    flags: libc::c_ulong,
) -> std::io::Result<()> {
    // SAFETY: the caller passes valid paths; null type and data are allowed
    // for a bind and a propagation change.
    if unsafe { libc::mount(source, target, std::ptr::null(), flags, std::ptr::null()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Unmount `dir`'s own mount (see `ensure_own_mount`) when it holds no
/// netns any more; a missing directory is fine.
pub fn release_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let _lock = Lock::acquire(&dir_lock(dir))?;
    if !is_empty_dir(dir)? || !is_mount_root(dir)? {
        return Ok(());
    }
    let c = cpath(dir)?;
    // SAFETY: `c` is a valid NUL-terminated path for the call.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(EngineError::io(
            "unmount",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Is `dir` the root of a mount (statx `STATX_ATTR_MOUNT_ROOT`)?
fn is_mount_root(dir: &Path) -> Result<bool> {
    let c = cpath(dir)?;
    // SAFETY: an all-zero statx buffer is valid; the kernel fills it.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and buffer for the call.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            0,
            libc::STATX_BASIC_STATS,
            &mut st,
        )
    };
    if rc != 0 {
        return Err(EngineError::io(
            "stat",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if st.stx_attributes_mask & bit == 0 {
        // A kernel before 5.8 does not say: treat as not a mount root, so
        // the bind is made (a second bind over it would be harmless).
        return Ok(false);
    }
    Ok(st.stx_attributes & bit != 0)
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| EngineError::io("list", dir, e))?
        .next()
        .is_none())
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| EngineError::invalid("path", p.display().to_string(), "NUL byte"))
}

/// Is a namespace mounted at `path`?
pub fn is_mounted(path: &Path) -> bool {
    rcrun_netdriver::netns::is_alive(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// The netns directory becomes its own mount on first use, stays one
    /// while a netns is in it, and is unmounted with the last; a directory
    /// that already holds entries is never mounted over.
    #[test]
    fn netns_dir_mount_follows_its_contents() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("netns");
        let ns = dir.join("sb1");
        create(&ns).unwrap();
        let res = std::panic::catch_unwind(|| {
            assert!(is_mount_root(&dir).unwrap(), "own mount while in use");
            assert!(is_mounted(&ns));
            release_dir(&dir).unwrap();
            assert!(is_mount_root(&dir).unwrap(), "kept while a netns is in it");
            remove_netns(&ns).unwrap();
            assert!(
                !is_mount_root(&dir).unwrap(),
                "unmounted with the last netns"
            );
            assert!(!ns.exists());
            // A directory with entries (an older layout) is left as it is.
            std::fs::write(dir.join("old"), "").unwrap();
            ensure_own_mount(&dir).unwrap();
            assert!(!is_mount_root(&dir).unwrap());
        });
        let _ = remove(&ns);
        let c = cpath(&dir).unwrap();
        // SAFETY: valid path; failure (not mounted) is fine here.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        if let Err(p) = res {
            std::panic::resume_unwind(p);
        }
    }
}
