//! [`CniBackend`]: the CNI host behind rcrun's [`NetworkBackend`] trait, so
//! `--network cni:NAME` works like the built-in driver.

use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use rcrun_netapi::{
    AssignedIp, AttachOptions, Attachment, BackendError, DnsSettings, NetworkBackend, PortMapping,
    Protocol, SandboxRef,
};

use crate::cache::CachedAttachment;
use crate::capabilities::CapabilityArgs;
use crate::conf_dir::ConfDir;
use crate::config::NetworkConfigList;
use crate::error::CniError;
use crate::host::{CniHost, RuntimeConf};
use crate::network_ops::GcAttachment;
use crate::result::{parse_cidr, CniResult};

/// Interface name used when the caller does not choose one.
pub const DEFAULT_IFNAME: &str = "eth0";

/// CNI networks of a conf dir, driven by a [`CniHost`].
#[derive(Debug, Clone)]
pub struct CniBackend {
    conf_dir: PathBuf,
    host: CniHost,
}

impl CniBackend {
    /// Networks from `conf_dir`, run by `host`.
    pub fn new(conf_dir: impl Into<PathBuf>, host: CniHost) -> Self {
        CniBackend {
            conf_dir: conf_dir.into(),
            host,
        }
    }

    /// The conf dir.
    pub fn conf_dir(&self) -> &Path {
        &self.conf_dir
    }

    /// The host running the plugins.
    pub fn host(&self) -> &CniHost {
        &self.host
    }

    /// Load the conf dir (fresh each call: configs may change between commands).
    pub fn load(&self) -> Result<ConfDir, CniError> {
        ConfDir::load(&self.conf_dir, self.host.plugin_path())
    }

    /// The network called `name`.
    pub fn network(&self, name: &str) -> Result<NetworkConfigList, CniError> {
        self.load()?.get(name).cloned()
    }

    /// ADD with full control of the runtime arguments (CNI_ARGS, any
    /// capability, interface name): what a CRI server needs.
    pub fn add(&self, network: &str, rt: &RuntimeConf) -> Result<CniResult, CniError> {
        let list = self.network(network)?;
        self.host.add(&list, rt)
    }

    /// The runtime arguments of an attach, with host port 0 resolved to a
    /// free port (CNI's portmap has no "pick one"), checking the chain
    /// declares each capability asked for.
    pub fn runtime_conf(
        list: &NetworkConfigList,
        sandbox: &SandboxRef,
        opts: &AttachOptions,
    ) -> Result<(RuntimeConf, Vec<PortMapping>), CniError> {
        let caps = list.capabilities();
        let need = |capability: &'static str, what: &'static str| {
            if caps.contains_key(capability) {
                Ok(())
            } else {
                Err(CniError::CapabilityUnsupported {
                    network: list.name.clone(),
                    capability,
                    what,
                })
            }
        };
        let mut args = CapabilityArgs::new();
        let mut ports = Vec::new();
        if !opts.port_mappings.is_empty() {
            need("portMappings", "published ports")?;
            for p in &opts.port_mappings {
                let mut p = p.clone();
                if p.host_port == 0 {
                    p.host_port = free_port(p.host_ip, p.protocol).map_err(|e| {
                        CniError::InvalidArgument {
                            what: "published port",
                            value: format!("{:?}:0:{}", p.host_ip, p.container_port),
                            reason: free_port_error(e),
                        }
                    })?;
                }
                ports.push(p);
            }
            args.port_mappings(&ports);
        }
        if !opts.static_ips.is_empty() {
            need("ips", "static addresses")?;
            let ips: Vec<String> = opts.static_ips.iter().map(ToString::to_string).collect();
            args.ips(&ips);
        }
        if let Some(mac) = &opts.mac {
            need("mac", "a MAC address")?;
            args.mac(mac);
        }
        if !opts.aliases.is_empty() && caps.contains_key("aliases") {
            args.aliases(&opts.aliases);
        }
        let rt = RuntimeConf {
            container_id: sandbox.id.clone(),
            netns: sandbox.netns.clone(),
            ifname: opts
                .ifname
                .clone()
                .unwrap_or_else(|| DEFAULT_IFNAME.to_string()),
            args: Vec::new(),
            capability_args: args,
        };
        Ok((rt, ports))
    }

