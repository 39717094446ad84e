//! The CNI commands about a network rather than one attachment: STATUS, GC
//! (stale cached attachments DELeted, then the plugins' own GC) and
//! VERSION (with the checks built on it).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{NetworkConfigList, PluginConfig};
use crate::error::{CniError, PluginFailure};
use crate::exec::{run_plugin, PluginEnv};
use crate::host::{CniHost, RuntimeConf};
use crate::version::{SpecVersion, VersionInfo};

/// An attachment the runtime still knows about, for GC (`cni.dev/valid-attachments`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GcAttachment {
    /// Container id.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Interface name.
    #[serde(rename = "ifname")]
    pub ifname: String,
}

impl CniHost {
    /// A plugin that fails with error code 1 (incompatible version), or that
    /// answers VERSION without the list's version, gets a clear error.
    pub(crate) fn explain_version_failure(
        &self,
        list: &NetworkConfigList,
        plugin: &PluginConfig,
        e: CniError,
    ) -> CniError {
        let incompatible = matches!(e.plugin_error(), Some(o) if o.code == 1);
        if !incompatible {
            return e;
        }
        match self.version_info(list, &plugin.plugin_type) {
            Ok(vi) if !vi.supports(list.cni_version) => Self::plugin_error(
                list,
                &plugin.plugin_type,
                "ADD",
                PluginFailure::IncompatibleVersion {
                    asked: list.cni_version.to_string(),
                    supported: vi.supported_versions,
                },
            ),
            _ => e,
        }
    }

    /// STATUS (1.1): ask each plugin whether it can take ADDs; the first
    /// error (e.g. code 50, "plugin not available") is returned. Lists older
    /// than 1.1.0 are assumed ready, as libcni does.
    pub fn status(&self, list: &NetworkConfigList) -> Result<(), CniError> {
        if list.cni_version < SpecVersion::V1_1_0 {
            return Ok(());
        }
        for plugin in &list.plugins {
            let stdin = Self::stdin(list, plugin, None, None);
            self.exec(list, plugin, "STATUS", None, &stdin)?;
        }
        Ok(())
    }

    /// GC: DEL every cached attachment of this network that is not in
    /// `valid` (with the arguments cached at its ADD), then, for 1.1.0 lists,
    /// call GC on every plugin with `cni.dev/valid-attachments` (and, as
    /// libcni does, the same list as `cni.dev/attachments`). Nothing when
    /// the list sets `disableGC`. Failures are collected, not fatal.
    pub fn gc(&self, list: &NetworkConfigList, valid: &[GcAttachment]) -> Result<(), CniError> {
        if list.disable_gc {
            return Ok(());
        }
        let mut errors = Vec::new();
        match self.cache().list(None) {
            Ok(entries) => {
                for entry in entries.iter().filter(|e| e.network_name == list.name) {
                    let key = GcAttachment {
                        container_id: entry.container_id.clone(),
                        ifname: entry.if_name.clone(),
                    };
                    if valid.contains(&key) {
                        continue;
                    }
                    if let Err(e) = self.del(list, &RuntimeConf::from_cached(entry)) {
                        errors.push(e);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        if list.cni_version >= SpecVersion::V1_1_0 {
            let valid_json = serde_json::to_value(valid).unwrap_or(Value::Array(Vec::new()));
            for plugin in &list.plugins {
                let mut p = plugin.clone();
                // libcni sends the list under both names: an earlier spec
                // text called it `cni.dev/attachments` (containernetworking/cni#1101).
                p.raw
                    .insert("cni.dev/valid-attachments".into(), valid_json.clone());
                p.raw
                    .insert("cni.dev/attachments".into(), valid_json.clone());
                let stdin = Self::stdin(list, &p, None, None);
                if let Err(e) = self.exec(list, plugin, "GC", None, &stdin) {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CniError::Gc {
                network: list.name.clone(),
                errors,
            })
        }
    }

    /// VERSION of one plugin of `list` (a plugin that does not know the
    /// command is taken to support 0.1.0 only, as libcni does).
    pub fn version_info(
        &self,
        list: &NetworkConfigList,
        plugin_type: &str,
    ) -> Result<VersionInfo, CniError> {
        let bin = self.find(list, plugin_type)?;
        let env = PluginEnv {
            command: "VERSION",
            container_id: "",
            netns: "dummy",
            ifname: "dummy",
            args: "",
            path: "dummy",
        };
        let stdin = format!("{{\"cniVersion\":\"{}\"}}", SpecVersion::CURRENT);
        let fail = |f| Self::plugin_error(list, plugin_type, "VERSION", f);
        match run_plugin(&bin, &env, stdin.as_bytes(), self.timeout()) {
            Ok(out) => serde_json::from_slice(&out).map_err(|e| {
                fail(PluginFailure::Garbage {
                    reason: format!("not a VERSION answer: {e}"),
                    output: String::from_utf8_lossy(&out).chars().take(512).collect(),
                })
            }),
            Err(PluginFailure::Error(o)) if o.msg == "unknown CNI_COMMAND: VERSION" => {
                Ok(VersionInfo {
                    cni_version: "0.1.0".into(),
                    supported_versions: vec!["0.1.0".into()],
                })
            }
            Err(f) => Err(fail(f)),
        }
    }

    /// Check the list can run (libcni's `ValidateNetworkList`): every plugin
    /// exists and its VERSION lists the list's version. Returns the
    /// capabilities the chain declares.
    pub fn validate(&self, list: &NetworkConfigList) -> Result<Vec<String>, CniError> {
        for plugin in &list.plugins {
            let vi = self.version_info(list, &plugin.plugin_type)?;
            if !vi.supports(list.cni_version) {
                return Err(Self::plugin_error(
                    list,
                    &plugin.plugin_type,
                    "VERSION",
                    PluginFailure::IncompatibleVersion {
                        asked: list.cni_version.to_string(),
                        supported: vi.supported_versions,
                    },
                ));
            }
        }
        Ok(list.capabilities().into_keys().collect())
    }
}
