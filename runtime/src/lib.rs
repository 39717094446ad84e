//! rcrun's OCI runtime core: turns an OCI bundle (`config.json` + rootfs) into a
//! running container and tracks it on disk, as the OCI runtime-spec describes.
//!
//! It knows nothing of images or networks: callers hand it a bundle, and join
//! network namespaces by path through `linux.namespaces`.
//!
//! Module map (one job each):
//! - [`cgroups`]: cgroup v1 / v2 / hybrid placement and `linux.resources`.
//! - [`rootfs`]: mounts, devices, pivot_root, masked and read-only paths,
//!   in-root path resolution.

pub mod cgroups;
pub mod rootfs;
