//! The plugin result (spec "Success") in every form this host drives, and the
//! conversions between them: 0.2.0 (`ip4`/`ip6`, read only), 0.3.x/0.4.0
//! (`ips[].version`), 1.x (no `version`; 1.1 adds interface `mtu`,
//! `socketPath`, `pciID` and route `mtu`, `advmss`, `priority`, `table`,
//! `scope`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::version::SpecVersion;

/// A CNI result, held in the 1.1 shape; [`CniResult::to_json`] writes it in
/// any supported version's form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    /// The version this result is stated in.
    #[serde(rename = "cniVersion")]
    pub cni_version: SpecVersion,
    /// Interfaces created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS settings.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

/// One interface of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Hardware address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// MTU (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Netns path of a sandbox interface; absent for host interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// vhost-user socket path (1.1).
    #[serde(
        default,
        rename = "socketPath",
        skip_serializing_if = "Option::is_none"
    )]
    pub socket_path: Option<String>,
    /// PCI address (1.1).
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

/// One address of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// `"4"` or `"6"`; present only in the 0.3.x/0.4.0 forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Address with prefix, e.g. `10.1.0.5/24`.
    pub address: String,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// One route of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination CIDR.
    pub dst: String,
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
    /// MTU (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Advertised MSS (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// Priority (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Routing table (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Scope (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u32>,
}

/// DNS settings of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Nameservers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// resolv.conf options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// Split `10.1.0.5/24` into the address and prefix length.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

impl CniResult {
    /// Parse a result printed by a plugin (or read from the cache). A result
    /// without `cniVersion` is taken to be in `default_version`, as libcni does.
    pub fn parse(bytes: &[u8], default_version: SpecVersion) -> Result<Self, String> {
        let mut v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v
            .as_object_mut()
            .ok_or_else(|| "not a JSON object".to_string())?;
        let version = match obj.get("cniVersion") {
            None => default_version,
            Some(Value::String(s)) => SpecVersion::parse(s).map_err(|e| e.to_string())?,
            Some(other) => return Err(format!("cniVersion is not a string: {other}")),
        };
        if version < SpecVersion::V0_3_0 {
            return Self::from_v020(obj, version);
        }
        if version > SpecVersion::CURRENT {
            return Err(format!(
                "result version {version} is newer than {}",
                SpecVersion::CURRENT
            ));
        }
        obj.insert("cniVersion".into(), Value::String(version.to_string()));
        let mut r: CniResult =
            serde_json::from_value(v).map_err(|e| format!("not a CNI {version} result: {e}"))?;
        for ip in &r.ips {
            if parse_cidr(&ip.address).is_none() {
                return Err(format!(
                    "ips[].address {:?} is not an address/prefix",
                    ip.address
                ));
            }
            if let Some(i) = ip.interface {
                if i >= r.interfaces.len() {
                    return Err(format!("ips[].interface {i} has no interface"));
                }
            }
        }
        // Normalise to the 1.x shape; `to_json` re-adds `version` for 0.x.
        for ip in &mut r.ips {
            ip.version = None;
        }
        Ok(r)
    }

