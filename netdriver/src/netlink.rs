//! Links, addresses and routes through rtnetlink.
//!
//! rtnetlink is async and a netns is per thread, so every batch of requests
//! runs on a fresh dedicated thread with its own current-thread tokio runtime.
//! For the sandbox side that thread first `setns`es into the sandbox's netns
//! and only then opens its netlink socket; no tokio worker is ever moved.

use std::future::Future;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkFlags};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{NetError, Result};

/// A route of the host's main table (what a new subnet must not overlap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    /// Destination prefix.
    pub dst: IpNet,
    /// Output device name, when the route has one.
    pub dev: Option<String>,
}

/// Run `f` with a netlink handle on a dedicated thread, in the caller's netns
/// or, with `netns`, inside that network namespace; wait for it.
pub(crate) fn run<T, F, Fut>(netns: Option<&Path>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    spawn(netns, f)?.join()
}

/// A netlink batch running on its own thread; [`Pending::join`] waits for it.
#[derive(Debug)]
pub(crate) struct Pending<T>(std::thread::JoinHandle<Result<T>>);

impl<T> Pending<T> {
    /// Wait for the batch and return its outcome.
    pub(crate) fn join(self) -> Result<T> {
        self.0
            .join()
            .map_err(|_| nl_err("netlink thread", "panicked"))?
    }
}

/// Start `f` like [`run`] but return at once, so the caller can do other
/// work (the firewall transaction) while the kernel handles the links.
pub(crate) fn spawn<T, F, Fut>(netns: Option<&Path>, f: F) -> Result<Pending<T>>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let netns: Option<PathBuf> = netns.map(Path::to_path_buf);
    let worker = std::thread::Builder::new()
        .name("rcrun-netlink".into())
        .spawn(move || -> Result<T> {
            if let Some(path) = &netns {
                enter_netns(path)?;
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| nl_err("start netlink runtime", e))?;
            rt.block_on(async move {
                let (mut conn, handle, _) =
                    rtnetlink::new_connection().map_err(|e| nl_err("open netlink socket", e))?;
                // Strict checking makes the kernel honour the link filter of
                // an address dump (`addresses_of`) instead of walking every
                // interface's addresses, one veth per container.
                netlink_sys::AsyncSocket::socket_ref(conn.socket_mut())
                    .set_netlink_get_strict_chk(true)
                    .map_err(|e| nl_err("set netlink strict checking", e))?;
                let task = tokio::spawn(conn);
                let out = f(handle).await;
                task.abort();
                out
            })
        })
        .map_err(|e| nl_err("spawn netlink thread", e))?;
    Ok(Pending(worker))
}

/// Move the current (dedicated) thread into the netns at `path`.
fn enter_netns(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| NetError::Netns {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
        NetError::Netns {
            path: path.to_path_buf(),
            detail: format!("setns: {e}"),
        }
    })
}

fn nl_err(op: impl Into<String>, detail: impl std::fmt::Display) -> NetError {
    NetError::Netlink {
        op: op.into(),
        detail: detail.to_string(),
    }
}

/// The positive errno of a netlink error answer, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// Index of link `name`, `None` when it does not exist.
pub(crate) async fn link_index(h: &Handle, name: &str) -> Result<Option<u32>> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("get link {name}"), e)),
    }
}

/// The addresses of link `index` in the families of `wanted`. Each family is
/// dumped on its own: the kernel only filters an address dump by link with
/// strict checking, and an unfiltered IPv6 dump holds a link-local address
/// for every container's host-side veth.
async fn addresses_of(h: &Handle, index: u32, wanted: &[IpNet]) -> Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    let families = [
        (
            AddressFamily::Inet,
            wanted.iter().any(|n| n.addr().is_ipv4()),
        ),
        (
            AddressFamily::Inet6,
            wanted.iter().any(|n| n.addr().is_ipv6()),
        ),
    ];
    for (family, needed) in families {
        if !needed {
            continue;
        }
        let mut req = h.address().get().set_link_index_filter(index);
        req.message_mut().header.family = family;
        req.message_mut().header.index = index;
        let mut s = req.execute();
        while let Some(msg) = s
            .try_next()
            .await
            .map_err(|e| nl_err("list addresses", e))?
        {
            for a in &msg.attributes {
                if let AddressAttribute::Address(ip) = a {
                    out.push(*ip);
                }
            }
        }
    }
    Ok(out)
}

/// Add `addr` to link `index`; IPv6 without duplicate address detection so
/// it is usable at once. An address already present is fine.
async fn add_address(h: &Handle, index: u32, addr: IpNet, what: &str) -> Result<()> {
    let mut req = h.address().add(index, addr.addr(), addr.prefix_len());
    if addr.addr().is_ipv6() {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    match req.execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(nl_err(format!("add address {addr} to {what}"), e)),
    }
}

