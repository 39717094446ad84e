//! Safe layer unpacking: a layer blob (gzip, zstd or plain tar, detected by
//! magic) is read as a tar *stream* (never `Archive::unpack`), each entry is
//! created through in-root resolution so nothing can land outside the layer
//! dir, whiteouts become overlayfs whiteouts / opaque dirs, and the diff_id
//! (sha256 of the uncompressed tar) is computed on the way.

mod apply;
pub mod inroot;
pub mod paths;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::digest::HashingReader;
use crate::error::{ImageError, Result};

/// Compression of a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Detect from the first bytes of a blob.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A reader of the uncompressed stream of `src`, whatever its compression.
pub fn decompress<'a>(mut src: impl Read + 'a) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = Vec::with_capacity(4);
    (&mut src).take(4).read_to_end(&mut head)?;
    let c = Compression::detect(&head);
    let whole = io::Cursor::new(head).chain(src);
    let r: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            whole,
        ))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
    };
    Ok((c, r))
}

/// Unpack the layer blob at `blob` into the empty dir `dest`; returns the
/// diff_id. `layer` names the layer in errors.
pub fn unpack_layer(blob: &Path, layer: &str, dest: &Path) -> Result<String> {
    let f = File::open(blob).map_err(|e| ImageError::io("open layer blob", blob, e))?;
    unpack_stream(BufReader::with_capacity(256 * 1024, f), layer, dest)
}

/// Unpack a (possibly compressed) layer stream into the empty dir `dest`;
/// returns the diff_id.
pub fn unpack_stream(src: impl Read, layer: &str, dest: &Path) -> Result<String> {
    let bad = |entry: &str, reason: String| ImageError::BadLayerEntry {
        layer: layer.to_string(),
        entry: entry.to_string(),
        reason,
    };
    let (_, plain) =
        decompress(src).map_err(|e| bad("", format!("read compressed stream: {e}")))?;
    let hashing = HashingReader::new(plain);
    let root = inroot::Root::open(dest).map_err(|e| ImageError::io("open layer dir", dest, e))?;
    // The layer root is a directory like any other: 0755 unless the tar says.
    // SAFETY: fchmod on the valid fd `root` holds.
    if unsafe { libc::fchmod(root.fd(), 0o755) } < 0 {
        return Err(ImageError::io("chmod", dest, io::Error::last_os_error()));
    }
    let mut applier = apply::Applier::new(root);
    let mut archive = tar::Archive::new(hashing);
    {
        let entries = archive
            .entries()
            .map_err(|e| bad("", format!("read tar: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad("", format!("read tar header: {e}")))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            applier
                .apply(&mut entry)
                .map_err(|reason| bad(&name, reason))?;
        }
    }
    applier.finish().map_err(|reason| bad("", reason))?;
    let (diff_id, _) = archive
        .into_inner()
        .finish()
        .map_err(|e| bad("", format!("read tar trailer: {e}")))?;
    Ok(diff_id)
}
