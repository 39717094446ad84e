//! Committing an image: check its blobs, unpack missing layers by chain id
//! (once, even with concurrent processes), then name it in the index.

use std::fs;
use std::path::Path;

use oci_spec::image::ImageConfiguration;

use super::index::{move_name, ImageRecord, LayerRecord};
use super::Store;
use crate::digest::{chain_ids, hex_of};
use crate::error::{ImageError, Result};
use crate::manifest::{parse_config, parse_manifest};
use crate::reference::Reference;
use crate::unpack::unpack_layer;

impl Store {
    /// Make the image whose manifest is `manifest_digest` usable under
    /// `name`: manifest, config and layer blobs must be present; layers not
    /// yet unpacked are unpacked (each once, shared between images); then the
    /// index is updated atomically. `name` moves from any image that had it.
    pub fn commit_image(&self, name: &Reference, manifest_digest: &str) -> Result<ImageRecord> {
        self.commit_image_names(std::slice::from_ref(name), manifest_digest)
    }

    /// [`Store::commit_image`] with any number of names (none: a dangling
    /// image, e.g. loaded from an archive that does not name it).
    pub fn commit_image_names(
        &self,
        names: &[Reference],
        manifest_digest: &str,
    ) -> Result<ImageRecord> {
        let _lease = self.lease()?;
        let mut record = self.prepare_record(manifest_digest)?;
        self.unpack_layers(&record)?;
        let names: Vec<String> = names.iter().map(Reference::store_name).collect();
        self.update_index(|idx| {
            match idx
                .images
                .iter_mut()
                .find(|i| i.manifest_digest == record.manifest_digest)
            {
                Some(existing) => record.added = existing.added.clone(),
                None => idx.images.push(record.clone()),
            }
            for n in &names {
                move_name(idx, n, &record.manifest_digest);
            }
            let stored = idx
                .images
                .iter()
                .find(|i| i.manifest_digest == record.manifest_digest);
            if let Some(s) = stored {
                record.names = s.names.clone();
            }
            Ok(())
        })?;
        Ok(record)
    }

    /// The parsed image config of `image`.
    pub fn image_config(&self, image: &ImageRecord) -> Result<ImageConfiguration> {
        parse_config(&self.read_blob(&image.id)?, &image.id)
    }

    /// Read the manifest and config and build the record (no layers unpacked).
    fn prepare_record(&self, manifest_digest: &str) -> Result<ImageRecord> {
        let mdata = self.read_blob(manifest_digest)?;
        let manifest = parse_manifest(&mdata, manifest_digest)?;
        let config_digest = manifest.config().digest().to_string();
        let cdata = self.read_blob(&config_digest)?;
        let config = parse_config(&cdata, &config_digest)?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layers().len() {
            return Err(ImageError::InvalidContent {
                what: "image config",
                digest: config_digest,
                reason: format!(
                    "has {} rootfs.diff_ids but the manifest has {} layers",
                    diff_ids.len(),
                    manifest.layers().len()
                ),
            });
        }
        for d in &diff_ids {
            hex_of(d).map_err(|_| ImageError::InvalidContent {
                what: "image config",
                digest: config_digest.clone(),
                reason: format!("diff_id {d:?} is not a sha256 digest"),
            })?;
        }
        let chains = chain_ids(&diff_ids);
        let mut size = mdata.len() as u64 + cdata.len() as u64;
        let mut layers = Vec::with_capacity(diff_ids.len());
        for ((desc, diff_id), chain_id) in manifest.layers().iter().zip(diff_ids).zip(chains) {
            let digest = desc.digest().to_string();
            if !self.has_blob(&digest) {
                return Err(ImageError::MissingBlob { digest });
            }
            size += desc.size();
            layers.push(LayerRecord {
                digest,
                media_type: desc.media_type().to_string(),
                size: desc.size(),
                diff_id,
                chain_id,
            });
        }
        let manifest_media_type = manifest
            .media_type()
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_else(|| crate::manifest::OCI_MANIFEST.to_string());
        let mut platform = format!("{}/{}", config.os(), config.architecture());
        if let Some(v) = config.variant() {
            platform = format!("{platform}/{v}");
        }
        Ok(ImageRecord {
            id: config_digest,
            manifest_digest: manifest_digest.to_string(),
            manifest_media_type,
            names: Vec::new(),
            layers,
            size,
            created: config.created().clone(),
            added: crate::time::now_rfc3339(),
            platform,
        })
    }

