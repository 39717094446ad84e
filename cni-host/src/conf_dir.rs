//! Loading every network of a conf dir (`/etc/cni/net.d` by default) in
//! lexical order, with per-file errors kept beside the valid networks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{NetworkConfigList, PluginConfig};
use crate::error::CniError;
use crate::plugin_path::PluginPath;

/// Default CNI configuration directory.
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";

/// The networks of a conf dir: valid lists in file order, and the files
/// rejected with why.
#[derive(Debug)]
pub struct ConfDir {
    dir: PathBuf,
    networks: Vec<NetworkConfigList>,
    rejected: Vec<CniError>,
}

impl ConfDir {
    /// Load `.conf`, `.conflist` and `.json` files of `dir` in lexical order.
    /// Each list must name a valid network, use a supported version, and find
    /// every plugin (and IPAM plugin) on `plugins`; a name defined by two
    /// files makes both unusable. A missing dir is an empty conf dir.
    pub fn load(dir: &Path, plugins: &PluginPath) -> Result<Self, CniError> {
        let mut files = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for entry in rd {
                    let entry = entry.map_err(|e| CniError::Config {
                        path: dir.to_path_buf(),
                        reason: format!("read dir: {e}"),
                    })?;
                    let p = entry.path();
                    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                    if matches!(ext, "conf" | "conflist" | "json") && p.is_file() {
                        files.push(p);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CniError::Config {
                    path: dir.to_path_buf(),
                    reason: format!("read dir: {e}"),
                })
            }
        }
        files.sort();
        let mut loaded = Vec::new();
        let mut rejected = Vec::new();
        for f in files {
            match load_file(&f, plugins) {
                Ok(l) => loaded.push(l),
                Err(e) => rejected.push(e),
            }
        }
        // A name defined twice is ambiguous: reject every file defining it.
        let mut first: HashMap<String, PathBuf> = HashMap::new();
        let mut dup: HashMap<String, CniError> = HashMap::new();
        for l in &loaded {
            if let Some(f) = first.get(&l.name) {
                dup.entry(l.name.clone())
                    .or_insert_with(|| CniError::DuplicateNetwork {
                        name: l.name.clone(),
                        first: f.clone(),
                        second: l.source.clone(),
                    });
            } else {
                first.insert(l.name.clone(), l.source.clone());
            }
        }
        let networks = loaded
            .into_iter()
            .filter(|l| !dup.contains_key(&l.name))
            .collect();
        rejected.extend(dup.into_values());
        Ok(ConfDir {
            dir: dir.to_path_buf(),
            networks,
            rejected,
        })
    }

    /// The directory loaded.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Valid networks, in lexical file order.
    pub fn networks(&self) -> &[NetworkConfigList] {
        &self.networks
    }

    /// Why each rejected file was rejected.
    pub fn rejected(&self) -> &[CniError] {
        &self.rejected
    }

    /// The default network: the first valid list in lexical order.
    pub fn default_network(&self) -> Result<&NetworkConfigList, CniError> {
        self.networks.first().ok_or_else(|| CniError::NoNetworks {
            dir: self.dir.clone(),
        })
    }

    /// The network called `name`; if its file was rejected, that error.
    pub fn get(&self, name: &str) -> Result<&NetworkConfigList, CniError> {
        if let Some(l) = self.networks.iter().find(|l| l.name == name) {
            return Ok(l);
        }
        if let Some(e) = self.rejected.iter().find(|e| e.network() == Some(name)) {
            return Err(clone_error(e));
        }
        Err(CniError::NetworkNotFound {
            name: name.to_string(),
            dir: self.dir.clone(),
        })
    }
}

fn clone_error(e: &CniError) -> CniError {
    match e {
        CniError::DuplicateNetwork {
            name,
            first,
            second,
        } => CniError::DuplicateNetwork {
            name: name.clone(),
            first: first.clone(),
            second: second.clone(),
        },
        CniError::PluginNotFound {
            file,
            network,
            plugin,
            path,
        } => CniError::PluginNotFound {
            file: file.clone(),
            network: network.clone(),
            plugin: plugin.clone(),
            path: path.clone(),
        },
        other => CniError::Config {
            path: PathBuf::new(),
            reason: other.to_string(),
        },
    }
}

/// Load one file: a `.conflist`, or a `.conf`/`.json` single plugin config
/// wrapped into a list; then the plugin files of `<dir>/<name>/*.conf`
/// unless `loadOnlyInlinedPlugins`; then check every plugin is on the path.
pub fn load_file(path: &Path, plugins: &PluginPath) -> Result<NetworkConfigList, CniError> {
    let bytes = std::fs::read(path).map_err(|e| CniError::Config {
        path: path.to_path_buf(),
        reason: format!("read: {e}"),
    })?;
    let mut list = if path.extension().is_some_and(|e| e == "conflist") {
        NetworkConfigList::from_bytes(&bytes, path)?
    } else {
        NetworkConfigList::from_single_conf(&bytes, path)?
    };
    if !list.load_only_inlined_plugins {
        if let Some(parent) = path.parent() {
            list.plugins.extend(plugin_files(&parent.join(&list.name))?);
        }
    }
    if list.plugins.is_empty() {
        return Err(CniError::Config {
            path: path.to_path_buf(),
            reason: format!(
                "network {:?} has no plugins (no \"plugins\" and no {}/{}/*.conf)",
                list.name,
                path.parent().unwrap_or(Path::new("")).display(),
                list.name
            ),
        });
    }
    for t in list.plugin_types() {
        if plugins.find(t).is_none() {
            return Err(CniError::PluginNotFound {
                file: path.to_path_buf(),
                network: list.name.clone(),
                plugin: t.to_string(),
                path: plugins.joined(),
            });
        }
    }
    Ok(list)
}

