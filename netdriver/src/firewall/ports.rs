//! Host port reservation: resolve `host_port 0` to a free port and hold a
//! bound socket per published port (as kube-proxy does for NodePorts), so no
//! host process can take the port while the mapping lives and a second
//! publication of it is refused with a message naming the port.
//!
//! TCP sockets are bound but never listen (DNAT takes the packets before any
//! socket lookup); UDP and SCTP sockets are bound likewise. Sockets never set
//! `SO_REUSEADDR`, so any other bind of the port fails.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, getsockname, getsockopt, setsockopt, sockopt, SockType, SockaddrStorage,
};
use rcrun_netapi::{PortMapping, Protocol};

use super::{FirewallError, NftFirewall};

/// Who published a host port through rcrun's firewall, for error messages.
pub trait PortOwners {
    /// The sandbox id that publishes `port`/`protocol`, if rcrun does.
    fn publisher(&self, port: u16, protocol: Protocol) -> Option<String>;
}

/// One bound socket of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldPort {
    /// The bound address (the wildcard for mappings on every address).
    pub addr: SocketAddr,
    /// Its protocol.
    pub protocol: Protocol,
}

/// Host ports held by bound sockets; dropping it releases them.
#[derive(Debug)]
pub struct PortReservation {
    mappings: Vec<PortMapping>,
    sockets: Vec<(HeldPort, OwnedFd)>,
}

impl PortReservation {
    /// The mappings with every `host_port` resolved (empty after [`Self::from_fds`]).
    pub fn mappings(&self) -> &[PortMapping] {
        &self.mappings
    }

    /// What is held.
    pub fn held(&self) -> Vec<HeldPort> {
        self.sockets.iter().map(|(h, _)| *h).collect()
    }

    /// Give up ownership of the sockets, e.g. to pass them to a long-lived
    /// monitor process (they are close-on-exec: clear that flag to inherit them).
    pub fn into_fds(self) -> Vec<OwnedFd> {
        self.sockets.into_iter().map(|(_, fd)| fd).collect()
    }

    /// Adopt sockets handed over by [`Self::into_fds`] (in this or another process).
    pub fn from_fds(fds: Vec<OwnedFd>) -> Result<Self, FirewallError> {
        let mut sockets = Vec::new();
        for fd in fds {
            let inspect = |e: Errno| FirewallError::Reserve {
                addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                protocol: Protocol::Tcp,
                source: std::io::Error::from(e),
            };
            let protocol = match getsockopt(&fd, sockopt::SockType).map_err(inspect)? {
                SockType::Stream => Protocol::Tcp,
                SockType::Datagram => Protocol::Udp,
                _ => Protocol::Sctp,
            };
            let addr = local_addr(&fd).map_err(inspect)?;
            sockets.push((HeldPort { addr, protocol }, fd));
        }
        Ok(PortReservation {
            mappings: Vec::new(),
            sockets,
        })
    }
}

/// Reserve `mappings`' host ports, naming rcrun's publisher (from the default
/// `inet rcrun` table) when a port is taken.
pub fn reserve_ports(mappings: &[PortMapping]) -> Result<PortReservation, FirewallError> {
    reserve_ports_with(mappings, &NftFirewall::default())
}

/// Reserve `mappings`' host ports; `owners` names who published a taken port.
pub fn reserve_ports_with(
    mappings: &[PortMapping],
    owners: &dyn PortOwners,
) -> Result<PortReservation, FirewallError> {
    let mut res = PortReservation {
        mappings: Vec::new(),
        sockets: Vec::new(),
    };
    for m in mappings {
        let addrs = bind_addrs(m.host_ip);
        let port = if m.host_port == 0 {
            bind_random(&mut res, m, &addrs)?
        } else {
            for ip in &addrs {
                match bind_one(*ip, m.host_port, m.protocol) {
                    Ok(Some(fd)) => res.push(*ip, m.host_port, m.protocol, fd),
                    Ok(None) => {}
                    Err(e) => return Err(bind_error(&res, m, *ip, m.host_port, e, owners)),
                }
            }
            m.host_port
        };
        res.mappings.push(PortMapping {
            host_port: port,
            ..m.clone()
        });
    }
    Ok(res)
}

impl PortReservation {
    fn push(&mut self, ip: IpAddr, port: u16, protocol: Protocol, fd: OwnedFd) {
        let addr = SocketAddr::new(ip, port);
        self.sockets.push((HeldPort { addr, protocol }, fd));
    }
}

/// Where a mapping's sockets go: one host IP, or both wildcards.
fn bind_addrs(host_ip: Option<IpAddr>) -> Vec<IpAddr> {
    match host_ip {
        Some(ip) => vec![ip],
        None => vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ],
    }
}

/// Pick a free port for every address of `m` (retrying when the port the
/// kernel gave for the first address is taken on another).
fn bind_random(
    res: &mut PortReservation,
    m: &PortMapping,
    addrs: &[IpAddr],
) -> Result<u16, FirewallError> {
    let last_err = |e: Errno, ip: IpAddr| FirewallError::Reserve {
        addr: SocketAddr::new(ip, 0),
        protocol: m.protocol,
        source: std::io::Error::from(e),
    };
    let mut err = None;
    'attempt: for _ in 0..32 {
        let mut held = Vec::new();
        let mut port = 0u16;
        for ip in addrs {
            match bind_one(*ip, port, m.protocol) {
                Ok(Some(fd)) => {
                    if port == 0 {
                        port = local_addr(&fd).map_err(|e| last_err(e, *ip))?.port();
                    }
                    held.push((*ip, fd));
                }
                Ok(None) => {}
                Err(Errno::EADDRINUSE) if port != 0 => {
                    err = Some(last_err(Errno::EADDRINUSE, *ip));
                    continue 'attempt;
                }
                Err(Errno::EADDRNOTAVAIL) => {
                    return Err(FirewallError::HostIpNotLocal {
                        ip: *ip,
                        port: 0,
                        protocol: m.protocol,
                    })
                }
                Err(e) => return Err(last_err(e, *ip)),
            }
        }
        for (ip, fd) in held {
            res.push(ip, port, m.protocol, fd);
        }
        return Ok(port);
    }
    Err(err.unwrap_or_else(|| last_err(Errno::EADDRINUSE, addrs[0])))
}

