//! Pulling an image: resolve the reference to a manifest (choosing the
//! platform's entry from an index), download the config and layers the store
//! lacks, then commit the image (unpacking new layers) under its name.

use oci_client::RegistryOperation;

use super::error::{RegistryError, Result};
use super::fetch::{fetch_blobs, FetchReport, Wanted};
use super::progress::Progress;
use super::transport::{block_on, RegistryOptions, Session};
use crate::manifest::{
    is_index, parse_index, parse_manifest, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST,
};
use crate::platform::{available_in_index, select_in_index, Platform};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};

/// Manifest media types a pull accepts, indexes first.
const ACCEPTED: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Layer media types the store can unpack.
const LAYER_TYPES: &[&str] = &[
    OCI_LAYER_TAR,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    DOCKER_LAYER_TAR,
    DOCKER_LAYER_GZIP,
];

/// What to pull and how.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// TLS and credentials.
    pub registry: RegistryOptions,
    /// The platform to choose from an index; the host's when `None`.
    pub platform: Option<Platform>,
}

/// The blobs of an image now in the store, not yet committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Digest of the image manifest.
    pub manifest_digest: String,
    /// Digest of the index it was chosen from, if the reference named one.
    pub index_digest: Option<String>,
    /// Blobs downloaded and found present.
    pub report: FetchReport,
}

/// A finished pull.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The image as the store now records it.
    pub image: ImageRecord,
    /// How it got there.
    pub fetched: Fetched,
}

/// Pull `reference` into `store` and name it there. Runs its own
/// current-thread runtime: from async code call [`fetch_image`] then
/// [`Store::commit_image`] instead.
pub fn pull(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<PullOutcome> {
    // Keep prune from collecting the blobs between download and commit.
    let _lease = store.lease()?;
    let fetched = block_on(fetch_image(store, reference, opts, progress))??;
    progress.unpacking();
    let image = store.commit_image(reference, &fetched.manifest_digest)?;
    Ok(PullOutcome { image, fetched })
}

/// Resolve `reference` and bring its manifest, config and layers into the
/// store (verified), without unpacking or naming it.
pub async fn fetch_image(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<Fetched> {
    let session = Session::connect(reference, &opts.registry, RegistryOperation::Pull).await?;
    let (mut body, mut digest) = session
        .client
        .pull_manifest_raw(&session.oref, &session.auth, ACCEPTED)
        .await
        .map_err(|e| session.classify(e, &reference.to_string()))?;

    let mut index_digest = None;
    if is_index(&body) {
        let chosen = choose_platform(reference, &body, &digest, opts)?;
        let (b, d) = session
            .client
            .pull_manifest_raw(&session.at_digest(&chosen), &session.auth, ACCEPTED)
            .await
            .map_err(|e| session.classify(e, &format!("{reference} manifest {chosen}")))?;
        if is_index(&b) {
            return Err(RegistryError::BadManifest {
                reference: reference.to_string(),
                digest: chosen,
                reason: "an index entry is itself an index; nested indexes are not supported"
                    .into(),
            });
        }
        index_digest = Some(std::mem::replace(&mut digest, d));
        body = b;
    }
    let manifest = parse_manifest(&body, &digest)?;
    progress.resolved(&reference.to_string(), &digest);

    let mut wanted = vec![Wanted {
        digest: manifest.config().digest().to_string(),
        size: manifest.config().size(),
    }];
    for layer in manifest.layers() {
        let media_type = layer.media_type().to_string();
        if !LAYER_TYPES.contains(&media_type.as_str()) {
            return Err(RegistryError::UnsupportedLayer {
                reference: reference.to_string(),
                digest: layer.digest().to_string(),
                media_type,
            });
        }
        wanted.push(Wanted {
            digest: layer.digest().to_string(),
            size: layer.size(),
        });
    }
    let report = fetch_blobs(&session, store, &wanted, progress).await?;
    let stored = store.ingest_bytes(&body)?;
    if stored != digest {
        return Err(RegistryError::BadManifest {
            reference: reference.to_string(),
            digest,
            reason: format!("its content hashes to {stored}"),
        });
    }
    Ok(Fetched {
        manifest_digest: digest,
        index_digest,
        report,
    })
}

/// The digest of the index entry for the wanted (or host) platform.
fn choose_platform(
    reference: &Reference,
    body: &[u8],
    digest: &str,
    opts: &PullOptions,
) -> Result<String> {
    let index = parse_index(body, digest)?;
    let want = opts.platform.clone().unwrap_or_else(Platform::host);
    match select_in_index(&want, &index) {
        Some(d) => Ok(d.digest().to_string()),
        None => Err(RegistryError::NoMatchingPlatform {
            reference: reference.to_string(),
            wanted: want.to_string(),
            available: available_in_index(&index),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time check: the CRI server can run a pull on a multi-thread
    /// runtime (its futures must be `Send`).
    #[allow(dead_code)]
    fn fetch_image_future_is_send(s: &Store, r: &Reference, o: &PullOptions, p: &dyn Progress) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&fetch_image(s, r, o, p));
        is_send(&crate::registry::push_image(s, "x", r, &o.registry, p));
    }
}
