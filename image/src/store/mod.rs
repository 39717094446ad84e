//! The content-addressed image store under `<data-root>/images/`:
//!
//! ```text
//! blobs/sha256/<hex>        manifests, configs and layer blobs, by digest
//! layers/<chain-id-hex>/    unpacked layers (overlayfs lowerdirs), by chain id
//! index.json                images: names -> manifest digest (+ cached details)
//! locks/                    flock files: index, gc, one per blob and per layer
//! tmp/                      temp files of ingests in flight
//! ```
//!
//! Every update is atomic (temp file + fsync + rename) and every concurrent
//! writer is serialised by an flock: two processes pulling the same image
//! download each blob once (the second waits on [`Store::lock_blob`], then
//! sees [`Store::has_blob`]) and unpack each layer once.
//!
//! Garbage collection ([`Store::prune`], [`Store::remove`]) takes the store's
//! gc lock exclusively; a pull holds a [`Lease`] (the gc lock, shared) from its
//! first ingest to [`Store::commit_image`] so its blobs are not collected
//! while it runs. Do not call `prune` while holding a lease in the same
//! process: it would wait for itself.

mod blobs;
mod commit;
mod index;
mod query;

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

pub use self::blobs::BlobLock;
pub use self::index::{ImageRecord, LayerRecord};
pub use self::query::{name_queried, PruneReport, RemoveReport};

use crate::digest::hex_of;
use crate::error::{ImageError, Result};

/// The image store of one data root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    data_root: PathBuf,
}

/// A shared hold on the store's gc lock: while any lease lives, prune and
/// remove wait, so blobs ingested for an image not yet committed survive.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// The file under `<data-root>/containers/<id>/` that names the image a
/// container was created from (its image id `sha256:<config hex>` or its
/// manifest digest). [`Store::remove`] refuses to remove an image that such a
/// record names unless forced; the container orchestration writes it.
pub const CONTAINER_IMAGE_FILE: &str = "image";

impl Store {
    /// Open (creating if needed) the store under `<data_root>/images/`.
    /// The store dir is made 0700: unpacked layers hold the images' setuid
    /// binaries, which host users must not reach through it.
    pub fn open(data_root: &Path) -> Result<Store> {
        use std::os::unix::fs::PermissionsExt;
        let root = data_root.join("images");
        for d in ["blobs/sha256", "layers", "locks", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| ImageError::io("create directory", &p, e))?;
        }
        let private = fs::Permissions::from_mode(0o700);
        if fs::metadata(&root)
            .map(|m| m.permissions().mode() & 0o777 != 0o700)
            .unwrap_or(true)
        {
            fs::set_permissions(&root, private)
                .map_err(|e| ImageError::io("chmod 0700", &root, e))?;
        }
        Ok(Store {
            root,
            data_root: data_root.to_path_buf(),
        })
    }

    /// The store directory (`<data-root>/images`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data root the store lives in.
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// Path of the blob `digest` (whether or not it is present). An invalid
    /// digest maps to a path that never exists.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        match hex_of(digest) {
            Ok(hex) => self.root.join("blobs/sha256").join(hex),
            Err(_) => self.root.join("blobs/invalid-digest"),
        }
    }

    /// Path of the unpacked layer with chain id `chain_id`.
    pub fn layer_path(&self, chain_id: &str) -> PathBuf {
        match hex_of(chain_id) {
            Ok(hex) => self.root.join("layers").join(hex),
            Err(_) => self.root.join("layers/invalid-digest"),
        }
    }

    /// The unpacked layer dirs of `image`, bottom layer first (the order
    /// [`crate::rootfs::mount_rootfs`] takes).
    pub fn layer_dirs(&self, image: &ImageRecord) -> Vec<PathBuf> {
        image
            .layers
            .iter()
            .map(|l| self.layer_path(&l.chain_id))
            .collect()
    }

    /// Take a [`Lease`]: blocks while a prune or remove runs.
    pub fn lease(&self) -> Result<Lease> {
        let f = self.lock_file("gc.lock")?;
        f.lock_shared()
            .map_err(|e| ImageError::io("lock", self.root.join("locks/gc.lock"), e))?;
        Ok(Lease { _file: f })
    }

    fn lock_file(&self, name: &str) -> Result<File> {
        let p = self.root.join("locks").join(name);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| ImageError::io("open lock file", &p, e))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Ids of the containers whose record names `image` (by image id or
    /// manifest digest), from `<data-root>/containers/*/image`.
    pub fn containers_using(&self, image: &ImageRecord) -> Vec<String> {
        let dir = self.data_root.join("containers");
        let Ok(rd) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let Ok(text) = fs::read_to_string(ent.path().join(CONTAINER_IMAGE_FILE)) else {
                continue;
            };
            let text = text.trim();
            if text == image.id || text == image.manifest_digest {
                out.push(ent.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        out
    }
}

/// Write `data` to `path` atomically: temp file in the same dir, fsync, rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| ImageError::io("create temp file in", dir, e))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ImageError::io("write", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| ImageError::io("rename into place", path, e.error))?;
    Ok(())
}