    /// Cached attachments of `sandbox` on `network`.
    fn cached(
        &self,
        network: &str,
        sandbox: &SandboxRef,
    ) -> Result<Vec<CachedAttachment>, CniError> {
        Ok(self
            .host
            .cache()
            .list(Some(&sandbox.id))?
            .into_iter()
            .filter(|e| e.network_name == network)
            .collect())
    }

    /// The list to DEL/CHECK with: the conf dir's, or, when the file is gone,
    /// the copy cached at ADD.
    fn list_for(
        &self,
        network: &str,
        entry: Option<&CachedAttachment>,
    ) -> Result<Option<NetworkConfigList>, CniError> {
        match self.network(network) {
            Ok(l) => Ok(Some(l)),
            Err(CniError::NetworkNotFound { .. }) => match entry {
                Some(e) if !e.config.is_empty() => {
                    let path = self
                        .host
                        .cache()
                        .result_path(network, &e.container_id, &e.if_name);
                    NetworkConfigList::from_bytes(&e.config, &path).map(Some)
                }
                _ => Ok(None),
            },
            Err(e) => Err(e),
        }
    }

    /// DEL every cached attachment of `sandbox` on `network` (with the
    /// arguments of its ADD); without one, DEL `eth0` so plugins release what
    /// they may still hold. Succeeds when nothing is left.
    pub fn del(&self, network: &str, sandbox: &SandboxRef) -> Result<(), CniError> {
        let cached = self.cached(network, sandbox)?;
        if cached.is_empty() {
            let Some(list) = self.list_for(network, None)? else {
                return Ok(());
            };
            let rt = RuntimeConf {
                container_id: sandbox.id.clone(),
                netns: sandbox.netns.clone(),
                ifname: DEFAULT_IFNAME.into(),
                ..RuntimeConf::default()
            };
            return self.host.del(&list, &rt);
        }
        for entry in &cached {
            if let Some(list) = self.list_for(network, Some(entry))? {
                let mut rt = RuntimeConf::from_cached(entry);
                rt.netns = sandbox.netns.clone();
                self.host.del(&list, &rt)?;
            }
        }
        Ok(())
    }

    /// CHECK every cached attachment of `sandbox` on `network`.
    pub fn check_attachment(&self, network: &str, sandbox: &SandboxRef) -> Result<(), CniError> {
        let cached = self.cached(network, sandbox)?;
        if cached.is_empty() {
            return Err(CniError::NotAttached {
                network: network.to_string(),
                container_id: sandbox.id.clone(),
                ifname: DEFAULT_IFNAME.into(),
            });
        }
        for entry in &cached {
            let list = self.network(network)?;
            let mut rt = RuntimeConf::from_cached(entry);
            rt.netns = sandbox.netns.clone();
            self.host.check(&list, &rt)?;
        }
        Ok(())
    }

    /// STATUS of `network`.
    pub fn status(&self, network: &str) -> Result<(), CniError> {
        self.host.status(&self.network(network)?)
    }

    /// GC every valid network of the conf dir, keeping `valid`; the failures
    /// of all networks are returned together.
    pub fn gc_all(&self, valid: &[GcAttachment]) -> Result<(), CniError> {
        let dir = self.load()?;
        let mut errors = Vec::new();
        for list in dir.networks() {
            if let Err(e) = self.host.gc(list, valid) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CniError::Gc {
                network: "*".into(),
                errors,
            })
        }
    }
}

/// Turn a CNI result into rcrun's [`Attachment`]: sandbox interfaces' addresses,
/// the MAC of `ifname`, the resolved ports, DNS.
pub fn attachment_from_result(
    network: &str,
    ifname: &str,
    result: &CniResult,
    ports: Vec<PortMapping>,
) -> Attachment {
    let ips = result
        .ips
        .iter()
        .filter_map(|ip| {
            let (address, prefix_len) = parse_cidr(&ip.address)?;
            let iface = ip.interface.and_then(|i| result.interfaces.get(i));
            if iface.is_some_and(|i| i.sandbox.as_deref().unwrap_or("").is_empty()) {
                return None; // an address on a host interface
            }
            Some(AssignedIp {
                address,
                prefix_len,
                gateway: ip.gateway.as_deref().and_then(|g| g.parse().ok()),
                interface: iface.map_or_else(|| ifname.to_string(), |i| i.name.clone()),
            })
        })
        .collect();
    let mac = result
        .interfaces
        .iter()
        .find(|i| i.name == ifname && i.sandbox.as_deref().is_some_and(|s| !s.is_empty()))
        .and_then(|i| i.mac.clone());
    let dns = (!result.dns.is_empty()).then(|| DnsSettings {
        nameservers: result
            .dns
            .nameservers
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect(),
        search: if result.dns.search.is_empty() {
            result.dns.domain.iter().cloned().collect()
        } else {
            result.dns.search.clone()
        },
        options: result.dns.options.clone(),
    });
    Attachment {
        network: network.to_string(),
        ips,
        mac,
        port_mappings: ports,
        dns,
    }
}

