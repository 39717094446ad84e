//! `rcrun pull` from a real registry on loopback (Debian docker-registry),
//! with images pushed by skopeo: OCI and Docker schema 2 manifests, gzip,
//! zstd and uncompressed layers, pull by digest, the TLS policy, the nginx
//! image, and layer sharing between images.

mod image_common;

use image_common::{push_image, stderr};
use rcrun_it::bins::{run, run_ok};
use rcrun_it::images;
use rcrun_it::registry::{self, ImageRoot, Registry};

#[test]
fn pull_busybox_from_loopback_registry_unpacks_bin_busybox() {
    let reg = Registry::start();
    let (_layout, img, reference) =
        push_image(&reg, images::busybox_oci_layout, "rir/busybox:latest", &[]);
    let root = ImageRoot::new();

    let out = run_ok(
        root.rcrun()
            .args(["pull", "--tls-verify=false", &reference]),
    );

    // The last line is the image id: the config digest skopeo pushed.
    assert_eq!(out.trim(), img.config_digest.trim_start_matches("sha256:"));
    let rec = root.store().resolve(&reference).unwrap();
    assert_eq!(rec.manifest_digest, img.manifest_digest);
    assert!(rec.names.contains(&reference), "{:?}", rec.names);
    assert!(root.image_has(&reference, "bin/busybox"));
    assert!(root.image_has(&reference, "bin/sh"), "applet symlink kept");
    assert!(root.temp_files().is_empty(), "{:?}", root.temp_files());
}

#[test]
fn pull_docker_schema2_manifest() {
    let reg = Registry::start();
    let (_layout, _, reference) = push_image(
        &reg,
        images::busybox_oci_layout,
        "rir/docker:v2s2",
        &["--format", "v2s2"],
    );
    let pushed = reg.skopeo_inspect_raw("rir/docker:v2s2", None);
    assert_eq!(
        pushed["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let root = ImageRoot::new();

    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &reference]),
    );

    let rec = root.store().resolve(&reference).unwrap();
    assert_eq!(
        rec.manifest_media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert!(rec
        .layers
        .iter()
        .all(|l| l.media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"));
    assert!(root.image_has(&reference, "bin/busybox"));
}

#[test]
fn pull_gzip_zstd_and_uncompressed_layers() {
    let reg = Registry::start();
    let layout = tempfile::tempdir().unwrap();
    let digest = registry::mixed_compression_layout(layout.path());
    reg.skopeo_push(
        &format!("oci:{}:mixed", layout.path().display()),
        "rir/mixed:latest",
        &["--preserve-digests"],
    );
    let root = ImageRoot::new();
    let reference = format!("{}/rir/mixed:latest", reg.host());

    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &reference]),
    );

    let rec = root.store().resolve(&reference).unwrap();
    assert_eq!(rec.manifest_digest, digest);
    let types: Vec<&str> = rec.layers.iter().map(|l| l.media_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar",
        ]
    );
    assert!(root.image_has(&reference, "bin/busybox"));
    assert!(root.image_has(&reference, "etc/rir-zstd"));
    assert!(root.image_has(&reference, "etc/rir-plain"));
}

