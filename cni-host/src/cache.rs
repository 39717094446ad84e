//! The result cache, in libcni's layout so other CNI runtimes and later
//! processes can read it: `<cache dir>/results/<network>-<container>-<ifname>`
//! holding `{"kind":"cniCacheV1","containerId","config"(base64 list JSON),
//! "ifName","networkName","netns","cniArgs","capabilityArgs","result"}`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capabilities::CapabilityArgs;
use crate::error::CniError;

/// Default cache dir (libcni's `CacheDir`).
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/cni";

/// The `kind` of a cache file this host reads and writes.
pub const CACHE_KIND: &str = "cniCacheV1";

/// One cached attachment (an ADD that has not been DELeted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAttachment {
    /// Always [`CACHE_KIND`].
    pub kind: String,
    /// CNI_CONTAINERID of the ADD.
    #[serde(rename = "containerId")]
    pub container_id: String,
    /// The network config list as it was at ADD (base64 in the file, as Go's `[]byte`).
    #[serde(with = "b64", default)]
    pub config: Vec<u8>,
    /// CNI_IFNAME of the ADD.
    #[serde(rename = "ifName")]
    pub if_name: String,
    /// The network name.
    #[serde(rename = "networkName")]
    pub network_name: String,
    /// CNI_NETNS of the ADD.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub netns: String,
    /// CNI_ARGS of the ADD, as pairs.
    #[serde(rename = "cniArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub cni_args: Vec<[String; 2]>,
    /// The capability arguments of the ADD.
    #[serde(
        rename = "capabilityArgs",
        default,
        skip_serializing_if = "CapabilityArgs::is_empty"
    )]
    pub capability_args: CapabilityArgs,
    /// The chain's final result, in the list's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// A result cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache rooted at `dir` (`/var/lib/cni` by default).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// The cache root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/results/<network>-<container>-<ifname>`.
    pub fn result_path(&self, network: &str, container_id: &str, ifname: &str) -> PathBuf {
        self.dir
            .join("results")
            .join(format!("{network}-{container_id}-{ifname}"))
    }

    /// Write an entry atomically (temp file, fsync, rename), dirs 0700, file 0600.
    pub fn write(&self, entry: &CachedAttachment) -> Result<(), CniError> {
        let path = self.result_path(&entry.network_name, &entry.container_id, &entry.if_name);
        let err = |reason: String| CniError::Cache {
            path: path.clone(),
            reason,
        };
        let dir = self.dir.join("results");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| err(format!("create {}: {e}", dir.display())))?;
        let bytes = serde_json::to_vec(entry).map_err(|e| err(format!("encode: {e}")))?;
        let tmp = dir.join(format!(
            ".{}-{}-{}.tmp{}",
            entry.network_name,
            entry.container_id,
            entry.if_name,
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(format!("write: {e}"))
        })
    }

    /// Read an entry; `Ok(None)` when there is none (as libcni ignores a
    /// missing file), an error when it exists but is not a `cniCacheV1` entry.
    pub fn read(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<CachedAttachment>, CniError> {
        let path = self.result_path(network, container_id, ifname);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CniError::Cache {
                    path,
                    reason: format!("read: {e}"),
                })
            }
        };
        parse_entry(&bytes)
            .map(Some)
            .map_err(|reason| CniError::Cache { path, reason })
    }

    /// Remove an entry; a missing one is fine.
    pub fn remove(&self, network: &str, container_id: &str, ifname: &str) -> Result<(), CniError> {
        let path = self.result_path(network, container_id, ifname);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CniError::Cache {
                path,
                reason: format!("remove: {e}"),
            }),
        }
    }

    /// Every valid entry, sorted by file name, optionally only of one
    /// container (libcni's `GetCachedAttachments`); unreadable files are skipped.
    pub fn list(&self, container_id: Option<&str>) -> Result<Vec<CachedAttachment>, CniError> {
        let dir = self.dir.join("results");
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(CniError::Cache {
                    path: dir,
                    reason: format!("read dir: {e}"),
                })
            }
        };
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for n in names {
            let Ok(bytes) = std::fs::read(dir.join(&n)) else {
                continue;
            };
            let Ok(entry) = parse_entry(&bytes) else {
                continue;
            };
            if entry.if_name.is_empty() || entry.network_name.is_empty() {
                continue;
            }
            if container_id.is_some_and(|c| c != entry.container_id) {
                continue;
            }
            out.push(entry);
        }
        Ok(out)
    }
}

fn parse_entry(bytes: &[u8]) -> Result<CachedAttachment, String> {
    let entry: CachedAttachment =
        serde_json::from_slice(bytes).map_err(|e| format!("not a cache entry: {e}"))?;
    if entry.kind != CACHE_KIND {
        return Err(format!(
            "cache entry has kind {:?}, not {CACHE_KIND}",
            entry.kind
        ));
    }
    Ok(entry)
}

/// Encode CNI_ARGS pairs as `K=V;K=V`.
pub fn join_cni_args(args: &[[String; 2]]) -> String {
    args.iter()
        .map(|[k, v]| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(c: &str) -> CachedAttachment {
        let mut caps = CapabilityArgs::new();
        caps.mac("02:00:00:00:00:01");
        CachedAttachment {
            kind: CACHE_KIND.into(),
            container_id: c.into(),
            config: br#"{"name":"n"}"#.to_vec(),
            if_name: "eth0".into(),
            network_name: "n".into(),
            netns: "/run/netns/x".into(),
            cni_args: vec![["K8S_POD_NAME".into(), "p".into()]],
            capability_args: caps,
            result: Some(json!({"cniVersion":"1.0.0"})),
        }
    }

    #[test]
    fn layout_and_round_trip_match_libcni() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path());
        assert_eq!(
            c.result_path("n", "abc", "eth0"),
            d.path().join("results/n-abc-eth0")
        );
        c.write(&entry("abc")).unwrap();
        let raw: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("results/n-abc-eth0")).unwrap())
                .unwrap();
        assert_eq!(raw["kind"], "cniCacheV1");
        assert_eq!(raw["containerId"], "abc");
        assert_eq!(raw["config"], "eyJuYW1lIjoibiJ9");
        assert_eq!(raw["cniArgs"], json!([["K8S_POD_NAME", "p"]]));
        assert_eq!(raw["capabilityArgs"]["mac"], "02:00:00:00:00:01");
        assert_eq!(c.read("n", "abc", "eth0").unwrap(), Some(entry("abc")));
        assert_eq!(c.read("n", "zzz", "eth0").unwrap(), None);
        c.write(&entry("def")).unwrap();
        std::fs::write(d.path().join("results/garbage"), "x").unwrap();
        assert_eq!(c.list(None).unwrap().len(), 2);
        assert_eq!(c.list(Some("def")).unwrap().len(), 1);
        c.remove("n", "abc", "eth0").unwrap();
        c.remove("n", "abc", "eth0").unwrap();
        assert_eq!(c.list(None).unwrap().len(), 1);
        assert_eq!(join_cni_args(&entry("x").cni_args), "K8S_POD_NAME=p");
    }

    #[test]
    fn wrong_kind_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path());
        std::fs::create_dir_all(d.path().join("results")).unwrap();
        std::fs::write(
            d.path().join("results/n-a-eth0"),
            r#"{"kind":"other","containerId":"a","ifName":"eth0","networkName":"n"}"#,
        )
        .unwrap();
        assert!(c.read("n", "a", "eth0").is_err());
    }
}
