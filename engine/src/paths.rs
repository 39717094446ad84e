//! Where the engine keeps things. The run root (tmpfs, `/run/rcrun`) holds
//! what dies with the host: the OCI runtime's state (`oci/`), netns bind
//! mounts (`netns/`), sandboxes (`sandboxes/<id>/`: record, hosts files;
//! `sandboxes/<id>.lock`), per-network locks (`locks/`) and per-container
//! runtime dirs (`containers/<id>/`: pid, exit, bundle, monitor files). The data root (`/var/lib/rcrun`) holds what survives a reboot:
//! images, networks, container records, logs and writable layers
//! (`containers/<id>/`), pods (`pods/`).

use std::path::{Path, PathBuf};

/// The two roots and every path derived from them.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Runtime state root.
    pub run_root: PathBuf,
    /// Persistent data root.
    pub data_root: PathBuf,
}

impl Paths {
    /// Paths under `run_root` and `data_root`.
    pub fn new(run_root: &Path, data_root: &Path) -> Self {
        Paths {
            run_root: run_root.to_path_buf(),
            data_root: data_root.to_path_buf(),
        }
    }

    /// The `rcrun-oci --root` of engine containers.
    pub fn oci_root(&self) -> PathBuf {
        self.run_root.join("oci")
    }

    /// Directory of netns bind mounts.
    pub fn netns_dir(&self) -> PathBuf {
        self.run_root.join("netns")
    }

    /// The netns bind mount of sandbox `id`.
    pub fn netns(&self, id: &str) -> PathBuf {
        self.netns_dir().join(id)
    }

    /// The bind mount of the empty mount namespace pause processes share.
    pub fn pause_mntns(&self) -> PathBuf {
        self.run_root.join("pause-mntns")
    }

    /// Directory of sandboxes.
    pub fn sandboxes_dir(&self) -> PathBuf {
        self.run_root.join("sandboxes")
    }

    /// Directory of sandbox `id`.
    pub fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.sandboxes_dir().join(id)
    }

    /// Directory of container records (persistent).
    pub fn containers_dir(&self) -> PathBuf {
        self.data_root.join("containers")
    }

    /// Persistent directory of container `id`: record, log, writable layer.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// Runtime directory of container `id`: pid, exit, bundle.
    pub fn container_run_dir(&self, id: &str) -> PathBuf {
        self.run_root.join("containers").join(id)
    }

    /// Small lock files that outlive what they guard (per network).
    pub fn locks_dir(&self) -> PathBuf {
        self.run_root.join("locks")
    }

    /// The name index: `names/<name>` holds the id that owns the name, so
    /// reserving or resolving a name never reads every record.
    pub fn name_entry(&self, name: &str) -> PathBuf {
        self.data_root.join("names").join(name)
    }

    /// The lock serialising name reservations.
    pub fn names_lock(&self) -> PathBuf {
        self.data_root.join("containers.lock")
    }

    /// Directory of pod records.
    pub fn pods_dir(&self) -> PathBuf {
        self.data_root.join("pods")
    }

    /// CNI result cache.
    pub fn cni_cache(&self) -> PathBuf {
        self.data_root.join("cni")
    }
}
