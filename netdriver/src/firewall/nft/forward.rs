//! Published ports as DNAT map elements: one element per host port and
//! address family, labelled with the sandbox id, never a rule per mapping.

use std::net::IpAddr;

use rcrun_netapi::{PortMapping, Protocol};

use super::layout::{map_name, Layout};
use super::script::{check_sandbox_id, Script};
use crate::firewall::{proto_name, FirewallError, PortForward};

/// One DNAT map element: `key : ctr_ip . ctr_port` in map `map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Map name (`dnat_tcp4_any`, ...).
    pub map: String,
    /// Host address for IP-bound maps, `None` in wildcard maps.
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// Container address.
    pub ctr_ip: IpAddr,
    /// Container port.
    pub ctr_port: u16,
}

impl Element {
    /// The key as nft writes it.
    pub fn key(&self) -> String {
        match self.host_ip {
            Some(ip) => format!("{ip} . {}", self.host_port),
            None => self.host_port.to_string(),
        }
    }

    /// The data (`ip . port`) as nft writes it.
    pub fn value(&self) -> String {
        format!("{} . {}", self.ctr_ip, self.ctr_port)
    }

    /// How the element is named in messages: `host port [IP:]PORT/proto`.
    pub fn describe(&self) -> String {
        let host = match self.host_ip {
            Some(IpAddr::V4(a)) => format!("{a}:"),
            Some(IpAddr::V6(a)) => format!("[{a}]:"),
            None => String::new(),
        };
        format!(
            "host port {host}{}/{} -> {}",
            self.host_port,
            proto_name(self.protocol),
            match self.ctr_ip {
                IpAddr::V4(a) => format!("{a}:{}", self.ctr_port),
                IpAddr::V6(a) => format!("[{a}]:{}", self.ctr_port),
            }
        )
    }
}

fn mapping_text(m: &PortMapping) -> String {
    let host = match m.host_ip {
        Some(IpAddr::V4(a)) => format!("{a}:"),
        Some(IpAddr::V6(a)) => format!("[{a}]:"),
        None => String::new(),
    };
    format!(
        "{host}{}:{}/{}",
        m.host_port,
        m.container_port,
        proto_name(m.protocol)
    )
}

fn bad(m: &PortMapping, reason: impl Into<String>) -> FirewallError {
    FirewallError::BadMapping {
        mapping: mapping_text(m),
        reason: reason.into(),
    }
}

/// The map elements that publish `p`, validated.
///
/// A wildcard mapping gets an IPv4 element for the sandbox's IPv4 address and
/// an IPv6 element for its IPv6 address; `0.0.0.0` / `::` mean every address
/// of that family only; a mapping bound to one host IP needs a container
/// address of the same family.
pub fn elements(p: &PortForward) -> Result<Vec<Element>, FirewallError> {
    check_sandbox_id(&p.sandbox_id)?;
    let v4 = p.container_ips.iter().copied().find(IpAddr::is_ipv4);
    let v6 = p.container_ips.iter().copied().find(IpAddr::is_ipv6);
    let mut out = Vec::new();
    for m in &p.mappings {
        if m.host_port == 0 || m.container_port == 0 {
            return Err(bad(
                m,
                "port 0 must be resolved (reserve_ports) before publishing",
            ));
        }
        let proto = proto_name(m.protocol);
        let mut push = |host_ip: Option<IpAddr>, ctr_ip: IpAddr| {
            let fam = if ctr_ip.is_ipv4() { 4 } else { 6 };
            out.push(Element {
                map: map_name(proto, fam, host_ip.is_none()),
                host_ip,
                host_port: m.host_port,
                protocol: m.protocol,
                ctr_ip,
                ctr_port: m.container_port,
            });
        };
        match m.host_ip {
            None => {
                if v4.is_none() && v6.is_none() {
                    return Err(bad(m, "the sandbox has no address on this network"));
                }
                for ip in [v4, v6].into_iter().flatten() {
                    push(None, ip);
                }
            }
            Some(ip) if ip.is_unspecified() => {
                let ctr = if ip.is_ipv4() { v4 } else { v6 };
                let ctr = ctr.ok_or_else(|| bad(m, "the sandbox has no address of that family"))?;
                push(None, ctr);
            }
            Some(IpAddr::V6(a)) if a.is_loopback() => {
                return Err(bad(
                    m,
                    "the kernel cannot DNAT ::1 to a container (IPv6 has no route_localnet); publish on 127.0.0.1 or the host's IPv6 address",
                ));
            }
            Some(ip) => {
                let ctr = if ip.is_ipv4() { v4 } else { v6 };
                let ctr = ctr
                    .ok_or_else(|| bad(m, "the sandbox has no address of the host IP's family"))?;
                push(Some(ip), ctr);
            }
        }
    }
    Ok(out)
}

impl Layout {
    /// Add the elements (idempotent when they exist with the same data; an
    /// element of another sandbox under the same key makes nft fail `File exists`).
    pub fn forward_add(&self, s: &mut Script, sandbox: &str, els: &[Element]) {
        let t = self.t();
        for e in els {
            s.push_for(
                format!(
                    "add element {t} {} {{ {} comment \"{sandbox}\" : {} }}",
                    e.map,
                    e.key(),
                    e.value()
                ),
                e.describe(),
            );
        }
    }

    /// Remove the elements whether or not they exist (add-then-delete); fails
    /// with `File exists` only if another sandbox holds one of the keys.
    pub fn forward_remove(&self, s: &mut Script, sandbox: &str, els: &[Element]) {
        let t = self.t();
        for e in els {
            s.push_for(
                format!(
                    "add element {t} {} {{ {} comment \"{sandbox}\" : {} }}",
                    e.map,
                    e.key(),
                    e.value()
                ),
                e.describe(),
            );
            s.push_for(
                format!("delete element {t} {} {{ {} }}", e.map, e.key()),
                e.describe(),
            );
        }
    }

    /// Delete exactly these elements (they are known to exist).
    pub fn elements_delete(&self, s: &mut Script, els: &[Element]) {
        let t = self.t();
        for e in els {
            s.push_for(
                format!("delete element {t} {} {{ {} }}", e.map, e.key()),
                e.describe(),
            );
        }
    }
}
