//! Loading a bundle's `config.json` into oci-spec types and checking it for
//! what this runtime needs before anything is created: a process with args,
//! an existing rootfs, a mount namespace, consistent user-namespace maps, a
//! UTS namespace when a hostname is set, and nothing it does not implement.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::error::{Result, RuntimeError};
use crate::namespaces::declared;

/// A loaded and validated bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute rootfs directory (`root.path` resolved against `dir`).
    pub rootfs: PathBuf,
    /// The parsed `config.json`.
    pub spec: Spec,
}

/// Load `<dir>/config.json` and validate it (see [`validate`]).
pub fn load_bundle(dir: &Path) -> Result<Bundle> {
    let dir = std::path::absolute(dir).map_err(|e| RuntimeError::io(dir, e))?;
    let meta = std::fs::metadata(&dir).map_err(|e| RuntimeError::io(&dir, e))?;
    if !meta.is_dir() {
        return Err(RuntimeError::io(
            &dir,
            std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "bundle is not a directory",
            ),
        ));
    }
    let config = dir.join("config.json");
    let spec = load_config(&config)?;
    let rootfs = validate(&spec, &dir)?;
    Ok(Bundle { dir, rootfs, spec })
}

/// Parse a `config.json` file; errors carry the path and the parser's
/// line/column.
pub fn load_config(path: &Path) -> Result<Spec> {
    let bytes = std::fs::read(path).map_err(|e| RuntimeError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| RuntimeError::InvalidConfig {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Check `spec` for everything `create` relies on; returns the absolute rootfs.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let major = spec.version().split('.').next().unwrap_or("");
    if major != "1" {
        return Err(RuntimeError::spec(
            "ociVersion",
            format!("{:?} is not a 1.x runtime-spec version", spec.version()),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::spec("process", "missing: a container needs a process"))?;
    validate_process(process)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RuntimeError::spec("root", "missing: set root.path to the rootfs"))?;
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(RuntimeError::spec(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ))
        }
        Err(e) => {
            return Err(RuntimeError::spec(
                "root.path",
                format!("{}: {e}", rootfs.display()),
            ))
        }
    }
    validate_namespaces(spec)?;
    Ok(rootfs)
}

fn validate_process(p: &Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::spec(
            "process.args",
            "empty: give the program to run",
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(RuntimeError::spec(
            "process.cwd",
            format!("{} must be an absolute path", p.cwd().display()),
        ));
    }
    Ok(())
}

fn validate_namespaces(spec: &Spec) -> Result<()> {
    let ns = declared(spec)?;
    let has = |k: LinuxNamespaceType| ns.iter().find(|(kind, _)| *kind == k);
    if has(LinuxNamespaceType::Mount).is_none() {
        return Err(RuntimeError::spec(
            "linux.namespaces",
            "a mount namespace is required (add {\"type\": \"mount\"})",
        ));
    }
    let linux = spec.linux().as_ref();
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().as_ref())
        .is_some_and(|m| !m.is_empty());
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().as_ref())
        .is_some_and(|m| !m.is_empty());
    match has(LinuxNamespaceType::User) {
        Some((_, None)) if !uid_maps || !gid_maps => {
            return Err(RuntimeError::spec(
                "linux.uidMappings",
                "a new user namespace needs both uidMappings and gidMappings",
            ))
        }
        Some((_, Some(_))) | None if uid_maps || gid_maps => {
            return Err(RuntimeError::spec(
                "linux.uidMappings",
                "id mappings need a new user namespace (add {\"type\": \"user\"} without a path)",
            ))
        }
        _ => {}
    }
    let new_uts = matches!(has(LinuxNamespaceType::Uts), Some((_, None)));
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !new_uts {
        return Err(RuntimeError::spec(
            "hostname",
            "setting a hostname needs a new uts namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !new_uts {
        return Err(RuntimeError::spec(
            "domainname",
            "setting a domainname needs a new uts namespace",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bundle_with(config: &serde_json::Value) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("rootfs")).expect("rootfs");
        std::fs::write(d.path().join("config.json"), config.to_string()).expect("write");
        d
    }

    fn minimal() -> serde_json::Value {
        json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        })
    }

    #[test]
    fn minimal_bundle_loads() {
        let d = bundle_with(&minimal());
        let b = load_bundle(d.path()).expect("load");
        assert_eq!(b.rootfs, d.path().join("rootfs"));
    }

    #[test]
    fn invalid_json_names_the_file() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("config.json"), "{ not json").expect("write");
        let e = load_bundle(d.path()).expect_err("invalid");
        let msg = e.to_string();
        assert!(
            msg.contains("config.json") && msg.contains("line 1"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_namespace_type_is_rejected() {
        let mut c = minimal();
        c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "bogus"}]);
        let d = bundle_with(&c);
        let e = load_bundle(d.path()).expect_err("bogus ns");
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn missing_rootfs_is_rejected() {
        let mut c = minimal();
        c["root"]["path"] = json!("nope");
        let d = bundle_with(&c);
        let e = load_bundle(d.path()).expect_err("no rootfs");
        assert!(e.to_string().contains("root.path"), "{e}");
    }

    #[test]
    fn hostname_without_uts_is_rejected() {
        let mut c = minimal();
        c["hostname"] = json!("box");
        let d = bundle_with(&c);
        assert!(load_bundle(d.path()).is_err());
    }

    #[test]
    fn user_namespace_without_maps_is_rejected() {
        let mut c = minimal();
        c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "user"}]);
        let d = bundle_with(&c);
        let e = load_bundle(d.path()).expect_err("no maps");
        assert!(e.to_string().contains("uidMappings"), "{e}");
    }
}
