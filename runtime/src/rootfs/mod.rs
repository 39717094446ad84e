//! The container's root filesystem: propagation, `mounts`, devices, pivot_root,
//! masked and read-only paths, every path resolved inside the rootfs.
