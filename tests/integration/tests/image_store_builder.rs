//! The test images the suite builds (busybox, nginx) are valid OCI layouts:
//! skopeo, a client rcrun did not write, reads them.

use std::process::Command;

use rcrun_it::bins::run_ok;
use rcrun_it::images::{busybox_oci_layout, nginx_oci_layout};

#[test]
fn test_images_are_layouts_skopeo_reads() {
    let dir = tempfile::tempdir().unwrap();
    let bb = busybox_oci_layout(dir.path());
    let ng = nginx_oci_layout(dir.path());
    // The nginx image's bottom layer is the busybox layer, byte for byte.
    assert_eq!(ng.layer_digests[0], bb.layer_digests[0]);
    assert_eq!(ng.layer_digests.len(), 3);
    for img in [&bb, &ng] {
        let out = run_ok(Command::new("skopeo").args(["inspect", &img.transport()]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Digest"], img.manifest_digest.as_str(), "{out}");
        assert_eq!(
            v["Layers"].as_array().unwrap().len(),
            img.layer_digests.len()
        );
    }
}
