//! The CNI operations on one attachment (network, container, interface), as
//! libcni runs them: ADD (chained, cached, rolled back on failure), DEL and
//! CHECK, plus the stdin each plugin gets.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::cache::{join_cni_args, Cache, CachedAttachment, CACHE_KIND, DEFAULT_CACHE_DIR};
use crate::capabilities::CapabilityArgs;
use crate::config::{NetworkConfigList, PluginConfig};
use crate::error::{CniError, PluginFailure};
use crate::exec::{run_plugin, PluginEnv, DEFAULT_TIMEOUT};
use crate::plugin_path::PluginPath;
use crate::result::CniResult;
use crate::validate;
use crate::version::SpecVersion;

/// The per-attachment arguments of one operation (libcni's `RuntimeConf`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeConf {
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_NETNS: path of the network namespace.
    pub netns: PathBuf,
    /// CNI_IFNAME.
    pub ifname: String,
    /// CNI_ARGS as key/value pairs.
    pub args: Vec<[String; 2]>,
    /// Capability arguments, filtered per plugin into `runtimeConfig`.
    pub capability_args: CapabilityArgs,
}

impl RuntimeConf {
    /// The arguments recorded with a cached attachment (for DEL/CHECK after a restart).
    pub fn from_cached(c: &CachedAttachment) -> Self {
        RuntimeConf {
            container_id: c.container_id.clone(),
            netns: PathBuf::from(&c.netns),
            ifname: c.if_name.clone(),
            args: c.cni_args.clone(),
            capability_args: c.capability_args.clone(),
        }
    }
}

/// Runs plugin chains: where plugins are, where results are cached, how long
/// a plugin may take. Synchronous; one instance may serve many operations.
#[derive(Debug, Clone)]
pub struct CniHost {
    path: PluginPath,
    cache: Cache,
    timeout: Duration,
}

impl Default for CniHost {
    /// Plugins from `$CNI_PATH` (or the default), cache in `/var/lib/cni`.
    fn default() -> Self {
        CniHost::new(PluginPath::from_env(), DEFAULT_CACHE_DIR)
    }
}

