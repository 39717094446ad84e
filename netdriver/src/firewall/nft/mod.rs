//! [`NftFirewall`]: rcrun's rules in one nftables table, each operation one
//! atomic nft transaction (in-process through libnftables, else `nft -f -`).
//! Layout: [`layout`]; architecture notes: `docs/firewall.md`.
//!
//! Accepted forwarded packets carry [`FW_MARK`]; a host firewall whose own
//! forward chain has `policy drop` accepts rcrun's traffic with one line:
//!
//! ```text
//! meta mark & 0x1000 == 0x1000 accept
//! ```
//!
//! (0x1000 rather than 0x2000 because netavark masquerades everything marked
//! 0x2000 on the same host.)

pub mod exec;
pub mod forward;
pub mod layout;
mod libnft;
pub mod script;

#[cfg(test)]
mod golden_tests;

use std::fs::File;
use std::path::{Path, PathBuf};

use rcrun_netapi::Protocol;

use self::exec::{apply, list_json, map_elements, objects, set_strings, Nft};
use self::forward::{elements, Element};
use self::layout::Layout;
use self::script::{check_bridge, check_table, Script};
use super::ports::PortOwners;
use super::xtables::ForwardAccept;
use super::{proto_name, FirewallDriver, FirewallError, NetworkFw, PortForward};

/// The production table name (`inet rcrun`).
pub const DEFAULT_TABLE: &str = "rcrun";

/// Mark (and mask) set on every packet rcrun's forward chain accepts.
pub const FW_MARK: u32 = 0x1000;

/// The nftables firewall: one `inet` table, maps for published ports.
#[derive(Debug, Clone)]
pub struct NftFirewall {
    layout: Layout,
    nft: Nft,
}

impl Default for NftFirewall {
    fn default() -> Self {
        NftFirewall {
            layout: Layout {
                table: DEFAULT_TABLE.to_string(),
                mark: FW_MARK,
            },
            nft: Nft::Auto,
        }
    }
}

impl NftFirewall {
    /// A firewall on table `inet <table>` (tests use their own table).
    pub fn new(table: &str) -> Result<Self, FirewallError> {
        check_table(table)?;
        let mut fw = NftFirewall::default();
        fw.layout.table = table.to_string();
        Ok(fw)
    }

    /// Spawn this `nft` binary for every operation instead of calling
    /// libnftables in-process (the default when the library loads).
    pub fn with_nft(mut self, nft: impl Into<PathBuf>) -> Self {
        self.nft = Nft::Binary(nft.into());
        self
    }

    /// Use `mark` (a single bit is easiest for users) instead of [`FW_MARK`],
    /// when that bit is taken by other software on the host.
    pub fn with_mark(mut self, mark: u32) -> Self {
        self.layout.mark = mark;
        self
    }