async fn set_up(h: &Handle, index: u32, what: &str) -> Result<()> {
    h.link()
        .change(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl_err(format!("set {what} up"), e))
}

/// Make sure bridge `name` exists, is up and holds the gateway addresses.
/// Returns true when the bridge had to be created.
///
/// A bridge made here has a fixed random MAC address: otherwise the kernel
/// gives it the lowest MAC among its ports, so the gateway's MAC would
/// change under the containers as ports come and go (and every port added
/// or removed would make the bridge look for the new lowest). It also has
/// multicast snooping off. rcrun runs no multicast
/// querier on it, and without one the kernel floods multicast to every port
/// whether snooping is on or not; snooping would only add per-port timers
/// that each port's carrier change re-arms on every other port (0.3 ms per
/// container start with 200 running).
pub(crate) async fn ensure_bridge(h: &Handle, name: &str, gateways: &[IpNet]) -> Result<bool> {
    let mut created = false;
    let index = match link_index(h, name).await? {
        Some(i) => i,
        None => {
            match h
                .link()
                .add(
                    LinkBridge::new(name)
                        .address(random_unicast_mac()?.to_vec())
                        .mcast_snooping(false)
                        .build(),
                )
                .execute()
                .await
            {
                Ok(()) => created = true,
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(nl_err(format!("create bridge {name}"), e)),
            }
            link_index(h, name)
                .await?
                .ok_or_else(|| nl_err(format!("create bridge {name}"), "vanished after creation"))?
        }
    };
    let have = addresses_of(h, index, gateways).await?;
    for gw in gateways {
        if !have.contains(&gw.addr()) {
            add_address(h, index, *gw, name).await?;
        }
    }
    set_up(h, index, name).await?;
    Ok(created)
}

/// A random locally administered unicast MAC address.
fn random_unicast_mac() -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    // SAFETY: getrandom writes at most mac.len() bytes into mac.
    let n = unsafe { libc::getrandom(mac.as_mut_ptr().cast(), mac.len(), 0) };
    if usize::try_from(n).ok() != Some(mac.len()) {
        return Err(nl_err(
            "make a MAC address for the bridge",
            std::io::Error::last_os_error(),
        ));
    }
    mac[0] = (mac[0] & 0xfe) | 0x02;
    Ok(mac)
}

/// Delete link `name`; a link that is already gone is fine.
pub(crate) async fn delete_link(h: &Handle, name: &str) -> Result<()> {
    let Some(index) = link_index(h, name).await? else {
        return Ok(());
    };
    match h.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(nl_err(format!("delete link {name}"), e)),
    }
}

/// What the host side of an attach creates.
#[derive(Debug, Clone)]
pub(crate) struct VethPlan {
    /// Host end name (enslaved to the bridge).
    pub host: String,
    /// Bridge name.
    pub bridge: String,
    /// Name the peer is created with inside the sandbox (its final name,
    /// or a unique one that `configure_sandbox` renames).
    pub peer: String,
    /// Peer MAC address.
    pub mac: [u8; 6],
    /// Sandbox netns path.
    pub netns: PathBuf,
}

/// Create the veth pair with the host end up on the bridge and the peer made
/// directly inside the sandbox netns under `plan.peer` and its MAC.
pub(crate) async fn create_veth(h: &Handle, plan: &VethPlan) -> Result<()> {
    let ns = std::fs::File::open(&plan.netns).map_err(|e| NetError::Netns {
        path: plan.netns.clone(),
        detail: e.to_string(),
    })?;
    let bridge = link_index(h, &plan.bridge)
        .await?
        .ok_or_else(|| nl_err(format!("find bridge {}", plan.bridge), "no such device"))?;
    let peer = LinkUnspec::new_with_name(&plan.peer)
        .address(plan.mac.to_vec())
        .setns_by_fd(ns.as_raw_fd())
        .build();
    let msg = LinkVeth::new(&plan.host, &plan.peer)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(bridge)
        .up()
        .build();
    let op = || {
        format!(
            "create veth {} <-> {} in {}",
            plan.host,
            plan.peer,
            plan.netns.display()
        )
    };
    match h.link().add(msg.clone()).execute().await {
        Ok(()) => {}
        // A host end left by a crashed attach of the same sandbox: replace it.
        Err(e) if errno(&e) == Some(libc::EEXIST) && link_index(h, &plan.host).await?.is_some() => {
            delete_link(h, &plan.host).await?;
            h.link()
                .add(msg)
                .execute()
                .await
                .map_err(|e| nl_err(op(), e))?;
        }
        Err(e) => return Err(nl_err(op(), e)),
    }
    drop(ns);
    // Before the peer comes up (the host end has no carrier until then, so
    // no IPv6 address was made for it yet).
    crate::sysctl::disable_ipv6(&plan.host)?;
    set_hairpin(h, &plan.host).await
}

