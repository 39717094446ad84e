//! docker's security defaults for a container spec: the default capability
//! set and `--cap-add`/`--cap-drop` ([`caps`]), the default seccomp profile
//! and `--security-opt seccomp=` ([`seccomp`]), `--privileged`
//! ([`privileged`]). Everything edits an `oci_spec::runtime::Spec`; parsing
//! the command line is the CLI's job.
//!
//! Typical order: `apply_caps`, then `apply_default_seccomp` (its
//! conditional rules look at the final bounding set) or
//! `apply_seccomp_option`; `apply_privileged` last when asked for.

use std::path::PathBuf;

pub mod caps;
pub mod privileged;
pub mod seccomp;

pub use caps::{
    apply_caps, bounding_caps, effective_caps, normalize_cap, set_caps, ALL_CAPS, DEFAULT_CAPS,
};
pub use privileged::{apply_privileged, host_devices};
pub use seccomp::{
    apply_default_seccomp, apply_seccomp_option, default_seccomp, seccomp_from_profile,
    set_seccomp, Target, DEFAULT_SECCOMP_PROFILE,
};

/// What can go wrong applying security settings.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A capability name that Linux does not have.
    #[error("unknown capability {0:?}: use a name like NET_ADMIN or CAP_NET_ADMIN, or ALL")]
    UnknownCapability(String),
    /// A seccomp profile that is not valid JSON of the moby/docker format.
    #[error("seccomp profile {source_name}: {source}")]
    Profile {
        /// The file (or "default").
        source_name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A seccomp profile file could not be read.
    #[error("read seccomp profile {path}: {source}")]
    ProfileFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The host's devices could not be listed for `--privileged`.
    #[error("list host devices under {path}: {source}")]
    HostDevices {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with [`SecurityError`].
pub type Result<T, E = SecurityError> = std::result::Result<T, E>;
