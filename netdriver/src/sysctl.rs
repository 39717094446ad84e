//! Kernel settings the bridge driver needs, written through `/proc/sys`.
//! A value already set is not rewritten.

use std::path::{Path, PathBuf};

use crate::error::{NetError, Result};

fn set(path: &str, value: &str) -> Result<()> {
    let p = Path::new(path);
    if let Ok(cur) = std::fs::read_to_string(p) {
        if cur.trim() == value {
            return Ok(());
        }
    }
    std::fs::write(p, value).map_err(|e| NetError::Sysctl {
        path: PathBuf::from(p),
        source: e,
    })
}

/// `net.ipv4.ip_forward=1` (and IPv6 forwarding on dual-stack networks).
pub fn enable_forwarding(ipv6: bool) -> Result<()> {
    set("/proc/sys/net/ipv4/ip_forward", "1")?;
    if ipv6 {
        set("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(())
}

/// `route_localnet=1` on the bridge so DNAT of packets to 127.0.0.1 can be
/// routed out of it (published ports reachable at localhost).
pub fn enable_route_localnet(bridge: &str) -> Result<()> {
    set(
        &format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )
}

/// `net.ipv6.conf.<ifname>.disable_ipv6=1` in the calling thread's network
/// namespace (procfs resolves `/proc/sys/net` by the opener's netns). Used on
/// interfaces that need no IPv6: a bridge port (layer 2 only) and a sandbox's
/// interface on an IPv4-only network. Without it each gets a link-local
/// address whose DAD and MLD reports the bridge floods to every port, work
/// that grows with the number of containers. No-op when the kernel has no
/// IPv6.
///
/// For the host's own namespace; a sandbox's interface goes through
/// [`disable_ipv6_in_sandbox`].
pub fn disable_ipv6(ifname: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    match std::fs::write(&path, "1") {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && !Path::new("/proc/sys/net/ipv6").exists() =>
        {
            Ok(())
        }
        Err(e) => Err(NetError::Sysctl {
            path: PathBuf::from(path),
            source: e,
        }),
    }
}

/// [`disable_ipv6`] for a thread inside a sandbox's network namespace,
/// looked up through a procfs instance of its own (made with `fsopen`, never
/// attached, gone when the call returns).
///
/// Through the host's `/proc`, every namespace that looks up a per-namespace
/// sysctl directory (`/proc/sys/net/ipv6`, ...) leaves a dentry of its own
/// under the same parent and name, and each later lookup, from any
/// namespace, walks all of them: with 200 sandboxes the first lookup from a
/// new one took about 0.4 ms, and the host's own lookups slowed down too.
/// A private instance keeps those dentries out of the host's `/proc`.
/// Falls back to `/proc` where `fsopen` is unavailable.
pub fn disable_ipv6_in_sandbox(ifname: &str) -> Result<()> {
    let proc_mnt = match private_proc::mount() {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            return disable_ipv6(ifname)
        }
        Err(e) => {
            return Err(NetError::Sysctl {
                path: PathBuf::from("proc (a private instance)"),
                source: e,
            })
        }
    };
    let rel = format!("sys/net/ipv6/conf/{ifname}/disable_ipv6");
    match private_proc::write(&proc_mnt, &rel, b"1") {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && !private_proc::exists(&proc_mnt, "sys/net/ipv6") =>
        {
            Ok(())
        }
        Err(e) => Err(NetError::Sysctl {
            path: PathBuf::from(format!("/proc/{rel}")),
            source: e,
        }),
    }
}

/// A detached procfs mount and path operations relative to it.
mod private_proc {
    use std::ffi::CString;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn fd_or_err(ret: libc::c_long) -> io::Result<OwnedFd> {
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: the kernel just returned this new fd; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// `fsopen("proc")` + `fsconfig(CREATE)` + `fsmount`: a new procfs
    /// instance of the caller's pid namespace, reachable only by the fd.
    pub(super) fn mount() -> io::Result<OwnedFd> {
        // SAFETY: plain syscall with a static NUL-terminated fs name.
        let fs = fd_or_err(unsafe {
            libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), libc::FSOPEN_CLOEXEC)
        })?;
        // SAFETY: fs is a valid fs context fd; CMD_CREATE takes no key/value.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                libc::FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        let attrs = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
        // SAFETY: fs is a created fs context; returns a new mount fd.
        fd_or_err(unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                fs.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC,
                libc::c_ulong::from(attrs),
            )
        })
    }

    fn open(mnt: &OwnedFd, rel: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
        let path = CString::new(rel).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: mnt is an open directory fd and path a valid C string.
        let ret = unsafe {
            libc::openat(
                mnt.as_raw_fd(),
                path.as_ptr(),
                flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        fd_or_err(libc::c_long::from(ret))
    }

    /// Write `value` to the file at `rel` under the mount.
    pub(super) fn write(mnt: &OwnedFd, rel: &str, value: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let fd = open(mnt, rel, libc::O_WRONLY)?;
        std::fs::File::from(fd).write_all(value)
    }

    /// Does `rel` exist under the mount?
    pub(super) fn exists(mnt: &OwnedFd, rel: &str) -> bool {
        open(mnt, rel, libc::O_PATH).is_ok()
    }
}