impl CniHost {
    /// A host finding plugins on `path` and caching results under `cache_dir`.
    pub fn new(path: PluginPath, cache_dir: impl Into<PathBuf>) -> Self {
        CniHost {
            path,
            cache: Cache::new(cache_dir),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Set the per-plugin-call timeout (default 60 s); a plugin still running
    /// then is SIGKILLed with its process group.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where plugins are looked up.
    pub fn plugin_path(&self) -> &PluginPath {
        &self.path
    }

    /// The result cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The per-plugin-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check_rt(list: &NetworkConfigList, rt: &RuntimeConf) -> Result<(), CniError> {
        validate::network_name(&list.name)?;
        validate::container_id(&rt.container_id)?;
        validate::interface_name(&rt.ifname)
    }

    pub(crate) fn plugin_error(
        list: &NetworkConfigList,
        plugin: &str,
        command: &'static str,
        failure: PluginFailure,
    ) -> CniError {
        CniError::Plugin {
            network: list.name.clone(),
            plugin: plugin.to_string(),
            command,
            failure: Box::new(failure),
        }
    }

    pub(crate) fn find(
        &self,
        list: &NetworkConfigList,
        plugin_type: &str,
    ) -> Result<PathBuf, CniError> {
        self.path
            .find(plugin_type)
            .ok_or_else(|| CniError::PluginNotFound {
                file: list.source.clone(),
                network: list.name.clone(),
                plugin: plugin_type.to_string(),
                path: self.path.joined(),
            })
    }

    /// The stdin of one plugin call: its object with `name` and `cniVersion`
    /// injected, plus `prevResult` (in the list's version) and the
    /// `runtimeConfig` of its declared capabilities.
    pub(crate) fn stdin(
        list: &NetworkConfigList,
        plugin: &PluginConfig,
        prev: Option<&CniResult>,
        rt: Option<&RuntimeConf>,
    ) -> Vec<u8> {
        let mut obj = plugin.raw.clone();
        obj.insert("name".into(), Value::String(list.name.clone()));
        obj.insert(
            "cniVersion".into(),
            Value::String(list.cni_version.to_string()),
        );
        if let Some(p) = prev {
            obj.insert(
                "prevResult".into(),
                p.as_version(list.cni_version).to_json(),
            );
        }
        if let Some(rc) = rt.and_then(|rt| rt.capability_args.runtime_config_for(plugin)) {
            obj.insert("runtimeConfig".into(), Value::Object(rc));
        }
        serde_json::to_vec(&Value::Object(obj)).unwrap_or_default()
    }

    pub(crate) fn exec(
        &self,
        list: &NetworkConfigList,
        plugin: &PluginConfig,
        command: &'static str,
        rt: Option<&RuntimeConf>,
        stdin: &[u8],
    ) -> Result<Vec<u8>, CniError> {
        let bin = self.find(list, &plugin.plugin_type)?;
        let netns = rt
            .map(|r| r.netns.to_string_lossy().into_owned())
            .unwrap_or_default();
        let args = rt.map(|r| join_cni_args(&r.args)).unwrap_or_default();
        let path = self.path.joined();
        let env = PluginEnv {
            command,
            container_id: rt.map_or("", |r| r.container_id.as_str()),
            netns: &netns,
            ifname: rt.map_or("", |r| r.ifname.as_str()),
            args: &args,
            path: &path,
        };
        tracing::debug!(network = %list.name, plugin = %plugin.plugin_type, command, "exec CNI plugin");
        run_plugin(&bin, &env, stdin, self.timeout)
            .map_err(|f| Self::plugin_error(list, &plugin.plugin_type, command, f))
    }

    fn add_one(
        &self,
        list: &NetworkConfigList,
        plugin: &PluginConfig,
        prev: Option<&CniResult>,
        rt: &RuntimeConf,
    ) -> Result<CniResult, CniError> {
        let stdin = Self::stdin(list, plugin, prev, Some(rt));
        let out = match self.exec(list, plugin, "ADD", Some(rt), &stdin) {
            Ok(out) => out,
            Err(e) => return Err(self.explain_version_failure(list, plugin, e)),
        };
        let fail = |f| Self::plugin_error(list, &plugin.plugin_type, "ADD", f);
        if out.iter().all(u8::is_ascii_whitespace) {
            return Err(fail(PluginFailure::EmptyOutput));
        }
        CniResult::parse(&out, list.cni_version).map_err(|reason| {
            fail(PluginFailure::Garbage {
                reason,
                output: String::from_utf8_lossy(&out).chars().take(512).collect(),
            })
        })
    }

    /// ADD: run the chain in order, each plugin getting the previous result
    /// as `prevResult`; cache the final result. If a plugin fails, DEL runs
    /// in reverse for every plugin invoked so far (the failed one included,
    /// as it may have done part of its work, DEL being idempotent; unless it
    /// refused the configuration's version) with the last good result, so
    /// nothing is left behind.
    ///
    /// A second ADD of the same (network, container, ifname) without a DEL
    /// in between is refused, as the spec forbids it.
    pub fn add(&self, list: &NetworkConfigList, rt: &RuntimeConf) -> Result<CniResult, CniError> {
        Self::check_rt(list, rt)?;
        if self
            .cache
            .result_path(&list.name, &rt.container_id, &rt.ifname)
            .exists()
        {
            return Err(CniError::AlreadyAttached {
                network: list.name.clone(),
                container_id: rt.container_id.clone(),
                ifname: rt.ifname.clone(),
            });
        }
        let mut prev: Option<CniResult> = None;
        for (i, plugin) in list.plugins.iter().enumerate() {
            match self.add_one(list, plugin, prev.as_ref(), rt) {
                Ok(r) => prev = Some(r.as_version(list.cni_version)),
                Err(e) => {
                    // A plugin that refused the config's version did nothing to undo.
                    let refused = matches!(e.plugin_error(), Some(o) if o.code == 1)
                        || matches!(
                            e.plugin_failure(),
                            Some(PluginFailure::IncompatibleVersion { .. })
                        );
                    let invoked = if refused { i } else { i + 1 };
                    return Err(self.rollback(list, rt, invoked, prev.as_ref(), e));
                }
            }
        }
        let Some(result) = prev else {
            return Err(CniError::Result {
                network: list.name.clone(),
                reason: "the chain has no plugins".into(),
            });
        };
        let entry = CachedAttachment {
            kind: CACHE_KIND.into(),
            container_id: rt.container_id.clone(),
            config: list.bytes.clone(),
            if_name: rt.ifname.clone(),
            network_name: list.name.clone(),
            netns: rt.netns.to_string_lossy().into_owned(),
            cni_args: rt.args.clone(),
            capability_args: rt.capability_args.clone(),
            result: Some(result.to_json()),
        };
        if let Err(e) = self.cache.write(&entry) {
            return Err(self.rollback(list, rt, list.plugins.len(), Some(&result), e));
        }
        Ok(result)
    }

    /// DEL, in reverse, the first `invoked` plugins of the chain after a failed ADD.
    fn rollback(
        &self,
        list: &NetworkConfigList,
        rt: &RuntimeConf,
        invoked: usize,
        prev: Option<&CniResult>,
        cause: CniError,
    ) -> CniError {
        let prev = if list.cni_version >= SpecVersion::V0_4_0 {
            prev
        } else {
            None
        };
        let mut del_errors = Vec::new();
        for plugin in list.plugins[..invoked.min(list.plugins.len())].iter().rev() {
            let stdin = Self::stdin(list, plugin, prev, Some(rt));
            if let Err(e) = self.exec(list, plugin, "DEL", Some(rt), &stdin) {
                del_errors.push(e);
            }
        }
        if del_errors.is_empty() {
            cause
        } else {
            CniError::RollbackFailed {
                add: Box::new(cause),
                del: del_errors,
            }
        }
    }

    /// The cached ADD result of this attachment, in the list's version.
    pub fn cached_result(
        &self,
        list: &NetworkConfigList,
        rt: &RuntimeConf,
    ) -> Result<Option<CniResult>, CniError> {
        let Some(entry) = self.cache.read(&list.name, &rt.container_id, &rt.ifname)? else {
            return Ok(None);
        };
        let Some(raw) = entry.result else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(&raw).unwrap_or_default();
        CniResult::parse(&bytes, list.cni_version)
            .map(|r| Some(r.as_version(list.cni_version)))
            .map_err(|reason| CniError::Cache {
                path: self
                    .cache
                    .result_path(&list.name, &rt.container_id, &rt.ifname),
                reason: format!("cached result: {reason}"),
            })
    }

    /// DEL: run the chain in reverse with the cached result as `prevResult`
    /// (0.4.0 and later), then drop the cache entry. When `rt` carries no
    /// capability arguments or CNI_ARGS, those recorded at ADD are used (so
    /// e.g. portmap can find its mappings from another process). Plugins
    /// succeed when the resources are already gone, so a repeated DEL
    /// succeeds. Stops at the first failing plugin and keeps the cache entry
    /// so DEL can be retried.
    pub fn del(&self, list: &NetworkConfigList, rt: &RuntimeConf) -> Result<(), CniError> {
        Self::check_rt(list, rt)?;
        let path = self
            .cache
            .result_path(&list.name, &rt.container_id, &rt.ifname);
        let entry = match self.cache.read(&list.name, &rt.container_id, &rt.ifname) {
            Ok(e) => e,
            Err(e) => {
                // An unreadable entry is dropped, as libcni does.
                tracing::warn!("{e}; deleting without it");
                let _ = self.cache.remove(&list.name, &rt.container_id, &rt.ifname);
                None
            }
        };
        let mut rt = rt.clone();
        if let Some(e) = &entry {
            if rt.capability_args.is_empty() {
                rt.capability_args = e.capability_args.clone();
            }
            if rt.args.is_empty() {
                rt.args = e.cni_args.clone();
            }
        }
        let prev = match entry.and_then(|e| e.result) {
            Some(raw) if list.cni_version >= SpecVersion::V0_4_0 => {
                let bytes = serde_json::to_vec(&raw).unwrap_or_default();
                match CniResult::parse(&bytes, list.cni_version) {
                    Ok(r) => Some(r.as_version(list.cni_version)),
                    Err(reason) => {
                        tracing::warn!(
                            "{}: cached result: {reason}; deleting without prevResult",
                            path.display()
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        for plugin in list.plugins.iter().rev() {
            let stdin = Self::stdin(list, plugin, prev.as_ref(), Some(&rt));
            self.exec(list, plugin, "DEL", Some(&rt), &stdin)?;
        }
        self.cache.remove(&list.name, &rt.container_id, &rt.ifname)
    }

    /// CHECK: run the chain in order with the cached result as `prevResult`
    /// (and, when `rt` has none, the capability arguments and CNI_ARGS of
    /// the ADD). A no-op when the list sets `disableCheck`; an error for
    /// lists older than 0.4.0 and for attachments with no cached result.
    pub fn check(&self, list: &NetworkConfigList, rt: &RuntimeConf) -> Result<(), CniError> {
        Self::check_rt(list, rt)?;
        if list.cni_version < SpecVersion::V0_4_0 {
            return Err(CniError::NotSupported {
                network: list.name.clone(),
                version: list.cni_version.to_string(),
                command: "CHECK",
            });
        }
        if list.disable_check {
            return Ok(());
        }
        let not_attached = || CniError::NotAttached {
            network: list.name.clone(),
            container_id: rt.container_id.clone(),
            ifname: rt.ifname.clone(),
        };
        let entry = self
            .cache
            .read(&list.name, &rt.container_id, &rt.ifname)?
            .ok_or_else(not_attached)?;
        let mut rt = rt.clone();
        if rt.capability_args.is_empty() {
            rt.capability_args = entry.capability_args.clone();
        }
        if rt.args.is_empty() {
            rt.args = entry.cni_args.clone();
        }
        let Some(prev) = self.cached_result(list, &rt)? else {
            return Err(not_attached());
        };
        for plugin in &list.plugins {
            let stdin = Self::stdin(list, plugin, Some(&prev), Some(&rt));
            self.exec(list, plugin, "CHECK", Some(&rt), &stdin)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_list;

    #[test]
    fn stdin_injects_name_version_prev_result_and_declared_capabilities() {
        let list = test_list(
            r#"{"cniVersion":"0.4.0","name":"n","plugins":[
                {"type":"a","name":"ignored","cniVersion":"9.9.9","keep":1,
                 "capabilities":{"mac":true,"ips":false},"runtimeConfig":{"old":true}}]}"#,
        );
        let prev = CniResult::parse(
            br#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}"#,
            SpecVersion::V1_0_0,
        )
        .unwrap();
        let mut rt = RuntimeConf::default();
        rt.capability_args
            .mac("02:00:00:00:00:01")
            .ips(&["10.0.0.9".into()]);
        let v: Value = serde_json::from_slice(&CniHost::stdin(
            &list,
            &list.plugins[0],
            Some(&prev),
            Some(&rt),
        ))
        .unwrap();
        assert_eq!(v["name"], "n");
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["keep"], 1);
        assert_eq!(v["prevResult"]["cniVersion"], "0.4.0");
        assert_eq!(v["prevResult"]["ips"][0]["version"], "4");
        assert_eq!(
            v["runtimeConfig"],
            serde_json::json!({"mac": "02:00:00:00:00:01"})
        );
        // Without matching capability args the plugin's own runtimeConfig stays.
        let bare: Value =
            serde_json::from_slice(&CniHost::stdin(&list, &list.plugins[0], None, None)).unwrap();
        assert_eq!(bare["runtimeConfig"], serde_json::json!({"old": true}));
        assert!(bare.get("prevResult").is_none());
    }

    #[test]
    fn rejects_bad_ids_before_running_anything() {
        let list = test_list(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a"}]}"#);
        let d = tempfile::tempdir().unwrap();
        let host = CniHost::new(PluginPath::new([d.path()]), d.path());
        let rt = RuntimeConf {
            container_id: "-bad".into(),
            ifname: "eth0".into(),
            ..RuntimeConf::default()
        };
        assert!(matches!(
            host.add(&list, &rt),
            Err(CniError::InvalidArgument {
                what: "container id",
                ..
            })
        ));
        let rt = RuntimeConf {
            container_id: "ok".into(),
            ifname: "a/b".into(),
            ..RuntimeConf::default()
        };
        assert!(matches!(
            host.del(&list, &rt),
            Err(CniError::InvalidArgument {
                what: "interface name",
                ..
            })
        ));
    }
}
