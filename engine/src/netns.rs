//! Persistent network namespaces: a new netns bind-mounted on a file (as
//! `ip netns add` does), so it outlives the processes in it until removed.
//! The namespace is made in a short child process (unshare + bind mount,
//! then exec `true`), never by unsharing a thread of the caller.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{EngineError, Result};

/// Programs tried, in order, as the child's no-op after the bind mount.
const TRUE_BINS: [&str; 2] = ["/bin/true", "/usr/bin/true"];

/// Create a new network namespace (with only `lo`, brought up here so
/// `--network none` and joined containers have localhost) and bind-mount it
/// on `path` (created; its directory too).
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io("create directory", dir, e))?;
    }
    std::fs::File::create(path).map_err(|e| EngineError::io("create", path, e))?;
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
            if libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
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

/// Is a namespace mounted at `path`?
pub fn is_mounted(path: &Path) -> bool {
    rcrun_netdriver::netns::is_alive(path)
}
