//! Entry paths and whiteout names: pure checks, no filesystem access.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// Prefix of whiteout files.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of aufs metadata entries (`.wh..wh.plnk` etc.), which are skipped.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";

/// Split a tar entry path into normal components. A leading `/` and `.`
/// components are dropped (tar paths are relative to the layer root); `..`
/// is refused: no layer tool writes it and it can only mean an escape.
pub fn split(path: &Path) -> Result<Vec<OsString>, String> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("path contains '..'".into()),
            Component::Prefix(_) => return Err("path has a prefix".into()),
            Component::Normal(n) => out.push(n.to_os_string()),
        }
    }
    Ok(out)
}

/// Split a hardlink target: like [`split`], but an absolute target is
/// refused too (it names a host path, not one in the layer).
pub fn split_link_target(path: &Path) -> Result<Vec<OsString>, String> {
    if path.is_absolute() {
        return Err(format!(
            "hardlink target {:?} is absolute: hardlinks must point inside the layer",
            path
        ));
    }
    let comps = split(path).map_err(|e| format!("hardlink target {path:?}: {e}"))?;
    if comps.is_empty() {
        return Err("hardlink target is empty".into());
    }
    Ok(comps)
}

/// What a base name means for overlay conversion.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// A normal entry.
    None,
    /// `.wh.<name>`: hide `<name>` of lower layers.
    File(&'a OsStr),
    /// `.wh..wh..opq`: hide everything lower layers have in this directory.
    Opaque,
    /// Other `.wh..wh.` names: aufs metadata, ignored.
    Meta,
}

/// Classify a base name; `Err` for whiteouts of `.`, `..` or nothing.
pub fn classify(name: &OsStr) -> Result<Whiteout<'_>, String> {
    let b = name.as_bytes();
    if b == OPAQUE_MARKER.as_bytes() {
        return Ok(Whiteout::Opaque);
    }
    if b.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        return Ok(Whiteout::Meta);
    }
    if let Some(rest) = b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if rest.is_empty() || rest == b"." || rest == b".." {
            return Err(format!(
                "whiteout of {:?} is invalid",
                OsStr::from_bytes(rest)
            ));
        }
        return Ok(Whiteout::File(OsStr::from_bytes(rest)));
    }
    Ok(Whiteout::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_drops_root_and_dot_refuses_dotdot() {
        assert_eq!(split(Path::new("./a/b/")).unwrap(), ["a", "b"]);
        assert_eq!(split(Path::new("/etc/passwd")).unwrap(), ["etc", "passwd"]);
        assert!(split(Path::new("./")).unwrap().is_empty());
        assert!(split(Path::new("../x")).is_err());
        assert!(split(Path::new("a/../../x")).is_err());
    }

    #[test]
    fn hardlink_targets_must_be_relative_and_inside() {
        assert_eq!(
            split_link_target(Path::new("usr/bin/a")).unwrap(),
            ["usr", "bin", "a"]
        );
        assert!(split_link_target(Path::new("/etc/passwd")).is_err());
        assert!(split_link_target(Path::new("../../etc/passwd")).is_err());
        assert!(split_link_target(Path::new("./")).is_err());
    }

    #[test]
    fn whiteout_classification() {
        assert_eq!(classify(OsStr::new("file")).unwrap(), Whiteout::None);
        assert_eq!(
            classify(OsStr::new(".wh.file")).unwrap(),
            Whiteout::File(OsStr::new("file"))
        );
        assert_eq!(
            classify(OsStr::new(".wh..wh..opq")).unwrap(),
            Whiteout::Opaque
        );
        assert_eq!(
            classify(OsStr::new(".wh..wh.plnk")).unwrap(),
            Whiteout::Meta
        );
        assert_eq!(classify(OsStr::new(".whatever")).unwrap(), Whiteout::None);
        assert!(classify(OsStr::new(".wh...")).is_err());
        assert!(classify(OsStr::new(".wh.")).is_err());
    }
}
