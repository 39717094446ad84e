//! Network configuration lists (spec "Configuration format") parsed from
//! bytes: the list fields, the plugin objects, and their validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::CniError;
use crate::validate;
use crate::version::{negotiate_list_version, SpecVersion};

/// One plugin object of a list: its `type`, the capabilities it declares, and
/// its raw JSON (given to the plugin with name, cniVersion, runtimeConfig and
/// prevResult injected).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConfig {
    /// The plugin type: the executable's name on CNI_PATH.
    pub plugin_type: String,
    /// The capabilities set to `true` in the plugin's `capabilities` map.
    pub capabilities: Vec<String>,
    /// The plugin object as written.
    pub raw: Map<String, Value>,
}

impl PluginConfig {
    /// Parse one plugin object (`what` names it in errors).
    pub fn from_value(v: Value, what: &str) -> Result<Self, String> {
        let Value::Object(raw) = v else {
            return Err(format!("{what} is not a JSON object"));
        };
        let plugin_type = match raw.get("type") {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            Some(Value::String(_)) | None => return Err(format!("{what} has no \"type\"")),
            Some(other) => return Err(format!("{what}: \"type\" is not a string: {other}")),
        };
        validate::plugin_type(&plugin_type).map_err(|e| format!("{what}: {e}"))?;
        let mut capabilities = Vec::new();
        match raw.get("capabilities") {
            None | Some(Value::Null) => {}
            Some(Value::Object(caps)) => {
                for (k, v) in caps {
                    match v {
                        Value::Bool(true) => capabilities.push(k.clone()),
                        Value::Bool(false) => {}
                        _ => return Err(format!("{what}: capability {k:?} is not a boolean")),
                    }
                }
            }
            Some(_) => return Err(format!("{what}: \"capabilities\" is not an object")),
        }
        Ok(PluginConfig {
            plugin_type,
            capabilities,
            raw,
        })
    }

    /// The IPAM plugin type this plugin delegates to (`ipam.type`), if any.
    pub fn ipam_type(&self) -> Option<&str> {
        self.raw
            .get("ipam")
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    }
}

/// A network configuration list: what `ADD`/`DEL`/`CHECK`/`STATUS`/`GC` run.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfigList {
    /// Network name.
    pub name: String,
    /// The version every plugin is called with (after `cniVersions` negotiation).
    pub cni_version: SpecVersion,
    /// `disableCheck`: CHECK is a no-op.
    pub disable_check: bool,
    /// `disableGC`: GC is a no-op.
    pub disable_gc: bool,
    /// `loadOnlyInlinedPlugins`: no plugin objects from `<conf dir>/<name>/*.conf`.
    pub load_only_inlined_plugins: bool,
    /// The plugin chain, in ADD order.
    pub plugins: Vec<PluginConfig>,
    /// The file it came from (empty for configs built in memory).
    pub source: PathBuf,
    /// The list JSON as loaded (stored in the result cache, as libcni does).
    pub bytes: Vec<u8>,
}

fn read_bool(obj: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("invalid value {s:?} for {key}")),
        },
        Some(other) => Err(format!("invalid type for {key}: {other}")),
    }
}

impl NetworkConfigList {
    /// Parse a configuration list (`.conflist` content). `source` names the
    /// file in errors. Plugins from `<dir>/<name>/*.conf` are not loaded here
    /// (see [`crate::ConfDir`]).
    pub fn from_bytes(bytes: &[u8], source: &Path) -> Result<Self, CniError> {
        let err = |reason: String| CniError::Config {
            path: source.to_path_buf(),
            reason,
        };
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = v else {
            return Err(err("not a JSON object".into()));
        };
        let name = match obj.get("name") {
            Some(Value::String(n)) => n.clone(),
            Some(_) => return Err(err("\"name\" is not a string".into())),
            None => return Err(err("no \"name\"".into())),
        };
        validate::network_name(&name).map_err(|e| err(e.to_string()))?;
        let cni_version = match obj.get("cniVersion") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(err("\"cniVersion\" is not a string".into())),
        };
        let cni_versions: Vec<String> = match obj.get("cniVersions") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(format!("cniVersions entry {v} is not a string")))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err("\"cniVersions\" is not an array".into())),
        };
        let version = negotiate_list_version(cni_version, &cni_versions)
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("no \"cniVersion\" (or no usable \"cniVersions\")".into()))?;
        if !version.is_supported() {
            return Err(err(format!(
                "cniVersion {version} is not supported; use one of 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
            )));
        }
        let disable_check = read_bool(&obj, "disableCheck").map_err(err)?;
        let disable_gc = read_bool(&obj, "disableGC").map_err(err)?;
        let load_only_inlined_plugins = read_bool(&obj, "loadOnlyInlinedPlugins").map_err(err)?;
        let plugins = match obj.get("plugins") {
            None if load_only_inlined_plugins => {
                return Err(err(
                    "loadOnlyInlinedPlugins is true but there is no \"plugins\" list".into(),
                ))
            }
            None => Vec::new(),
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(err("\"plugins\" is empty".into()))
            }
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, p)| PluginConfig::from_value(p.clone(), &format!("plugin {i}")))
                .collect::<Result<_, _>>()
                .map_err(err)?,
            Some(_) => return Err(err("\"plugins\" is not an array".into())),
        };
        Ok(NetworkConfigList {
            name,
            cni_version: version,
            disable_check,
            disable_gc,
            load_only_inlined_plugins,
            plugins,
            source: source.to_path_buf(),
            bytes: bytes.to_vec(),
        })
    }

    /// Parse a single plugin configuration (`.conf`/`.json`) and wrap it into
    /// a list of one, as libcni's `ConfListFromConf` does.
    pub fn from_single_conf(bytes: &[u8], source: &Path) -> Result<Self, CniError> {
        let err = |reason: String| CniError::Config {
            path: source.to_path_buf(),
            reason,
        };
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = &v else {
            return Err(err("not a JSON object".into()));
        };
        if obj.contains_key("plugins") && !obj.contains_key("type") {
            return Err(err(
                "holds a \"plugins\" list: name the file .conflist".into()
            ));
        }
        PluginConfig::from_value(v.clone(), "the network").map_err(err)?;
        let mut list = Map::new();
        for key in ["name", "cniVersion"] {
            if let Some(x) = obj.get(key) {
                list.insert(key.into(), x.clone());
            }
        }
        list.insert("plugins".into(), Value::Array(vec![v]));
        let wrapped =
            serde_json::to_vec(&Value::Object(list)).map_err(|e| err(format!("re-encode: {e}")))?;
        let mut l = Self::from_bytes(&wrapped, source)?;
        l.load_only_inlined_plugins = true;
        Ok(l)
    }

    /// Every plugin type the chain executes (IPAM delegates included), deduplicated.
    pub fn plugin_types(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.plugins {
            for t in std::iter::once(p.plugin_type.as_str()).chain(p.ipam_type()) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// The capabilities any plugin of the chain declares.
    pub fn capabilities(&self) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &self.plugins {
            for c in &p.capabilities {
                m.entry(c.clone()).or_default().push(p.plugin_type.clone());
            }
        }
        m
    }
}

