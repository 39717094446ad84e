//! Registry credentials in a docker `config.json`-compatible auth file
//! (`{"auths": {"host:port": {"auth": base64("user:password")}}}`), the file
//! `rcrun login` writes and `docker`, `podman` and `skopeo` read.
//!
//! The file is `$REGISTRY_AUTH_FILE` if set, else `$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`. Other keys in the file are kept as they are.
//! Credential helpers (`credsStore`, `credHelpers`) are not consulted.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::{RegistryError, Result};

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Parse `user:password` (as `--creds` takes it; the password may contain
    /// colons, the user name may not be empty).
    pub fn parse(pair: &str) -> Result<Credentials> {
        match pair.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }),
            _ => Err(RegistryError::InvalidCreds),
        }
    }
}

/// The auth file to use: `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json`,
/// or `$HOME/.docker/config.json`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".docker/config.json")
}

/// The key an auth entry of `registry` is filed under: the host[:port], with
/// Docker Hub's aliases folded into `docker.io` and any scheme or path
/// (`https://index.docker.io/v1/`) dropped.
pub fn registry_key(registry: &str) -> String {
    let r = registry
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = r.split('/').next().unwrap_or(r);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        h => h.to_string(),
    }
}

/// Credentials for `registry` in the auth file at `path`; `None` when the
/// file does not exist or has no entry for it.
pub fn lookup(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let Some(doc) = read(path)? else {
        return Ok(None);
    };
    let want = registry_key(registry);
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    for (key, entry) in auths {
        if registry_key(key) != want {
            continue;
        }
        let Some(encoded) = entry.get("auth").and_then(Value::as_str) else {
            continue;
        };
        if encoded.is_empty() {
            continue;
        }
        let bad = |reason: String| RegistryError::ConfigFile {
            path: path.to_path_buf(),
            reason: format!("auths.{key:?}.auth: {reason}"),
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| bad(format!("not base64: {e}")))?;
        let text = String::from_utf8(raw).map_err(|_| bad("not UTF-8".into()))?;
        return Credentials::parse(&text)
            .map(Some)
            .map_err(|_| bad("not base64 of user:password".into()));
    }
    Ok(None)
}

/// Record `creds` for `registry` in the auth file at `path` (created 0600,
/// its directory 0700; replaced atomically; other entries and keys kept).
pub fn store(path: &Path, registry: &str, creds: &Credentials) -> Result<()> {
    let mut doc = read(path)?.unwrap_or_default();
    let key = registry_key(registry);
    let auths = auths_mut(path, &mut doc)?;
    auths.retain(|k, _| registry_key(k) != key);
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", creds.username, creds.password));
    let mut entry = Map::new();
    entry.insert("auth".into(), Value::String(encoded));
    auths.insert(key, Value::Object(entry));
    write(path, &doc)
}

/// Remove the entry of `registry`; `Ok(false)` if there was none.
pub fn remove(path: &Path, registry: &str) -> Result<bool> {
    let Some(mut doc) = read(path)? else {
        return Ok(false);
    };
    let key = registry_key(registry);
    let auths = auths_mut(path, &mut doc)?;
    let before = auths.len();
    auths.retain(|k, _| registry_key(k) != key);
    if auths.len() == before {
        return Ok(false);
    }
    write(path, &doc)?;
    Ok(true)
}

/// Remove every registry entry; returns how many there were.
pub fn remove_all(path: &Path) -> Result<usize> {
    let Some(mut doc) = read(path)? else {
        return Ok(0);
    };
    let auths = auths_mut(path, &mut doc)?;
    let n = auths.len();
    auths.clear();
    write(path, &doc)?;
    Ok(n)
}

fn read(path: &Path) -> Result<Option<Map<String, Value>>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RegistryError::ConfigFile {
                path: path.to_path_buf(),
                reason: format!("read: {e}"),
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(RegistryError::ConfigFile {
            path: path.to_path_buf(),
            reason: "not a JSON object".into(),
        }),
        Err(e) => Err(RegistryError::ConfigFile {
            path: path.to_path_buf(),
            reason: format!("invalid JSON: {e}"),
        }),
    }
}

