//! `import`: a root filesystem tarball (plain, gzip or zstd) becomes a
//! one-layer image with an empty run config.

use std::fs::File;
use std::io::Read;

use serde_json::json;

use crate::error::{ImageError, Result};
use crate::manifest;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use crate::unpack::Compression;

/// Import the rootfs tarball read from `src` (`source` names it in
/// messages) as an image, named `name` if given. The layer is stored as
/// given and unpacked in the same pass that computes its diff_id (a hostile
/// tarball is refused there, naming the entry).
pub fn import(
    store: &Store,
    src: &mut dyn Read,
    source: &str,
    name: Option<&Reference>,
) -> Result<ImageRecord> {
    let lease = store.lease()?;
    let r = import_leased(store, src, source, name);
    drop(lease);
    if r.is_err() {
        // Leave no blobs of a refused tarball behind.
        let _ = store.collect_if_idle();
    }
    r
}

fn import_leased(
    store: &Store,
    src: &mut dyn Read,
    source: &str,
    name: Option<&Reference>,
) -> Result<ImageRecord> {
    let (layer_digest, layer_size) = store.ingest_unverified(src)?;
    let diff_id = store.unpack_bottom_layer(&layer_digest)?;
    let compression = blob_compression(store, &layer_digest)?;
    let media_type = match compression {
        Compression::None => manifest::OCI_LAYER_TAR,
        Compression::Gzip => manifest::OCI_LAYER_GZIP,
        Compression::Zstd => manifest::OCI_LAYER_ZSTD,
    };
    let Platform { arch, variant, .. } = Platform::host();
    let now = crate::time::now_rfc3339();
    let mut config = json!({
        "created": now,
        "architecture": arch,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "created_by": format!("rcrun import {source}")}],
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let config_bytes = to_json(&config)?;
    let config_digest = store.ingest_bytes(&config_bytes)?;
    let m = json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "size": config_bytes.len(), "digest": config_digest},
        "layers": [{"mediaType": media_type, "size": layer_size, "digest": layer_digest}],
    });
    let manifest_digest = store.ingest_bytes(&to_json(&m)?)?;
    let names: Vec<Reference> = name.cloned().into_iter().collect();
    store.commit_image_names(&names, &manifest_digest)
}

fn blob_compression(store: &Store, digest: &str) -> Result<Compression> {
    let p = store.blob_path(digest);
    let mut head = Vec::with_capacity(4);
    File::open(&p)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(|e| ImageError::io("read", &p, e))?;
    Ok(Compression::detect(&head))
}

fn to_json(v: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| ImageError::Json {
        what: "serialize",
        path: "import metadata".into(),
        source: e,
    })
}
