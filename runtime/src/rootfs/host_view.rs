//! What a container's root filesystem takes from the runtime's mount
//! namespace, captured before the init leaves it for a copy of the
//! skeleton ([`crate::skeleton`]): a detached copy of the rootfs, one of
//! each bind source, and the host's cgroup hierarchies (with copies of the
//! container's cgroup directories). Paths are resolved as they would be in
//! a copy of the runtime's namespace: relative ones against the cwd, the
//! bundle.

use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::runtime::Mount;

use super::cgroup_mount::HostCgroups;
use super::mounts::{self, HostSource, MountEnv};
use super::{options, RootfsError};

/// The captured sources: the rootfs, and one slot per `mounts` entry.
#[derive(Debug)]
pub struct HostView {
    /// Detached recursive copy of `root.path`.
    pub rootfs: OwnedFd,
    /// What each `mounts` entry takes (`None`: nothing, or an entry whose
    /// error `mount_entry` reports in its turn).
    pub sources: Vec<Option<HostSource>>,
}

/// Capture everything the rootfs at `rootfs` and `mounts` need.
pub fn capture(rootfs: &Path, mounts: &[Mount], env: MountEnv) -> Result<HostView, RootfsError> {
    let tree = mounts::open_tree_path(rootfs, true).map_err(|source| RootfsError::Root {
        step: "copy the rootfs",
        rootfs: rootfs.to_path_buf(),
        source,
    })?;
    let sources = mounts.iter().map(|m| source_of(m, env)).collect();
    Ok(HostView {
        rootfs: tree,
        sources,
    })
}

fn source_of(m: &Mount, env: MountEnv) -> Option<HostSource> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[])).ok()?;
    let typ = m.typ().as_deref();
    if mounts::is_bind(typ, &opts) {
        let src = m.source().as_deref()?;
        return Some(HostSource::Bind(mounts::open_tree_path(
            src,
            opts.recursive,
        )));
    }
    (typ == Some("cgroup"))
        .then(|| HostSource::Cgroup(HostCgroups::capture(m.destination(), env, true)))
}
