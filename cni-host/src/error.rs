//! The one error type of the CNI host; every variant names the file, network
//! or plugin that failed.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The error object a plugin prints on stdout when it fails (spec "Error").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginErrorObject {
    /// Version of the error's format.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Error code: 1-99 are reserved by the spec (see [`well_known_code`]).
    pub code: u32,
    /// Short message.
    #[serde(default)]
    pub msg: String,
    /// Longer explanation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

/// The meaning of a spec-reserved error code, if it is one.
pub fn well_known_code(code: u32) -> Option<&'static str> {
    Some(match code {
        1 => "incompatible CNI version",
        2 => "unsupported field in network configuration",
        3 => "container unknown or does not exist",
        4 => "invalid necessary environment variables",
        5 => "I/O failure",
        6 => "failed to decode content",
        7 => "invalid network config",
        11 => "try again later",
        50 => "plugin not available",
        51 => "plugin available with limited connectivity",
        _ => return None,
    })
}

/// How one plugin invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginFailure {
    /// The plugin exited non-zero and printed a CNI error object.
    #[error("error code {}: {}{}", .0.code, .0.msg, if .0.details.is_empty() { String::new() } else { format!(" ({})", .0.details) })]
    Error(PluginErrorObject),
    /// The plugin exited non-zero without a parsable error object.
    #[error("exited with status {code}{}", describe_output(.stdout, .stderr))]
    Exit {
        /// Exit code.
        code: i32,
        /// What it printed on stdout (trimmed).
        stdout: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// The plugin was killed by a signal (a crash).
    #[error("killed by signal {signal}{}", describe_output("", .stderr))]
    Signal {
        /// Signal number.
        signal: i32,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// The plugin did not finish in time; its process group was killed.
    #[error("did not finish within {after:?}; killed its process group")]
    Timeout {
        /// The per-call timeout.
        after: Duration,
    },
    /// The plugin succeeded but printed no result where one is required.
    #[error("succeeded but printed no result")]
    EmptyOutput,
    /// The plugin printed something that is not a valid result.
    #[error("printed an invalid result ({reason}): {output:?}")]
    Garbage {
        /// Why it is invalid.
        reason: String,
        /// The start of what it printed.
        output: String,
    },
    /// The plugin supports none of the versions the configuration needs.
    #[error("supports CNI versions {supported:?} only, the network asks for {asked}")]
    IncompatibleVersion {
        /// The configuration's version.
        asked: String,
        /// What the plugin's VERSION answered.
        supported: Vec<String>,
    },
    /// Starting the plugin or talking to it failed.
    #[error("exec {path}: {source}")]
    Spawn {
        /// Path of the plugin binary.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn describe_output(stdout: &str, stderr: &str) -> String {
    match (stdout.is_empty(), stderr.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(", stdout: {stdout:?}"),
        (true, false) => format!(", stderr: {stderr:?}"),
        (false, false) => format!(", stdout: {stdout:?}, stderr: {stderr:?}"),
    }
}

/// Every failure of the CNI host.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    /// A configuration file is unreadable or invalid.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Two files define the same network name.
    #[error("network {name:?} is defined twice, in {first} and {second}; rename or remove one")]
    DuplicateNetwork {
        /// The network name.
        name: String,
        /// The first file (lexical order).
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// A plugin named by a configuration is not on CNI_PATH.
    #[error("{file}: plugin {plugin:?} of network {network:?} not found in CNI_PATH {path}")]
    PluginNotFound {
        /// The configuration file.
        file: PathBuf,
        /// The network name.
        network: String,
        /// The plugin type.
        plugin: String,
        /// The search path, `:`-joined.
        path: String,
    },
    /// No network of that name in the conf dir.
    #[error("no CNI network {name:?} in {dir}")]
    NetworkNotFound {
        /// The requested name.
        name: String,
        /// The conf dir searched.
        dir: PathBuf,
    },
    /// The conf dir holds no valid network.
    #[error("no valid CNI network configuration in {dir}")]
    NoNetworks {
        /// The conf dir searched.
        dir: PathBuf,
    },
    /// An argument (container id, interface name, network name) breaks the spec's rules.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// Its value.
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A version string is not `major.minor.patch`.
    #[error("invalid CNI version {value:?}")]
    InvalidVersion {
        /// The string.
        value: String,
    },
    /// The configuration's version does not support the operation.
    #[error("network {network:?}: configuration version {version} does not support the {command} command")]
    NotSupported {
        /// The network name.
        network: String,
        /// Its cniVersion.
        version: String,
        /// The command (CHECK, STATUS, GC).
        command: &'static str,
    },
    /// One plugin invocation failed.
    #[error("network {network:?}: plugin {plugin:?} failed ({command}): {failure}")]
    Plugin {
        /// The network name.
        network: String,
        /// The plugin type.
        plugin: String,
        /// The CNI command.
        command: &'static str,
        /// How it failed.
        #[source]
        failure: Box<PluginFailure>,
    },
    /// ADD failed and the DEL that should undo it failed too.
    #[error("{add}; undoing it with DEL failed too: {}", join(.del))]
    RollbackFailed {
        /// The ADD failure.
        add: Box<CniError>,
        /// The DEL failures.
        del: Vec<CniError>,
    },
    /// ADD of an attachment that was added and not deleted (the spec forbids a second ADD).
    #[error("network {network:?}: container {container_id:?} interface {ifname:?} is already attached; DEL it first")]
    AlreadyAttached {
        /// The network name.
        network: String,
        /// The container id.
        container_id: String,
        /// The interface name.
        ifname: String,
    },
    /// CHECK (or detach) of an attachment that has no cached ADD result.
    #[error("network {network:?}: container {container_id:?} interface {ifname:?} is not attached (no cached result)")]
    NotAttached {
        /// The network name.
        network: String,
        /// The container id.
        container_id: String,
        /// The interface name.
        ifname: String,
    },
    /// A capability argument was given but no plugin of the network declares it.
    #[error("network {network:?}: no plugin declares the {capability:?} capability, so {what} cannot be honoured")]
    CapabilityUnsupported {
        /// The network name.
        network: String,
        /// The capability.
        capability: &'static str,
        /// What the caller asked for, in words.
        what: &'static str,
    },
    /// A result could not be parsed or converted.
    #[error("network {network:?}: {reason}")]
    Result {
        /// The network name.
        network: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the result cache failed.
    #[error("CNI cache {path}: {reason}")]
    Cache {
        /// The cache file or dir.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// GC collected several failures.
    #[error("GC of network {network:?}: {}", join(.errors))]
    Gc {
        /// The network name.
        network: String,
        /// Every failure, in order.
        errors: Vec<CniError>,
    },
}

fn join(errors: &[CniError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CniError {
    /// The configuration file this error is about, when it is about one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            CniError::Config { path, .. } if !path.as_os_str().is_empty() => Some(path),
            CniError::DuplicateNetwork { second, .. } => Some(second),
            CniError::PluginNotFound { file, .. } if !file.as_os_str().is_empty() => Some(file),
            _ => None,
        }
    }

    /// The network name this error is about, when known.
    pub fn network(&self) -> Option<&str> {
        match self {
            CniError::DuplicateNetwork { name, .. } => Some(name),
            CniError::PluginNotFound { network, .. }
            | CniError::NotSupported { network, .. }
            | CniError::Plugin { network, .. }
            | CniError::NotAttached { network, .. }
            | CniError::AlreadyAttached { network, .. }
            | CniError::CapabilityUnsupported { network, .. }
            | CniError::Result { network, .. }
            | CniError::Gc { network, .. } => Some(network),
            CniError::NetworkNotFound { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The plugin's CNI error object, when this error (or the ADD it undid) carries one.
    pub fn plugin_error(&self) -> Option<&PluginErrorObject> {
        match self {
            CniError::Plugin { failure, .. } => match failure.as_ref() {
                PluginFailure::Error(obj) => Some(obj),
                _ => None,
            },
            CniError::RollbackFailed { add, .. } => add.plugin_error(),
            _ => None,
        }
    }

    /// The plugin failure, when this is one (or the ADD it undid was one).
    pub fn plugin_failure(&self) -> Option<&PluginFailure> {
        match self {
            CniError::Plugin { failure, .. } => Some(failure.as_ref()),
            CniError::RollbackFailed { add, .. } => add.plugin_failure(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_error_message_names_network_plugin_and_code() {
        let e = CniError::Plugin {
            network: "net1".into(),
            plugin: "bridge".into(),
            command: "ADD",
            failure: Box::new(PluginFailure::Error(PluginErrorObject {
                cni_version: "1.0.0".into(),
                code: 7,
                msg: "bad config".into(),
                details: "field x".into(),
            })),
        };
        let s = e.to_string();
        assert!(s.contains("\"net1\"") && s.contains("\"bridge\"") && s.contains("ADD"));
        assert!(s.contains("error code 7: bad config (field x)"), "{s}");
        assert_eq!(e.plugin_error().map(|o| o.code), Some(7));
        assert_eq!(well_known_code(7), Some("invalid network config"));
    }
}
