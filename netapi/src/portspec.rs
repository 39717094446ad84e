//! Parsing of docker-style `-p` publish specs into [`PortMapping`]s.
//!
//! Accepted forms: `CTR`, `HOST:CTR`, `IP:HOST:CTR`, `IP::CTR`, each port
//! optionally a range (`8000-8010:8000-8010`, equal lengths) and the whole
//! optionally suffixed `/tcp`, `/udp` or `/sctp`. An IPv6 host address is
//! written in brackets: `[::1]:8080:80`. A missing host port is 0 (the back
//! end picks a free one).

use std::net::IpAddr;

use crate::{PortMapping, Protocol};

/// A `-p` spec that cannot be parsed; the message names the spec and the part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid port spec {spec:?}: {reason}")]
pub struct PortSpecError {
    /// The spec as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parse one `-p` spec into one mapping per port of its range.
pub fn parse_port_spec(spec: &str) -> Result<Vec<PortMapping>, PortSpecError> {
    let err = |reason: String| PortSpecError {
        spec: spec.to_string(),
        reason,
    };
    let (body, protocol) = match spec.rsplit_once('/') {
        Some((b, p)) => (b, parse_protocol(p).map_err(err)?),
        None => (spec, Protocol::Tcp),
    };
    let (host_ip, rest) = split_host_ip(body).map_err(err)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_part, ctr_part) = match parts.as_slice() {
        [ctr] if host_ip.is_none() => ("", *ctr),
        [host, ctr] => (*host, *ctr),
        _ => {
            return Err(err(
                "expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]".to_string()
            ))
        }
    };
    let (c_start, c_end) = parse_range(ctr_part, false).map_err(err)?;
    let host = if host_part.is_empty() {
        None
    } else {
        Some(parse_range(host_part, true).map_err(err)?)
    };
    let count = u32::from(c_end - c_start) + 1;
    if let Some((h_start, h_end)) = host {
        if u32::from(h_end - h_start) + 1 != count {
            return Err(err(format!(
                "host range {host_part} and container range {ctr_part} differ in length"
            )));
        }
    }
    Ok((0..count)
        .map(|i| {
            // Both casts stay in range: count - 1 == end - start, all u16.
            let off = i as u16;
            PortMapping {
                host_ip,
                host_port: host.map(|(h, _)| h + off).unwrap_or(0),
                container_port: c_start + off,
                protocol,
            }
        })
        .collect())
}

fn parse_protocol(p: &str) -> Result<Protocol, String> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        other => Err(format!("unknown protocol {other:?} (use tcp, udp or sctp)")),
    }
}

/// Split a leading host IP (`1.2.3.4:` or `[v6]:`) off the spec.
fn split_host_ip(body: &str) -> Result<(Option<IpAddr>, &str), String> {
    if let Some(rest) = body.strip_prefix('[') {
        let (ip, rest) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed [ in IPv6 host address".to_string())?;
        let ip: IpAddr = ip.parse().map_err(|_| format!("bad host address {ip:?}"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| "expected ':' after the host address".to_string())?;
        return Ok((Some(ip), rest));
    }
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() == 3 {
        let ip: IpAddr = parts[0]
            .parse()
            .map_err(|_| format!("bad host address {:?}", parts[0]))?;
        let idx = parts[0].len() + 1;
        return Ok((Some(ip), &body[idx..]));
    }
    Ok((None, body))
}

/// Parse `N` or `N-M`; port 0 is allowed only on the host side.
fn parse_range(s: &str, host_side: bool) -> Result<(u16, u16), String> {
    let port = |p: &str| -> Result<u16, String> {
        let n: u16 = p.parse().map_err(|_| format!("bad port {p:?}"))?;
        if n == 0 && !host_side {
            return Err("container port 0 is not a port".to_string());
        }
        Ok(n)
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b || a == 0 {
                return Err(format!("bad port range {s:?}"));
            }
            Ok((a, b))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortMapping {
        let v = parse_port_spec(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v[0].clone()
    }

    #[test]
    fn container_port_only_gets_random_host_port() {
        let m = one("80");
        assert_eq!((m.host_ip, m.host_port, m.container_port), (None, 0, 80));
        assert_eq!(m.protocol, Protocol::Tcp);
    }

    #[test]
    fn host_and_container() {
        let m = one("8080:80/udp");
        assert_eq!((m.host_port, m.container_port), (8080, 80));
        assert_eq!(m.protocol, Protocol::Udp);
    }

    #[test]
    fn with_host_ip_v4_and_v6() {
        let m = one("127.0.0.1:8080:80");
        assert_eq!(m.host_ip, Some("127.0.0.1".parse().unwrap()));
        let m = one("127.0.0.1::80");
        assert_eq!((m.host_port, m.container_port), (0, 80));
        let m = one("[::1]:8080:80/tcp");
        assert_eq!(m.host_ip, Some("::1".parse().unwrap()));
        assert_eq!(m.host_port, 8080);
    }

    #[test]
    fn ranges_expand_pairwise() {
        let v = parse_port_spec("8000-8002:9000-9002").unwrap();
        let pairs: Vec<_> = v.iter().map(|m| (m.host_port, m.container_port)).collect();
        assert_eq!(pairs, vec![(8000, 9000), (8001, 9001), (8002, 9002)]);
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        for bad in [
            "",
            "abc",
            "80/icmp",
            "1:2:3:4",
            "8000-8001:80",
            "0",
            "90-80",
            "[::1:80:80",
            "x.y:1:2",
        ] {
            let e = parse_port_spec(bad).unwrap_err();
            assert_eq!(e.spec, bad);
            assert!(!e.reason.is_empty());
        }
    }
}