/// Parse an inline conflist (for the unit tests of modules that take lists).
#[cfg(test)]
pub(crate) fn test_list(json: &str) -> NetworkConfigList {
    NetworkConfigList::from_bytes(json.as_bytes(), Path::new("/etc/cni/net.d/10-x.conflist"))
        .expect("test conflist parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetworkConfigList, CniError> {
        NetworkConfigList::from_bytes(s.as_bytes(), Path::new("/etc/cni/net.d/10-x.conflist"))
    }

    #[test]
    fn parses_list_with_flags_and_capabilities() {
        let l = parse(
            r#"{"cniVersion":"1.0.0","name":"n1","disableCheck":"true","disableGC":true,
              "plugins":[{"type":"bridge","ipam":{"type":"host-local"}},
                         {"type":"portmap","capabilities":{"portMappings":true,"bandwidth":false}}]}"#,
        )
        .unwrap();
        assert_eq!(l.name, "n1");
        assert_eq!(l.cni_version, SpecVersion::V1_0_0);
        assert!(l.disable_check && l.disable_gc && !l.load_only_inlined_plugins);
        assert_eq!(l.plugin_types(), vec!["bridge", "host-local", "portmap"]);
        assert_eq!(l.plugins[1].capabilities, vec!["portMappings".to_string()]);
    }

    #[test]
    fn rejects_bad_lists_naming_the_file() {
        for (s, want) in [
            (
                r#"{"cniVersion":"1.0.0","name":"-bad","plugins":[{"type":"x"}]}"#,
                "network name",
            ),
            (
                r#"{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}"#,
                "no \"name\"",
            ),
            (r#"{"name":"a","plugins":[{"type":"x"}]}"#, "cniVersion"),
            (
                r#"{"cniVersion":"0.2.0","name":"a","plugins":[{"type":"x"}]}"#,
                "not supported",
            ),
            (r#"{"cniVersion":"1.0.0","name":"a","plugins":[]}"#, "empty"),
            (
                r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"bridge":"x"}]}"#,
                "type",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"../sh"}]}"#,
                "plain file",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"a","loadOnlyInlinedPlugins":true}"#,
                "loadOnlyInlinedPlugins",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"a","disableCheck":"maybe","plugins":[{"type":"x"}]}"#,
                "disableCheck",
            ),
            ("not json", "JSON"),
        ] {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains("10-x.conflist") && e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn cni_versions_negotiated() {
        let l = parse(
            r#"{"cniVersion":"0.3.1","cniVersions":["0.4.0","1.1.0","2.0.0"],"name":"a","plugins":[{"type":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(l.cni_version, SpecVersion::V1_1_0);
    }

    #[test]
    fn single_conf_is_wrapped() {
        let l = NetworkConfigList::from_single_conf(
            br#"{"cniVersion":"0.4.0","name":"single","type":"bridge","bridge":"cni9"}"#,
            Path::new("/x/1.conf"),
        )
        .unwrap();
        assert_eq!(l.name, "single");
        assert_eq!(l.plugins.len(), 1);
        assert_eq!(l.plugins[0].raw["bridge"], "cni9");
        let v: Value = serde_json::from_slice(&l.bytes).unwrap();
        assert_eq!(v["plugins"][0]["type"], "bridge");
        assert!(NetworkConfigList::from_single_conf(
            br#"{"cniVersion":"0.4.0","name":"x","plugins":[{"type":"a"}]}"#,
            Path::new("/x/2.conf")
        )
        .is_err());
    }
}
