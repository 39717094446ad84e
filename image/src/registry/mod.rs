//! Registries: pull images into the [`Store`](crate::store::Store), push
//! them back, and log in, over the OCI distribution API through the
//! `oci-client` crate (manifests, blobs, token and basic auth). This module
//! talks HTTP and moves verified blobs; parsing, unpacking and naming images
//! is the store's job.
//!
//! - [`pull()`]: resolve a reference (index → the platform's manifest),
//!   download missing blobs concurrently under per-blob store locks, verify
//!   each digest, then [`Store::commit_image`](crate::store::Store::commit_image).
//! - [`push()`]: upload the blobs a registry lacks, then the manifest.
//! - [`login()`] / [`logout()`]: credentials in a docker-compatible auth file.
//!
//! TLS is verified and plain HTTP refused unless the caller turns
//! verification off ([`RegistryOptions::tls_verify`]) or the registry is in
//! `<data-root>/registries.json`. The sync entry points run a current-thread
//! tokio runtime for the duration of the call.

pub mod auth_file;
mod error;
mod fetch;
pub mod insecure;
mod login;
mod progress;
mod pull;
mod push;
mod transport;

pub use self::auth_file::Credentials;
pub use self::error::{RegistryError, Result};
pub use self::fetch::{FetchReport, CONCURRENT_DOWNLOADS};
pub use self::login::{login, logout, logout_all};
pub use self::progress::{BlobOutcome, Progress, Quiet};
pub use self::pull::{fetch_image, pull, Fetched, PullOptions, PullOutcome};
pub use self::push::{push, push_image, PushOutcome, CONCURRENT_UPLOADS};
pub use self::transport::RegistryOptions;
pub use crate::platform::Platform;
