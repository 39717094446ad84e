//! `index.json`: the images of the store (names -> manifest digest, with the
//! details `rcrun images` shows), read whole and replaced atomically under
//! the index lock.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

use super::{write_atomic, Store};
use crate::error::{ImageError, Result};

/// One image of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Image id: the config digest (`sha256:<hex>`), as docker shows it.
    pub id: String,
    /// Digest of the image manifest.
    pub manifest_digest: String,
    /// Media type of the manifest (OCI or Docker schema 2).
    pub manifest_media_type: String,
    /// Full references naming this image (may be empty: a dangling image).
    pub names: Vec<String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Sum of the manifest, config and layer blob sizes.
    pub size: u64,
    /// `created` of the image config, if set.
    pub created: Option<String>,
    /// When the image entered this store (RFC 3339, UTC).
    pub added: String,
    /// Platform of the image config (`linux/amd64`).
    pub platform: String,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the layer blob as stored (compressed or not).
    pub digest: String,
    /// Media type from the manifest.
    pub media_type: String,
    /// Blob size in bytes.
    pub size: u64,
    /// Digest of the uncompressed tar (from the config's rootfs.diff_ids).
    pub diff_id: String,
    /// Chain id: names the unpacked dir under `layers/`.
    pub chain_id: String,
}

impl ImageRecord {
    /// The short id docker prints: 12 hex digits of the image id.
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    pub version: u32,
    pub images: Vec<ImageRecord>,
}

impl Store {
    fn index_path(&self) -> std::path::PathBuf {
        self.root.join("index.json")
    }

    /// Read the index without locking (readers see a whole file: writers rename).
    pub(crate) fn read_index(&self) -> Result<Index> {
        let p = self.index_path();
        match fs::read(&p) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| ImageError::Json {
                what: "parse image index",
                path: p.display().to_string(),
                source: e,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index {
                version: 1,
                images: Vec::new(),
            }),
            Err(e) => Err(ImageError::io("read", &p, e)),
        }
    }

    /// Change the index under its exclusive lock and write it atomically.
    /// `f` sees the current index; its error aborts without writing.
    pub(crate) fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let lock = self.lock_file("index.lock")?;
        lock.lock()
            .map_err(|e| ImageError::io("lock", self.root.join("locks/index.lock"), e))?;
        let mut idx = self.read_index()?;
        let out = f(&mut idx)?;
        idx.version = 1;
        let data = serde_json::to_vec_pretty(&idx).map_err(|e| ImageError::Json {
            what: "serialize image index",
            path: self.index_path().display().to_string(),
            source: e,
        })?;
        write_atomic(&self.index_path(), &data)?;
        Ok(out)
    }
}

/// Give `name` to `target` (by manifest digest) and take it from every other
/// image (which may leave one dangling, as docker's `<none>`).
pub(crate) fn move_name(idx: &mut Index, name: &str, target: &str) {
    for img in idx.images.iter_mut() {
        if img.manifest_digest != target {
            img.names.retain(|n| n != name);
        } else if !img.names.iter().any(|n| n == name) {
            img.names.push(name.to_string());
        }
    }
}
