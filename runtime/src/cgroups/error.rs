//! The one error type of the cgroups module: every variant names the file,
//! directory or field that failed.

use std::io;
use std::path::PathBuf;

/// What went wrong while placing a container in its cgroups or limiting it.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `linux.cgroupsPath` cannot be used (escapes the hierarchy, empty, ...).
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No cgroup v1 controller hierarchy and no cgroup2 filesystem is mounted.
    #[error("no cgroup filesystem is mounted (checked {path}); mount cgroup2 on /sys/fs/cgroup or the v1 controllers under it")]
    NoCgroupFs {
        /// The mount table that was read.
        path: PathBuf,
    },
    /// A cgroup directory could not be created.
    #[error("create cgroup {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A cgroup file could not be written.
    #[error("write {value:?} to {path}: {source}")]
    Write {
        /// The cgroup file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The OS error.
        source: io::Error,
    },
    /// A cgroup or proc file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file held something this module does not understand.
    #[error("parse {path}: unexpected content {content:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// A cgroup directory could not be removed.
    #[error("remove cgroup {path}: {source}")]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A cgroup still had processes after waiting for them to leave.
    #[error(
        "remove cgroup {path}: still busy after {waited_ms} ms (processes left: kill them first)"
    )]
    Busy {
        /// The directory.
        path: PathBuf,
        /// How long we retried.
        waited_ms: u64,
    },
    /// A resource is set whose controller is not mounted on this host.
    #[error("{field} is set but the {controller} cgroup controller is not available on this host")]
    ControllerMissing {
        /// The `linux.resources` field, e.g. `linux.resources.hugepageLimits`.
        field: &'static str,
        /// The controller that would enforce it.
        controller: &'static str,
    },
    /// A resource that this cgroup version cannot express.
    #[error("{field} is not supported on {layout}: {hint}")]
    Unsupported {
        /// The `linux.resources` field.
        field: String,
        /// `cgroup v1`, `cgroup v2` or `hybrid cgroups`.
        layout: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// A resource value outside what the kernel accepts.
    #[error("{field} = {value}: {reason}")]
    InvalidValue {
        /// The `linux.resources` field.
        field: String,
        /// The value given.
        value: String,
        /// The accepted range or form.
        reason: &'static str,
    },
    /// The cgroup v2 device program could not be loaded or attached.
    #[error("{path}: {step}: {source}")]
    DeviceFilter {
        /// The cgroup2 directory.
        path: PathBuf,
        /// `load ...` or `attach ...`.
        step: &'static str,
        /// The OS error from bpf(2).
        source: io::Error,
    },
    /// Freezing or thawing did not reach the wanted state in time.
    #[error("{path}: cgroup did not become {wanted} within {waited_ms} ms")]
    FreezeTimeout {
        /// The freezer file.
        path: PathBuf,
        /// `frozen` or `thawed`.
        wanted: &'static str,
        /// How long we waited.
        waited_ms: u64,
    },
}
