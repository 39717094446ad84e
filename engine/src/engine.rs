//! [`Engine`]: the entry point callers hold. It ties the paths, the helper
//! binaries, the network back ends, the container records and the
//! sandboxes together; the verbs live in their own modules
//! ([`crate::create`], [`crate::start`], [`crate::lifecycle`],
//! [`crate::cleanup`], [`crate::gc`], …) as `impl Engine` blocks.

use std::path::{Path, PathBuf};

use rcrun_image::registry::{self, PullOptions, Quiet, RegistryOptions};
use rcrun_image::{ImageError, ImageRecord, Reference, Store};
use rcrun_netdriver::BridgeDriver;
use rcrun_runtime::StateStore;

use crate::error::{EngineError, Result};
use crate::networks::Networks;
use crate::paths::Paths;
use crate::records::Records;
use crate::sandbox::Sandboxes;

/// Debian's static tini (package `tini`), docker's `docker-init`.
pub const DEFAULT_INIT: &str = "/usr/bin/tini-static";

/// The helper executables the engine runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `rcrun-oci`, the OCI runtime.
    pub oci: PathBuf,
    /// `rcrun-monitor`.
    pub monitor: PathBuf,
    /// `rcrun-pause`.
    pub pause: PathBuf,
    /// `rcrun` itself (for the monitor's exit command).
    pub rcrun: PathBuf,
    /// The reaping init `--init` runs as PID 1 (a static binary, bind-mounted
    /// into the container): `$RCRUN_INIT_PATH`, else Debian's `tini-static`.
    pub init: PathBuf,
}

impl Binaries {
    /// The helpers installed next to `rcrun` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Binaries {
            oci: dir.join("rcrun-oci"),
            monitor: dir.join("rcrun-monitor"),
            pause: dir.join("rcrun-pause"),
            rcrun: dir.join("rcrun"),
            init: std::env::var_os("RCRUN_INIT_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_INIT)),
        }
    }
}

/// Everything a command needs to manage containers.
#[derive(Debug)]
pub struct Engine {
    /// The roots.
    pub paths: Paths,
    /// Helper executables.
    pub bins: Binaries,
    /// Network back ends.
    pub nets: Networks,
    /// Container records.
    pub records: Records,
    /// Sandboxes.
    pub sandboxes: Sandboxes,
}

impl Engine {
    /// An engine over `paths`, using `bridge` for bridge networks and the
    /// CNI conf dir `cni_conf_dir`.
    pub fn new(paths: Paths, bins: Binaries, bridge: BridgeDriver, cni_conf_dir: PathBuf) -> Self {
        let nets = Networks {
            bridge,
            cni_conf_dir,
            cni_cache_dir: paths.cni_cache(),
        };
        Engine {
            records: Records::new(&paths),
            sandboxes: Sandboxes::new(&paths, &bins.pause),
            paths,
            bins,
            nets,
        }
    }

    /// The OCI runtime's state store of engine containers.
    pub fn oci_store(&self) -> Result<StateStore> {
        Ok(StateStore::open(&self.paths.oci_root())?)
    }

    /// The image store.
    pub fn image_store(&self) -> Result<Store> {
        Ok(Store::open(&self.paths.data_root)?)
    }

    /// Find `image` in the store. `Ok(None)` when it is not there (and the
    /// name could be pulled).
    pub fn find_image(&self, image: &str) -> Result<Option<ImageRecord>> {
        let store = self.image_store()?;
        match store.resolve(image) {
            Ok(r) => Ok(Some(r)),
            Err(ImageError::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pull `image` from its registry (quietly).
    pub fn pull(&self, image: &str, insecure: bool) -> Result<ImageRecord> {
        let store = self.image_store()?;
        let reference = Reference::parse(image)?;
        let mut registry = RegistryOptions::new(&self.paths.data_root);
        registry.tls_verify = !insecure;
        let opts = PullOptions {
            registry,
            platform: None,
        };
        let out =
            registry::pull(&store, &reference, &opts, &Quiet).map_err(|e| EngineError::Pull {
                reference: image.to_string(),
                source: e,
            })?;
        Ok(out.image)
    }
}
