//! rcrun's OCI image store: content-addressed blobs, unpacked layers by chain
//! id, registry pulls, archive loads and saves, safe layer unpacking,
//! overlay root filesystems, and the image config to runtime spec
//! conversion. It knows nothing of networks or of running containers (it
//! only reads the `<data-root>/containers/*/image` records that say which
//! image a container uses).

pub mod archive;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod passwd;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod signal;
pub mod spec;
pub mod store;
pub mod time;
pub mod unpack;

pub use error::{ImageError, Result};
pub use platform::Platform;
pub use reference::Reference;
pub use store::{BlobLock, ImageRecord, LayerRecord, Lease, Store};
