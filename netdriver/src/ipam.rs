//! Address management for one network, persisted under
//! `<data-root>/ipam/<network>/`: one file per allocated address (named by the
//! address, holding its owner), `.last-<n>` with the last address handed out
//! per subnet, and `.lock`, an exclusive flock held for each operation so
//! concurrent processes never hand out the same address.
//!
//! Allocation is sequential after the last address with wrap-around; the
//! network address, the IPv4 broadcast address and the gateway are never
//! handed out. Candidates are checked by looking their file up, so an
//! allocation costs the same however many addresses are held; only a crowded
//! stretch of the pool is listed. When a pool is full, addresses whose owner's netns no longer
//! exists are reclaimed and the allocation retried.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};
use crate::model::Subnet;
use crate::store::{read_json, remove_file, write_json, Durability, LockGuard};

/// Who holds an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Sandbox id.
    pub id: String,
    /// The sandbox's netns path (stale when it no longer is a netns).
    pub netns: PathBuf,
}

/// The address pool of one network.
#[derive(Debug, Clone)]
pub struct Ipam {
    network: String,
    dir: PathBuf,
}

impl Ipam {
    /// The pool of `network` under `data_root`.
    pub fn new(data_root: &Path, network: &str) -> Self {
        Ipam {
            network: network.to_string(),
            dir: data_root.join("ipam").join(network),
        }
    }

    fn lock(&self) -> Result<LockGuard> {
        LockGuard::acquire(&self.dir.join(".lock"))
    }

