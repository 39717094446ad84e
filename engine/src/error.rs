//! The engine's error type: one enum whose variants carry the id, name, path
//! or value that failed, and the docker exit code each maps to.

use std::path::PathBuf;

use rcrun_netapi::BackendError;

/// Result with [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Anything the orchestration can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No container has this id, id prefix or name.
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// An id prefix matches several containers.
    #[error("container id prefix {0:?} is ambiguous: give more characters or the name")]
    Ambiguous(String),
    /// The name is taken.
    #[error("container name {name:?} is already in use by container {id}: remove it or choose another --name")]
    NameInUse {
        /// The name asked for.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// No pod has this id or name.
    #[error("no such pod: {0}")]
    NoSuchPod(String),
    /// A pod name is taken.
    #[error("pod name {0:?} is already in use: remove it or choose another --name")]
    PodNameInUse(String),
    /// A run option or argument is not valid.
    #[error("invalid {option} {value:?}: {reason}")]
    Invalid {
        /// The option (`--memory`, `-v`, …).
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The operation needs the container stopped (or running).
    #[error("container {id} is {state}: {hint}")]
    WrongState {
        /// Container id or name.
        id: String,
        /// Its state.
        state: String,
        /// What to do.
        hint: &'static str,
    },
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A state file is corrupt.
    #[error("corrupt state file {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The image store failed (unknown image, pull, mount).
    #[error(transparent)]
    Image(#[from] rcrun_image::ImageError),
    /// Pulling failed.
    #[error("pull {reference}: {source}")]
    Pull {
        /// The reference.
        reference: String,
        /// The registry error.
        #[source]
        source: rcrun_image::registry::RegistryError,
    },
    /// A network back end failed.
    #[error("network {network}: {source}")]
    Network {
        /// The network name.
        network: String,
        /// The back end's error.
        #[source]
        source: BackendError,
    },
    /// The built-in driver failed outside an attach.
    #[error(transparent)]
    Net(#[from] rcrun_netdriver::NetError),
    /// The OCI runtime library failed.
    #[error(transparent)]
    Runtime(#[from] rcrun_runtime::RuntimeError),
    /// A helper program could not be run.
    #[error("run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The pause process of a sandbox failed to start.
    #[error("sandbox {id}: pause process: {reason}")]
    Pause {
        /// Sandbox id.
        id: String,
        /// What it said.
        reason: String,
    },
    /// The monitor failed to create the container.
    #[error("container {id}: {reason}")]
    Monitor {
        /// Container id.
        id: String,
        /// What it said.
        reason: String,
    },
    /// The container's command cannot be run (exit code 126 or 127).
    #[error("{message}")]
    Command {
        /// The runtime's message.
        message: String,
        /// 126 (cannot invoke) or 127 (not found).
        code: i32,
    },
    /// A capability, seccomp profile or privileged setting is invalid.
    #[error(transparent)]
    Security(#[from] crate::security_defaults::SecurityError),
    /// A named volume failed.
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
}

impl EngineError {
    /// Shorthand for [`EngineError::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`EngineError::Invalid`].
    pub fn invalid(
        option: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        EngineError::Invalid {
            option,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// The exit code `rcrun run` uses for this error, as docker: 126 when the
    /// command cannot be invoked, 127 when it is not found, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Command { code, .. } => *code,
            _ => 125,
        }
    }
}
