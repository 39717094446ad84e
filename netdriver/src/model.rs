//! The CNM-shaped model: a [`Network`] (bridge, subnets, IPAM), an
//! [`Endpoint`] (veth pair, addresses, MAC, published ports) and a
//! [`Sandbox`] (a network namespace path). All of it is persisted as JSON.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use rcrun_netapi::PortMapping;
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// Name of the default network.
pub const DEFAULT_NETWORK: &str = "bridge";
/// Bridge of the default network.
pub const DEFAULT_BRIDGE: &str = "rcrun0";
/// The `-o` option naming the bridge, as docker spells it.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";

/// One subnet of a network with its gateway and optional allocation range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The subnet (network address and prefix).
    pub subnet: IpNet,
    /// The gateway address, held by the bridge.
    pub gateway: IpAddr,
    /// Addresses are allocated only from this range, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<IpNet>,
}

impl Subnet {
    /// The gateway with the subnet's prefix length (the bridge's address).
    pub fn gateway_net(&self) -> IpNet {
        // The gateway was validated to lie inside the subnet, so the prefix fits.
        IpNet::new(self.gateway, self.subnet.prefix_len()).unwrap_or(self.subnet)
    }
}

/// A bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Network name (unique per data root).
    pub name: String,
    /// Random 64-hex-digit id.
    pub id: String,
    /// Driver name (always `bridge` here).
    pub driver: String,
    /// Linux bridge device name.
    pub bridge: String,
    /// IPv4 subnet first, then the IPv6 one on dual-stack networks.
    pub subnets: Vec<Subnet>,
    /// No outbound NAT and no route outside.
    pub internal: bool,
    /// Dual stack.
    pub ipv6: bool,
    /// User labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options as given with `-o`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Creation time, seconds since the epoch.
    pub created: u64,
}

impl Network {
    /// Gateways with prefix lengths, the addresses the bridge holds.
    pub fn gateway_nets(&self) -> Vec<IpNet> {
        self.subnets.iter().map(Subnet::gateway_net).collect()
    }
    /// The subnets alone.
    pub fn subnet_nets(&self) -> Vec<IpNet> {
        self.subnets.iter().map(|s| s.subnet).collect()
    }
}

/// A sandbox: an id and its network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    /// Sandbox id.
    pub id: String,
    /// Path of its network namespace.
    pub netns: PathBuf,
}

/// How far an endpoint got; persisted before each step so a crash can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    /// Addresses allocated, links and rules may be partly made.
    Attaching,
    /// Fully attached.
    Attached,
    /// Being torn down.
    Detaching,
}

/// A sandbox's attachment to a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Network name.
    pub network: String,
    /// The sandbox.
    pub sandbox: Sandbox,
    /// Host end of the veth pair (on the bridge).
    pub host_veth: String,
    /// Interface name inside the sandbox.
    pub ifname: String,
    /// MAC address of the sandbox interface.
    pub mac: String,
    /// Addresses with the subnet prefix length.
    pub ips: Vec<IpNet>,
    /// Gateways (default routes); empty on internal networks is still the bridge.
    pub gateways: Vec<IpAddr>,
    /// Published ports, host ports resolved.
    pub ports: Vec<PortMapping>,
    /// Progress marker.
    pub state: EndpointState,
}

/// Check a network name: docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 bytes.
pub fn validate_network_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(NetError::Invalid(format!(
            "invalid network name {name:?}: use letters, digits, '_', '.', '-' (first a letter or digit, at most 64)"
        )))
    }
}

/// Check a sandbox id (used in file names): `[A-Za-z0-9_.-]`, not starting with '.'.
pub fn validate_sandbox_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(NetError::Invalid(format!(
            "invalid sandbox id {id:?}: use letters, digits, '_', '.', '-' (at most 128)"
        )))
    }
}

/// Check a Linux interface name (1..=15 bytes, no '/', ':' or whitespace).
pub fn validate_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(NetError::Invalid(format!(
            "invalid interface name {name:?}: 1 to 15 bytes without '/', ':' or spaces"
        )))
    }
}

