//! The contract between sandbox orchestration and a network back end.
//!
//! A sandbox is a network namespace (a path, usually a bind mount under the
//! state dir). A back end attaches it to a network, detaches it, and checks the
//! attachment. The built-in bridge driver (`rcrun-netdriver`) and the CNI host
//! (`rcrun-cni-host`) both implement [`NetworkBackend`], so the caller does not
//! care which one a container uses. Everything here is synchronous: a back end
//! that needs async (netlink) runs it on its own thread or runtime.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod portspec;
pub use portspec::{parse_port_spec, PortSpecError};

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// One published port: host side (optional IP, port; 0 = pick a free one) to
/// container port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// Host address the mapping answers on; `None` means every host address.
    pub host_ip: Option<IpAddr>,
    /// Host port; 0 asks the back end to choose a free port.
    pub host_port: u16,
    /// Port inside the sandbox.
    pub container_port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
}

/// The sandbox being attached: its id (unique per host) and netns path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRef {
    /// Sandbox (container or pod) id; used as CNI_CONTAINERID and for IPAM ownership.
    pub id: String,
    /// Path of the sandbox's network namespace (e.g. a bind mount of /proc/PID/ns/net).
    pub netns: PathBuf,
}

/// What the caller asks of an attach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachOptions {
    /// Interface name inside the sandbox (default `eth0`).
    pub ifname: Option<String>,
    /// Ports to publish.
    pub port_mappings: Vec<PortMapping>,
    /// Static addresses requested (`--ip`); empty = allocate.
    pub static_ips: Vec<IpAddr>,
    /// Requested MAC address.
    pub mac: Option<String>,
    /// Extra names this sandbox answers to on the network (`--network-alias`).
    pub aliases: Vec<String>,
    /// Sandbox hostname (for per-network name resolution).
    pub hostname: Option<String>,
}

/// An address assigned to an interface of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedIp {
    /// The address.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The gateway for this address, if any.
    pub gateway: Option<IpAddr>,
    /// Interface name inside the sandbox.
    pub interface: String,
}

/// DNS settings a back end hands back for the sandbox's resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSettings {
    /// Nameserver addresses.
    pub nameservers: Vec<IpAddr>,
    /// Search domains.
    pub search: Vec<String>,
    /// resolv.conf options.
    pub options: Vec<String>,
}

/// The outcome of a successful attach; persisted by the caller and shown by `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Network name.
    pub network: String,
    /// Addresses given to the sandbox.
    pub ips: Vec<AssignedIp>,
    /// MAC address of the sandbox interface, when known.
    pub mac: Option<String>,
    /// Published ports as actually bound (host_port 0 resolved).
    pub port_mappings: Vec<PortMapping>,
    /// DNS settings, when the back end has any.
    pub dns: Option<DnsSettings>,
}

/// Any back end failure, boxed: each back end has its own typed error.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Attach a sandbox's network namespace to a network, detach it, check it.
///
/// `detach` must succeed when the attachment is already (partly) gone, so it
/// can finish the job after a crash. `attach` that fails half-way undoes what
/// it did before returning the error.
pub trait NetworkBackend: std::fmt::Debug {
    /// Attach `sandbox` to `network`.
    fn attach(
        &self,
        network: &str,
        sandbox: &SandboxRef,
        opts: &AttachOptions,
    ) -> Result<Attachment, BackendError>;
    /// Detach `sandbox` from `network`, releasing every resource it held.
    fn detach(&self, network: &str, sandbox: &SandboxRef) -> Result<(), BackendError>;
    /// Verify the attachment is still as attach left it.
    fn check(&self, network: &str, sandbox: &SandboxRef) -> Result<(), BackendError>;
}