#[test]
fn pull_by_digest_keeps_the_pinned_manifest() {
    let reg = Registry::start();
    let (_layout, img, _reference) =
        push_image(&reg, images::busybox_oci_layout, "rir/pinned:latest", &[]);
    let root = ImageRoot::new();
    let reference = format!("{}/rir/pinned@{}", reg.host(), img.manifest_digest);

    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &reference]),
    );

    let rec = root.store().resolve(&img.config_digest).unwrap();
    assert_eq!(rec.manifest_digest, img.manifest_digest);

    // A digest the repository does not have is a clear not-found error.
    let missing = format!("{}/rir/pinned@sha256:{}", reg.host(), "0".repeat(64));
    let out = run(root
        .rcrun()
        .args(["pull", "-q", "--tls-verify=false", &missing]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[test]
fn pull_over_plain_http_is_refused_without_tls_verify_false() {
    let reg = Registry::start();
    let (_layout, _, reference) =
        push_image(&reg, images::busybox_oci_layout, "rir/busybox:latest", &[]);
    let root = ImageRoot::new();

    let out = run(root.rcrun().args(["pull", "-q", &reference]));

    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("TLS handshake failed"), "{err}");
    assert!(err.contains("--tls-verify=false"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(root.store().list().unwrap().is_empty());
    assert!(root.blobs().is_empty());
}

#[test]
fn insecure_registries_setting_allows_plain_http() {
    let reg = Registry::start();
    let (_layout, _, reference) =
        push_image(&reg, images::busybox_oci_layout, "rir/busybox:latest", &[]);
    let root = ImageRoot::new();
    std::fs::create_dir_all(root.data_root()).unwrap();
    std::fs::write(
        root.data_root().join("registries.json"),
        format!(r#"{{"insecure-registries": ["{}"]}}"#, reg.host()),
    )
    .unwrap();

    run_ok(root.rcrun().args(["pull", "-q", &reference]));

    assert!(root.image_has(&reference, "bin/busybox"));
}

#[test]
fn nginx_image_pull() {
    let reg = Registry::start();
    let (_layout, img, reference) =
        push_image(&reg, images::nginx_oci_layout, "rir/nginx:latest", &[]);
    let root = ImageRoot::new();

    let out = run_ok(
        root.rcrun()
            .args(["pull", "--tls-verify=false", &reference]),
    );

    assert_eq!(out.trim(), img.config_digest.trim_start_matches("sha256:"));
    let rec = root.store().resolve(&reference).unwrap();
    assert_eq!(rec.layers.len(), 3);
    assert!(root.image_has(&reference, "usr/sbin/nginx"));
    assert!(root.image_has(&reference, "etc/nginx/nginx.conf"));
    assert!(root.image_has(&reference, "bin/busybox"));
}

#[test]
fn second_pull_sharing_all_but_one_layer_downloads_only_that_layer() {
    let reg = Registry::start();
    let layout = tempfile::tempdir().unwrap();
    let busybox = images::busybox_oci_layout(layout.path());
    let plus = registry::busybox_plus_layout(layout.path());
    assert_eq!(
        busybox.layer_digests[0], plus.layer_digests[0],
        "shared bottom layer"
    );
    reg.skopeo_push(&busybox.transport(), "rir/busybox:latest", &[]);
    reg.skopeo_push(&plus.transport(), "rir/plus:latest", &[]);
    let root = ImageRoot::new();

    run_ok(root.rcrun().args([
        "pull",
        "-q",
        "--tls-verify=false",
        &format!("{}/rir/busybox:latest", reg.host()),
    ]));
    let shared = &busybox.layer_digests[0];
    assert_eq!(reg.blob_downloads(shared), 1);
    let layers_before = std::fs::read_dir(root.data_root().join("images/layers"))
        .unwrap()
        .count();

    let out = run(root.rcrun().args([
        "pull",
        "--tls-verify=false",
        &format!("{}/rir/plus:latest", reg.host()),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));

    // The registry served the shared layer once (first pull) and the new
    // layer and config once each; rcrun says the same.
    assert_eq!(reg.blob_downloads(shared), 1, "shared layer fetched again");
    assert_eq!(reg.blob_downloads(&plus.layer_digests[1]), 1);
    assert_eq!(reg.blob_downloads(&plus.config_digest), 1);
    assert!(
        stderr(&out).contains("2 blob(s) downloaded") && stderr(&out).contains("1 already present"),
        "{}",
        stderr(&out)
    );
    // One more unpacked layer: only the new one was unpacked.
    let layers_after = std::fs::read_dir(root.data_root().join("images/layers"))
        .unwrap()
        .count();
    assert_eq!(layers_after, layers_before + 1);
    let rec = root
        .store()
        .resolve(&format!("{}/rir/plus:latest", reg.host()))
        .unwrap();
    assert!(root.image_has(&format!("{}/rir/plus:latest", reg.host()), "etc/rir-extra"));
    assert_eq!(
        rec.layers[0].chain_id,
        root.store().resolve(&busybox.config_digest).unwrap().layers[0].chain_id
    );
}

#[test]
fn self_signed_registry_needs_tls_verify_false() {
    let reg = Registry::start_tls();
    let (_layout, _, reference) =
        push_image(&reg, images::busybox_oci_layout, "rir/busybox:latest", &[]);
    let root = ImageRoot::new();

    let out = run(root.rcrun().args(["pull", "-q", &reference]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("TLS handshake failed") && err.contains("certificate"),
        "{err}"
    );
    assert!(root.blobs().is_empty());

    // Verification off: HTTPS without certificate checks (not plain HTTP).
    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &reference]),
    );
    assert!(root.image_has(&reference, "bin/busybox"));
    assert!(reg.url().starts_with("https://"));
    assert!(
        reg.log()
            .contains("\"GET /v2/rir/busybox/manifests/latest HTTP/1.1\" 200"),
        "pulled over HTTPS from the TLS registry"
    );
}
