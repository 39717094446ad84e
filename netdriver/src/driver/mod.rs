//! [`BridgeDriver`]: the built-in driver tying the model, the store, IPAM,
//! netlink and the firewall together. Network lifecycle lives here; attach and
//! detach in `endpoint.rs`; garbage collection and firewall reload in `gc.rs`.

mod backend;
mod endpoint;
mod gc;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ipnet::IpNet;

use crate::error::{NetError, Result};
use crate::firewall::{FirewallDriver, NetworkFw, PortReservation};
use crate::ipam::Ipam;
use crate::model::{
    validate_ifname, validate_network_name, Network, DEFAULT_BRIDGE, DEFAULT_NETWORK,
    OPT_BRIDGE_NAME,
};
use crate::netlink;
use crate::store::Store;
use crate::subnet;
use crate::sysctl;

pub use gc::GcReport;

/// Where the driver keeps its state and how it names things.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Persistent data root (`/var/lib/rcrun`): networks, IPAM.
    pub data_root: PathBuf,
    /// Runtime state root (`/run/rcrun`, a tmpfs): endpoint records and
    /// their locks, which describe netns-bound state a reboot ends anyway.
    pub run_root: PathBuf,
    /// Bridge of the default network (`rcrun0`).
    pub default_bridge: String,
    /// Candidate subnets for the default network, first free one wins.
    pub default_pool: Vec<IpNet>,
    /// Prefix of host-side veth names (`veth`).
    pub veth_prefix: String,
}

impl DriverConfig {
    /// The standard configuration for a data root and a run root.
    pub fn new(data_root: &Path, run_root: &Path) -> Self {
        DriverConfig {
            data_root: data_root.to_path_buf(),
            run_root: run_root.to_path_buf(),
            default_bridge: DEFAULT_BRIDGE.to_string(),
            default_pool: subnet::default_pool(),
            veth_prefix: "veth".to_string(),
        }
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    /// Network name.
    pub name: String,
    /// Subnets (`--subnet`), each with optional gateway and ip-range; empty
    /// means pick a free IPv4 subnet from the default pool.
    pub subnets: Vec<SubnetRequest>,
    /// `--internal`.
    pub internal: bool,
    /// `--ipv6` (needs an IPv6 subnet).
    pub ipv6: bool,
    /// `--label k=v`.
    pub labels: BTreeMap<String, String>,
    /// `-o k=v` (`com.docker.network.bridge.name` names the bridge).
    pub options: BTreeMap<String, String>,
}

/// One requested subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetRequest {
    /// The subnet.
    pub subnet: IpNet,
    /// Its gateway (default: the first host address).
    pub gateway: Option<IpAddr>,
    /// The allocation range (default: the whole subnet).
    pub ip_range: Option<IpNet>,
}

/// The built-in bridge network driver.
#[derive(Debug)]
pub struct BridgeDriver {
    cfg: DriverConfig,
    store: Store,
    fw: Box<dyn FirewallDriver>,
    /// Held host-port sockets per `network/sandbox`, while this process lives.
    reservations: Mutex<HashMap<String, PortReservation>>,
}

impl BridgeDriver {
    /// A driver over `cfg.data_root` and `cfg.run_root` programming the
    /// firewall through `fw`.
    pub fn new(cfg: DriverConfig, fw: Box<dyn FirewallDriver>) -> Self {
        BridgeDriver {
            store: Store::new(&cfg.data_root, &cfg.run_root),
            cfg,
            fw,
            reservations: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DriverConfig {
        &self.cfg
    }

    /// The firewall back end.
    pub fn firewall(&self) -> &dyn FirewallDriver {
        self.fw.as_ref()
    }

    /// Hand over the held port sockets of a sandbox, so a longer-lived
    /// process (the container monitor) can keep the ports reserved after this
    /// one exits. `None` when nothing is held.
    pub fn take_reservation(&self, network: &str, id: &str) -> Option<PortReservation> {
        self.reservations
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&format!("{network}/{id}")))
    }

