//! The error type of registry operations (pull, push, login): every variant
//! names the registry, reference or digest it concerns and, where the user can
//! do something about it, says what.

use std::path::PathBuf;

use crate::error::ImageError;

/// What can go wrong talking to a registry or the auth file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The image store refused or failed (ingest, commit, lookup).
    #[error(transparent)]
    Store(#[from] ImageError),
    /// A TLS handshake failed: the registry speaks plain HTTP, or its
    /// certificate is not trusted.
    #[error(
        "registry {registry}: TLS handshake failed ({reason}); if it serves plain HTTP or a \
         self-signed certificate, use --tls-verify=false or list it under \
         \"insecure-registries\" in {config}"
    )]
    Tls {
        /// The registry host[:port].
        registry: String,
        /// The TLS library's reason.
        reason: String,
        /// The insecure-registries file that would allow it.
        config: PathBuf,
    },
    /// The registry cannot be reached (connection refused, DNS, timeout).
    #[error("registry {registry}: cannot connect: {reason}")]
    Connect {
        /// The registry host[:port].
        registry: String,
        /// The transport's reason.
        reason: String,
    },
    /// The registry wants credentials and none (or no valid ones) were given.
    #[error("{target}: authentication required; log in with `rcrun login {registry}` or pass --creds USER:PASSWORD")]
    AuthRequired {
        /// The registry host[:port].
        registry: String,
        /// The reference or URL that was refused.
        target: String,
    },
    /// The credentials given were rejected.
    #[error("registry {registry}: invalid username or password for {user:?}")]
    BadCredentials {
        /// The registry host[:port].
        registry: String,
        /// The user name tried.
        user: String,
    },
    /// The reference's manifest or a blob is not in the registry.
    #[error("{target}: not found in registry {registry}")]
    NotFound {
        /// The registry host[:port].
        registry: String,
        /// The reference or digest looked up.
        target: String,
    },
    /// Any other answer of the registry that is not what the protocol wants.
    #[error("registry {registry}: {what}: {reason}")]
    Protocol {
        /// The registry host[:port].
        registry: String,
        /// What was being done (`fetch manifest of ...`, `upload blob ...`).
        what: String,
        /// The client library's account of it.
        reason: String,
    },
    /// A blob whose content does not hash to the digest it was asked for.
    #[error("blob {digest} from registry {registry} is corrupt: its content hashes to {actual}; nothing was stored")]
    DigestMismatch {
        /// The registry host[:port].
        registry: String,
        /// The digest in the manifest.
        digest: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A blob whose length is not the size its descriptor announced.
    #[error("blob {digest} from registry {registry}: expected {expected} bytes, got {actual}; nothing was stored")]
    SizeMismatch {
        /// The registry host[:port].
        registry: String,
        /// The blob's digest.
        digest: String,
        /// The size in the manifest.
        expected: u64,
        /// The bytes that arrived (at least; the download stops early).
        actual: u64,
    },
    /// A manifest or index that cannot be used.
    #[error("manifest {digest} of {reference}: {reason}")]
    BadManifest {
        /// The reference being pulled or pushed.
        reference: String,
        /// The manifest's digest.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A layer compressed in a way rcrun cannot unpack.
    #[error("layer {digest} of {reference} has unsupported media type {media_type:?}")]
    UnsupportedLayer {
        /// The reference being pulled.
        reference: String,
        /// The layer's digest.
        digest: String,
        /// Its media type.
        media_type: String,
    },
    /// An image index with no manifest for the wanted platform.
    #[error("{reference}: no image for platform {wanted} in its index (available: {available}); choose one with --platform")]
    NoMatchingPlatform {
        /// The reference being pulled.
        reference: String,
        /// The platform asked for (or the host's).
        wanted: String,
        /// The platforms the index has, comma separated.
        available: String,
    },
    /// A `--creds` value that is not `user:password`.
    #[error("invalid credentials: expected USER:PASSWORD")]
    InvalidCreds,
    /// The auth file or insecure-registries file cannot be read, parsed or written.
    #[error("{path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The registry is not logged in (logout of a registry without entry).
    #[error("not logged in to {registry} (auth file {path})")]
    NotLoggedIn {
        /// The registry host[:port].
        registry: String,
        /// The auth file consulted.
        path: PathBuf,
    },
    /// The async runtime or a blocking helper task could not be started.
    #[error("registry client runtime: {0}")]
    Runtime(String),
}

/// Result with [`RegistryError`].
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
