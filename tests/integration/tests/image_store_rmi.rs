//! `rcrun tag`, `rcrun rmi` (refusing images containers use unless -f) and
//! `rcrun image prune` (dangling images, unreferenced blobs and layers).

mod image_common;

use std::fs;
use std::path::Path;

use image_common::{data_root, images_json, rcrun};
use rcrun_image::Store;
use rcrun_it::bins::{run, run_ok};
use rcrun_it::images::{busybox_oci_layout, nginx_oci_layout};
use serde_json::Value;

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

/// Record that container `id` uses `image`, as the orchestration does.
fn container_record(root: &Path, id: &str, image: &str) {
    let d = root.join("containers").join(id);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(rcrun_image::store::CONTAINER_IMAGE_FILE), image).unwrap();
}

#[test]
fn tag_adds_a_name_and_rmi_untags_before_deleting() {
    let work = tempfile::tempdir().unwrap();
    let img = busybox_oci_layout(&work.path().join("layout"));
    let root = data_root();
    run_ok(rcrun(root.path()).args(["load", "-q", "-i"]).arg(&img.dir));
    run_ok(rcrun(root.path()).args(["tag", "busybox", "ris.example/copy:2"]));
    let list = images_json(root.path());
    assert_eq!(list.len(), 1);
    let names = list[0]["names"].as_array().unwrap();
    assert!(
        names.contains(&Value::from("ris.example/copy:2")),
        "{names:?}"
    );

    // `rmi` by id of an image with two names needs -f; by name it only untags.
    let o = run(rcrun(root.path()).args(["rmi", &img.config_digest[7..19]]));
    assert!(!o.status.success());
    // A short name untags the name it means.
    let out = run_ok(rcrun(root.path()).args(["rmi", "copy:2"]));
    assert_eq!(out.trim(), "Untagged: ris.example/copy:2");
    assert_eq!(images_json(root.path()).len(), 1);

    let out = run_ok(rcrun(root.path()).args(["rmi", "busybox"]));
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert!(images_json(root.path()).is_empty());
    let images = root.path().join("images");
    assert_eq!(count(&images.join("blobs/sha256")), 0, "rmi left blobs");
    assert_eq!(count(&images.join("layers")), 0, "rmi left layers");

    let o = run(rcrun(root.path()).args(["rmi", "busybox"]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));
}

#[test]
fn rmi_refuses_an_image_in_use_unless_forced() {
    let work = tempfile::tempdir().unwrap();
    let img = busybox_oci_layout(&work.path().join("layout"));
    let root = data_root();
    run_ok(rcrun(root.path()).args(["load", "-q", "-i"]).arg(&img.dir));
    container_record(root.path(), "ris-c1", &img.config_digest);

    let o = run(rcrun(root.path()).args(["rmi", "busybox"]));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("in use") && err.contains("ris-c1"), "{err}");
    assert_eq!(images_json(root.path()).len(), 1);

    // Forced: the name goes, the image stays (dangling) for the container.
    run_ok(rcrun(root.path()).args(["rmi", "-f", "busybox"]));
    let list = images_json(root.path());
    assert_eq!(list.len(), 1);
    assert!(list[0]["names"].as_array().unwrap().is_empty());
    let store = Store::open(root.path()).unwrap();
    let rec = store.resolve(&img.config_digest).unwrap();
    assert!(store.layer_dirs(&rec)[0].join("bin/busybox").is_file());

    // Prune keeps a dangling image a container uses, and removes it after.
    run_ok(rcrun(root.path()).args(["image", "prune"]));
    assert_eq!(images_json(root.path()).len(), 1);
    fs::remove_dir_all(root.path().join("containers/ris-c1")).unwrap();
    let out = run_ok(rcrun(root.path()).args(["image", "prune"]));
    assert!(out.contains(&img.config_digest), "{out}");
    assert!(images_json(root.path()).is_empty());
    assert_eq!(count(&root.path().join("images/layers")), 0);
}

#[test]
fn prune_removes_only_what_no_image_references() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let bb = busybox_oci_layout(&layout);
    let ng = nginx_oci_layout(&layout);
    let root = data_root();
    run_ok(rcrun(root.path()).args(["load", "-q", "-i"]).arg(&layout));
    let layers = root.path().join("images/layers");
    assert_eq!(
        count(&layers),
        3,
        "busybox and nginx share the bottom layer"
    );
    let store = Store::open(root.path()).unwrap();
    run_ok(rcrun(root.path()).args(["rmi", "nginx"]));
    assert!(!store.has_blob(&ng.layer_digests[2]));
    assert!(store.has_blob(&bb.layer_digests[0]));
    assert_eq!(count(&layers), 1, "rmi collects the layers only nginx used");

    // A stray blob (an interrupted pull's) and a crashed unpack's temp dir.
    let stray = store.ingest_bytes(b"stray blob").unwrap();
    fs::create_dir(layers.join(".tmp-0123456789ab-crash")).unwrap();
    let out = run_ok(rcrun(root.path()).args(["image", "prune"]));
    assert!(out.contains("Removed 1 blob(s)"), "{out}");
    assert!(!store.has_blob(&stray));
    assert_eq!(count(&layers), 1, "only the busybox layer stays");
    for e in fs::read_dir(root.path().join("images/locks")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(hex) = name
            .strip_prefix("layer-")
            .and_then(|n| n.strip_suffix(".lock"))
        {
            assert!(
                layers.join(hex).exists(),
                "lock file {name} outlived its layer"
            );
        }
    }
    let bbrec = store.resolve("busybox").unwrap();
    assert!(store.layer_dirs(&bbrec)[0].join("bin/busybox").is_file());
}
