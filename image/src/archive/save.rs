//! `save`: write images to an OCI archive or a docker-save archive, as a
//! temp file renamed into place when complete.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::error::{ImageError, Result};
use crate::reference::Reference;
use crate::store::{name_queried, ImageRecord, Store};

/// Archive format for [`save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// OCI image layout in a tar (`oci-archive`).
    Oci,
    /// `docker save` format: `manifest.json` + blobs (`docker-archive`).
    Docker,
}

impl std::str::FromStr for ArchiveFormat {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "oci-archive" | "oci" => Ok(ArchiveFormat::Oci),
            "docker-archive" | "docker" => Ok(ArchiveFormat::Docker),
            _ => Err(ImageError::InvalidContent {
                what: "archive format",
                digest: s.to_string(),
                reason: "expected oci-archive or docker-archive".into(),
            }),
        }
    }
}

/// Write `images` (names, short names or ids) to `out` in `format`.
pub fn save(store: &Store, images: &[&str], out: &Path, format: ArchiveFormat) -> Result<()> {
    let _lease = store.lease()?;
    // Each image with the name it was asked by, when that is one of its names.
    let mut chosen: Vec<(ImageRecord, Vec<String>)> = Vec::new();
    for q in images {
        let img = store.resolve(q)?;
        let asked = name_queried(&img, q);
        let names = match asked {
            Some(n) => vec![n],
            None => img.names.clone(),
        };
        chosen.push((img, names));
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".rcrun-save-")
        .tempfile_in(dir)
        .map_err(|e| ImageError::io("create temp file in", dir, e))?;
    let w = BufWriter::with_capacity(
        1 << 20,
        tmp.reopen()
            .map_err(|e| ImageError::io("open", tmp.path(), e))?,
    );
    let mut tar = tar::Builder::new(w);
    let io = |e| ImageError::io("write archive", out, e);
    let mut written: HashSet<String> = HashSet::new();
    for (img, _) in &chosen {
        let mut blobs = vec![img.manifest_digest.clone(), img.id.clone()];
        blobs.extend(img.layers.iter().map(|l| l.digest.clone()));
        for d in blobs {
            if written.insert(d.clone()) {
                append_blob(&mut tar, store, &d).map_err(io)?;
            }
        }
    }
    match format {
        ArchiveFormat::Oci => {
            let mut manifests = Vec::new();
            for (img, names) in &chosen {
                let desc = |ann: serde_json::Value| {
                    json!({
                        "mediaType": img.manifest_media_type,
                        "digest": img.manifest_digest,
                        "size": std::fs::metadata(store.blob_path(&img.manifest_digest)).map(|m| m.len()).unwrap_or(0),
                        "annotations": ann,
                    })
                };
                if names.is_empty() {
                    manifests.push(desc(json!({})));
                }
                for n in names {
                    let tag = Reference::parse(n)
                        .ok()
                        .and_then(|r| r.tag)
                        .unwrap_or_default();
                    manifests.push(desc(
                        json!({ANNOTATION_IMAGE_NAME: n, ANNOTATION_REF_NAME: tag}),
                    ));
                }
            }
            let index = json!({"schemaVersion": 2, "mediaType": crate::manifest::OCI_INDEX, "manifests": manifests});
            append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(io)?;
            append_bytes(&mut tar, "index.json", &to_json(&index)?).map_err(io)?;
        }
        ArchiveFormat::Docker => {
            let items: Vec<serde_json::Value> = chosen
                .iter()
                .map(|(img, names)| {
                    let tags: Vec<String> = names
                        .iter()
                        .filter_map(|n| Reference::parse(n).ok())
                        .filter(|r| r.tag.is_some())
                        .map(|r| r.familiar())
                        .collect();
                    json!({
                        "Config": blob_member(&img.id),
                        "RepoTags": tags,
                        "Layers": img.layers.iter().map(|l| blob_member(&l.digest)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            append_bytes(&mut tar, "manifest.json", &to_json(&json!(items))?).map_err(io)?;
        }
    }
    let mut w = tar.into_inner().map_err(io)?;
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)?;
    tmp.persist(out)
        .map_err(|e| ImageError::io("rename archive into", out, e.error))?;
    Ok(())
}

fn to_json(v: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| ImageError::Json {
        what: "serialize",
        path: "archive metadata".into(),
        source: e,
    })
}

fn blob_member(digest: &str) -> String {
    format!(
        "blobs/sha256/{}",
        digest.strip_prefix("sha256:").unwrap_or(digest)
    )
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = header(data.len() as u64);
    tar.append_data(&mut h, name, data)
}

fn append_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    store: &Store,
    digest: &str,
) -> std::io::Result<()> {
    let p = store.blob_path(digest);
    let f =
        File::open(&p).map_err(|e| std::io::Error::new(e.kind(), format!("blob {digest}: {e}")))?;
    let mut h = header(f.metadata()?.len());
    tar.append_data(&mut h, blob_member(digest), f)
}