fn bind_error(
    res: &PortReservation,
    m: &PortMapping,
    ip: IpAddr,
    port: u16,
    e: Errno,
    owners: &dyn PortOwners,
) -> FirewallError {
    match e {
        Errno::EADDRINUSE => {
            let owner = if res
                .sockets
                .iter()
                .any(|(h, _)| h.addr.port() == port && h.protocol == m.protocol)
            {
                "by another mapping of the same request".to_string()
            } else {
                match owners.publisher(port, m.protocol) {
                    Some(sb) => format!("published by sandbox {sb}"),
                    None => "by another process".to_string(),
                }
            };
            FirewallError::PortInUse {
                host_ip: m.host_ip,
                port,
                protocol: m.protocol,
                owner,
            }
        }
        Errno::EADDRNOTAVAIL => FirewallError::HostIpNotLocal {
            ip,
            port,
            protocol: m.protocol,
        },
        e => FirewallError::Reserve {
            addr: SocketAddr::new(ip, port),
            protocol: m.protocol,
            source: std::io::Error::from(e),
        },
    }
}

/// Bind one socket; `Ok(None)` when the host cannot have such a socket at
/// all (no IPv6, no SCTP in the kernel), so no one else can hold the port either.
fn bind_one(ip: IpAddr, port: u16, protocol: Protocol) -> Result<Option<OwnedFd>, Errno> {
    let domain = if ip.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let (ty, proto) = match protocol {
        Protocol::Tcp => (libc::SOCK_STREAM, libc::IPPROTO_TCP),
        Protocol::Udp => (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        Protocol::Sctp => (libc::SOCK_SEQPACKET, libc::IPPROTO_SCTP),
    };
    // SAFETY: socket(2) takes plain integers and returns a new fd or -1.
    let raw = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if raw < 0 {
        return match Errno::last() {
            Errno::EAFNOSUPPORT | Errno::EPROTONOSUPPORT | Errno::ESOCKTNOSUPPORT => Ok(None),
            e => Err(e),
        };
    }
    // SAFETY: `raw` is a freshly created socket owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if ip.is_ipv6() {
        // The IPv4 wildcard gets its own socket.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    let sa = SockaddrStorage::from(SocketAddr::new(ip, port));
    bind(fd.as_raw_fd(), &sa)?;
    Ok(Some(fd))
}

fn local_addr(fd: &OwnedFd) -> Result<SocketAddr, Errno> {
    let sa: SockaddrStorage = getsockname(fd.as_raw_fd())?;
    if let Some(v4) = sa.as_sockaddr_in() {
        return Ok(SocketAddr::from((v4.ip(), v4.port())));
    }
    if let Some(v6) = sa.as_sockaddr_in6() {
        return Ok(SocketAddr::from((v6.ip(), v6.port())));
    }
    Err(Errno::EAFNOSUPPORT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::NoneFirewall;

    fn tcp(host_ip: Option<IpAddr>, host_port: u16) -> PortMapping {
        PortMapping {
            host_ip,
            host_port,
            container_port: 80,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn random_port_is_resolved_and_held() {
        let r = reserve_ports_with(&[tcp(None, 0)], &NoneFirewall).unwrap();
        let port = r.mappings()[0].host_port;
        assert_ne!(port, 0);
        assert!(r.held().iter().all(|h| h.addr.port() == port));
        // Held: another bind of the same port fails until the reservation drops.
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
        drop(r);
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn port_used_by_a_process_is_refused_with_its_number() {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let err = reserve_ports_with(&[tcp(None, port)], &NoneFirewall).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("host port {port}/tcp is already in use (by another process); choose another host port")
        );
    }

    #[test]
    fn same_port_twice_in_one_request_is_refused() {
        let r = reserve_ports_with(&[tcp(None, 0)], &NoneFirewall).unwrap();
        let port = r.mappings()[0].host_port;
        drop(r);
        let err = reserve_ports_with(&[tcp(None, port), tcp(None, port)], &NoneFirewall)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("by another mapping of the same request"),
            "{err}"
        );
    }

    #[test]
    fn fds_round_trip() {
        let udp = PortMapping {
            protocol: Protocol::Udp,
            ..tcp(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), 0)
        };
        let r = reserve_ports_with(&[udp], &NoneFirewall).unwrap();
        let held = r.held();
        let back = PortReservation::from_fds(r.into_fds()).unwrap();
        assert_eq!(back.held(), held);
        assert_eq!(held[0].protocol, Protocol::Udp);
        assert_eq!(held[0].addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn foreign_host_ip_is_refused() {
        // TEST-NET-2 is never configured on this host.
        let ip: IpAddr = "198.51.100.254".parse().unwrap();
        let err = reserve_ports_with(&[tcp(Some(ip), 0)], &NoneFirewall).unwrap_err();
        assert!(matches!(err, FirewallError::HostIpNotLocal { .. }), "{err}");
    }
}
