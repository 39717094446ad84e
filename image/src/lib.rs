//! rcrun's OCI image store: content-addressed blobs, unpacked layers by chain
//! id, registry pulls, archive loads, overlay root filesystems, and the image
//! config to runtime spec conversion. It knows nothing of networks.
