//! The error type of the runtime core (spec, state, lifecycle, process setup).
//! Rootfs and cgroup code have their own error enums; they reach callers as
//! the message of [`RuntimeError::Cgroup`] or of a failed container init
//! ([`RuntimeError::Init`]).

use std::path::PathBuf;

/// Everything that can go wrong in the runtime core. Every variant names the
/// container, path or spec field that failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Reading a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path that could not be read or written.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON or not a valid runtime spec.
    #[error("invalid {path}: {message}")]
    InvalidConfig {
        /// The config file.
        path: PathBuf,
        /// What the parser said (with line and column).
        message: String,
    },
    /// The spec parsed but asks for something the runtime cannot or will not do.
    #[error("config.json {field}: {message}")]
    InvalidSpec {
        /// The spec field, e.g. `linux.namespaces`.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The container id does not match `^[\w+.-]+$` or is too long.
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.'")]
    InvalidId(String),
    /// `create` of an id that already has a state dir.
    #[error("container with id {0:?} already exists")]
    Exists(String),
    /// An id with no state dir.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// A lifecycle verb that the container's current status does not allow.
    #[error("container {id:?} is {status}: {message}")]
    BadState {
        /// The container.
        id: String,
        /// Its status now.
        status: String,
        /// What was refused.
        message: String,
    },
    /// A signal name or number that is not a signal.
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What the runtime was doing, with the values involved.
        what: String,
        /// The errno.
        source: nix::Error,
    },
    /// The container's init reported a setup error, or died during setup.
    #[error("container init: {0}")]
    Init(String),
    /// The process of an `exec` reported a setup error, or died during setup.
    #[error("exec in container {id:?}: {message}")]
    Exec {
        /// The container.
        id: String,
        /// What failed.
        message: String,
    },
    /// The state file of a container is corrupt.
    #[error("state of container {id:?} ({path}): {message}")]
    CorruptState {
        /// The container.
        id: String,
        /// The state file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
    /// Creating, configuring or removing the container's cgroup failed.
    #[error("cgroup: {0}")]
    Cgroup(String),
    /// The runtime binary is not protected against CVE-2019-5736.
    #[error("{0}")]
    Unsealed(String),
}

/// Shorthand for results of the runtime core.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

impl RuntimeError {
    /// An [`RuntimeError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`RuntimeError::Sys`] saying what was being done.
    pub fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        RuntimeError::Sys {
            what: what.into(),
            source,
        }
    }

    /// An [`RuntimeError::InvalidSpec`] for `field`.
    pub fn spec(field: impl Into<String>, message: impl Into<String>) -> Self {
        RuntimeError::InvalidSpec {
            field: field.into(),
            message: message.into(),
        }
    }
}
