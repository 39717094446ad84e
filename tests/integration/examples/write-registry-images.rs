//! Write the registry benchmark's test images into an OCI layout:
//! `nginx` (from the Debian nginx-light and busybox-static packages) and
//! `nginx-plus` (nginx's layers plus one). Used by `bench/images.sh`.
//!
//!     cargo run -p rcrun-integration --example write-registry-images -- DIR

use std::path::PathBuf;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write-registry-images DIR");
        std::process::exit(2);
    };
    let nginx = rcrun_it::images::nginx_oci_layout(&dir);
    let plus = rcrun_it::registry::nginx_plus_layout(&dir, &nginx);
    println!("nginx {}", nginx.manifest_digest);
    println!("nginx-plus {}", plus.manifest_digest);
    println!("extra-layer {}", plus.layer_digests[3]);
}
