//! Attach, detach and check of one sandbox on one network.
//!
//! Attach persists its intent before acting: addresses are allocated (owned
//! by the sandbox id in IPAM), the endpoint record (veth name, addresses,
//! resolved ports) is written, and only then are links and firewall elements
//! made. Whatever the point of a crash, the record or the IPAM owner tells a
//! later detach, attach or gc what to undo.

use std::net::IpAddr;
use std::path::Path;

use rcrun_netapi::{AssignedIp, AttachOptions, Attachment, PortMapping};

use super::BridgeDriver;
use crate::error::{NetError, Result};
use crate::fault::pause_point;
use crate::files;
use crate::firewall::{proto_name, reserve_ports_with, PortForward, PortOwners};
use crate::ipam::{Ipam, Owner};
use crate::model::{
    format_mac, host_veth_name, mac_for, parse_mac, validate_ifname, validate_sandbox_id, Endpoint,
    EndpointState, Network, Sandbox,
};
use crate::netlink::{self, VethPlan};
use crate::netns;

impl BridgeDriver {
    /// Attach `sandbox` to network `network` (the default network is
    /// created on first use). Undoes everything on failure.
    pub fn attach_sandbox(
        &self,
        network: &str,
        sandbox: &Sandbox,
        opts: &AttachOptions,
    ) -> Result<Attachment> {
        validate_sandbox_id(&sandbox.id)?;
        let ifname = opts.ifname.clone().unwrap_or_else(|| "eth0".to_string());
        validate_ifname(&ifname)?;
        let requested_mac = opts.mac.as_deref().map(parse_mac).transpose()?;
        if !netns::is_alive(&sandbox.netns) {
            return Err(NetError::Netns {
                path: sandbox.netns.clone(),
                detail: "not a network namespace (no such file or not an nsfs mount)".into(),
            });
        }
        let (_, note) = self.network_or_default(network)?;
        if let Some(note) = note {
            tracing::warn!("{note}");
        }
        // Shared: attaches run in parallel, `network rm` waits for them.
        let _net_lock = self.store.networks_lock_shared()?;
        let net = self
            .store
            .load_network(network)?
            .ok_or_else(|| NetError::NoSuchNetwork(network.to_string()))?;
        let _lock = self.store.endpoint_lock(&net.name, &sandbox.id)?;
        self.finish_previous(&net, sandbox)?;

        // Intent first: a record naming the sandbox and its veth, so any
        // crash from here on is found by gc or the next attach/detach.
        let mut ep = Endpoint {
            network: net.name.clone(),
            sandbox: sandbox.clone(),
            host_veth: host_veth_name(&self.cfg.veth_prefix, &net.id, &sandbox.id),
            ifname,
            mac: String::new(),
            ips: Vec::new(),
            gateways: net.subnets.iter().map(|s| s.gateway).collect(),
            ports: Vec::new(),
            state: EndpointState::Attaching,
        };
        self.store.save_endpoint(&ep)?;
        tracing::debug!(sandbox = %sandbox.id, "endpoint recorded");
        let mac = match self.allocate(&net, &mut ep, opts) {
            Ok(()) => requested_mac.unwrap_or_else(|| mac_for(&ep.ips)),
            Err(e) => {
                let _ = self.teardown(&net, &ep);
                return Err(e);
            }
        };
        ep.mac = format_mac(&mac);
        if let Err(e) = self.store.save_endpoint(&ep) {
            let _ = self.teardown(&net, &ep);
            return Err(e);
        }
        tracing::debug!(sandbox = %sandbox.id, "addresses allocated");
        pause_point("attach:recorded");
        match self.make_links_and_rules(&net, &ep, mac) {
            Ok(()) => {}
            Err(e) => {
                if let Err(undo) = self.teardown(&net, &ep) {
                    tracing::warn!("undo of failed attach: {undo}");
                }
                return Err(e);
            }
        }
        let mut done = ep.clone();
        done.state = EndpointState::Attached;
        if let Err(e) = self.store.save_endpoint(&done) {
            let _ = self.teardown(&net, &ep);
            return Err(e);
        }
        Ok(attachment(&net, &done))
    }

