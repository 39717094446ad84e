//! CNI_PATH: the directories plugins are looked up in.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Default plugin dirs when CNI_PATH is unset.
pub const DEFAULT_CNI_PATH: &str = "/opt/cni/bin:/usr/lib/cni";

/// An ordered list of plugin directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPath {
    dirs: Vec<PathBuf>,
}

impl PluginPath {
    /// These directories, searched in order.
    pub fn new(dirs: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        PluginPath {
            dirs: dirs.into_iter().map(Into::into).collect(),
        }
    }

    /// Parse a `:`-separated list (empty entries skipped).
    pub fn parse(s: &str) -> Self {
        PluginPath::new(s.split(':').filter(|d| !d.is_empty()))
    }

    /// `$CNI_PATH`, else [`DEFAULT_CNI_PATH`].
    pub fn from_env() -> Self {
        match std::env::var("CNI_PATH") {
            Ok(s) if !s.is_empty() => PluginPath::parse(&s),
            _ => PluginPath::parse(DEFAULT_CNI_PATH),
        }
    }

    /// The directories.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The `:`-joined form passed to plugins as CNI_PATH.
    pub fn joined(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.to_string_lossy())
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The first executable regular file named `plugin_type` in the dirs.
    pub fn find(&self, plugin_type: &str) -> Option<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.join(plugin_type))
            .find(|p| is_executable(p))
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_executable() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("p"), "x").unwrap(); // not executable
        let pb = b.path().join("p");
        std::fs::write(&pb, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&pb, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = PluginPath::new([a.path(), b.path()]);
        assert_eq!(path.find("p"), Some(pb));
        assert_eq!(path.find("q"), None);
        assert_eq!(PluginPath::parse("/a::/b").dirs().len(), 2);
    }
}
