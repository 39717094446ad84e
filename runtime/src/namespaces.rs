//! Which namespaces a container gets: new ones (clone/unshare flags) and ones
//! joined by path (opened in the parent so a bad path is a precise error
//! before anything is forked), plus the order they are joined in.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Result, RuntimeError};

/// Namespace kinds in the order they are joined: user first (so the others
/// are entered with the joined user namespace's privileges), mount last (so
/// the earlier paths still resolve in the runtime's mount namespace).
pub const JOIN_ORDER: [LinuxNamespaceType; 7] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// How the container gets one kind of namespace.
#[derive(Debug)]
pub enum NsMode {
    /// A new namespace of this kind.
    New,
    /// Join the namespace at `path` (an `nsfs` file such as
    /// `/proc/PID/ns/net` or a bind mount of one); `fd` is open on it.
    Join {
        /// The path from the spec.
        path: PathBuf,
        /// The namespace file, opened by the parent.
        fd: OwnedFd,
    },
}

/// The namespaces of `linux.namespaces`, validated and with joined paths open.
#[derive(Debug, Default)]
pub struct NamespacePlan {
    entries: Vec<(LinuxNamespaceType, NsMode)>,
}

/// The `linux.namespaces` entries of `spec` as (kind, optional path), with
/// duplicates and unsupported kinds rejected. Does not touch the filesystem.
pub fn declared(spec: &Spec) -> Result<Vec<(LinuxNamespaceType, Option<PathBuf>)>> {
    let mut out: Vec<(LinuxNamespaceType, Option<PathBuf>)> = Vec::new();
    let Some(list) = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()) else {
        return Ok(out);
    };
    for ns in list {
        let kind = ns.typ();
        if kind == LinuxNamespaceType::Time {
            return Err(RuntimeError::spec(
                "linux.namespaces",
                "the time namespace is not supported: remove it",
            ));
        }
        if out.iter().any(|(k, _)| *k == kind) {
            return Err(RuntimeError::spec(
                "linux.namespaces",
                format!("namespace type {kind:?} appears twice"),
            ));
        }
        let path = ns.path().as_ref().filter(|p| !p.as_os_str().is_empty());
        if let Some(p) = path {
            if !p.is_absolute() {
                return Err(RuntimeError::spec(
                    "linux.namespaces",
                    format!(
                        "path {} of the {kind} namespace must be absolute",
                        p.display()
                    ),
                ));
            }
        }
        out.push((kind, path.cloned()));
    }
    Ok(out)
}

impl NamespacePlan {
    /// Build the plan for `spec`, opening every joined namespace path.
    pub fn open(spec: &Spec) -> Result<Self> {
        let mut entries = Vec::new();
        for (kind, path) in declared(spec)? {
            let mode = match path {
                None => NsMode::New,
                Some(path) => {
                    let fd = open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                        .map_err(|e| {
                            RuntimeError::sys(
                                format!("open {kind} namespace {}", path.display()),
                                e,
                            )
                        })?;
                    // SAFETY: `open` returned a fresh descriptor that nothing else owns.
                    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                    NsMode::Join { path, fd }
                }
            };
            entries.push((kind, mode));
        }
        Ok(NamespacePlan { entries })
    }

    /// How `kind` is set up, or `None` when the container shares the runtime's.
    pub fn mode(&self, kind: LinuxNamespaceType) -> Option<&NsMode> {
        self.entries
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, m)| m)
    }

    /// True when `kind` is a new namespace.
    pub fn is_new(&self, kind: LinuxNamespaceType) -> bool {
        matches!(self.mode(kind), Some(NsMode::New))
    }

    /// True when `kind` is joined by path.
    pub fn is_joined(&self, kind: LinuxNamespaceType) -> bool {
        matches!(self.mode(kind), Some(NsMode::Join { .. }))
    }

    /// True when any namespace is joined by path.
    pub fn joins_any(&self) -> bool {
        self.entries
            .iter()
            .any(|(_, m)| matches!(m, NsMode::Join { .. }))
    }

    /// clone/unshare flags for every new namespace in `kinds`.
    pub fn new_flags(&self, kinds: &[LinuxNamespaceType]) -> CloneFlags {
        let mut flags = CloneFlags::empty();
        for (kind, mode) in &self.entries {
            if matches!(mode, NsMode::New) && kinds.contains(kind) {
                flags |= clone_flag(*kind);
            }
        }
        flags
    }

    /// The joined namespaces in [`JOIN_ORDER`], restricted to `kinds`.
    pub fn joins_in_order(
        &self,
        kinds: &[LinuxNamespaceType],
    ) -> Vec<(LinuxNamespaceType, &Path, i32)> {
        let mut out = Vec::new();
        for kind in JOIN_ORDER {
            if !kinds.contains(&kind) {
                continue;
            }
            if let Some(NsMode::Join { path, fd }) = self.mode(kind) {
                out.push((kind, path.as_path(), fd.as_raw_fd()));
            }
        }
        out
    }

    /// Raw descriptors of every joined namespace file.
    pub fn fds(&self) -> Vec<i32> {
        self.entries
            .iter()
            .filter_map(|(_, m)| match m {
                NsMode::Join { fd, .. } => Some(fd.as_raw_fd()),
                NsMode::New => None,
            })
            .collect()
    }

    /// Move every joined namespace descriptor to a number `>= min`.
    pub fn move_fds_above(&mut self, min: i32) -> Result<()> {
        for (_, mode) in &mut self.entries {
            if let NsMode::Join { fd, .. } = mode {
                let moved = crate::fds::dup_above(fd, min)?;
                *fd = moved;
            }
        }
        Ok(())
    }
}

/// The clone flag of one namespace kind.
pub fn clone_flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // Rejected by `declared`; no clone flag in nix for it.
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(ns: serde_json::Value) -> Spec {
        let v = serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": ns}});
        serde_json::from_value(v).expect("spec")
    }

    #[test]
    fn duplicate_namespace_is_rejected() {
        let s = spec_with(serde_json::json!([{"type": "pid"}, {"type": "pid"}]));
        let e = declared(&s).expect_err("duplicate");
        assert!(e.to_string().contains("appears twice"), "{e}");
    }

    #[test]
    fn relative_path_is_rejected() {
        let s = spec_with(serde_json::json!([{"type": "network", "path": "netns/x"}]));
        assert!(declared(&s).is_err());
    }

    #[test]
    fn new_flags_cover_new_namespaces_only() {
        let s =
            spec_with(serde_json::json!([{"type": "pid"}, {"type": "mount"}, {"type": "network"}]));
        let plan = NamespacePlan::open(&s).expect("plan");
        let f = plan.new_flags(&[LinuxNamespaceType::Pid, LinuxNamespaceType::Network]);
        assert_eq!(f, CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNET);
        assert!(plan.is_new(LinuxNamespaceType::Mount));
        assert!(!plan.joins_any());
    }

    #[test]
    fn missing_join_path_names_the_path() {
        let s = spec_with(serde_json::json!([{"type": "network", "path": "/nonexistent/rtc-ns"}]));
        let e = NamespacePlan::open(&s).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/rtc-ns"), "{e}");
    }
}
