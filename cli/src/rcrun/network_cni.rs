//! The CNI side of `rcrun network ls` and `rcrun network inspect cni:NAME`:
//! a read-only view of a CNI conf dir (plugins looked up on `$CNI_PATH`).
//! Runs no plugin.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcrun_cni_host::{ConfDir, NetworkConfigList, PluginPath};
use serde::Serialize;
use serde_json::{json, Value};

/// One row of `rcrun network ls` for a CNI network (driver `cni`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CniNetworkRow {
    /// Network name (the file stem when the file is too broken to name one).
    pub name: String,
    /// The configuration file.
    pub file: PathBuf,
    /// The version plugins are called with (empty when unknown).
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// Plugin types in chain order.
    pub plugins: Vec<String>,
    /// True for the default network (first valid file in lexical order).
    pub default: bool,
    /// Why the file is not usable, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn load(conf_dir: &Path) -> anyhow::Result<ConfDir> {
    ConfDir::load(conf_dir, &PluginPath::from_env())
        .with_context(|| format!("load CNI configurations from {}", conf_dir.display()))
}

/// Every network of `conf_dir`: valid ones first (lexical file order, the
/// first marked default), then rejected files with their error.
pub fn list(conf_dir: &Path) -> anyhow::Result<Vec<CniNetworkRow>> {
    let dir = load(conf_dir)?;
    let mut rows: Vec<CniNetworkRow> = dir
        .networks()
        .iter()
        .enumerate()
        .map(|(i, l)| CniNetworkRow {
            name: l.name.clone(),
            file: l.source.clone(),
            cni_version: l.cni_version.to_string(),
            plugins: l.plugins.iter().map(|p| p.plugin_type.clone()).collect(),
            default: i == 0,
            error: None,
        })
        .collect();
    for e in dir.rejected() {
        let file = e.file().map(Path::to_path_buf).unwrap_or_default();
        let name = e.network().map(str::to_string).unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        rows.push(CniNetworkRow {
            name,
            file,
            cni_version: String::new(),
            plugins: Vec::new(),
            default: false,
            error: Some(e.to_string()),
        });
    }
    Ok(rows)
}

/// The network `name` (a leading `cni:` is accepted) as JSON: file, version,
/// flags, capabilities, each plugin with the binary it resolves to, and the
/// configuration itself.
pub fn inspect(conf_dir: &Path, name: &str) -> anyhow::Result<Value> {
    let name = name.strip_prefix("cni:").unwrap_or(name);
    let dir = load(conf_dir)?;
    let list = dir.get(name)?;
    let is_default = dir.default_network().is_ok_and(|d| d.name == list.name);
    Ok(describe(list, is_default, &PluginPath::from_env()))
}

fn describe(list: &NetworkConfigList, is_default: bool, path: &PluginPath) -> Value {
    let plugins: Vec<Value> = list
        .plugins
        .iter()
        .map(|p| {
            json!({
                "type": p.plugin_type,
                "path": path.find(&p.plugin_type),
                "ipam": p.ipam_type(),
                "capabilities": p.capabilities,
                "config": p.raw,
            })
        })
        .collect();
    json!({
        "name": list.name,
        "driver": "cni",
        "file": list.source,
        "cniVersion": list.cni_version.to_string(),
        "default": is_default,
        "disableCheck": list.disable_check,
        "disableGC": list.disable_gc,
        "loadOnlyInlinedPlugins": list.load_only_inlined_plugins,
        "capabilities": list.capabilities(),
        "plugins": plugins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A scratch dir removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!("rcn-cli-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn list_and_inspect() {
        let conf = Scratch::new("conf");
        let bin = Scratch::new("bin");
        for p in ["bridge", "host-local", "portmap"] {
            let f = bin.path().join(p);
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(
            conf.path().join("10-a.conflist"),
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge","ipam":{"type":"host-local"}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        )
        .unwrap();
        std::fs::write(
            conf.path().join("20-b.conf"),
            r#"{"cniVersion":"0.4.0","name":"b","type":"nosuch"}"#,
        )
        .unwrap();
        let path = PluginPath::new([bin.path()]);
        let dir = ConfDir::load(conf.path(), &path).unwrap();
        assert_eq!(dir.networks().len(), 1);
        let v = describe(&dir.networks()[0], true, &path);
        assert_eq!(v["driver"], "cni");
        assert_eq!(v["plugins"][0]["ipam"], "host-local");
        assert_eq!(v["capabilities"]["portMappings"][0], "portmap");
        assert_eq!(
            v["plugins"][1]["path"],
            bin.path().join("portmap").to_string_lossy().as_ref()
        );
    }
}
