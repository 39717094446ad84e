//! Subnet checks: a subnet must not overlap a route already on the host or
//! another rcrun network; the default network's subnet moves to the first
//! free candidate of a pool (docker's default address pools).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

use crate::error::{NetError, Result};
use crate::model::{Network, Subnet};
use crate::netlink::HostRoute;

/// Candidates for the default network: 172.17.0.0/16 … 172.31.0.0/16, then
/// 192.168.0.0/20 … 192.168.240.0/20.
pub fn default_pool() -> Vec<IpNet> {
    let mut v: Vec<IpNet> = (17u8..=31)
        .filter_map(|b| Ipv4Net::new([172, b, 0, 0].into(), 16).ok().map(IpNet::V4))
        .collect();
    v.extend((0u8..16).filter_map(|k| {
        Ipv4Net::new([192, 168, k * 16, 0].into(), 20)
            .ok()
            .map(IpNet::V4)
    }));
    v
}

/// Parse a comma-separated list of subnets (an override of [`default_pool`]).
pub fn parse_pool(s: &str) -> Result<Vec<IpNet>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .map(|n| n.trunc())
                .map_err(|_| NetError::Invalid(format!("invalid subnet {p:?} in the default pool")))
        })
        .collect()
}

/// True when two prefixes share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// What `subnet` overlaps, if anything: another rcrun network, or a host
/// route (other than one on `own_bridge`, the network's own bridge).
pub fn conflict(
    subnet: &IpNet,
    routes: &[HostRoute],
    networks: &[Network],
    own_bridge: &str,
) -> Option<String> {
    for n in networks {
        for s in &n.subnets {
            if overlaps(subnet, &s.subnet) {
                return Some(format!("network {:?} ({})", n.name, s.subnet));
            }
        }
    }
    for r in routes {
        if r.dev.as_deref() == Some(own_bridge) {
            continue;
        }
        if overlaps(subnet, &r.dst) {
            let dev = r.dev.as_deref().unwrap_or("?");
            return Some(format!("host route {} dev {dev}", r.dst));
        }
    }
    None
}

