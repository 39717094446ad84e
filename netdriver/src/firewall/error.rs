//! The one error type of the firewall area.

use std::net::IpAddr;
use std::path::PathBuf;

use rcrun_netapi::Protocol;

/// Display form of a protocol as users write it (`tcp`, `udp`, `sctp`).
pub fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// `IP:` prefix for a host address in messages (empty for every address).
fn host_prefix(ip: &Option<IpAddr>) -> String {
    match ip {
        None => String::new(),
        Some(IpAddr::V4(a)) => format!("{a}:"),
        Some(IpAddr::V6(a)) => format!("[{a}]:"),
    }
}

/// What can go wrong while programming the firewall or reserving host ports.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A host port is held by a socket of another process (or an rcrun sandbox).
    #[error("host port {}{port}/{} is already in use ({owner}); choose another host port", host_prefix(.host_ip), proto_name(*.protocol))]
    PortInUse {
        /// The host address of the mapping, `None` for every address.
        host_ip: Option<IpAddr>,
        /// The host port.
        port: u16,
        /// Its protocol.
        protocol: Protocol,
        /// `published by sandbox X` or `by another process`.
        owner: String,
    },
    /// Binding the reservation socket failed for another reason than "in use".
    #[error("reserve host port {addr}/{}: {source}", proto_name(*.protocol))]
    Reserve {
        /// The address that could not be bound.
        addr: std::net::SocketAddr,
        /// Its protocol.
        protocol: Protocol,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A mapping's host IP is not an address of this host.
    #[error("host IP {ip} of port {port}/{} is not an address of this host", proto_name(*.protocol))]
    HostIpNotLocal {
        /// The requested host address.
        ip: IpAddr,
        /// The host port.
        port: u16,
        /// Its protocol.
        protocol: Protocol,
    },
    /// A mapping cannot be programmed as kernel DNAT.
    #[error("port mapping {mapping}: {reason}")]
    BadMapping {
        /// The mapping as `[IP:]HOST:CTR/proto`.
        mapping: String,
        /// Why it cannot be published.
        reason: String,
    },
    /// A name (bridge, sandbox id, table) that cannot be put into an nft script.
    #[error("{what} {value:?} cannot be used in an nftables rule: {reason}")]
    BadName {
        /// What the name is (`bridge name`, `sandbox id`, `table name`).
        what: &'static str,
        /// The offending value.
        value: String,
        /// The allowed form.
        reason: &'static str,
    },
    /// The `nft` binary could not be run.
    #[error("run {program}: {source}; is the nftables package installed?")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An nft transaction was refused; nothing of it was applied.
    #[error("nft refused {operation} (nothing applied){}: {stderr}", .failed.as_ref().map(|f| format!(" at {f}")).unwrap_or_default())]
    Nft {
        /// The operation (`setup network rcrun0`, `publish ports of sandbox X`...).
        operation: String,
        /// The rule or element the error points at, when nft says which.
        failed: Option<String>,
        /// nft's standard error.
        stderr: String,
    },
    /// The rcrun table (or one of its maps) is missing: someone flushed the ruleset.
    #[error("nftables table inet {table} is missing (was the ruleset flushed?); run `rcrun network reload`")]
    TableMissing {
        /// The table name.
        table: String,
    },
    /// nft's JSON output could not be understood.
    #[error("parse `nft -j {command}` output: {reason}")]
    NftOutput {
        /// The listing command.
        command: String,
        /// What was wrong.
        reason: String,
    },
    /// An iptables command for FORWARD coexistence failed.
    #[error("{command} failed: {stderr}")]
    Iptables {
        /// The command line.
        command: String,
        /// Its standard error.
        stderr: String,
    },
    /// A sysctl (route_localnet) could not be written.
    #[error("write {}: {source}", .path.display())]
    Sysctl {
        /// The /proc/sys path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The firewall lock file could not be opened or locked.
    #[error("lock {}: {source}", .path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