/// The MAC derived from an IPv4 address, docker style: `02:42:a:b:c:d`.
/// Without an IPv4 address, the first four bytes of the IPv6 interface id.
pub fn mac_for(ips: &[IpNet]) -> [u8; 6] {
    let v4 = ips.iter().find_map(|n| match n.addr() {
        IpAddr::V4(a) => Some(a.octets()),
        IpAddr::V6(_) => None,
    });
    let tail = v4.unwrap_or_else(|| {
        let v6 = ips.iter().find_map(|n| match n.addr() {
            IpAddr::V6(a) => Some(a.octets()),
            IpAddr::V4(_) => None,
        });
        let o = v6.unwrap_or([0; 16]);
        [o[12], o[13], o[14], o[15]]
    });
    [0x02, 0x42, tail[0], tail[1], tail[2], tail[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse `aa:bb:cc:dd:ee:ff` (a requested MAC).
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || NetError::Invalid(format!("invalid MAC address {s:?}: want aa:bb:cc:dd:ee:ff"));
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(NetError::Invalid(format!(
            "invalid MAC address {s:?}: a multicast address cannot be an interface address"
        )));
    }
    Ok(mac)
}

/// Host-side veth name: `prefix` + hex of a hash of (network id, sandbox id),
/// 15 bytes, so detach can find it without any record. The network's random
/// id (not its name) keeps names of different data roots on one host apart.
pub fn host_veth_name(prefix: &str, network_id: &str, id: &str) -> String {
    // FNV-1a, 64 bit: stable across releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in network_id.bytes().chain([0]).chain(id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let hex = format!("{h:016x}");
    let keep = 15usize.saturating_sub(prefix.len()).min(16);
    format!("{prefix}{}", &hex[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_derived_from_ipv4() {
        let ips: Vec<IpNet> = vec![
            "172.17.0.2/16".parse().unwrap(),
            "fd00::2/64".parse().unwrap(),
        ];
        assert_eq!(format_mac(&mac_for(&ips)), "02:42:ac:11:00:02");
        let v6only: Vec<IpNet> = vec!["fd00::a:b0c:d/64".parse().unwrap()];
        assert_eq!(format_mac(&mac_for(&v6only)), "02:42:0b:0c:00:0d");
    }

    #[test]
    fn mac_parse_roundtrip_and_refusals() {
        assert_eq!(
            format_mac(&parse_mac("02:42:0a:00:00:01").unwrap()),
            "02:42:0a:00:00:01"
        );
        assert!(parse_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_mac("02:42:0a:00:00").is_err());
        assert!(parse_mac("zz:42:0a:00:00:01").is_err());
    }

    #[test]
    fn veth_names_are_stable_and_fit() {
        let a = host_veth_name("veth", "bridge", "abc");
        assert_eq!(a, host_veth_name("veth", "bridge", "abc"));
        assert_ne!(a, host_veth_name("veth", "bridge", "abd"));
        assert_ne!(a, host_veth_name("veth", "other", "abc"));
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("veth"));
        assert_eq!(host_veth_name("rnd", "n", "i").len(), 15);
    }

    #[test]
    fn network_definition_json_roundtrips_and_old_files_parse() {
        let n = Network {
            name: "web".into(),
            id: "ab".repeat(32),
            driver: "bridge".into(),
            bridge: "br-x".into(),
            subnets: vec![Subnet {
                subnet: "10.1.0.0/24".parse().unwrap(),
                gateway: "10.1.0.1".parse().unwrap(),
                ip_range: Some("10.1.0.128/25".parse().unwrap()),
            }],
            internal: true,
            ipv6: false,
            labels: [("a".to_string(), "b".to_string())].into(),
            options: BTreeMap::new(),
            created: 1,
        };
        let text = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Network>(&text).unwrap(), n);
        // labels/options may be absent; ip_range is optional.
        let minimal = r#"{"name":"m","id":"x","driver":"bridge","bridge":"b","internal":false,"ipv6":false,"created":0,
            "subnets":[{"subnet":"10.2.0.0/16","gateway":"10.2.0.1"}]}"#;
        let m: Network = serde_json::from_str(minimal).unwrap();
        assert_eq!(m.subnets[0].ip_range, None);
        assert_eq!(m.gateway_nets()[0].to_string(), "10.2.0.1/16");
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_network_name("my-net_1.a").is_ok());
        for bad in ["", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_network_name(bad).is_err(), "{bad}");
        }
        assert!(validate_sandbox_id("abc-123").is_ok());
        assert!(validate_sandbox_id("../x").is_err());
        assert!(validate_ifname("eth0").is_ok());
        assert!(validate_ifname("a:b").is_err());
        assert!(validate_ifname("0123456789abcdef").is_err());
    }
}