    /// Addresses from IPAM, then ports (checked and reserved), into `ep`.
    fn allocate(&self, net: &Network, ep: &mut Endpoint, opts: &AttachOptions) -> Result<()> {
        let ipam = Ipam::new(&self.cfg.data_root, &net.name);
        let owner = Owner {
            id: ep.sandbox.id.clone(),
            netns: ep.sandbox.netns.clone(),
        };
        // Stale owners are not reclaimed inside IPAM: their endpoints may
        // still have firewall elements pointing at the address. A full pool
        // (or a taken static address) first collects the network's
        // vanished sandboxes whole, then tries once more.
        let never = |_: &Owner| false;
        ep.ips = match ipam.allocate(&net.subnets, &owner, &opts.static_ips, &never) {
            Ok(ips) => ips,
            Err(NetError::PoolExhausted { .. } | NetError::AddressUnavailable { .. }) => {
                self.collect_network(net, &mut super::GcReport::default())?;
                ipam.allocate(&net.subnets, &owner, &opts.static_ips, &never)?
            }
            Err(e) => return Err(e),
        };
        pause_point("attach:allocated");
        ep.ports = self.resolve_ports(net, &ep.sandbox, &opts.port_mappings)?;
        Ok(())
    }

    /// Links (host side, then inside the sandbox) on a netlink thread while
    /// this thread publishes the ports in the firewall: both mostly wait for
    /// the kernel, so they overlap. When the bridge is missing (first attach
    /// after a reboot) it is re-made first, with its firewall rules, and the
    /// ports follow.
    fn make_links_and_rules(&self, net: &Network, ep: &Endpoint, mac: [u8; 6]) -> Result<()> {
        // On an IPv4-only network the peer is born under the host end's
        // (unique) name and renamed once its IPv6 is off: see
        // `netlink::configure_sandbox`.
        let peer = if net.ipv6 {
            ep.ifname.clone()
        } else {
            ep.host_veth.clone()
        };
        let plan = VethPlan {
            host: ep.host_veth.clone(),
            bridge: net.bridge.clone(),
            peer: peer.clone(),
            mac,
            netns: ep.sandbox.netns.clone(),
        };
        let gws = net.gateway_nets();
        let ifname = ep.ifname.clone();
        let addrs = ep.ips.clone();
        let routes: Vec<IpAddr> = if net.internal {
            Vec::new()
        } else {
            ep.gateways.clone()
        };
        let netns = ep.sandbox.netns.clone();
        let ipv6 = net.ipv6;
        let bridge_present = Path::new("/sys/class/net").join(&net.bridge).exists();
        let links = netlink::spawn(None, move |h| async move {
            let created = netlink::ensure_bridge(&h, &plan.bridge, &gws).await?;
            netlink::create_veth(&h, &plan).await?;
            tracing::debug!(veth = %plan.host, "veth made");
            pause_point("attach:links");
            netlink::run(Some(&netns), move |h| async move {
                netlink::configure_sandbox(&h, &peer, &ifname, ipv6, &addrs, &routes).await
            })?;
            tracing::debug!(veth = %plan.host, "sandbox side configured");
            pause_point("attach:sandbox");
            Ok(created)
        })?;
        let publish = |this: &Self| -> Result<()> {
            if ep.ports.is_empty() {
                return Ok(());
            }
            this.fw
                .setup_port_forward(&port_forward(net, ep))
                .map_err(|e| NetError::Firewall(e.to_string()))
        };
        let early = if bridge_present {
            Some(publish(self))
        } else {
            None
        };
        let created = links.join()?;
        self.after_bridge(net, created)?;
        match early {
            Some(r) => r?,
            None => publish(self)?,
        }
        pause_point("attach:firewall");
        Ok(())
    }