    /// How nft commands are run (library or binary; `Auto` is resolved).
    pub fn runner(&self) -> Nft {
        match &self.nft {
            Nft::Auto => Nft::detect(),
            n => n.clone(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.layout.table
    }

    /// The mark accepted packets carry.
    pub fn mark(&self) -> u32 {
        self.layout.mark
    }

    /// The script `setup_network` applies (skeleton + the network).
    pub fn network_script(&self, n: &NetworkFw) -> Result<Script, FirewallError> {
        check_bridge(&n.bridge)?;
        let mut s = Script::new();
        self.layout.skeleton(&mut s);
        self.layout.network(&mut s, n);
        Ok(s)
    }

    /// The script `setup_port_forward` applies.
    pub fn forward_script(&self, p: &PortForward) -> Result<Script, FirewallError> {
        let els = elements(p)?;
        let mut s = Script::new();
        self.layout.forward_add(&mut s, &p.sandbox_id, &els);
        Ok(s)
    }

    /// The script `reload` applies: drop the table, rebuild it whole.
    pub fn reload_script(
        &self,
        networks: &[NetworkFw],
        forwards: &[PortForward],
    ) -> Result<Script, FirewallError> {
        let mut s = Script::new();
        self.layout.table_removal(&mut s);
        if networks.is_empty() {
            return Ok(s);
        }
        self.layout.skeleton(&mut s);
        for n in networks {
            check_bridge(&n.bridge)?;
            self.layout.network(&mut s, n);
        }
        for p in forwards {
            let els = elements(p)?;
            self.layout.forward_add(&mut s, &p.sandbox_id, &els);
        }
        Ok(s)
    }

    fn forward_accept(&self) -> ForwardAccept {
        ForwardAccept {
            nft: self.nft.clone(),
            mark: self.layout.mark,
            table: self.layout.table.clone(),
        }
    }

    /// The host-wide lock file that serializes this table's network-level
    /// changes (the "last network" decision and the iptables rule).
    pub fn lock_path(&self) -> PathBuf {
        let dir = if Path::new("/run/lock").is_dir() {
            Path::new("/run/lock")
        } else {
            Path::new("/run")
        };
        dir.join(format!("rcrun-nft-{}.lock", self.layout.table))
    }

    fn lock(&self) -> Result<File, FirewallError> {
        let path = self.lock_path();
        let lock_err = |source| FirewallError::Lock {
            path: path.clone(),
            source,
        };
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_err)?;
        f.lock().map_err(lock_err)?;
        Ok(f)
    }

    fn run(&self, script: &Script, operation: &str) -> Result<(), FirewallError> {
        match apply(&self.nft, script)? {
            Ok(()) => Ok(()),
            Err(r) if r.missing() => Err(FirewallError::TableMissing {
                table: self.layout.table.clone(),
            }),
            Err(r) => Err(r.into_error(script, operation)),
        }
    }

    /// Every DNAT map element of the table (empty when the table is missing).
    fn listed_elements(&self) -> Result<Vec<(String, exec::ListedElement)>, FirewallError> {
        let Some(listing) = list_json(&self.nft, &["list", "table", "inet", self.table()])? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for m in objects(&listing, "map") {
            let Some(name) = m.get("name").and_then(|n| n.as_str()) else {
                continue;
            };
            if name.starts_with("dnat_") {
                out.extend(map_elements(m).into_iter().map(|e| (name.to_string(), e)));
            }
        }
        Ok(out)
    }

    /// The sandbox that published `e`'s key, if an element under that key exists.
    fn owner_of(&self, e: &Element) -> Option<String> {
        let listed = self.listed_elements().ok()?;
        listed
            .into_iter()
            .find(|(map, l)| *map == e.map && l.host_ip == e.host_ip && l.host_port == e.host_port)
            .map(|(_, l)| l.comment.unwrap_or_else(|| "unknown".into()))
    }

    fn set_route_localnet(bridge: &str) -> Result<(), FirewallError> {
        let path = Path::new("/proc/sys/net/ipv4/conf")
            .join(bridge)
            .join("route_localnet");
        std::fs::write(&path, "1").map_err(|source| FirewallError::Sysctl { path, source })
    }
}

impl PortOwners for NftFirewall {
    fn publisher(&self, port: u16, protocol: Protocol) -> Option<String> {
        let prefix = format!("dnat_{}", proto_name(protocol));
        self.listed_elements()
            .ok()?
            .into_iter()
            .find(|(map, l)| map.starts_with(&prefix) && l.host_port == port)
            .map(|(_, l)| l.comment.unwrap_or_else(|| "unknown".into()))
    }
}

impl FirewallDriver for NftFirewall {
    fn setup_network(&self, n: &NetworkFw) -> Result<(), FirewallError> {
        let script = self.network_script(n)?;
        let _lock = self.lock()?;
        self.run(&script, &format!("set up network {}", n.name))?;
        if !n.internal {
            // 127.0.0.1 published ports: loopback-sourced packets may leave
            // by the bridge (then masqueraded to the gateway address).
            Self::set_route_localnet(&n.bridge)?;
        }
        self.forward_accept().ensure()
    }

