//! `rcrun push`: an image pulled (or loaded) into the store goes to another
//! repository and registry, checked with skopeo; blobs the registry has are
//! not uploaded again; an auth registry takes `--creds`.

mod image_common;

use image_common::{push_image, stderr};
use rcrun_it::bins::{run, run_ok};
use rcrun_it::images;
use rcrun_it::registry::{ImageRoot, Registry};

#[test]
fn push_then_skopeo_sees_the_same_manifest_and_can_copy_it() {
    let src = Registry::start();
    let dst = Registry::start();
    let (_layout, img, _reference) =
        push_image(&src, images::nginx_oci_layout, "rir/nginx:latest", &[]);
    let root = ImageRoot::new();
    let pulled = format!("{}/rir/nginx:latest", src.host());
    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &pulled]),
    );
    let dest = format!("{}/rir/copied:v1", dst.host());

    let out = run(root
        .rcrun()
        .args(["push", "--tls-verify=false", &pulled, &dest]));

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        img.manifest_digest
    );
    assert!(
        stderr(&out).contains("4 blob(s) uploaded"),
        "{}",
        stderr(&out)
    );
    let manifest = dst.skopeo_inspect_raw("rir/copied:v1", None);
    assert_eq!(manifest["config"]["digest"], img.config_digest.as_str());
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        layers,
        img.layer_digests
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    // skopeo verifies every blob digest while copying it out again.
    let out_dir = tempfile::tempdir().unwrap();
    let copy = run(std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{dest}"))
        .arg(format!("oci:{}:copied", out_dir.path().display())));
    assert!(copy.status.success(), "{}", stderr(&copy));

    // Without a destination an id is refused (it would name Docker Hub).
    let short_id = &img.config_digest["sha256:".len()..][..12];
    let out = run(root.rcrun().args(["push", "--tls-verify=false", short_id]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("give a destination"),
        "{}",
        stderr(&out)
    );

    // Pushing again uploads nothing but the manifest.
    let again = run(root
        .rcrun()
        .args(["push", "--tls-verify=false", &pulled, &dest]));
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("0 blob(s) uploaded, 4 already in the registry"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn push_to_an_auth_registry_needs_credentials() {
    let src = Registry::start();
    let dst = Registry::start_with_auth("rir-pusher", "pw");
    let (_layout, img, _reference) =
        push_image(&src, images::busybox_oci_layout, "rir/busybox:latest", &[]);
    let root = ImageRoot::new();
    let pulled = format!("{}/rir/busybox:latest", src.host());
    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &pulled]),
    );
    let dest = format!("{}/rir/busybox:pushed", dst.host());

    let out = run(root
        .rcrun()
        .args(["push", "--tls-verify=false", &pulled, &dest]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("authentication required"),
        "{}",
        stderr(&out)
    );

    run_ok(root.rcrun().args([
        "push",
        "--tls-verify=false",
        "--creds",
        "rir-pusher:pw",
        &pulled,
        &dest,
    ]));
    let manifest = dst.skopeo_inspect_raw("rir/busybox:pushed", Some("rir-pusher:pw"));
    assert_eq!(manifest["config"]["digest"], img.config_digest.as_str());
}
