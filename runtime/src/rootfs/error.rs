//! The rootfs module's error type: every variant names the path, option or
//! key that failed and, where the kernel refused, its errno.

use std::path::PathBuf;

use nix::errno::Errno;

/// Why setting up the container's root filesystem failed.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// `linux.rootfsPropagation` is not one of the propagation names.
    #[error("linux.rootfsPropagation {0:?} is invalid: use shared, slave, private or unbindable (optionally r-prefixed)")]
    InvalidPropagation(String),

    /// A mount option is known but not supported by rcrun.
    #[error("mount {dest}: option {option:?} is not supported")]
    UnsupportedOption {
        /// The mount's destination.
        dest: PathBuf,
        /// The option.
        option: String,
    },

    /// A mount entry is malformed (no type, no source for a bind, ...).
    #[error("mount {dest}: {reason}")]
    InvalidMount {
        /// The mount's destination.
        dest: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A mount destination would cover part of /proc that may not be covered.
    #[error(
        "mount {dest}: mounting over /proc is only allowed for proc or for a few lxcfs-style files"
    )]
    ProcMountDenied {
        /// The mount's destination.
        dest: PathBuf,
    },

    /// Resolving or creating a path inside the rootfs failed.
    #[error("resolve {path} inside the rootfs: {source}")]
    Resolve {
        /// The path, as given in the spec.
        path: PathBuf,
        /// The kernel's answer.
        source: Errno,
    },

    /// A mount syscall failed.
    #[error("mount {what} on {dest}: {source}")]
    Mount {
        /// What was being mounted (`proc`, `tmpfs`, `bind from /src`, ...).
        what: String,
        /// The destination inside the rootfs.
        dest: PathBuf,
        /// The kernel's answer.
        source: Errno,
    },

    /// Changing propagation of `/`, binding the rootfs or pivoting failed.
    #[error("{step} for rootfs {rootfs}: {source}")]
    Root {
        /// Which step (`make / rslave`, `bind rootfs`, `pivot_root`, ...).
        step: &'static str,
        /// The rootfs path.
        rootfs: PathBuf,
        /// The kernel's answer.
        source: Errno,
    },

    /// Reading host information (mountinfo, cgroup membership) failed.
    #[error("read {path}: {source}")]
    HostInfo {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },

    /// No cgroup hierarchy of this host could be found to mount.
    #[error("mount cgroup on {dest}: {reason}")]
    Cgroup {
        /// The mount's destination.
        dest: PathBuf,
        /// What is missing.
        reason: String,
    },

    /// Creating a device node (or binding it from the host) failed.
    #[error("device {path}: {source}")]
    Device {
        /// The device path inside the container.
        path: PathBuf,
        /// The kernel's answer.
        source: Errno,
    },

    /// A host device to bind into a user-namespaced container is not the
    /// device the spec names.
    #[error("device {path}: the host's {path} is not the {kind} device {major}:{minor} the spec asks for")]
    DeviceMismatch {
        /// The device path.
        path: PathBuf,
        /// `char`, `block` or `fifo`.
        kind: &'static str,
        /// Expected major number.
        major: i64,
        /// Expected minor number.
        minor: i64,
    },

    /// `/proc` (or a file under it) is not the procfs it must be.
    #[error("{path} is not a trustworthy procfs ({reason}); is /proc mounted in the container?")]
    UntrustedProcfs {
        /// The path checked.
        path: PathBuf,
        /// What the check found.
        reason: &'static str,
    },

    /// Opening or reading a procfs file failed.
    #[error("read /proc/{path}: {source}")]
    ProcRead {
        /// The path below /proc.
        path: String,
        /// The kernel's answer.
        source: Errno,
    },

    /// Writing a procfs file failed.
    #[error("write {value:?} to /proc/{path}: {source}")]
    ProcWrite {
        /// The path below /proc.
        path: String,
        /// The value written.
        value: String,
        /// The kernel's answer.
        source: Errno,
    },

    /// A `linux.sysctl` key is malformed or may not be set in this container.
    #[error("linux.sysctl {key:?}: {reason}")]
    SysctlNotAllowed {
        /// The key.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// Writing a `linux.sysctl` value failed.
    #[error("linux.sysctl {key}={value:?}: {source}")]
    Sysctl {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The kernel's answer.
        source: Errno,
    },

    /// The /dev/null used to mask files is not the real null device
    /// (CVE-2025-31133: a swapped /dev/null would unmask, not mask).
    #[error("/dev/null in the container is not the character device 1:3; refusing to mask {path} with it")]
    FakeDevNull {
        /// The masked path it would have been bound over.
        path: PathBuf,
    },

    /// Masking a `linux.maskedPaths` entry failed.
    #[error("linux.maskedPaths {path}: {source}")]
    Mask {
        /// The path.
        path: PathBuf,
        /// The kernel's answer.
        source: Errno,
    },

    /// Making a `linux.readonlyPaths` entry read-only failed.
    #[error("linux.readonlyPaths {path}: {source}")]
    ReadonlyPath {
        /// The path.
        path: PathBuf,
        /// The kernel's answer.
        source: Errno,
    },

    /// Remounting the root read-only (`root.readonly`) failed.
    #[error("root.readonly: remount / read-only: {0}")]
    ReadonlyRoot(Errno),

    /// Binding the terminal onto /dev/console failed.
    #[error("/dev/console: {source}")]
    Console {
        /// The kernel's answer.
        source: Errno,
    },
}