/// Plugin objects from `dir/*.conf` (spec 1.1), lexical order; none if `dir` is absent.
fn plugin_files(dir: &Path) -> Result<Vec<PluginConfig>, CniError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CniError::Config {
                path: dir.to_path_buf(),
                reason: format!("read dir: {e}"),
            })
        }
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf") && p.is_file())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let err = |reason: String| CniError::Config {
                path: f.clone(),
                reason,
            };
            let bytes = std::fs::read(f).map_err(|e| err(format!("read: {e}")))?;
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
            PluginConfig::from_value(v, "plugin").map_err(err)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, PluginPath) {
        let conf = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        for p in ["bridge", "host-local", "portmap"] {
            let f = bin.path().join(p);
            fs::write(&f, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = PluginPath::new([bin.path()]);
        (conf, bin, path)
    }

    #[test]
    fn lexical_order_default_and_rejections() {
        let (conf, _bin, path) = setup();
        let d = conf.path();
        fs::write(d.join("20-b.conflist"), r#"{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge","ipam":{"type":"host-local"}}]}"#).unwrap();
        fs::write(
            d.join("10-a.conf"),
            r#"{"cniVersion":"0.4.0","name":"a","type":"bridge"}"#,
        )
        .unwrap();
        fs::write(
            d.join("05-bad.conflist"),
            r#"{"cniVersion":"1.0.0","name":"bad name","plugins":[{"type":"bridge"}]}"#,
        )
        .unwrap();
        fs::write(
            d.join("30-missing.json"),
            r#"{"cniVersion":"1.0.0","name":"m","type":"nosuch"}"#,
        )
        .unwrap();
        fs::write(
            d.join("40-dup1.conflist"),
            r#"{"cniVersion":"1.0.0","name":"dup","plugins":[{"type":"bridge"}]}"#,
        )
        .unwrap();
        fs::write(
            d.join("41-dup2.conflist"),
            r#"{"cniVersion":"1.0.0","name":"dup","plugins":[{"type":"portmap"}]}"#,
        )
        .unwrap();
        fs::write(d.join("README.txt"), "ignored").unwrap();
        let cd = ConfDir::load(d, &path).unwrap();
        let names: Vec<_> = cd.networks().iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(cd.default_network().unwrap().name, "a");
        assert_eq!(cd.rejected().len(), 3);
        let e = cd.get("m").unwrap_err().to_string();
        assert!(e.contains("30-missing.json") && e.contains("nosuch"), "{e}");
        let e = cd.get("dup").unwrap_err().to_string();
        assert!(
            e.contains("40-dup1.conflist") && e.contains("41-dup2.conflist"),
            "{e}"
        );
        assert!(cd
            .rejected()
            .iter()
            .any(|e| e.to_string().contains("05-bad.conflist")));
        assert!(matches!(
            cd.get("zzz"),
            Err(CniError::NetworkNotFound { .. })
        ));
    }

    #[test]
    fn plugin_files_unless_inlined_only() {
        let (conf, _bin, path) = setup();
        let d = conf.path();
        fs::write(
            d.join("10-n.conflist"),
            r#"{"cniVersion":"1.1.0","name":"n","plugins":[{"type":"bridge"}]}"#,
        )
        .unwrap();
        fs::write(d.join("20-o.conflist"), r#"{"cniVersion":"1.1.0","name":"o","loadOnlyInlinedPlugins":true,"plugins":[{"type":"bridge"}]}"#).unwrap();
        fs::write(
            d.join("30-p.conflist"),
            r#"{"cniVersion":"1.1.0","name":"p"}"#,
        )
        .unwrap();
        for n in ["n", "o", "p"] {
            fs::create_dir(d.join(n)).unwrap();
            fs::write(d.join(n).join("b.conf"), r#"{"type":"portmap"}"#).unwrap();
            fs::write(d.join(n).join("a.conf"), r#"{"type":"host-local"}"#).unwrap();
        }
        let cd = ConfDir::load(d, &path).unwrap();
        let types = |n: &str| {
            cd.get(n)
                .unwrap()
                .plugins
                .iter()
                .map(|p| p.plugin_type.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(types("n"), ["bridge", "host-local", "portmap"]);
        assert_eq!(types("o"), ["bridge"]);
        assert_eq!(types("p"), ["host-local", "portmap"]);
    }

    #[test]
    fn empty_dir_has_no_default() {
        let (conf, _bin, path) = setup();
        let cd = ConfDir::load(&conf.path().join("absent"), &path).unwrap();
        assert!(matches!(
            cd.default_network(),
            Err(CniError::NoNetworks { .. })
        ));
    }
}