    /// Refuse ports another rcrun endpoint publishes (its record says so,
    /// even when the process holding its sockets is gone), then reserve the
    /// rest by binding them (resolving host port 0 to a free port).
    fn resolve_ports(
        &self,
        net: &Network,
        sandbox: &Sandbox,
        wanted: &[PortMapping],
    ) -> Result<Vec<PortMapping>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut others = self.other_endpoints(net, sandbox)?;
        if self.settle_detaching(&others, wanted)? {
            others = self.other_endpoints(net, sandbox)?;
        }
        let stale_clash = others.iter().any(|o| {
            !netns::is_alive(&o.sandbox.netns)
                && wanted
                    .iter()
                    .any(|m| o.ports.iter().any(|p| ports_clash(p, m)))
        });
        if stale_clash {
            // A vanished sandbox still owns the port: finish it first.
            for n in self.store.list_networks()? {
                self.collect_network(&n, &mut super::GcReport::default())?;
            }
            others = self.other_endpoints(net, sandbox)?;
        }
        for other in &others {
            for m in wanted.iter().filter(|m| m.host_port != 0) {
                if other.ports.iter().any(|o| ports_clash(o, m)) {
                    return Err(NetError::PortPublished {
                        port: m.host_port,
                        proto: proto_name(m.protocol).to_string(),
                        holder: other.sandbox.id.clone(),
                        network: other.network.clone(),
                    });
                }
            }
        }
        let held = reserve_ports_with(wanted, &RecordedPorts(&others))
            .map_err(|e| NetError::Firewall(e.to_string()))?;
        let resolved = held.mappings().to_vec();
        if let Ok(mut m) = self.reservations.lock() {
            m.insert(format!("{}/{}", net.name, sandbox.id), held);
        }
        Ok(resolved)
    }

    /// Endpoints being detached (see [`begin_detach`](Self::begin_detach))
    /// that hold a wanted host port: wait for their teardown (its process
    /// holds the endpoint lock) and finish it here if no one did. Returns
    /// whether any was waited for.
    fn settle_detaching(&self, others: &[Endpoint], wanted: &[PortMapping]) -> Result<bool> {
        let mut waited = false;
        for o in others.iter().filter(|o| {
            o.state == EndpointState::Detaching
                && wanted
                    .iter()
                    .any(|m| o.ports.iter().any(|p| ports_clash(p, m)))
        }) {
            waited = true;
            let _lock = self.store.endpoint_lock(&o.network, &o.sandbox.id)?;
            let Some(net) = self.store.load_network(&o.network)? else {
                continue;
            };
            if let Some(ep) = self.store.load_endpoint(&o.network, &o.sandbox.id)? {
                self.teardown(&net, &ep)?;
            }
        }
        Ok(waited)
    }

    /// Endpoint records of every network but this sandbox's own on `net`.
    fn other_endpoints(&self, net: &Network, sandbox: &Sandbox) -> Result<Vec<Endpoint>> {
        let mut others = Vec::new();
        for other_net in self.store.list_networks()? {
            for other in self.store.list_endpoints(&other_net.name)? {
                if !(other.sandbox.id == sandbox.id && other.network == net.name) {
                    others.push(other);
                }
            }
        }
        Ok(others)
    }

    fn drop_reservation(&self, network: &str, id: &str) {
        if let Ok(mut m) = self.reservations.lock() {
            m.remove(&format!("{network}/{id}"));
        }
    }

    /// A record left by an earlier attach of this sandbox: refuse if it is a
    /// live, complete attachment, otherwise finish its teardown so the new
    /// attach starts clean. Without a record (a crash before it was
    /// written) only IPAM entries can be left; `Ipam::allocate` frees those
    /// of the same owner itself.
    fn finish_previous(&self, net: &Network, sandbox: &Sandbox) -> Result<()> {
        match self.store.load_endpoint(&net.name, &sandbox.id)? {
            Some(old) => {
                if old.state == EndpointState::Attached
                    && old.sandbox.netns == sandbox.netns
                    && netns::is_alive(&old.sandbox.netns)
                {
                    return Err(NetError::AlreadyAttached {
                        id: sandbox.id.clone(),
                        network: net.name.clone(),
                    });
                }
                self.teardown(net, &old)
            }
            None => Ok(()),
        }
    }

    /// Detach `id` from `network`, releasing everything. Succeeds when it is
    /// already (partly) gone, including when the network no longer exists
    /// (a network with endpoints cannot be removed, so nothing is left).
    pub fn detach_sandbox(&self, network: &str, id: &str) -> Result<()> {
        validate_sandbox_id(id)?;
        let Some(net) = self.store.load_network(network)? else {
            return Ok(());
        };
        let _lock = self.store.endpoint_lock(&net.name, id)?;
        let res = match self.store.load_endpoint(&net.name, id)? {
            Some(ep) => self.teardown(&net, &ep),
            None => self.teardown_unrecorded(&net, id),
        };
        if res.is_ok() {
            self.store.remove_endpoint_lock(&net.name, id);
        }
        res
    }

    /// First half of a deferred detach: mark `id`'s endpoint on `network`
    /// as detaching (durably) and return whether a teardown is pending.
    /// The kernel work (veth, firewall elements, then the address) is left
    /// to [`detach_sandbox`](Self::detach_sandbox), which the caller runs
    /// later or in another process; until it has run, the address stays
    /// allocated, and an attach that wants one of the endpoint's host ports
    /// waits for it (or finishes it) instead of failing. A crash in
    /// between leaves a detaching record that `gc` and the next attach or
    /// detach of the sandbox complete.
    pub fn begin_detach(&self, network: &str, id: &str) -> Result<bool> {
        validate_sandbox_id(id)?;
        let Some(net) = self.store.load_network(network)? else {
            return Ok(false);
        };
        let _lock = self.store.endpoint_lock(&net.name, id)?;
        self.drop_reservation(&net.name, id);
        match self.store.load_endpoint(&net.name, id)? {
            Some(ep) if ep.state == EndpointState::Detaching => Ok(true),
            Some(ep) => {
                let mut marked = ep;
                marked.state = EndpointState::Detaching;
                self.store.save_endpoint(&marked)?;
                Ok(true)
            }
            // No record: at most an IPAM entry (a crash before the record
            // was written); the full detach looks for it.
            None => Ok(true),
        }
    }

    /// Undo an endpoint: firewall elements, veth, addresses, record. Keeps
    /// going after errors and reports them all; the record stays (marked
    /// detaching) when anything failed, so a later run can retry.
    pub(crate) fn teardown(&self, net: &Network, ep: &Endpoint) -> Result<()> {
        let mut marked = ep.clone();
        marked.state = EndpointState::Detaching;
        self.store.save_endpoint(&marked)?;
        pause_point("detach:marked");
        let mut errs = Vec::new();
        // The veth goes on a netlink thread while the firewall elements go here.
        let veth = ep.host_veth.clone();
        let unlink = netlink::spawn(None, move |h| async move {
            netlink::delete_link(&h, &veth).await
        });
        if !ep.ports.is_empty() {
            if let Err(e) = self.fw.teardown_port_forward(&port_forward(net, ep)) {
                errs.push(format!("firewall: {e}"));
            }
        }
        self.drop_reservation(&net.name, &ep.sandbox.id);
        if let Err(e) = unlink.and_then(netlink::Pending::join) {
            errs.push(e.to_string());
        }
        pause_point("detach:links");
        let ipam = Ipam::new(&self.cfg.data_root, &net.name);
        let released = if ep.ips.is_empty() {
            // Killed between allocation and the record update: scan.
            ipam.release(&ep.sandbox.id)
        } else {
            let ips: Vec<IpAddr> = ep.ips.iter().map(|n| n.addr()).collect();
            ipam.release_ips(&ep.sandbox.id, &ips)
        };
        if let Err(e) = released {
            errs.push(e.to_string());
        }
        if !errs.is_empty() {
            return Err(NetError::Many(errs));
        }
        self.store.remove_endpoint(&net.name, &ep.sandbox.id)
    }

    /// No record: a crash before it was written may have left an IPAM
    /// entry; a veth cannot exist without a record, but its name is known,
    /// so remove it too.
    fn teardown_unrecorded(&self, net: &Network, id: &str) -> Result<()> {
        let veth = host_veth_name(&self.cfg.veth_prefix, &net.id, id);
        netlink::run(None, move |h| async move {
            netlink::delete_link(&h, &veth).await
        })?;
        Ipam::new(&self.cfg.data_root, &net.name).release(id)?;
        Ok(())
    }

    /// Check an attachment: record complete, netns alive, host veth up,
    /// sandbox interface up.
    pub fn check_sandbox(&self, network: &str, sandbox: &Sandbox) -> Result<()> {
        let bad = |what: String| {
            NetError::Invalid(format!("sandbox {} on {network}: {what}", sandbox.id))
        };
        let ep = self
            .store
            .load_endpoint(network, &sandbox.id)?
            .ok_or_else(|| bad("not attached".into()))?;
        if ep.state != EndpointState::Attached {
            return Err(bad(format!("attachment incomplete ({:?})", ep.state)));
        }
        if !netns::is_alive(&ep.sandbox.netns) {
            return Err(bad(format!("netns {} is gone", ep.sandbox.netns.display())));
        }
        let veth = ep.host_veth.clone();
        if !netlink::run(None, move |h| async move {
            netlink::link_is_up(&h, &veth).await
        })? {
            return Err(bad(format!("host veth {} missing or down", ep.host_veth)));
        }
        let ifname = ep.ifname.clone();
        if !netlink::run(Some(&ep.sandbox.netns), move |h| async move {
            netlink::link_is_up(&h, &ifname).await
        })? {
            return Err(bad(format!("{} missing or down in the sandbox", ep.ifname)));
        }
        Ok(())
    }
}

