//! Downloading blobs into the store: each missing blob under its store lock
//! (so concurrent pulls in several processes download it once), several at a
//! time, streamed to a temp file beside the store and verified against its
//! digest and size. Nothing enters the store until every blob of the pull has
//! arrived intact, so a corrupt blob leaves nothing behind.

use std::io::{BufWriter, Write};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use oci_client::errors::DigestError;
use tempfile::TempPath;

use super::error::{RegistryError, Result};
use super::progress::{BlobOutcome, Progress};
use super::transport::Session;
use crate::error::ImageError;
use crate::store::{BlobLock, Store};

/// How many blobs download at once.
pub const CONCURRENT_DOWNLOADS: usize = 4;

/// A blob to fetch: its digest and announced size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size from the descriptor.
    pub size: u64,
}

/// What a fetch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// Blobs downloaded by this call.
    pub downloaded: Vec<String>,
    /// Blobs that were already in the store.
    pub present: Vec<String>,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// Make every blob of `wanted` present in the store.
pub(crate) async fn fetch_blobs(
    session: &Session,
    store: &Store,
    wanted: &[Wanted],
    progress: &dyn Progress,
) -> Result<FetchReport> {
    let mut wanted: Vec<Wanted> = wanted.to_vec();
    wanted.sort_by(|a, b| a.digest.cmp(&b.digest));
    wanted.dedup_by(|a, b| a.digest == b.digest);
    let mut report = FetchReport::default();

    // Lock the missing blobs in digest order: two processes pulling
    // overlapping images then never wait on each other in a cycle.
    let mut locks: Vec<BlobLock> = Vec::new();
    let mut missing: Vec<Wanted> = Vec::new();
    for w in wanted {
        if store.has_blob(&w.digest) {
            progress.blob_finished(&w.digest, BlobOutcome::AlreadyPresent);
            report.present.push(w.digest);
            continue;
        }
        locks.push(lock_blob(store, &w.digest).await?);
        // Another process may have finished it while we waited.
        if store.has_blob(&w.digest) {
            locks.pop();
            progress.blob_finished(&w.digest, BlobOutcome::AlreadyPresent);
            report.present.push(w.digest);
        } else {
            missing.push(w);
        }
    }

    let staged: Vec<(Wanted, TempPath)> = stream::iter(missing.into_iter().map(|w| async move {
        let tmp = download(session, store, &w, progress).await?;
        Ok::<_, RegistryError>((w, tmp))
    }))
    .buffer_unordered(CONCURRENT_DOWNLOADS)
    .try_collect()
    .await?;

    for (w, tmp) in staged {
        store
            .ingest_file(&w.digest, &tmp)
            .map_err(|e| store_error(&session.registry, e))?;
        // The file was renamed into the store: nothing left to delete.
        let _ = tmp.keep();
        progress.blob_finished(&w.digest, BlobOutcome::Transferred);
        report.bytes += w.size;
        report.downloaded.push(w.digest);
    }
    drop(locks);
    tracing::debug!(
        downloaded = report.downloaded.len(),
        present = report.present.len(),
        bytes = report.bytes,
        "blobs fetched"
    );
    Ok(report)
}

/// Take the blob's flock on a blocking thread: waiting must not stall the
/// downloads this process is running (which other processes may wait for).
async fn lock_blob(store: &Store, digest: &str) -> Result<BlobLock> {
    let store = store.clone();
    let digest = digest.to_string();
    tokio::task::spawn_blocking(move || store.lock_blob(&digest))
        .await
        .map_err(|e| RegistryError::Runtime(format!("lock blob: {e}")))?
        .map_err(RegistryError::from)
}

/// Stream one blob into a temp file in the store's tmp dir, checking size
/// and digest (the client verifies the sha256 as the stream ends).
async fn download(
    session: &Session,
    store: &Store,
    w: &Wanted,
    progress: &dyn Progress,
) -> Result<TempPath> {
    let what = format!("download blob {}", w.digest);
    let mut stream = session
        .client
        .pull_blob_stream(&session.oref, w.digest.as_str())
        .await
        .map_err(|e| session.classify(e, &what))?;
    progress.blob_started(&w.digest, w.size);
    let (file, path) = store.temp_file()?.into_parts();
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut done: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| stream_error(session, w, e))?;
        done += chunk.len() as u64;
        if done > w.size {
            return Err(size_mismatch(session, w, done));
        }
        out.write_all(&chunk)
            .map_err(|e| ImageError::io("write", &*path, e))?;
        progress.blob_progress(&w.digest, done);
    }
    if done != w.size {
        return Err(size_mismatch(session, w, done));
    }
    out.flush()
        .map_err(|e| ImageError::io("write", &*path, e))?;
    Ok(path)
}

fn size_mismatch(session: &Session, w: &Wanted, actual: u64) -> RegistryError {
    RegistryError::SizeMismatch {
        registry: session.registry.clone(),
        digest: w.digest.clone(),
        expected: w.size,
        actual,
    }
}

/// A failure while reading the body: a digest mismatch found by the client's
/// verifying stream, or a transport error.
fn stream_error(session: &Session, w: &Wanted, e: std::io::Error) -> RegistryError {
    if let Some(DigestError::VerificationError { actual, .. }) =
        e.get_ref().and_then(|i| i.downcast_ref::<DigestError>())
    {
        return RegistryError::DigestMismatch {
            registry: session.registry.clone(),
            digest: w.digest.clone(),
            actual: actual.clone(),
        };
    }
    RegistryError::Protocol {
        registry: session.registry.clone(),
        what: format!("download blob {}", w.digest),
        reason: e.to_string(),
    }
}

/// The store's own digest check is the last line: name the registry too.
fn store_error(registry: &str, e: ImageError) -> RegistryError {
    match e {
        ImageError::DigestMismatch { expected, actual } => RegistryError::DigestMismatch {
            registry: registry.to_string(),
            digest: expected,
            actual,
        },
        other => RegistryError::Store(other),
    }
}