    /// Unpack every layer of `record` that is not unpacked yet, in parallel.
    fn unpack_layers(&self, record: &ImageRecord) -> Result<()> {
        let missing: Vec<&LayerRecord> = record
            .layers
            .iter()
            .filter(|l| !self.layer_path(&l.chain_id).is_dir())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .min(missing.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| -> Result<()> {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(layer) = missing.get(i) else {
                                return Ok(());
                            };
                            self.ensure_layer(layer)?;
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ImageError::io(
                            "unpack layers into",
                            self.root.join("layers"),
                            std::io::Error::other("unpack thread panicked"),
                        ))
                    })
                })
                .collect()
        });
        results.into_iter().collect()
    }

    /// Unpack one layer under its lock unless another process already did.
    fn ensure_layer(&self, layer: &LayerRecord) -> Result<()> {
        let dest = self.layer_path(&layer.chain_id);
        if dest.is_dir() {
            return Ok(());
        }
        let hex = hex_of(&layer.chain_id)?;
        let lock = self.lock_file(&format!("layer-{hex}.lock"))?;
        lock.lock()
            .map_err(|e| ImageError::io("lock", self.root.join("locks"), e))?;
        if dest.is_dir() {
            return Ok(());
        }
        let tmp = self.layer_temp_dir(&hex[..12])?;
        let blob = self.blob_path(&layer.digest);
        let diff_id = unpack_layer(&blob, &layer.digest, tmp.path())?;
        if diff_id != layer.diff_id {
            return Err(ImageError::DiffIdMismatch {
                layer: layer.digest.clone(),
                expected: layer.diff_id.clone(),
                actual: diff_id,
            });
        }
        self.install_layer(tmp, &dest)?;
        tracing::info!(chain_id = %layer.chain_id, digest = %layer.digest, "unpacked layer");
        Ok(())
    }

    /// Unpack the blob `digest` as the bottom layer of an image being made
    /// (`import`): its chain id is its diff_id, known only once unpacked, so
    /// the layer is unpacked first and installed under that id; the later
    /// commit finds it. One pass over the blob instead of two. Returns the
    /// diff_id.
    pub fn unpack_bottom_layer(&self, digest: &str) -> Result<String> {
        let _lease = self.lease()?;
        let tmp = self.layer_temp_dir("import")?;
        let diff_id = unpack_layer(&self.blob_path(digest), digest, tmp.path())?;
        let hex = hex_of(&diff_id)?;
        let lock = self.lock_file(&format!("layer-{hex}.lock"))?;
        lock.lock()
            .map_err(|e| ImageError::io("lock", self.root.join("locks"), e))?;
        let dest = self.layer_path(&diff_id);
        if !dest.is_dir() {
            self.install_layer(tmp, &dest)?;
            tracing::info!(chain_id = %diff_id, digest = %digest, "unpacked layer");
        }
        Ok(diff_id)
    }

    fn layer_temp_dir(&self, label: &str) -> Result<tempfile::TempDir> {
        let layers_dir = self.root.join("layers");
        tempfile::Builder::new()
            .prefix(&format!(".tmp-{label}-"))
            .tempdir_in(&layers_dir)
            .map_err(|e| ImageError::io("create temp dir in", &layers_dir, e))
    }

    /// Flush an unpacked layer to disk and rename it into place (the caller
    /// holds the layer's lock).
    fn install_layer(&self, tmp: tempfile::TempDir, dest: &Path) -> Result<()> {
        sync_fs(tmp.path())?;
        let tmp_path = tmp.keep();
        fs::rename(&tmp_path, dest).map_err(|e| {
            let _ = fs::remove_dir_all(&tmp_path);
            ImageError::io("rename unpacked layer to", dest, e)
        })
    }
}

/// Flush the filesystem holding `path` (one syncfs for a whole layer rather
/// than an fsync per file).
fn sync_fs(path: &Path) -> Result<()> {
    let f = fs::File::open(path).map_err(|e| ImageError::io("open", path, e))?;
    use std::os::fd::AsRawFd;
    // SAFETY: syncfs only reads the fd, which `f` keeps open for the call.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc != 0 {
        return Err(ImageError::io(
            "syncfs",
            path,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