/// The first candidate without a conflict, with a note when the first
/// choice had to be skipped (`subnet 172.17.0.0/16 overlaps ...; using 172.18.0.0/16 instead`).
pub fn choose_default(
    candidates: &[IpNet],
    routes: &[HostRoute],
    networks: &[Network],
    own_bridge: &str,
) -> Result<(IpNet, Option<String>)> {
    let mut skipped = Vec::new();
    for c in candidates {
        match conflict(c, routes, networks, own_bridge) {
            None => {
                let note = skipped.first().map(|(s, why): &(IpNet, String)| {
                    format!("subnet {s} overlaps {why}; using {c} instead")
                });
                return Ok((*c, note));
            }
            Some(why) => skipped.push((*c, why)),
        }
    }
    let why = skipped
        .iter()
        .map(|(s, w)| format!("{s}: {w}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(NetError::NoFreeSubnet(why))
}

/// Build and validate a [`Subnet`]: host bits cleared, gateway inside and
/// not the network/broadcast address (default: the first host), ip-range
/// inside the subnet.
pub fn make_subnet(
    subnet: IpNet,
    gateway: Option<IpAddr>,
    ip_range: Option<IpNet>,
) -> Result<Subnet> {
    if subnet != subnet.trunc() {
        return Err(NetError::Invalid(format!(
            "subnet {subnet} has host bits set; did you mean {}?",
            subnet.trunc()
        )));
    }
    let max = if subnet.addr().is_ipv4() { 30 } else { 126 };
    if subnet.prefix_len() > max {
        return Err(NetError::Invalid(format!(
            "subnet {subnet} is too small: use a prefix of /{max} or shorter"
        )));
    }
    let first_host = subnet
        .hosts()
        .next()
        .ok_or_else(|| NetError::Invalid(format!("subnet {subnet} has no host addresses")))?;
    let first_host = match (subnet, first_host) {
        // ipnet's IPv6 hosts() starts at the network address itself.
        (IpNet::V6(_), IpAddr::V6(a)) if IpAddr::V6(a) == subnet.network() => {
            IpAddr::V6((u128::from(a) + 1).into())
        }
        (_, h) => h,
    };
    let gateway = gateway.unwrap_or(first_host);
    if !subnet.contains(&gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        return Err(NetError::Invalid(format!(
            "gateway {gateway} is not a host address of subnet {subnet}"
        )));
    }
    if let Some(r) = ip_range {
        if r != r.trunc() {
            return Err(NetError::Invalid(format!("ip-range {r} has host bits set")));
        }
        if !subnet.contains(&r) {
            return Err(NetError::Invalid(format!(
                "ip-range {r} is not inside subnet {subnet}"
            )));
        }
    }
    Ok(Subnet {
        subnet,
        gateway,
        ip_range,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: &str, dev: &str) -> HostRoute {
        HostRoute {
            dst: dst.parse().unwrap(),
            dev: Some(dev.into()),
        }
    }

    #[test]
    fn overlap_both_directions() {
        let a: IpNet = "10.0.0.0/16".parse().unwrap();
        assert!(overlaps(&a, &"10.0.5.0/24".parse().unwrap()));
        assert!(overlaps(&"10.0.5.0/24".parse().unwrap(), &a));
        assert!(!overlaps(&a, &"10.1.0.0/16".parse().unwrap()));
    }

    #[test]
    fn default_moves_past_routes_and_says_so() {
        let routes = [
            route("172.17.0.0/16", "docker0"),
            route("172.18.3.0/24", "eth1"),
        ];
        let (net, note) = choose_default(&default_pool(), &routes, &[], "rcrun0").unwrap();
        assert_eq!(net.to_string(), "172.19.0.0/16");
        let note = note.unwrap();
        assert!(
            note.contains("172.17.0.0/16")
                && note.contains("docker0")
                && note.contains("172.19.0.0/16"),
            "{note}"
        );
    }

    #[test]
    fn own_bridge_route_is_not_a_conflict() {
        let routes = [route("172.17.0.0/16", "rcrun0")];
        let (net, note) = choose_default(&default_pool(), &routes, &[], "rcrun0").unwrap();
        assert_eq!(net.to_string(), "172.17.0.0/16");
        assert!(note.is_none());
    }

    #[test]
    fn no_free_candidate_is_an_error() {
        let routes = [route("10.0.0.0/8", "eth0")];
        let pool = parse_pool("10.1.0.0/24, 10.2.0.0/24").unwrap();
        let e = choose_default(&pool, &routes, &[], "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("10.1.0.0/24") && e.contains("10.0.0.0/8"), "{e}");
        assert!(parse_pool("10.0.0.0/33").is_err());
    }

    #[test]
    fn subnet_validation() {
        let s = make_subnet("10.1.0.0/24".parse().unwrap(), None, None).unwrap();
        assert_eq!(s.gateway.to_string(), "10.1.0.1");
        let s6 = make_subnet("fd00:5::/64".parse().unwrap(), None, None).unwrap();
        assert_eq!(s6.gateway.to_string(), "fd00:5::1");
        assert!(make_subnet("10.1.0.5/24".parse().unwrap(), None, None).is_err());
        assert!(make_subnet(
            "10.1.0.0/24".parse().unwrap(),
            Some("10.2.0.1".parse().unwrap()),
            None
        )
        .is_err());
        assert!(make_subnet(
            "10.1.0.0/24".parse().unwrap(),
            Some("10.1.0.255".parse().unwrap()),
            None
        )
        .is_err());
        assert!(make_subnet(
            "10.1.0.0/24".parse().unwrap(),
            None,
            Some("10.2.0.0/25".parse().unwrap())
        )
        .is_err());
        assert!(make_subnet(
            "10.1.0.0/24".parse().unwrap(),
            None,
            Some("10.1.0.128/25".parse().unwrap())
        )
        .is_ok());
        assert!(make_subnet("10.1.0.0/31".parse().unwrap(), None, None).is_err());
    }
}
