//! Kernel settings the bridge driver needs, written through `/proc/sys`.
//! A value already set is not rewritten.

use std::path::{Path, PathBuf};

use crate::error::{NetError, Result};

fn set(path: &str, value: &str) -> Result<()> {
    let p = Path::new(path);
    if let Ok(cur) = std::fs::read_to_string(p) {
        if cur.trim() == value {
            return Ok(());
        }
    }
    std::fs::write(p, value).map_err(|e| NetError::Sysctl {
        path: PathBuf::from(p),
        source: e,
    })
}

/// `net.ipv4.ip_forward=1` (and IPv6 forwarding on dual-stack networks).
pub fn enable_forwarding(ipv6: bool) -> Result<()> {
    set("/proc/sys/net/ipv4/ip_forward", "1")?;
    if ipv6 {
        set("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(())
}

/// `route_localnet=1` on the bridge so DNAT of packets to 127.0.0.1 can be
/// routed out of it (published ports reachable at localhost).
pub fn enable_route_localnet(bridge: &str) -> Result<()> {
    set(
        &format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )
}

/// `net.ipv6.conf.<ifname>.disable_ipv6=1` in the calling thread's network
/// namespace (procfs resolves `/proc/sys/net` by the opener's netns). Used on
/// interfaces that need no IPv6: a bridge port (layer 2 only) and a sandbox's
/// interface on an IPv4-only network. Without it each gets a link-local
/// address whose DAD and MLD reports the bridge floods to every port, work
/// that grows with the number of containers. No-op when the kernel has no
/// IPv6.
pub fn disable_ipv6(ifname: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    match std::fs::write(&path, "1") {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && !Path::new("/proc/sys/net/ipv6").exists() =>
        {
            Ok(())
        }
        Err(e) => Err(NetError::Sysctl {
            path: PathBuf::from(path),
            source: e,
        }),
    }
}
