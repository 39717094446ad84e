//! The driver's error type: one enum whose variants carry what failed.

use std::path::PathBuf;

/// Anything the bridge driver can fail at.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A file or directory under the data root could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`write`, `read`, `lock`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A persisted JSON file does not parse.
    #[error("corrupt state file {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// No network of that name.
    #[error("network {0:?} not found (see `rcrun network ls`)")]
    NoSuchNetwork(String),
    /// A network of that name already exists.
    #[error("network {0:?} already exists")]
    NetworkExists(String),
    /// A user input (name, subnet, option) is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A requested subnet overlaps a host route or another network.
    #[error("subnet {subnet} overlaps {what}; choose another --subnet")]
    Overlap {
        /// The subnet asked for.
        subnet: ipnet::IpNet,
        /// What it overlaps (a route with its device, or a network).
        what: String,
    },
    /// No free subnet for the default network in the candidate pool.
    #[error("no free subnet for the default network: every candidate overlaps a host route ({0})")]
    NoFreeSubnet(String),
    /// The pool of a network has no free address.
    #[error("no free address in {subnet} of network {network:?}")]
    PoolExhausted {
        /// Network name.
        network: String,
        /// The exhausted subnet.
        subnet: ipnet::IpNet,
    },
    /// A static address is outside the subnet, reserved or already in use.
    #[error("address {ip} unavailable on network {network:?}: {reason}")]
    AddressUnavailable {
        /// Network name.
        network: String,
        /// The address asked for.
        ip: std::net::IpAddr,
        /// Why (in use by whom, outside the subnet, reserved).
        reason: String,
    },
    /// The network still has endpoints.
    #[error("network {network:?} has active endpoints ({endpoints}); detach them first")]
    InUse {
        /// Network name.
        network: String,
        /// Sandbox ids still attached.
        endpoints: String,
    },
    /// The sandbox is already attached to this network.
    #[error("sandbox {id} is already attached to network {network:?}")]
    AlreadyAttached {
        /// Sandbox id.
        id: String,
        /// Network name.
        network: String,
    },
    /// A host port is already published by another rcrun endpoint.
    #[error(
        "host port {port}/{proto} is already published by sandbox {holder} on network {network:?}"
    )]
    PortPublished {
        /// The port.
        port: u16,
        /// Protocol name.
        proto: String,
        /// Sandbox id that publishes it.
        holder: String,
        /// Its network.
        network: String,
    },
    /// A netlink request failed.
    #[error("netlink: {op}: {detail}")]
    Netlink {
        /// The operation (`add veth veth123 -> eth0`, ...).
        op: String,
        /// The kernel's answer.
        detail: String,
    },
    /// The sandbox network namespace cannot be entered.
    #[error("network namespace {path}: {detail}")]
    Netns {
        /// The netns path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A sysctl could not be written.
    #[error("sysctl {path}: {source} (is /proc/sys writable? are we root?)")]
    Sysctl {
        /// The /proc/sys path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The firewall back end failed.
    #[error("firewall: {0}")]
    Firewall(String),
    /// Several cleanup steps failed; each message is kept.
    #[error("{}", .0.join("; "))]
    Many(Vec<String>),
}

impl NetError {
    /// Shorthand for [`NetError::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NetError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for the driver.
pub type Result<T, E = NetError> = std::result::Result<T, E>;