    fn entry(&self, ip: IpAddr) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    /// The allocated addresses (directory names only, no owner read).
    fn taken(&self) -> Result<HashSet<IpAddr>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(NetError::io("list", &self.dir, e)),
        };
        let mut out = HashSet::new();
        for e in rd {
            let e = e.map_err(|e| NetError::io("list", &self.dir, e))?;
            if let Ok(ip) = e.file_name().to_string_lossy().parse::<IpAddr>() {
                out.insert(ip);
            }
        }
        Ok(out)
    }

    /// Every allocation of this network.
    pub fn allocations(&self) -> Result<HashMap<IpAddr, Owner>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(NetError::io("list", &self.dir, e)),
        };
        let mut out = HashMap::new();
        for e in rd {
            let e = e.map_err(|e| NetError::io("list", &self.dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ip) = name.parse::<IpAddr>() else {
                continue;
            };
            if let Some(owner) = read_json::<Owner>(&e.path())? {
                out.insert(ip, owner);
            }
        }
        Ok(out)
    }

    /// Allocate one address per subnet for `owner`; `requested` static
    /// addresses are honoured (or refused when taken, reserved or outside
    /// every subnet). `is_stale` tells whether an owner's sandbox is gone, for
    /// reclaiming when a pool is full. Returns addresses with prefix lengths.
    pub fn allocate(
        &self,
        subnets: &[Subnet],
        owner: &Owner,
        requested: &[IpAddr],
        is_stale: &dyn Fn(&Owner) -> bool,
    ) -> Result<Vec<IpNet>> {
        let _lock = self.lock()?;
        // Addresses this call has picked (files are written at the end).
        let mut planned: HashSet<IpAddr> = HashSet::new();
        for ip in requested {
            if !subnets.iter().any(|s| s.subnet.contains(ip)) {
                return Err(self.unavailable(*ip, "outside the network's subnets".into()));
            }
        }
        // (subnet index, address, allocated sequentially rather than asked for)
        let mut plan: Vec<(usize, IpAddr, bool)> = Vec::new();
        for (i, s) in subnets.iter().enumerate() {
            if let Some(ip) = requested.iter().find(|ip| s.subnet.contains(*ip)) {
                self.check_static(s, *ip, &planned, is_stale)?;
                planned.insert(*ip);
                plan.push((i, *ip, false));
                continue;
            }
            let ip = match self.next_free(i, s, &planned)? {
                Some(ip) => ip,
                None => {
                    self.reclaim_locked(is_stale)?;
                    self.next_free(i, s, &planned)?
                        .ok_or_else(|| NetError::PoolExhausted {
                            network: self.network.clone(),
                            subnet: s.subnet,
                        })?
                }
            };
            planned.insert(ip);
            plan.push((i, ip, true));
        }
        let mut out = Vec::new();
        for (i, ip, sequential) in &plan {
            write_json(&self.entry(*ip), owner, Durability::ProcessCrash)?;
            if *sequential {
                write_cursor(&self.dir.join(format!(".last-{i}")), *ip)?;
            }
            let prefix = subnets[*i].subnet.prefix_len();
            out.push(IpNet::new(*ip, prefix).map_err(|e| NetError::Invalid(e.to_string()))?);
        }
        Ok(out)
    }

    fn unavailable(&self, ip: IpAddr, reason: String) -> NetError {
        NetError::AddressUnavailable {
            network: self.network.clone(),
            ip,
            reason,
        }
    }

    fn check_static(
        &self,
        s: &Subnet,
        ip: IpAddr,
        planned: &HashSet<IpAddr>,
        is_stale: &dyn Fn(&Owner) -> bool,
    ) -> Result<()> {
        if ip == s.gateway {
            return Err(self.unavailable(ip, "it is the gateway".into()));
        }
        if is_reserved(&s.subnet, ip) {
            return Err(self.unavailable(ip, "network or broadcast address".into()));
        }
        if planned.contains(&ip) {
            return Err(self.unavailable(ip, "asked for twice".into()));
        }
        if !self.is_allocated(ip)? {
            return Ok(());
        }
        if let Some(o) = read_json::<Owner>(&self.entry(ip))? {
            if is_stale(&o) {
                remove_file(&self.entry(ip))?;
            } else {
                return Err(self.unavailable(ip, format!("in use by sandbox {}", o.id)));
            }
        }
        Ok(())
    }

    /// Is `ip` allocated (its file exists)?
    fn is_allocated(&self, ip: IpAddr) -> Result<bool> {
        let path = self.entry(ip);
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(NetError::io("stat", &path, e)),
        }
    }

    /// The next free address of subnet `i` after the last one handed out,
    /// other than those in `planned`.
    ///
    /// The first few candidates after the cursor are looked up one by one
    /// (in the usual sequential case the first is free), so an allocation
    /// does not list the pool, whose size is the number of containers; only
    /// a crowded stretch falls back to one listing.
    fn next_free(&self, i: usize, s: &Subnet, planned: &HashSet<IpAddr>) -> Result<Option<IpAddr>> {
        const PROBES: u128 = 16;
        let range = s.ip_range.unwrap_or(s.subnet);
        let (lo, hi) = (to_u128(range.network()), to_u128(range.broadcast()));
        let size = hi - lo + 1;
        let last = fs::read_to_string(self.dir.join(format!(".last-{i}")))
            .ok()
            .and_then(|t| t.trim().parse::<IpAddr>().ok())
            .filter(|ip| range.contains(ip))
            .map(to_u128);
        let start = match last {
            Some(l) if l < hi => l + 1,
            _ => lo,
        };
        let candidate =
            |k: u128| from_u128(lo + (start - lo + k) % size, s.subnet.addr().is_ipv6());
        let usable =
            |ip: IpAddr| ip != s.gateway && !is_reserved(&s.subnet, ip) && !planned.contains(&ip);
        for k in 0..size.min(PROBES) {
            let ip = candidate(k);
            if usable(ip) && !self.is_allocated(ip)? {
                return Ok(Some(ip));
            }
        }
        let taken = self.taken()?;
        // Each step either finds a free address or skips a taken, planned or
        // reserved one, so more steps than that cannot help.
        let budget = size.min((taken.len() + planned.len()) as u128 + 4);
        for k in 0..budget {
            let ip = candidate(k);
            if usable(ip) && !taken.contains(&ip) {
                return Ok(Some(ip));
            }
        }
        Ok(None)
    }

    fn reclaim_locked(&self, is_stale: &dyn Fn(&Owner) -> bool) -> Result<Vec<(IpAddr, Owner)>> {
        let stale: Vec<(IpAddr, Owner)> = self
            .allocations()?
            .into_iter()
            .filter(|(_, o)| is_stale(o))
            .collect();
        for (ip, _) in &stale {
            remove_file(&self.entry(*ip))?;
        }
        if !stale.is_empty() {
            tracing::info!(network = %self.network, count = stale.len(), "reclaimed stale addresses");
        }
        Ok(stale)
    }

    /// Free addresses whose owner is stale; returns what was freed.
    pub fn reclaim(&self, is_stale: &dyn Fn(&Owner) -> bool) -> Result<Vec<(IpAddr, Owner)>> {
        let _lock = self.lock()?;
        self.reclaim_locked(is_stale)
    }

    /// Free `ips` if sandbox `id` holds them (read from its endpoint record,
    /// so no scan of the pool); returns those freed.
    pub fn release_ips(&self, id: &str, ips: &[IpAddr]) -> Result<Vec<IpAddr>> {
        let _lock = self.lock()?;
        let mut freed = Vec::new();
        for ip in ips {
            let path = self.entry(*ip);
            if read_json::<Owner>(&path)?.is_some_and(|o| o.id == id) {
                remove_file(&path)?;
                freed.push(*ip);
            }
        }
        Ok(freed)
    }

    /// Free every address held by sandbox `id` (a scan of the pool); returns them.
    pub fn release(&self, id: &str) -> Result<Vec<IpAddr>> {
        let _lock = self.lock()?;
        let mut freed = Vec::new();
        for (ip, o) in self.allocations()? {
            if o.id == id {
                remove_file(&self.entry(ip))?;
                freed.push(ip);
            }
        }
        Ok(freed)
    }

    /// Remove the whole pool directory (network removed). Fails if any
    /// allocation remains.
    pub fn destroy(&self) -> Result<()> {
        let _lock = self.lock()?;
        let left = self.allocations()?;
        if let Some((ip, o)) = left.iter().next() {
            return Err(NetError::InUse {
                network: self.network.clone(),
                endpoints: format!("{ip} held by {}", o.id),
            });
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io("remove", &self.dir, e)),
        }
    }
}