    fn teardown_network(&self, n: &NetworkFw) -> Result<(), FirewallError> {
        check_bridge(&n.bridge)?;
        let _lock = self.lock()?;
        let set = list_json(&self.nft, &["list", "set", "inet", self.table(), "bridges"])?;
        let remaining: Vec<String> = set
            .as_ref()
            .and_then(|j| objects(j, "set").next().map(set_strings))
            .unwrap_or_default()
            .into_iter()
            .filter(|b| *b != n.bridge)
            .collect();
        let mut script = Script::new();
        if remaining.is_empty() {
            self.layout.table_removal(&mut script);
        } else {
            self.layout.network_removal(&mut script, n);
        }
        self.run(&script, &format!("tear down network {}", n.name))?;
        if remaining.is_empty() {
            self.forward_accept().remove()?;
        }
        Ok(())
    }

    fn setup_port_forward(&self, p: &PortForward) -> Result<(), FirewallError> {
        let els = elements(p)?;
        if els.is_empty() {
            return Ok(());
        }
        let mut script = Script::new();
        self.layout.forward_add(&mut script, &p.sandbox_id, &els);
        let refused = match apply(&self.nft, &script)? {
            Ok(()) => return Ok(()),
            Err(r) => r,
        };
        if refused.missing() {
            return Err(FirewallError::TableMissing {
                table: self.table().to_string(),
            });
        }
        let failed = refused
            .line
            .and_then(|l| script.label(l))
            .and_then(|label| els.iter().find(|e| e.describe() == label));
        if let (true, Some(e)) = (refused.exists(), failed) {
            let owner = self.owner_of(e).unwrap_or_else(|| "unknown".into());
            return Err(FirewallError::PortInUse {
                host_ip: e.host_ip,
                port: e.host_port,
                protocol: e.protocol,
                owner: format!("published by sandbox {owner}"),
            });
        }
        Err(refused.into_error(
            &script,
            &format!("publish ports of sandbox {}", p.sandbox_id),
        ))
    }

    fn teardown_port_forward(&self, p: &PortForward) -> Result<(), FirewallError> {
        let els = elements(p)?;
        if els.is_empty() {
            return Ok(());
        }
        let operation = format!("withdraw ports of sandbox {}", p.sandbox_id);
        let mut script = Script::new();
        self.layout.forward_remove(&mut script, &p.sandbox_id, &els);
        let refused = match apply(&self.nft, &script)? {
            Ok(()) => return Ok(()),
            Err(r) => r,
        };
        if refused.missing() {
            // The table or its maps are gone: nothing of ours is left.
            return Ok(());
        }
        if !refused.exists() {
            return Err(refused.into_error(&script, &operation));
        }
        // Another sandbox holds one of the keys: delete only what is ours.
        let listed = self.listed_elements()?;
        let ours: Vec<Element> = els
            .into_iter()
            .filter(|e| {
                listed.iter().any(|(map, l)| {
                    *map == e.map
                        && l.host_ip == e.host_ip
                        && l.host_port == e.host_port
                        && l.ctr_ip == e.ctr_ip
                        && l.ctr_port == e.ctr_port
                })
            })
            .collect();
        if ours.is_empty() {
            return Ok(());
        }
        let mut script = Script::new();
        self.layout.elements_delete(&mut script, &ours);
        self.run(&script, &operation)
    }

    fn reload(
        &self,
        networks: &[NetworkFw],
        forwards: &[PortForward],
    ) -> Result<(), FirewallError> {
        let script = self.reload_script(networks, forwards)?;
        let _lock = self.lock()?;
        self.run(&script, "reload")?;
        if networks.is_empty() {
            return self.forward_accept().remove();
        }
        for n in networks.iter().filter(|n| !n.internal) {
            Self::set_route_localnet(&n.bridge)?;
        }
        self.forward_accept().ensure()
    }
}
