//! Capability arguments (CONVENTIONS.md "Dynamic Plugin specific fields"):
//! what the runtime offers, and the per-plugin `runtimeConfig` holding only
//! the capabilities that plugin declares.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use rcrun_netapi::{PortMapping, Protocol};

use crate::config::PluginConfig;

/// The capability arguments of one attachment, keyed by capability name
/// (`portMappings`, `ipRanges`, `bandwidth`, `dns`, `ips`, `mac`, `aliases`,
/// `infinibandGUID`, `deviceID`, or any other a plugin declares).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CapabilityArgs(pub Map<String, Value>);

impl CapabilityArgs {
    /// No capability arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set any capability to a JSON value.
    pub fn set(&mut self, capability: &str, value: Value) -> &mut Self {
        self.0.insert(capability.to_string(), value);
        self
    }

    /// `portMappings`: `[{hostPort, containerPort, protocol, hostIP?}]`.
    pub fn port_mappings(&mut self, ports: &[PortMapping]) -> &mut Self {
        let v: Vec<Value> = ports
            .iter()
            .map(|p| {
                let mut m = json!({
                    "hostPort": p.host_port,
                    "containerPort": p.container_port,
                    "protocol": match p.protocol {
                        Protocol::Tcp => "tcp",
                        Protocol::Udp => "udp",
                        Protocol::Sctp => "sctp",
                    },
                });
                if let Some(ip) = p.host_ip {
                    m["hostIP"] = Value::String(ip.to_string());
                }
                m
            })
            .collect();
        self.set("portMappings", Value::Array(v))
    }

    /// `ips`: addresses (optionally with prefix) to request.
    pub fn ips(&mut self, ips: &[String]) -> &mut Self {
        self.set("ips", json!(ips))
    }

    /// `mac`: the MAC address to set.
    pub fn mac(&mut self, mac: &str) -> &mut Self {
        self.set("mac", json!(mac))
    }

    /// `aliases`: extra names of the container on this network.
    pub fn aliases(&mut self, aliases: &[String]) -> &mut Self {
        self.set("aliases", json!(aliases))
    }

    /// `bandwidth`: `{ingressRate, ingressBurst, egressRate, egressBurst}` (bits/s, bits).
    pub fn bandwidth(
        &mut self,
        ingress_rate: u64,
        ingress_burst: u64,
        egress_rate: u64,
        egress_burst: u64,
    ) -> &mut Self {
        self.set(
            "bandwidth",
            json!({"ingressRate": ingress_rate, "ingressBurst": ingress_burst,
                   "egressRate": egress_rate, "egressBurst": egress_burst}),
        )
    }

    /// `dns`: `{servers, searches, options}`.
    pub fn dns(
        &mut self,
        servers: &[String],
        searches: &[String],
        options: &[String],
    ) -> &mut Self {
        self.set(
            "dns",
            json!({"servers": servers, "searches": searches, "options": options}),
        )
    }

    /// `ipRanges`: a list of range sets, each a list of `{subnet, rangeStart?, rangeEnd?, gateway?}`.
    pub fn ip_ranges(&mut self, ranges: Value) -> &mut Self {
        self.set("ipRanges", ranges)
    }

    /// `infinibandGUID`.
    pub fn infiniband_guid(&mut self, guid: &str) -> &mut Self {
        self.set("infinibandGUID", json!(guid))
    }

    /// `deviceID` (e.g. a PCI address).
    pub fn device_id(&mut self, id: &str) -> &mut Self {
        self.set("deviceID", json!(id))
    }

    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `runtimeConfig` for `plugin`: only the arguments whose capability
    /// the plugin declares `true`; `None` when that leaves nothing (libcni
    /// then leaves the plugin's own `runtimeConfig`, if any, untouched).
    pub fn runtime_config_for(&self, plugin: &PluginConfig) -> Option<Map<String, Value>> {
        let rc: Map<String, Value> = plugin
            .capabilities
            .iter()
            .filter_map(|c| self.0.get(c).map(|v| (c.clone(), v.clone())))
            .collect();
        (!rc.is_empty()).then_some(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_capabilities_reach_the_plugin() {
        let plugin = PluginConfig::from_value(
            json!({"type":"portmap","capabilities":{"portMappings":true,"mac":false}}),
            "p",
        )
        .unwrap();
        let mut args = CapabilityArgs::new();
        args.port_mappings(&[PortMapping {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
        }])
        .mac("02:00:00:00:00:01")
        .ips(&["10.0.0.5".into()]);
        let rc = args.runtime_config_for(&plugin).unwrap();
        assert_eq!(rc.len(), 1);
        assert_eq!(
            rc["portMappings"],
            json!([{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}])
        );
        let none = PluginConfig::from_value(json!({"type":"bridge"}), "p").unwrap();
        assert!(args.runtime_config_for(&none).is_none());
    }
}
