//! Pushing an image of the store to a registry: blobs the registry lacks
//! (checked with HEAD) are uploaded, several at a time, streamed from the
//! store; then the manifest, byte for byte as stored so its digest holds.

use std::io::Read;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;

use super::error::{RegistryError, Result};
use super::progress::{BlobOutcome, Progress};
use super::transport::{block_on, RegistryOptions, Session};
use crate::error::ImageError;
use crate::manifest::parse_manifest;
use crate::reference::Reference;
use crate::store::Store;

/// How many blobs upload at once.
pub const CONCURRENT_UPLOADS: usize = 4;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The manifest digest now in the registry.
    pub manifest_digest: String,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub existing: usize,
}

/// Push the store's image `source` (a name or id, as `rcrun images` shows)
/// to `dest`. Runs its own current-thread runtime: call [`push_image`] from
/// async code instead.
pub fn push(
    store: &Store,
    source: &str,
    dest: &Reference,
    opts: &RegistryOptions,
    progress: &dyn Progress,
) -> Result<PushOutcome> {
    block_on(push_image(store, source, dest, opts, progress))?
}

/// The async body of [`push`].
pub async fn push_image(
    store: &Store,
    source: &str,
    dest: &Reference,
    opts: &RegistryOptions,
    progress: &dyn Progress,
) -> Result<PushOutcome> {
    let image = store.resolve(source)?;
    let body = store.read_blob(&image.manifest_digest)?;
    let manifest = parse_manifest(&body, &image.manifest_digest)?;
    let mut blobs: Vec<(String, u64)> = vec![(
        manifest.config().digest().to_string(),
        manifest.config().size(),
    )];
    for l in manifest.layers() {
        blobs.push((l.digest().to_string(), l.size()));
    }
    for (digest, _) in &blobs {
        if !store.has_blob(digest) {
            return Err(ImageError::MissingBlob {
                digest: digest.clone(),
            }
            .into());
        }
    }
    let session = Session::connect(dest, opts, RegistryOperation::Push).await?;
    progress.resolved(&dest.to_string(), &image.manifest_digest);

    let session = &session;
    let outcomes: Vec<BlobOutcome> =
        stream::iter(blobs.into_iter().map(|(digest, size)| async move {
            upload_blob(session, store, &digest, size, progress).await
        }))
        .buffer_unordered(CONCURRENT_UPLOADS)
        .try_collect()
        .await?;

    let media_type = image
        .manifest_media_type
        .parse()
        .map_err(|_| RegistryError::BadManifest {
            reference: dest.to_string(),
            digest: image.manifest_digest.clone(),
            reason: format!(
                "media type {:?} is not a valid header value",
                image.manifest_media_type
            ),
        })?;
    let target = if dest.digest.is_some() {
        session.at_digest(&image.manifest_digest)
    } else {
        session.oref.clone()
    };
    session
        .client
        .push_manifest_raw(&target, body, media_type)
        .await
        .map_err(|e| session.classify(e, &format!("upload manifest {}", image.manifest_digest)))?;
    Ok(PushOutcome {
        manifest_digest: image.manifest_digest.clone(),
        uploaded: outcomes
            .iter()
            .filter(|o| **o == BlobOutcome::Transferred)
            .count(),
        existing: outcomes
            .iter()
            .filter(|o| **o == BlobOutcome::AlreadyPresent)
            .count(),
    })
}

async fn upload_blob(
    session: &Session,
    store: &Store,
    digest: &str,
    size: u64,
    progress: &dyn Progress,
) -> Result<BlobOutcome> {
    let what = format!("upload blob {digest}");
    let exists = session
        .client
        .blob_exists(&session.oref, digest)
        .await
        .map_err(|e| session.classify(e, &what))?;
    if exists {
        progress.blob_finished(digest, BlobOutcome::AlreadyPresent);
        return Ok(BlobOutcome::AlreadyPresent);
    }
    progress.blob_started(digest, size);
    let path = store.blob_path(digest);
    let file = std::fs::File::open(&path).map_err(|e| ImageError::io("open", &path, e))?;
    let chunks = stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(OciDistributionError::IoError(e)), None)),
        }
    });
    session
        .client
        .push_blob_stream(&session.oref, chunks, digest, Some(size))
        .await
        .map_err(|e| session.classify(e, &what))?;
    progress.blob_finished(digest, BlobOutcome::Transferred);
    Ok(BlobOutcome::Transferred)
}
