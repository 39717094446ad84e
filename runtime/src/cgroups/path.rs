//! `linux.cgroupsPath` to a directory in each hierarchy.
//!
//! As config-linux.md says: an absolute path is taken from the root of each
//! hierarchy, a relative one from the runtime's own cgroup there. The
//! systemd form `slice:prefix:name` (what engines pass with a systemd cgroup
//! manager) is expanded the way systemd lays it out,
//! `a.slice/a-b.slice/prefix-name.scope`, from the root; rcrun does not talk to
//! systemd, it only puts the directory where systemd would.

use std::path::{Component, Path, PathBuf};

use super::error::CgroupError;

/// A validated cgroupsPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPath {
    /// Taken from the runtime's own cgroup rather than the hierarchy root.
    pub relative: bool,
    /// The components, without a leading `/`; never contains `..`.
    pub rel: PathBuf,
}

impl CgroupPath {
    /// Validate and normalise a cgroupsPath.
    pub fn parse(given: &Path) -> Result<Self, CgroupError> {
        let text = given.to_string_lossy();
        let invalid = |reason| CgroupError::InvalidPath {
            path: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        if !given.is_absolute() {
            if let Some(expanded) = expand_systemd(&text) {
                let rel =
                    normalise(Path::new(&expanded)).ok_or_else(|| invalid("contains '..'"))?;
                return Ok(CgroupPath {
                    relative: false,
                    rel,
                });
            }
        }
        let rel = normalise(given).ok_or_else(|| invalid("contains '..'"))?;
        if rel.as_os_str().is_empty() {
            return Err(invalid(
                "names the hierarchy root; give the container its own cgroup",
            ));
        }
        Ok(CgroupPath {
            relative: !given.is_absolute(),
            rel,
        })
    }

    /// The directory in a hierarchy mounted at `mount`, where this process's
    /// cgroup is `own` (from `/proc/self/cgroup`).
    pub fn dir_in(&self, mount: &Path, own: &str) -> PathBuf {
        let mut dir = mount.to_path_buf();
        if self.relative {
            if let Some(own_rel) = normalise(Path::new(own)) {
                dir.push(own_rel);
            }
        }
        dir.push(&self.rel);
        dir
    }
}

/// Drop `/` and `.`; `None` if a `..` appears.
fn normalise(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `slice:prefix:name` to `<slice dirs>/prefix-name.scope`; `None` when the
/// text is not in that form.
fn expand_systemd(text: &str) -> Option<String> {
    let mut parts = text.split(':');
    let (slice, prefix, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || name.is_empty() || name.contains('/') || prefix.contains('/') {
        return None;
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let stem = slice.strip_suffix(".slice")?;
    if stem.contains('/') {
        return None;
    }
    let mut dirs = Vec::new();
    if stem != "-" {
        // a-b-c.slice lives in a.slice/a-b.slice/a-b-c.slice
        let mut acc = String::new();
        for piece in stem.split('-') {
            if piece.is_empty() {
                return None;
            }
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(piece);
            dirs.push(format!("{acc}.slice"));
        }
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    dirs.push(unit);
    Some(dirs.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<CgroupPath, CgroupError> {
        CgroupPath::parse(Path::new(s))
    }

    #[test]
    fn absolute_path_hangs_from_the_hierarchy_root() {
        let c = p("/rcrun-oci/web").unwrap();
        assert!(!c.relative);
        assert_eq!(
            c.dir_in(Path::new("/sys/fs/cgroup/memory"), "/process_api/x"),
            Path::new("/sys/fs/cgroup/memory/rcrun-oci/web")
        );
    }

    #[test]
    fn relative_path_hangs_from_the_runtimes_own_cgroup() {
        let c = p("pods/./web").unwrap();
        assert!(c.relative);
        assert_eq!(
            c.dir_in(Path::new("/sys/fs/cgroup/memory"), "/process_api/x"),
            Path::new("/sys/fs/cgroup/memory/process_api/x/pods/web")
        );
        assert_eq!(
            c.dir_in(Path::new("/sys/fs/cgroup/pids"), "/"),
            Path::new("/sys/fs/cgroup/pids/pods/web")
        );
    }

    #[test]
    fn escaping_or_empty_paths_are_refused() {
        assert!(matches!(
            p("/a/../../etc"),
            Err(CgroupError::InvalidPath { .. })
        ));
        assert!(matches!(p("../x"), Err(CgroupError::InvalidPath { .. })));
        assert!(matches!(p(""), Err(CgroupError::InvalidPath { .. })));
        assert!(matches!(p("/"), Err(CgroupError::InvalidPath { .. })));
    }

    #[test]
    fn systemd_form_expands_like_systemd_lays_it_out() {
        let c = p("machine-libpod.slice:libpod:abc123").unwrap();
        assert!(!c.relative);
        assert_eq!(
            c.rel,
            Path::new("machine.slice/machine-libpod.slice/libpod-abc123.scope")
        );
        assert_eq!(
            p(":crio:x").unwrap().rel,
            Path::new("system.slice/crio-x.scope")
        );
        assert_eq!(p("-.slice::x").unwrap().rel, Path::new("x.scope"));
        // Not the systemd form: a plain relative path with colons.
        assert_eq!(p("a:b").unwrap().rel, Path::new("a:b"));
    }
}