/// Names the rcrun sandbox publishing a port, from the endpoint records.
struct RecordedPorts<'a>(&'a [Endpoint]);

impl PortOwners for RecordedPorts<'_> {
    fn publisher(&self, port: u16, protocol: rcrun_netapi::Protocol) -> Option<String> {
        self.0
            .iter()
            .find(|e| {
                e.ports
                    .iter()
                    .any(|m| m.host_port == port && m.protocol == protocol)
            })
            .map(|e| {
                format!(
                    "published by sandbox {} on network {:?}",
                    e.sandbox.id, e.network
                )
            })
    }
}

/// Same protocol and port, and host addresses that can both receive it.
fn ports_clash(a: &PortMapping, b: &PortMapping) -> bool {
    a.protocol == b.protocol
        && a.host_port == b.host_port
        && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
}

/// The firewall's view of an endpoint's published ports.
pub(crate) fn port_forward(net: &Network, ep: &Endpoint) -> PortForward {
    PortForward {
        network: net.name.clone(),
        bridge: net.bridge.clone(),
        sandbox_id: ep.sandbox.id.clone(),
        container_ips: ep.ips.iter().map(|n| n.addr()).collect(),
        mappings: ep.ports.clone(),
    }
}

/// What attach hands back to the caller.
pub(crate) fn attachment(net: &Network, ep: &Endpoint) -> Attachment {
    let ips = ep
        .ips
        .iter()
        .map(|n| AssignedIp {
            address: n.addr(),
            prefix_len: n.prefix_len(),
            gateway: net
                .subnets
                .iter()
                .find(|s| s.subnet.contains(&n.addr()))
                .map(|s| s.gateway),
            interface: ep.ifname.clone(),
        })
        .collect();
    Attachment {
        network: net.name.clone(),
        ips,
        mac: Some(ep.mac.clone()),
        port_mappings: ep.ports.clone(),
        dns: Some(files::sandbox_dns(&files::host_resolv_conf(), net.ipv6)),
    }
}