fn free_port_error(e: std::io::Error) -> &'static str {
    tracing::debug!("pick free port: {e}");
    "no free host port could be found"
}

/// A host port free right now for `protocol` on `ip` (all addresses if none).
fn free_port(ip: Option<IpAddr>, protocol: Protocol) -> std::io::Result<u16> {
    let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    match protocol {
        Protocol::Udp => Ok(UdpSocket::bind((ip, 0))?.local_addr()?.port()),
        Protocol::Tcp | Protocol::Sctp => Ok(TcpListener::bind((ip, 0))?.local_addr()?.port()),
    }
}

impl NetworkBackend for CniBackend {
    fn attach(
        &self,
        network: &str,
        sandbox: &SandboxRef,
        opts: &AttachOptions,
    ) -> Result<Attachment, BackendError> {
        let list = self.network(network)?;
        let (rt, ports) = Self::runtime_conf(&list, sandbox, opts)?;
        let result = self.host.add(&list, &rt)?;
        Ok(attachment_from_result(network, &rt.ifname, &result, ports))
    }

    fn detach(&self, network: &str, sandbox: &SandboxRef) -> Result<(), BackendError> {
        Ok(self.del(network, sandbox)?)
    }

    fn check(&self, network: &str, sandbox: &SandboxRef) -> Result<(), BackendError> {
        Ok(self.check_attachment(network, sandbox)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_list;
    use crate::version::SpecVersion;

    #[test]
    fn result_maps_to_attachment() {
        let r = CniResult::parse(
            br#"{"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"aa:aa:aa:aa:aa:aa"},
              {"name":"veth1","mac":"bb:bb:bb:bb:bb:bb"},
              {"name":"eth0","mac":"02:00:00:00:00:07","sandbox":"/run/netns/x"}],
              "ips":[{"address":"10.9.0.7/24","gateway":"10.9.0.1","interface":2}],
              "dns":{"nameservers":["10.9.0.1"],"domain":"example"}}"#,
            SpecVersion::V1_0_0,
        )
        .unwrap();
        let a = attachment_from_result("n", "eth0", &r, vec![]);
        assert_eq!(a.ips.len(), 1);
        assert_eq!(a.ips[0].address, "10.9.0.7".parse::<IpAddr>().unwrap());
        assert_eq!(a.ips[0].prefix_len, 24);
        assert_eq!(a.ips[0].interface, "eth0");
        assert_eq!(a.mac.as_deref(), Some("02:00:00:00:00:07"));
        let dns = a.dns.unwrap();
        assert_eq!(dns.search, vec!["example".to_string()]);
    }

    #[test]
    fn ports_need_the_capability() {
        let list = test_list(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"}]}"#);
        let sandbox = SandboxRef {
            id: "c1".into(),
            netns: "/run/netns/x".into(),
        };
        let opts = AttachOptions {
            port_mappings: vec![PortMapping {
                host_ip: None,
                host_port: 0,
                container_port: 80,
                protocol: Protocol::Tcp,
            }],
            ..AttachOptions::default()
        };
        let e = CniBackend::runtime_conf(&list, &sandbox, &opts).unwrap_err();
        assert!(e.to_string().contains("portMappings"), "{e}");
        let list = test_list(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        );
        let (rt, ports) = CniBackend::runtime_conf(&list, &sandbox, &opts).unwrap();
        assert_ne!(ports[0].host_port, 0);
        assert_eq!(rt.ifname, "eth0");
        assert_eq!(
            rt.capability_args.0["portMappings"][0]["hostPort"],
            u64::from(ports[0].host_port)
        );
    }
}
