//! The one error type of the image crate: every variant names what failed.

use std::path::PathBuf;

/// Anything that can go wrong in the image store, unpacking, archives, the
/// overlay rootfs or the image config to spec conversion.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An image reference that does not follow the docker reference grammar.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A digest that is not `sha256:<64 lowercase hex>`.
    #[error("invalid digest {digest:?}: expected sha256:<64 hex digits>")]
    InvalidDigest {
        /// The digest as given.
        digest: String,
    },
    /// Content whose sha256 is not the digest it was announced under.
    #[error("digest mismatch for {expected}: content hashes to {actual}")]
    DigestMismatch {
        /// The digest the content should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A blob the operation needs is not in the store.
    #[error("blob {digest} is not in the image store (pull or load the image again)")]
    MissingBlob {
        /// The missing blob.
        digest: String,
    },
    /// No image matches a name, short name or id prefix.
    #[error("image {query:?} not found (see `rcrun images`)")]
    ImageNotFound {
        /// What the user asked for.
        query: String,
    },
    /// A short name or id prefix that matches several images.
    #[error("image {query:?} is ambiguous: it matches {candidates}")]
    AmbiguousImage {
        /// What the user asked for.
        query: String,
        /// The names or ids it matches, comma separated.
        candidates: String,
    },
    /// An image that containers still use and was not force-removed.
    #[error(
        "image {image} is in use by container(s) {containers} (stop and remove them, or use -f)"
    )]
    ImageInUse {
        /// The image id.
        image: String,
        /// The container ids, comma separated.
        containers: String,
    },
    /// A manifest, config, index or archive metadata file that cannot be parsed
    /// or does not make sense.
    #[error("invalid {what} {digest}: {reason}")]
    InvalidContent {
        /// Which kind of document (`manifest`, `image config`, `index`, ...).
        what: &'static str,
        /// Its digest or path.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--platform` value that is not `os/arch[/variant]`.
    #[error("invalid platform {value:?}: expected os/arch[/variant], e.g. linux/arm64/v8")]
    InvalidPlatform {
        /// The value as given.
        value: String,
    },
    /// A layer tar entry that is hostile or cannot be applied.
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    BadLayerEntry {
        /// The layer's digest.
        layer: String,
        /// The entry's path inside the tar.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A layer whose uncompressed content does not hash to its diff_id.
    #[error("layer {layer}: uncompressed content hashes to {actual} but the image config says {expected}")]
    DiffIdMismatch {
        /// The layer's (compressed) digest.
        layer: String,
        /// The diff_id in the image config.
        expected: String,
        /// The digest of the uncompressed stream.
        actual: String,
    },
    /// A user or group that the image's /etc/passwd or /etc/group does not know.
    #[error("user {user:?}: {reason}")]
    UnknownUser {
        /// The `User` value (image config or override).
        user: String,
        /// What lookup failed.
        reason: String,
    },
    /// An image config that leaves no command to run.
    #[error("image {image} has no Entrypoint or Cmd and no command was given")]
    NoCommand {
        /// The image, as named by the caller.
        image: String,
    },
    /// A filesystem or system call failure, with the path it concerned.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `rename`, `mount overlay on`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// JSON that cannot be parsed or written.
    #[error("{what} {path}: {source}")]
    Json {
        /// Which document.
        what: &'static str,
        /// Its path or digest.
        path: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

impl ImageError {
    /// An [`ImageError::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result with [`ImageError`].
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