/// Network address of any subnet; broadcast address of IPv4 subnets shorter
/// than /31 (IPv6 has no broadcast, but its all-zero host is the subnet-router
/// anycast address).
fn is_reserved(subnet: &IpNet, ip: IpAddr) -> bool {
    if ip == subnet.network() {
        return true;
    }
    matches!(subnet, IpNet::V4(n) if n.prefix_len() < 31 && ip == IpAddr::V4(n.broadcast()))
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        // v came from a u32 range, so the truncation is exact.
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

/// Rewrite the sequential cursor `path` in place. It is only a hint (the
/// allocation files decide what is taken, and an unreadable cursor restarts
/// the scan at the range's start), so it needs no atomic replace: rewriting
/// the same inode spares the file system a new inode and a freed one per
/// allocation.
fn write_cursor(path: &Path, ip: IpAddr) -> Result<()> {
    use std::io::Write;
    let text = format!("{ip}\n");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| NetError::io("open", path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.set_len(text.len() as u64))
        .map_err(|e| NetError::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(s: &str, gw: &str) -> Subnet {
        Subnet {
            subnet: s.parse().unwrap(),
            gateway: gw.parse().unwrap(),
            ip_range: None,
        }
    }

    fn owner(id: &str) -> Owner {
        Owner {
            id: id.into(),
            netns: PathBuf::from(format!("/run/netns/{id}")),
        }
    }

    const NEVER: &dyn Fn(&Owner) -> bool = &|_| false;

    #[test]
    fn sequential_skips_gateway_and_wraps() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path(), "n");
        let s = [subnet("10.0.0.0/29", "10.0.0.1")];
        let mut got = Vec::new();
        for i in 0..5 {
            got.push(
                ipam.allocate(&s, &owner(&format!("s{i}")), &[], NEVER)
                    .unwrap()[0]
                    .to_string(),
            );
        }
        assert_eq!(
            got,
            [
                "10.0.0.2/29",
                "10.0.0.3/29",
                "10.0.0.4/29",
                "10.0.0.5/29",
                "10.0.0.6/29"
            ]
        );
        let e = ipam.allocate(&s, &owner("s5"), &[], NEVER).unwrap_err();
        assert!(matches!(e, NetError::PoolExhausted { .. }), "{e}");
        assert_eq!(
            ipam.release("s1").unwrap(),
            vec!["10.0.0.3".parse::<IpAddr>().unwrap()]
        );
        // wraps from .6 back to the freed .3
        let ip = ipam.allocate(&s, &owner("s6"), &[], NEVER).unwrap();
        assert_eq!(ip[0].to_string(), "10.0.0.3/29");
    }

    #[test]
    fn a_crowded_stretch_after_the_cursor_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path(), "n");
        let s = [subnet("10.0.0.0/24", "10.0.0.1")];
        // .2 to .40 held (more than the lookups one by one), .41 free, .42 held.
        for i in 2..=40 {
            let ip: IpAddr = format!("10.0.0.{i}").parse().unwrap();
            ipam.allocate(&s, &owner(&format!("h{i}")), &[ip], NEVER)
                .unwrap();
        }
        let ip42: IpAddr = "10.0.0.42".parse().unwrap();
        ipam.allocate(&s, &owner("h42"), &[ip42], NEVER).unwrap();
        let got = ipam.allocate(&s, &owner("new"), &[], NEVER).unwrap();
        assert_eq!(got[0].to_string(), "10.0.0.41/24");
        let next = ipam.allocate(&s, &owner("next"), &[], NEVER).unwrap();
        assert_eq!(next[0].to_string(), "10.0.0.43/24");
        // A static address held by a live owner is refused, not shared.
        let e = ipam
            .allocate(&s, &owner("other"), &[ip42], NEVER)
            .unwrap_err();
        assert!(matches!(e, NetError::AddressUnavailable { .. }), "{e}");
    }

    #[test]
    fn cursor_is_rewritten_in_place_and_a_bad_one_restarts_the_scan() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path(), "n");
        let s = [subnet("10.0.0.0/24", "10.0.0.1")];
        let want: IpAddr = "10.0.0.200".parse().unwrap();
        ipam.allocate(&s, &owner("a"), &[want], NEVER).unwrap();
        let b = ipam.allocate(&s, &owner("b"), &[], NEVER).unwrap();
        assert_eq!(b[0].to_string(), "10.0.0.2/24");
        let cursor = d.path().join("ipam/n/.last-0");
        let ino = fs::metadata(&cursor).unwrap().ino();
        // A shorter address after a longer one: no stale tail is left.
        fs::write(&cursor, "10.0.0.100\n").unwrap();
        let c = ipam.allocate(&s, &owner("c"), &[], NEVER).unwrap();
        assert_eq!(c[0].to_string(), "10.0.0.101/24");
        fs::write(&cursor, "10.0.0.254\n").unwrap();
        let e = ipam.allocate(&s, &owner("e"), &[], NEVER).unwrap();
        assert_eq!(e[0].to_string(), "10.0.0.3/24");
        assert_eq!(fs::read_to_string(&cursor).unwrap(), "10.0.0.3\n");
        assert_eq!(
            fs::metadata(&cursor).unwrap().ino(),
            ino,
            "rewritten in place"
        );
        // A torn or garbled cursor only restarts the scan at the start.
        fs::write(&cursor, "10.0.0.3garbage").unwrap();
        let f = ipam.allocate(&s, &owner("f"), &[], NEVER).unwrap();
        assert_eq!(f[0].to_string(), "10.0.0.4/24");
    }

    #[test]
    fn ip_range_limits_allocation() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path(), "n");
        let mut s = subnet("10.0.0.0/24", "10.0.0.1");
        s.ip_range = Some("10.0.0.128/30".parse().unwrap());
        let a = ipam
            .allocate(std::slice::from_ref(&s), &owner("a"), &[], NEVER)
            .unwrap();
        let b = ipam
            .allocate(std::slice::from_ref(&s), &owner("b"), &[], NEVER)
            .unwrap();
        let c = ipam
            .allocate(std::slice::from_ref(&s), &owner("c"), &[], NEVER)
            .unwrap();
        let d2 = ipam
            .allocate(std::slice::from_ref(&s), &owner("d"), &[], NEVER)
            .unwrap();
        let all: Vec<String> = [a, b, c, d2]
            .iter()
            .map(|v| v[0].addr().to_string())
            .collect();
        assert_eq!(
            all,
            ["10.0.0.128", "10.0.0.129", "10.0.0.130", "10.0.0.131"]
        );
        assert!(ipam.allocate(&[s], &owner("e"), &[], NEVER).is_err());
    }

    #[test]
    fn static_ip_honoured_or_refused() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path(), "n");
        let s = [subnet("10.0.0.0/24", "10.0.0.1")];
        let want: IpAddr = "10.0.0.77".parse().unwrap();
        let got = ipam.allocate(&s, &owner("a"), &[want], NEVER).unwrap();
        assert_eq!(got[0].addr(), want);
        let e = ipam
            .allocate(&s, &owner("b"), &[want], NEVER)
            .unwrap_err()
            .to_string();
        assert!(e.contains("in use by sandbox a"), "{e}");
        for bad in ["10.0.0.1", "10.0.0.0", "10.0.0.255", "10.9.0.1"] {
            assert!(
                ipam.allocate(&s, &owner("c"), &[bad.parse().unwrap()], NEVER)
                    .is_err(),
                "{bad}"
            );
        }
        assert!(ipam.allocations().unwrap().len() == 1);
    }

    #[test]
    fn dual_stack_gets_one_of_each() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path(), "n");
        let s = [
            subnet("10.0.0.0/24", "10.0.0.1"),
            subnet("fd00:1::/64", "fd00:1::1"),
        ];
        let got = ipam.allocate(&s, &owner("a"), &[], NEVER).unwrap();
        assert_eq!(got[0].to_string(), "10.0.0.2/24");
        assert_eq!(got[1].to_string(), "fd00:1::2/64");
    }

    #[test]
    fn full_pool_reclaims_stale_owners() {
        let d = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(d.path(), "n");
        let s = [subnet("10.0.0.0/30", "10.0.0.1")];
        ipam.allocate(&s, &owner("dead"), &[], NEVER).unwrap();
        assert!(ipam.allocate(&s, &owner("x"), &[], NEVER).is_err());
        let stale = |o: &Owner| o.id == "dead";
        let got = ipam.allocate(&s, &owner("x"), &[], &stale).unwrap();
        assert_eq!(got[0].addr().to_string(), "10.0.0.2");
        let all = ipam.allocations().unwrap();
        assert_eq!(
            all.values().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["x"]
        );
        ipam.release("x").unwrap();
        ipam.destroy().unwrap();
        assert!(!d.path().join("ipam/n").exists());
    }
}