fn auths_mut<'a>(
    path: &Path,
    doc: &'a mut Map<String, Value>,
) -> Result<&'a mut Map<String, Value>> {
    doc.entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| RegistryError::ConfigFile {
            path: path.to_path_buf(),
            reason: "\"auths\" is not a JSON object".into(),
        })
}

fn write(path: &Path, doc: &Map<String, Value>) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| RegistryError::ConfigFile {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail("create directory", e))?;
    let mut text = serde_json::to_vec_pretty(doc).map_err(|e| RegistryError::ConfigFile {
        path: path.to_path_buf(),
        reason: format!("serialise: {e}"),
    })?;
    text.push(b'\n');
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map_or("auth".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let result = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&text)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn creds_pair_splits_at_first_colon() {
        assert_eq!(
            Credentials::parse("bob:pa:ss").unwrap(),
            creds("bob", "pa:ss")
        );
        assert_eq!(Credentials::parse("bob:").unwrap(), creds("bob", ""));
        assert!(Credentials::parse("bob").is_err());
        assert!(Credentials::parse(":pw").is_err());
    }

    #[test]
    fn debug_does_not_show_the_password() {
        assert!(!format!("{:?}", creds("bob", "s3cret")).contains("s3cret"));
    }

    #[test]
    fn keys_fold_docker_hub_aliases_and_urls() {
        assert_eq!(registry_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_key("registry-1.docker.io"), "docker.io");
        assert_eq!(registry_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn reads_a_docker_written_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        // "alice:wonder:land" and a docker hub entry under its legacy URL key.
        fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOmh1YnB3"},
                "reg.example:5000":{"auth":"YWxpY2U6d29uZGVyOmxhbmQ="},
                "empty.example":{"auth":""}},
               "credsStore":"desktop"}"#,
        )
        .unwrap();
        assert_eq!(
            lookup(&p, "docker.io").unwrap(),
            Some(creds("hub", "hubpw"))
        );
        assert_eq!(
            lookup(&p, "reg.example:5000").unwrap(),
            Some(creds("alice", "wonder:land"))
        );
        assert_eq!(lookup(&p, "empty.example").unwrap(), None);
        assert_eq!(lookup(&p, "other.example").unwrap(), None);
    }

    #[test]
    fn missing_file_means_no_credentials_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lookup(&dir.path().join("nope.json"), "x").unwrap(), None);
        let p = dir.path().join("bad.json");
        fs::write(&p, "{not json").unwrap();
        let err = lookup(&p, "x").unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("invalid JSON"),
            "{err}"
        );
        fs::write(&p, r#"{"auths":{"x":{"auth":"!!!"}}}"#).unwrap();
        assert!(lookup(&p, "x")
            .unwrap_err()
            .to_string()
            .contains("not base64"));
    }

    #[test]
    fn store_then_remove_keeps_other_entries_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/auth.json");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(
            &p,
            r#"{"auths":{"keep.example":{"auth":"azpw"}},"psFormat":"x"}"#,
        )
        .unwrap();
        store(&p, "127.0.0.1:5000", &creds("u", "p")).unwrap();
        assert_eq!(lookup(&p, "127.0.0.1:5000").unwrap(), Some(creds("u", "p")));
        // Replacing keeps one entry.
        store(&p, "http://127.0.0.1:5000", &creds("u2", "p2")).unwrap();
        assert_eq!(
            lookup(&p, "127.0.0.1:5000").unwrap(),
            Some(creds("u2", "p2"))
        );
        let doc: Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "x");
        assert_eq!(doc["auths"].as_object().unwrap().len(), 2);
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(remove(&p, "127.0.0.1:5000").unwrap());
        assert!(!remove(&p, "127.0.0.1:5000").unwrap());
        assert_eq!(lookup(&p, "127.0.0.1:5000").unwrap(), None);
        assert!(lookup(&p, "keep.example").is_ok());
        assert_eq!(remove_all(&p).unwrap(), 1);
    }

    #[test]
    fn store_creates_the_file_and_a_private_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new/.docker/config.json");
        store(&p, "r.example", &creds("a", "b")).unwrap();
        let mode = fs::metadata(p.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(lookup(&p, "r.example").unwrap(), Some(creds("a", "b")));
    }
}
