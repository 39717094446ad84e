//! Progress reporting of pulls and pushes. The library only calls these
//! hooks; the CLI decides how (or whether) to show them.

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Transferred (downloaded and verified, or uploaded).
    Transferred,
    /// Already there (in the store for a pull, in the registry for a push).
    AlreadyPresent,
}

/// Hooks called during a pull or push, all from the thread that runs it
/// (`Sync` so that the pull future can move between threads of a runtime).
/// Every method has an empty default.
pub trait Progress: Sync {
    /// The manifest to pull or push is known.
    fn resolved(&self, _reference: &str, _manifest_digest: &str) {}
    /// A blob transfer begins (`size` from its descriptor).
    fn blob_started(&self, _digest: &str, _size: u64) {}
    /// `done` bytes of the blob have been transferred so far.
    fn blob_progress(&self, _digest: &str, _done: u64) {}
    /// The blob is finished.
    fn blob_finished(&self, _digest: &str, _outcome: BlobOutcome) {}
    /// Layers are being unpacked (pull only).
    fn unpacking(&self) {}
}

/// Report nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {}