    /// All network definitions, sorted by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        self.store.list_networks()
    }

    /// A network and its endpoint records.
    pub fn inspect(&self, name: &str) -> Result<(Network, Vec<crate::model::Endpoint>)> {
        let n = self
            .store
            .load_network(name)?
            .ok_or_else(|| NetError::NoSuchNetwork(name.to_string()))?;
        let eps = self.store.list_endpoints(name)?;
        Ok((n, eps))
    }

    /// Network `name`; the default network is created on first use. Returns
    /// a note when the default subnet had to move.
    pub fn network_or_default(&self, name: &str) -> Result<(Network, Option<String>)> {
        if let Some(n) = self.store.load_network(name)? {
            return Ok((n, None));
        }
        if name == DEFAULT_NETWORK {
            return self.create_default();
        }
        Err(NetError::NoSuchNetwork(name.to_string()))
    }

    fn create_default(&self) -> Result<(Network, Option<String>)> {
        let _lock = self.store.networks_lock()?;
        if let Some(n) = self.store.load_network(DEFAULT_NETWORK)? {
            return Ok((n, None));
        }
        let routes = netlink::run(None, |h| async move { netlink::host_routes(&h).await })?;
        let others = self.store.list_networks()?;
        let (net, note) = subnet::choose_default(
            &self.cfg.default_pool,
            &routes,
            &others,
            &self.cfg.default_bridge,
        )?;
        let s = subnet::make_subnet(net, None, None)?;
        let n = Network {
            name: DEFAULT_NETWORK.to_string(),
            id: random_id()?,
            driver: "bridge".into(),
            bridge: self.cfg.default_bridge.clone(),
            subnets: vec![s],
            internal: false,
            ipv6: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            created: now(),
        };
        self.bring_up(&n)?;
        Ok((
            n,
            note.map(|t| format!("default network {DEFAULT_NETWORK:?}: {t}")),
        ))
    }

    /// Create a user network. Returns it and a note when its subnet was
    /// chosen after skipping an overlapping candidate.
    pub fn create_network(&self, req: &CreateNetwork) -> Result<(Network, Option<String>)> {
        validate_network_name(&req.name)?;
        let _lock = self.store.networks_lock()?;
        if self.store.load_network(&req.name)?.is_some() {
            return Err(NetError::NetworkExists(req.name.clone()));
        }
        let id = random_id()?;
        let bridge = match req.options.get(OPT_BRIDGE_NAME) {
            Some(b) => b.clone(),
            None if req.name == DEFAULT_NETWORK => self.cfg.default_bridge.clone(),
            None => format!("br-{}", &id[..12]),
        };
        validate_ifname(&bridge)?;
        for k in req.options.keys() {
            if k != OPT_BRIDGE_NAME {
                return Err(NetError::Invalid(format!(
                    "unknown driver option {k:?} (supported: {OPT_BRIDGE_NAME})"
                )));
            }
        }
        let others = self.store.list_networks()?;
        if let Some(o) = others.iter().find(|o| o.bridge == bridge) {
            return Err(NetError::Invalid(format!(
                "bridge {bridge} is already used by network {:?}",
                o.name
            )));
        }
        let routes = netlink::run(None, |h| async move { netlink::host_routes(&h).await })?;
        let (subnets, note) = self.plan_subnets(req, &routes, &others, &bridge)?;
        let n = Network {
            name: req.name.clone(),
            id,
            driver: "bridge".into(),
            bridge,
            subnets,
            internal: req.internal,
            ipv6: req.ipv6,
            labels: req.labels.clone(),
            options: req.options.clone(),
            created: now(),
        };
        self.bring_up(&n)?;
        let note = note.map(|t| format!("network {:?}: {t}", n.name));
        Ok((n, note))
    }

    fn plan_subnets(
        &self,
        req: &CreateNetwork,
        routes: &[netlink::HostRoute],
        others: &[Network],
        bridge: &str,
    ) -> Result<(Vec<crate::model::Subnet>, Option<String>)> {
        let mut out = Vec::new();
        let mut note = None;
        let v4 = req
            .subnets
            .iter()
            .filter(|s| s.subnet.addr().is_ipv4())
            .count();
        let v6 = req.subnets.len() - v4;
        if v4 > 1 || v6 > 1 {
            return Err(NetError::Invalid(
                "at most one IPv4 and one IPv6 --subnet per network".into(),
            ));
        }
        if v6 == 1 && !req.ipv6 {
            return Err(NetError::Invalid("an IPv6 --subnet needs --ipv6".into()));
        }
        if req.ipv6 && v6 == 0 {
            return Err(NetError::Invalid(
                "--ipv6 needs an IPv6 --subnet (e.g. --subnet fd00:1::/64)".into(),
            ));
        }
        if v4 == 0 {
            let pool: Vec<IpNet> = self.cfg.default_pool.clone();
            let (net, why) = subnet::choose_default(&pool, routes, others, bridge)?;
            note = why;
            out.push(subnet::make_subnet(net, None, None)?);
        }
        let mut reqs = req.subnets.clone();
        reqs.sort_by_key(|s| s.subnet.addr().is_ipv6());
        for r in reqs {
            let s = subnet::make_subnet(r.subnet, r.gateway, r.ip_range)?;
            if let Some(what) = subnet::conflict(&s.subnet, routes, others, bridge) {
                return Err(NetError::Overlap {
                    subnet: s.subnet,
                    what,
                });
            }
            out.push(s);
        }
        Ok((out, note))
    }

    /// Persist the definition, create the bridge, set sysctls and the
    /// firewall rules; on failure undo all of it.
    fn bring_up(&self, n: &Network) -> Result<()> {
        self.store.save_network(n)?;
        if let Err(e) = self.ensure_bridge(n, true) {
            let _ = self.tear_down_bridge(n);
            let _ = self.store.remove_network(&n.name);
            return Err(e);
        }
        Ok(())
    }

    /// Make sure the bridge, its addresses, the sysctls and (when the bridge
    /// was created or `force_fw`) the network's firewall rules exist.
    pub(crate) fn ensure_bridge(&self, n: &Network, force_fw: bool) -> Result<()> {
        let name = n.bridge.clone();
        let gws = n.gateway_nets();
        let created = netlink::run(None, move |h| async move {
            netlink::ensure_bridge(&h, &name, &gws).await
        })?;
        self.after_bridge(n, created || force_fw)
    }

    /// Sysctls for the bridge, and the network's firewall rules when the
    /// bridge was just (re)created (after a reboot the table is gone too).
    pub(crate) fn after_bridge(&self, n: &Network, setup_fw: bool) -> Result<()> {
        sysctl::enable_forwarding(n.ipv6)?;
        sysctl::enable_route_localnet(&n.bridge)?;
        if setup_fw {
            self.fw
                .setup_network(&network_fw(n))
                .map_err(|e| NetError::Firewall(e.to_string()))?;
        }
        Ok(())
    }

    fn tear_down_bridge(&self, n: &Network) -> Result<()> {
        let mut errs = Vec::new();
        if let Err(e) = self.fw.teardown_network(&network_fw(n)) {
            errs.push(format!("firewall: {e}"));
        }
        let name = n.bridge.clone();
        if let Err(e) = netlink::run(None, move |h| async move {
            netlink::delete_link(&h, &name).await
        }) {
            errs.push(e.to_string());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(NetError::Many(errs))
        }
    }

    /// Remove a network: refused while endpoints exist (stale ones, whose
    /// netns is gone, are collected first).
    pub fn remove_network(&self, name: &str) -> Result<()> {
        let n = self
            .store
            .load_network(name)?
            .ok_or_else(|| NetError::NoSuchNetwork(name.to_string()))?;
        self.collect_network(&n, &mut GcReport::default())?;
        let _lock = self.store.networks_lock()?;
        let eps = self.store.list_endpoints(name)?;
        if !eps.is_empty() {
            let ids: Vec<&str> = eps.iter().map(|e| e.sandbox.id.as_str()).collect();
            return Err(NetError::InUse {
                network: name.to_string(),
                endpoints: ids.join(", "),
            });
        }
        Ipam::new(&self.cfg.data_root, name).destroy()?;
        self.tear_down_bridge(&n)?;
        self.store.remove_network(name)?;
        self.store.remove_endpoints_dir(name);
        Ok(())
    }

    /// Remove every network without endpoints; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for n in self.store.list_networks()? {
            match self.remove_network(&n.name) {
                Ok(()) => removed.push(n.name),
                Err(NetError::InUse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

/// The firewall's view of a network.
pub(crate) fn network_fw(n: &Network) -> NetworkFw {
    NetworkFw {
        name: n.name.clone(),
        bridge: n.bridge.clone(),
        subnets: n.subnet_nets(),
        internal: n.internal,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 64 random hex digits from the kernel's CSPRNG.
fn random_id() -> Result<String> {
    let mut buf = [0u8; 32];
    let path = Path::new("/dev/urandom");
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .map_err(|e| NetError::io("read", path, e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
