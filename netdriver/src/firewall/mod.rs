//! Firewall back ends of the built-in driver: NAT, filtering and port
//! publishing for rcrun bridge networks.
//!
//! The driver calls a [`FirewallDriver`] with plain descriptions of networks
//! ([`NetworkFw`]) and of a sandbox's published ports ([`PortForward`]); the
//! firewall persists nothing itself, the caller hands the whole state back to
//! [`FirewallDriver::reload`] after someone flushed the ruleset. Host ports are
//! reserved first with [`reserve_ports`], which holds bound sockets for as long
//! as the mapping lives.
//!
//! [`NftFirewall`] programs one nftables table (`inet rcrun` by default); see
//! `nft/layout.rs` for its layout and [`FW_MARK`] for the mark accepted traffic
//! carries. [`NoneFirewall`] does nothing (`--network` modes that need no NAT,
//! or hosts managed by someone else).

mod error;
pub mod nft;
mod ports;
mod xtables;

pub use error::{proto_name, FirewallError};
pub use nft::{NftFirewall, DEFAULT_TABLE, FW_MARK};
pub use ports::{reserve_ports, reserve_ports_with, HeldPort, PortOwners, PortReservation};

use std::net::IpAddr;

use ipnet::IpNet;
use rcrun_netapi::PortMapping;

/// One rcrun network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFw {
    /// Network name (for messages).
    pub name: String,
    /// Bridge interface name.
    pub bridge: String,
    /// Subnets of the network (IPv4 and, on dual-stack networks, IPv6).
    pub subnets: Vec<IpNet>,
    /// `--internal`: no masquerade, no traffic in or out of the bridge.
    pub internal: bool,
}

/// The published ports of one sandbox on one network (host ports resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// Network name.
    pub network: String,
    /// The network's bridge.
    pub bridge: String,
    /// Sandbox id; recorded with each map element so conflicts can name it.
    pub sandbox_id: String,
    /// The sandbox's addresses on this network (first IPv4 and first IPv6 are used).
    pub container_ips: Vec<IpAddr>,
    /// The mappings; `host_port` must not be 0 any more.
    pub mappings: Vec<PortMapping>,
}

/// Program NAT and filtering for networks and published ports.
///
/// Every method is one atomic change: it applies completely or not at all.
/// Teardown methods succeed when what they remove is already gone.
pub trait FirewallDriver: std::fmt::Debug {
    /// Add the rules of a network (idempotent).
    fn setup_network(&self, n: &NetworkFw) -> Result<(), FirewallError>;
    /// Remove the rules of a network; the last network removes everything of rcrun's.
    fn teardown_network(&self, n: &NetworkFw) -> Result<(), FirewallError>;
    /// Publish a sandbox's ports (idempotent for the same sandbox).
    fn setup_port_forward(&self, p: &PortForward) -> Result<(), FirewallError>;
    /// Withdraw a sandbox's published ports.
    fn teardown_port_forward(&self, p: &PortForward) -> Result<(), FirewallError>;
    /// Re-create every rule of rcrun from `networks` and `forwards`, atomically.
    fn reload(&self, networks: &[NetworkFw], forwards: &[PortForward])
        -> Result<(), FirewallError>;
}

/// A firewall that does nothing: no NAT, no filtering, no published ports.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoneFirewall;

impl FirewallDriver for NoneFirewall {
    fn setup_network(&self, _n: &NetworkFw) -> Result<(), FirewallError> {
        Ok(())
    }
    fn teardown_network(&self, _n: &NetworkFw) -> Result<(), FirewallError> {
        Ok(())
    }
    fn setup_port_forward(&self, _p: &PortForward) -> Result<(), FirewallError> {
        Ok(())
    }
    fn teardown_port_forward(&self, _p: &PortForward) -> Result<(), FirewallError> {
        Ok(())
    }
    fn reload(
        &self,
        _networks: &[NetworkFw],
        _forwards: &[PortForward],
    ) -> Result<(), FirewallError> {
        Ok(())
    }
}

impl PortOwners for NoneFirewall {
    fn publisher(&self, _port: u16, _protocol: rcrun_netapi::Protocol) -> Option<String> {
        None
    }
}