    /// The 0.1.0/0.2.0 form: `ip4`/`ip6` objects with `ip`, `gateway`, `routes`.
    fn from_v020(
        obj: &serde_json::Map<String, Value>,
        version: SpecVersion,
    ) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Ip020 {
            ip: String,
            #[serde(default)]
            gateway: Option<String>,
            #[serde(default)]
            routes: Vec<Route>,
        }
        let mut r = CniResult {
            cni_version: version,
            interfaces: Vec::new(),
            ips: Vec::new(),
            routes: Vec::new(),
            dns: Dns::default(),
        };
        for key in ["ip4", "ip6"] {
            if let Some(v) = obj.get(key) {
                let ip: Ip020 = serde_json::from_value(v.clone())
                    .map_err(|e| format!("{key} of a {version} result: {e}"))?;
                if parse_cidr(&ip.ip).is_none() {
                    return Err(format!("{key}.ip {:?} is not an address/prefix", ip.ip));
                }
                r.ips.push(IpConfig {
                    version: None,
                    address: ip.ip,
                    gateway: ip.gateway,
                    interface: None,
                });
                r.routes.extend(ip.routes);
            }
        }
        if let Some(d) = obj.get("dns") {
            r.dns = serde_json::from_value(d.clone()).map_err(|e| format!("dns: {e}"))?;
        }
        Ok(r)
    }

    /// This result restated in `target`'s form (`GetAsVersion`): 0.3.x/0.4.0
    /// gain `ips[].version` and lose the 1.1-only fields.
    pub fn as_version(&self, target: SpecVersion) -> CniResult {
        let mut r = self.clone();
        r.cni_version = target;
        if target.is_legacy_result() {
            for ip in &mut r.ips {
                let v6 = parse_cidr(&ip.address).is_some_and(|(a, _)| a.is_ipv6());
                ip.version = Some(if v6 { "6" } else { "4" }.to_string());
            }
            for i in &mut r.interfaces {
                i.mtu = None;
                i.socket_path = None;
                i.pci_id = None;
            }
            for rt in &mut r.routes {
                rt.mtu = None;
                rt.advmss = None;
                rt.priority = None;
                rt.table = None;
                rt.scope = None;
            }
        } else {
            for ip in &mut r.ips {
                ip.version = None;
            }
        }
        r
    }

    /// The JSON of this result in its own version's form.
    pub fn to_json(&self) -> Value {
        let shaped = self.as_version(self.cni_version);
        serde_json::to_value(&shaped).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R031: &str = r#"{"cniVersion":"0.3.1","interfaces":[{"name":"cni0","mac":"aa:bb:cc:dd:ee:ff"},{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/run/netns/x"}],
      "ips":[{"version":"4","address":"10.1.0.5/24","gateway":"10.1.0.1","interface":1},{"version":"6","address":"fd00::5/64","interface":1}],
      "routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["10.1.0.1"]}}"#;

    #[test]
    fn legacy_result_converts_to_1x_and_back() {
        let r = CniResult::parse(R031.as_bytes(), SpecVersion::V1_0_0).unwrap();
        assert_eq!(r.cni_version, SpecVersion::V0_3_1);
        let up = r.as_version(SpecVersion::V1_0_0).to_json();
        assert_eq!(up["cniVersion"], "1.0.0");
        assert!(up["ips"][0].get("version").is_none());
        assert_eq!(up["ips"][0]["interface"], 1);
        let down = CniResult::parse(up.to_string().as_bytes(), SpecVersion::V1_0_0)
            .unwrap()
            .as_version(SpecVersion::V0_4_0)
            .to_json();
        assert_eq!(down["cniVersion"], "0.4.0");
        assert_eq!(down["ips"][0]["version"], "4");
        assert_eq!(down["ips"][1]["version"], "6");
    }

    #[test]
    fn v11_fields_dropped_for_legacy() {
        let s = r#"{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mtu":1400,"pciID":"0000:01:00.0"}],
          "ips":[{"address":"10.0.0.2/24","interface":0}],"routes":[{"dst":"0.0.0.0/0","table":100,"scope":0}]}"#;
        let r = CniResult::parse(s.as_bytes(), SpecVersion::V1_1_0).unwrap();
        assert_eq!(r.interfaces[0].mtu, Some(1400));
        let old = r.as_version(SpecVersion::V0_4_0).to_json();
        assert!(old["interfaces"][0].get("mtu").is_none());
        assert!(old["routes"][0].get("table").is_none());
        let same = r.to_json();
        assert_eq!(same["routes"][0]["table"], 100);
    }

    #[test]
    fn missing_version_defaults_to_config_version() {
        let r = CniResult::parse(
            br#"{"ips":[{"address":"10.0.0.2/24"}]}"#,
            SpecVersion::V0_4_0,
        )
        .unwrap();
        assert_eq!(r.cni_version, SpecVersion::V0_4_0);
        assert_eq!(r.to_json()["ips"][0]["version"], "4");
    }

    #[test]
    fn v020_result_is_read() {
        let s = r#"{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24","gateway":"10.0.0.1","routes":[{"dst":"0.0.0.0/0"}]}}"#;
        let r = CniResult::parse(s.as_bytes(), SpecVersion::V1_0_0).unwrap();
        assert_eq!(r.ips[0].address, "10.0.0.2/24");
        assert_eq!(r.routes.len(), 1);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(CniResult::parse(b"hello", SpecVersion::V1_0_0).is_err());
        assert!(CniResult::parse(b"[1]", SpecVersion::V1_0_0).is_err());
        assert!(CniResult::parse(
            br#"{"cniVersion":"1.0.0","ips":[{"address":"nope"}]}"#,
            SpecVersion::V1_0_0
        )
        .is_err());
        assert!(CniResult::parse(
            br#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.1/8","interface":3}]}"#,
            SpecVersion::V1_0_0
        )
        .is_err());
        assert!(CniResult::parse(br#"{"cniVersion":"7.0.0"}"#, SpecVersion::V1_0_0).is_err());
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(
            parse_cidr("10.0.0.1/24"),
            Some(("10.0.0.1".parse().unwrap(), 24))
        );
        assert!(parse_cidr("10.0.0.1/33").is_none());
        assert!(parse_cidr("10.0.0.1").is_none());
    }
}
