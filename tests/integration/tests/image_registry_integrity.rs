//! What a pull must never do: use a blob whose content is not its digest
//! (corrupted in the registry's storage), or download a blob twice when two
//! processes pull the same image at once.

mod image_common;

use std::process::{Output, Stdio};

use image_common::{push_image, stderr};
use rcrun_it::bins::run;
use rcrun_it::images;
use rcrun_it::registry::{ImageRoot, Registry};

#[test]
fn corrupted_layer_in_the_registry_is_refused_and_nothing_is_stored() {
    let reg = Registry::start();
    let (_layout, img, reference) =
        push_image(&reg, images::nginx_oci_layout, "rir/nginx:latest", &[]);
    // Overwrite the middle layer's data in the registry's storage with
    // garbage of the same size, so only the digest check can notice.
    let victim = &img.layer_digests[1];
    let data_path = reg.blob_data_path(victim);
    let len = std::fs::metadata(&data_path).unwrap().len() as usize;
    let garbage: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&data_path, garbage).unwrap();
    let root = ImageRoot::new();

    let out = run(root
        .rcrun()
        .args(["pull", "-q", "--tls-verify=false", &reference]));

    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains(victim.as_str()) && err.contains("corrupt"),
        "{err}"
    );
    assert!(reg.blob_downloads(victim) >= 1, "the registry did serve it");
    assert!(root.store().list().unwrap().is_empty(), "no image recorded");
    assert!(root.blobs().is_empty(), "blobs left: {:?}", root.blobs());
    assert!(
        root.temp_files().is_empty(),
        "temp files left: {:?}",
        root.temp_files()
    );
    let layers = std::fs::read_dir(root.data_root().join("images/layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 0, "no layer unpacked");
}

#[test]
fn two_concurrent_pulls_of_the_same_image_both_succeed_and_store_each_blob_once() {
    let reg = Registry::start();
    let (_layout, img, reference) =
        push_image(&reg, images::nginx_oci_layout, "rir/nginx:latest", &[]);
    let root = ImageRoot::new();

    let children: Vec<_> = (0..2)
        .map(|_| {
            root.rcrun()
                .args(["pull", "--tls-verify=false", &reference])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();

    for o in &outs {
        assert!(o.status.success(), "{}", stderr(o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            img.config_digest.trim_start_matches("sha256:")
        );
    }
    // Each blob was fetched from the registry exactly once in all.
    for d in img.layer_digests.iter().chain([&img.config_digest]) {
        assert_eq!(reg.blob_downloads(d), 1, "{d} downloaded more than once");
    }
    let mut want: Vec<String> = img.layer_digests.clone();
    want.push(img.config_digest.clone());
    want.push(img.manifest_digest.clone());
    want.sort();
    assert_eq!(root.blobs(), want);
    let images = root.store().list().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].names, vec![reference.clone()]);
    let layers = std::fs::read_dir(root.data_root().join("images/layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 3);
    assert!(root.image_has(&reference, "usr/sbin/nginx"));
}
