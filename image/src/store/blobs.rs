//! Blobs: presence, per-blob download locks, verified ingest.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::Store;
use crate::digest::{hex_of, HashingReader, HashingWriter};
use crate::error::{ImageError, Result};

/// An exclusive flock on one blob, held by whoever downloads it; a second
/// process asking for the same blob waits, then finds it present.
#[derive(Debug)]
pub struct BlobLock {
    _file: File,
    digest: String,
}

impl BlobLock {
    /// The digest this lock is for.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

impl Store {
    /// Is the blob `digest` in the store?
    pub fn has_blob(&self, digest: &str) -> bool {
        hex_of(digest).is_ok() && self.blob_path(digest).is_file()
    }

    /// Take the exclusive download lock of `digest` (blocks while another
    /// process holds it). Check [`Store::has_blob`] after it returns.
    pub fn lock_blob(&self, digest: &str) -> Result<BlobLock> {
        let hex = hex_of(digest)?;
        let f = self.lock_file(&format!("blob-{hex}.lock"))?;
        f.lock()
            .map_err(|e| ImageError::io("lock", self.root.join("locks"), e))?;
        Ok(BlobLock {
            _file: f,
            digest: digest.to_string(),
        })
    }

    /// Stream `src` into the store as blob `digest`. The content is written
    /// to a temp file, its sha256 checked, then renamed into place; on a
    /// mismatch nothing is left behind. Ok at once if the blob is present.
    pub fn ingest_blob(&self, digest: &str, src: &mut dyn Read) -> Result<PathBuf> {
        hex_of(digest)?;
        let dest = self.blob_path(digest);
        if dest.is_file() {
            return Ok(dest);
        }
        let (actual, tmp) = self.write_temp(src)?;
        if actual != digest {
            return Err(ImageError::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        persist(tmp, &dest)?;
        Ok(dest)
    }

    /// Move an already downloaded file at `tmp_path` into the store as blob
    /// `digest` after checking its sha256. The file should be on the same
    /// filesystem as the store (it is copied otherwise). On a mismatch the
    /// file is removed and nothing enters the store.
    pub fn ingest_file(&self, digest: &str, tmp_path: &Path) -> Result<PathBuf> {
        hex_of(digest)?;
        let dest = self.blob_path(digest);
        if dest.is_file() {
            let _ = fs::remove_file(tmp_path);
            return Ok(dest);
        }
        let f = File::open(tmp_path).map_err(|e| ImageError::io("open", tmp_path, e))?;
        let (actual, _) = HashingReader::new(io::BufReader::with_capacity(1 << 20, f))
            .finish()
            .map_err(|e| ImageError::io("read", tmp_path, e))?;
        if actual != digest {
            let _ = fs::remove_file(tmp_path);
            return Err(ImageError::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        File::open(tmp_path)
            .and_then(|f| f.sync_all())
            .map_err(|e| ImageError::io("fsync", tmp_path, e))?;
        if fs::rename(tmp_path, &dest).is_err() {
            // Another filesystem: copy through a verified temp file.
            let mut f = File::open(tmp_path).map_err(|e| ImageError::io("open", tmp_path, e))?;
            self.ingest_blob(digest, &mut f)?;
            let _ = fs::remove_file(tmp_path);
        }
        Ok(dest)
    }

    /// Stream `src` into the store under whatever digest it has (archives
    /// name files by path, not digest); returns the digest and size.
    pub fn ingest_unverified(&self, src: &mut dyn Read) -> Result<(String, u64)> {
        let (digest, tmp) = self.write_temp(src)?;
        let dest = self.blob_path(&digest);
        let size = tmp
            .as_file()
            .metadata()
            .map_err(|e| ImageError::io("stat", tmp.path(), e))?
            .len();
        if !dest.is_file() {
            persist(tmp, &dest)?;
        }
        Ok((digest, size))
    }

    /// Store `data` as a blob and return its digest.
    pub fn ingest_bytes(&self, data: &[u8]) -> Result<String> {
        let digest = crate::digest::sha256_of(data);
        self.ingest_blob(&digest, &mut &data[..])?;
        Ok(digest)
    }

    /// Read a (small) blob whole: manifests, configs, indexes.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        hex_of(digest)?;
        let p = self.blob_path(digest);
        fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::MissingBlob {
                digest: digest.to_string(),
            },
            _ => ImageError::io("read", &p, e),
        })
    }

    /// A temp file in the store's tmp dir (for downloads that end in
    /// [`Store::ingest_file`]); removed on drop unless persisted.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix("dl-")
            .tempfile_in(self.tmp_dir())
            .map_err(|e| ImageError::io("create temp file in", self.tmp_dir(), e))
    }

    fn write_temp(&self, src: &mut dyn Read) -> Result<(String, tempfile::NamedTempFile)> {
        let tmp = self.temp_file()?;
        let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, tmp));
        io::copy(src, &mut w)
            .map_err(|e| ImageError::io("write blob from stream to", self.tmp_dir(), e))?;
        let (digest, _, buf) = w.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| ImageError::io("write", self.tmp_dir(), e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| ImageError::io("fsync", tmp.path(), e))?;
        Ok((digest, tmp))
    }
}

fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    let mut tmp = tmp;
    tmp.flush()
        .map_err(|e| ImageError::io("write", tmp.path(), e))?;
    tmp.persist(dest)
        .map_err(|e| ImageError::io("rename blob into", dest, e.error))?;
    Ok(())
}