/// Turn on hairpin mode on bridge port `name`, so a packet DNATed back to the
/// sandbox it came from (a container reaching its own published port through
/// a host address, with br_netfilter on) may leave by the port it entered.
async fn set_hairpin(h: &Handle, name: &str) -> Result<()> {
    let index = link_index(h, name)
        .await?
        .ok_or_else(|| nl_err(format!("hairpin on {name}"), "no such device"))?;
    h.link()
        .set_port(LinkBridgePort::new(index).hairpin(true).build())
        .execute()
        .await
        .map_err(|e| nl_err(format!("hairpin on {name}"), e))
}

/// Inside the sandbox (called on a thread in its netns): `lo` up, IPv6 off
/// on the peer unless `ipv6`, addresses, the peer renamed from `created` to
/// `ifname` and up (one request), default route(s) via the gateway(s).
///
/// The IPv6 switch is a sysctl, written through a procfs instance of this
/// call's own (see [`crate::sysctl::disable_ipv6_in_sandbox`]) while the peer
/// still has its unique creation name; the rename re-registers the sysctls
/// under `ifname`, IPv6 still off.
pub(crate) async fn configure_sandbox(
    h: &Handle,
    created: &str,
    ifname: &str,
    ipv6: bool,
    addrs: &[IpNet],
    gateways: &[IpAddr],
) -> Result<()> {
    let lo = link_index(h, "lo")
        .await?
        .ok_or_else(|| nl_err("find lo", "no such device"))?;
    set_up(h, lo, "lo").await?;
    let idx = link_index(h, created)
        .await?
        .ok_or_else(|| nl_err(format!("find {created} in sandbox"), "no such device"))?;
    if !ipv6 {
        crate::sysctl::disable_ipv6_in_sandbox(created)?;
    }
    for a in addrs {
        add_address(h, idx, *a, ifname).await?;
    }
    if created == ifname {
        set_up(h, idx, ifname).await?;
    } else {
        h.link()
            .change(
                LinkUnspec::new_with_index(idx)
                    .name(ifname.to_string())
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err(format!("rename {created} to {ifname} and set it up"), e))?;
    }
    for gw in gateways {
        let msg = match gw {
            IpAddr::V4(g) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .output_interface(idx)
                .gateway(*g)
                .build(),
            IpAddr::V6(g) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .output_interface(idx)
                .gateway(*g)
                .build(),
        };
        match h.route().add(msg).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(format!("add default route via {gw}"), e)),
        }
    }
    Ok(())
}

/// True when link `name` exists and is up (used by `check`).
pub(crate) async fn link_is_up(h: &Handle, name: &str) -> Result<bool> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(msg.header.flags.contains(LinkFlags::Up)),
        Ok(None) => Ok(false),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(nl_err(format!("get link {name}"), e)),
    }
}

/// Unicast routes of the main table, IPv4 and IPv6, with device names.
pub(crate) async fn host_routes(h: &Handle) -> Result<Vec<HostRoute>> {
    let mut names = std::collections::HashMap::new();
    let mut links = h.link().get().execute();
    while let Some(l) = links
        .try_next()
        .await
        .map_err(|e| nl_err("list links", e))?
    {
        for a in &l.attributes {
            if let LinkAttribute::IfName(n) = a {
                names.insert(l.header.index, n.clone());
            }
        }
    }
    let mut out = Vec::new();
    let queries = [
        RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
        RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
    ];
    for mut q in queries {
        // The socket checks strictly (see `spawn`): header fields of a dump
        // request are filters, so leave only the family set.
        q.header.protocol = RouteProtocol::Unspec;
        q.header.kind = RouteType::Unspec;
        q.header.scope = RouteScope::Universe;
        q.header.table = 0;
        let mut routes = h.route().get(q).execute();
        while let Some(r) = routes
            .try_next()
            .await
            .map_err(|e| nl_err("list routes", e))?
        {
            if r.header.kind != RouteType::Unicast || r.header.table != 254 {
                continue;
            }
            let mut dst = None;
            let mut dev = None;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                        dst = Some(IpAddr::V4(*ip))
                    }
                    RouteAttribute::Destination(RouteAddress::Inet6(ip)) => {
                        dst = Some(IpAddr::V6(*ip))
                    }
                    RouteAttribute::Oif(i) => dev = names.get(i).cloned(),
                    _ => {}
                }
            }
            let Some(dst) = dst else { continue }; // the default route
            if let Ok(net) = IpNet::new(dst, r.header.destination_prefix_length) {
                if net.prefix_len() > 0 {
                    out.push(HostRoute { dst: net, dev });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_macs_are_local_unicast_and_differ() {
        let a = random_unicast_mac().unwrap();
        let b = random_unicast_mac().unwrap();
        for m in [a, b] {
            assert_eq!(m[0] & 0x01, 0, "unicast: {m:02x?}");
            assert_eq!(m[0] & 0x02, 0x02, "locally administered: {m:02x?}");
        }
        assert_ne!(a, b);
    }
}
