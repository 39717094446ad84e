//! A sandbox's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, and
//! name resolution between containers on one user network without a DNS
//! daemon: every member sandbox's hosts file lists the other sandboxes of
//! the network by container name and `--network-alias`, rewritten in place
//! (the files are bind-mounted) whenever a sandbox joins or leaves.

use std::net::IpAddr;
use std::path::Path;

use rcrun_netapi::DnsSettings;
use rcrun_netdriver::files;

use crate::error::Result;
use crate::fsutil::{self, Lock};
use crate::options::NetworkMode;
use crate::sandbox::{SandboxRecord, Sandboxes};

/// The default network: like docker's, it has no name resolution.
const DEFAULT_NETWORK: &str = "bridge";

/// Write the three files of a new sandbox into `dir`.
pub fn write_files(dir: &Path, rec: &SandboxRecord, dns: &[IpAddr]) -> Result<()> {
    let (hosts, resolv, hostname) = if rec.network == NetworkMode::Host {
        let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        append_add_hosts(&mut hosts, &rec.add_hosts);
        let mut resolv = files::host_resolv_conf();
        if !dns.is_empty() {
            let mut d = files::sandbox_dns(&resolv, true);
            d.nameservers = dns.to_vec();
            resolv = files::render_resolv_conf(&d);
        }
        (hosts, resolv, format!("{}\n", rec.hostname))
    } else {
        let att_dns = rec.attachment.as_ref().and_then(|a| a.dns.clone());
        let mut d: DnsSettings = match att_dns {
            Some(d) if !d.nameservers.is_empty() => d,
            _ => files::sandbox_dns(&files::host_resolv_conf(), false),
        };
        if !dns.is_empty() {
            d.nameservers = dns.to_vec();
        }
        (
            render_hosts(rec, &[]),
            files::render_resolv_conf(&d),
            format!("{}\n", rec.hostname),
        )
    };
    fsutil::rewrite_in_place(&dir.join("hosts"), &hosts)?;
    fsutil::rewrite_in_place(&dir.join("resolv.conf"), &resolv)?;
    fsutil::rewrite_in_place(&dir.join("hostname"), &hostname)
}

fn append_add_hosts(out: &mut String, add: &[(String, IpAddr)]) {
    for (name, ip) in add {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
}

/// The hosts file of `rec` with `peers` (address, names) of its network.
pub fn render_hosts(rec: &SandboxRecord, peers: &[(IpAddr, Vec<String>)]) -> String {
    let mut names = vec![rec.hostname.clone()];
    names.extend(rec.names.iter().filter(|n| **n != rec.hostname).cloned());
    let mut out = files::render_hosts(&names[0], &names[1..], &rec.ips());
    append_add_hosts(&mut out, &rec.add_hosts);
    if !peers.is_empty() {
        out.push_str("# containers on the same network\n");
        for (ip, names) in peers {
            out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    out
}

/// Rewrite the hosts file of every sandbox on user network `network` so
/// each lists all the others (nothing for the default network).
pub fn refresh_network_peers(sandboxes: &Sandboxes, network: &str) -> Result<()> {
    if network == DEFAULT_NETWORK {
        return Ok(());
    }
    let _lock = Lock::acquire(
        &sandboxes
            .paths()
            .locks_dir()
            .join(format!("network-{network}.lock")),
    )?;
    let members: Vec<SandboxRecord> = sandboxes
        .list()?
        .into_iter()
        .filter(|s| s.network == NetworkMode::Bridge(network.to_string()) && s.attachment.is_some())
        .collect();
    for s in &members {
        let peers: Vec<(IpAddr, Vec<String>)> = members
            .iter()
            .filter(|o| o.id != s.id)
            .flat_map(|o| {
                let mut names = o.names.clone();
                if !names.contains(&o.hostname) {
                    names.push(o.hostname.clone());
                }
                o.ips().into_iter().map(move |ip| (ip, names.clone()))
            })
            .collect();
        let path = sandboxes.files_dir(&s.id).join("hosts");
        let text = render_hosts(s, &peers);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) && path.exists() {
            fsutil::rewrite_in_place(&path, &text)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcrun_netapi::{AssignedIp, Attachment};

    fn rec(hostname: &str, names: &[&str], ip: &str) -> SandboxRecord {
        SandboxRecord {
            id: "s".into(),
            network: NetworkMode::Bridge("n".into()),
            netns: None,
            pause_pid: 0,
            pause_start: 0,
            attachment: Some(Attachment {
                network: "n".into(),
                ips: vec![AssignedIp {
                    address: ip.parse().unwrap(),
                    prefix_len: 24,
                    gateway: None,
                    interface: "eth0".into(),
                }],
                mac: None,
                port_mappings: vec![],
                dns: None,
            }),
            hostname: hostname.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            add_hosts: vec![("db".into(), "192.0.2.7".parse().unwrap())],
            members: vec![],
            pod: None,
            created: String::new(),
        }
    }

    #[test]
    fn hosts_list_self_extra_hosts_and_peers() {
        let r = rec("abc", &["web", "www"], "10.0.0.2");
        let text = render_hosts(&r, &[("10.0.0.3".parse().unwrap(), vec!["db1".into()])]);
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.0.0.2\tabc web www\n"), "{text}");
        assert!(text.contains("192.0.2.7\tdb\n"));
        assert!(text.ends_with("# containers on the same network\n10.0.0.3\tdb1\n"));
        assert!(!render_hosts(&r, &[]).contains("same network"));
    }
}
