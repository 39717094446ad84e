//! The insecure-registries setting: `<data-root>/registries.json`,
//! `{"insecure-registries": ["host:port", ...]}` (the key docker's
//! daemon.json uses). A registry listed there is reached as with
//! `--tls-verify=false`: HTTPS without certificate verification, falling back
//! to plain HTTP. No registry is insecure implicitly, not even `localhost`.

use std::fs;
use std::path::{Path, PathBuf};

use super::auth_file::registry_key;
use super::error::{RegistryError, Result};

/// The file name of the setting under the data root.
pub const REGISTRIES_FILE: &str = "registries.json";

/// `<data_root>/registries.json`.
pub fn config_path(data_root: &Path) -> PathBuf {
    data_root.join(REGISTRIES_FILE)
}

/// Is `registry` listed as insecure in the file at `path`? A missing file
/// lists nothing; an unreadable or malformed one is an error.
pub fn is_insecure(path: &Path, registry: &str) -> Result<bool> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(RegistryError::ConfigFile {
                path: path.to_path_buf(),
                reason: format!("read: {e}"),
            })
        }
    };
    let bad = |reason: String| RegistryError::ConfigFile {
        path: path.to_path_buf(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let Some(list) = doc.get("insecure-registries") else {
        return Ok(false);
    };
    let list = list.as_array().ok_or_else(|| {
        bad("\"insecure-registries\" must be a list of host[:port] strings".into())
    })?;
    let want = registry_key(registry);
    for item in list {
        let s = item.as_str().ok_or_else(|| {
            bad("\"insecure-registries\" must be a list of host[:port] strings".into())
        })?;
        if registry_key(s) == want {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_registries_are_insecure_and_nothing_else_is() {
        let dir = tempfile::tempdir().unwrap();
        let p = config_path(dir.path());
        assert!(
            !is_insecure(&p, "127.0.0.1:5000").unwrap(),
            "no file lists nothing"
        );
        fs::write(
            &p,
            r#"{"insecure-registries":["127.0.0.1:5000","http://reg.lan"]}"#,
        )
        .unwrap();
        assert!(is_insecure(&p, "127.0.0.1:5000").unwrap());
        assert!(is_insecure(&p, "reg.lan").unwrap());
        assert!(!is_insecure(&p, "127.0.0.1:5001").unwrap());
        assert!(!is_insecure(&p, "localhost:5000").unwrap());
    }

    #[test]
    fn malformed_setting_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = config_path(dir.path());
        fs::write(&p, r#"{"insecure-registries":"127.0.0.1:5000"}"#).unwrap();
        let e = is_insecure(&p, "127.0.0.1:5000").unwrap_err().to_string();
        assert!(e.contains("registries.json") && e.contains("list"), "{e}");
    }
}
