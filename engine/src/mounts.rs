//! `-v` and `--tmpfs` specs into OCI mounts: `HOST:CTR[:ro|rw]` binds a host
//! path; a source that is not an absolute path names a volume (created on
//! first use); `--tmpfs CTR[:OPTIONS]` mounts a tmpfs.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{EngineError, Result};
use crate::records::MountInfo;

/// A parsed `-v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Host path or volume name.
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Read-only.
    pub read_only: bool,
}

impl VolumeSpec {
    /// Is the source a named volume (not a host path)?
    pub fn is_named(&self) -> bool {
        !self.source.starts_with('/')
    }
}

/// Parse `-v SRC:DST[:OPTS]` (OPTS: comma-separated `ro`, `rw`, `z`, `Z`).
pub fn parse_volume(spec: &str) -> Result<VolumeSpec> {
    let bad = |r: &str| EngineError::invalid("-v", spec, r);
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(bad(
                "use HOST-PATH:CONTAINER-PATH[:ro] or VOLUME:CONTAINER-PATH[:ro]",
            ))
        }
    };
    if source.is_empty() {
        return Err(bad("the source is empty"));
    }
    if !destination.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" | "z" | "Z" => {}
            other => return Err(bad(&format!("unknown option {other:?} (use ro or rw)"))),
        }
    }
    if !source.starts_with('/') {
        let ok = source.as_bytes()[0].is_ascii_alphanumeric()
            && source
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return Err(bad(
                "a host path must be absolute; a volume name uses letters, digits, '_', '.', '-'",
            ));
        }
    }
    Ok(VolumeSpec {
        source: source.to_string(),
        destination: destination.to_string(),
        read_only,
    })
}

/// An OCI bind mount of `host` at `destination`.
pub fn bind_mount(host: &Path, destination: &str, read_only: bool) -> Result<Value> {
    if !host.exists() {
        return Err(EngineError::invalid(
            "-v",
            host.display().to_string(),
            "the host path does not exist (create it first)",
        ));
    }
    let mut opts = vec!["rbind", "rprivate"];
    if read_only {
        opts.push("ro");
    }
    Ok(json!({"destination": destination, "type": "bind", "source": host, "options": opts}))
}

/// Parse `--tmpfs CTR[:OPTIONS]` into an OCI mount and its inspect entry.
pub fn tmpfs_mount(spec: &str) -> Result<(Value, MountInfo)> {
    let (dest, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if !dest.starts_with('/') {
        return Err(EngineError::invalid(
            "--tmpfs",
            spec,
            "use an absolute container path, e.g. /run:size=64m",
        ));
    }
    let mut options: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
    let read_only = options.iter().any(|o| o == "ro");
    Ok((
        json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options}),
        MountInfo {
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            destination: dest.to_string(),
            read_only,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs() {
        let v = parse_volume("/srv/www:/usr/share/nginx/html:ro").unwrap();
        assert_eq!(v.source, "/srv/www");
        assert!(v.read_only && !v.is_named());
        let v = parse_volume("data:/data").unwrap();
        assert!(v.is_named() && !v.read_only);
        assert!(parse_volume("data").is_err());
        assert!(parse_volume("./rel:/x").is_err());
        assert!(parse_volume("/a:rel").is_err());
        assert!(parse_volume("/a:/b:rx").is_err());
    }

    #[test]
    fn tmpfs_specs() {
        let (m, info) = tmpfs_mount("/run:size=64m").unwrap();
        assert_eq!(m["destination"], "/run");
        assert!(m["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "size=64m"));
        assert!(!info.read_only);
        assert!(tmpfs_mount("run").is_err());
    }
}
