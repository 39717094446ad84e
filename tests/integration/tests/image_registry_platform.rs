//! Pulling from an image index with two platforms (the host's and a fake
//! linux/arm64/v8): the host's is chosen by default, `--platform` chooses
//! the other, and a platform the index lacks is a clear error.

use rcrun_it::bins::{run, run_ok};
use rcrun_it::registry::{self, ImageRoot, Registry};

fn pushed_index() -> (Registry, String, String, String) {
    let reg = Registry::start();
    let layout = tempfile::tempdir().unwrap();
    let (host, arm, index_digest) = registry::two_platform_layout(layout.path());
    reg.skopeo_push(
        &format!("oci:{}:multi", layout.path().display()),
        "rir/multi:latest",
        &["--all", "--preserve-digests"],
    );
    let index = reg.skopeo_inspect_raw("rir/multi:latest", None);
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{index}"
    );
    let _ = index_digest;
    let reference = format!("{}/rir/multi:latest", reg.host());
    (reg, reference, host.manifest_digest, arm.manifest_digest)
}

fn platform_file(root: &ImageRoot, reference: &str) -> String {
    let store = root.store();
    let img = store.resolve(reference).unwrap();
    store
        .layer_dirs(&img)
        .iter()
        .find_map(|d| std::fs::read_to_string(d.join("etc/rir-platform")).ok())
        .expect("etc/rir-platform in a layer")
}

#[test]
fn index_pull_picks_the_host_platform() {
    let (_reg, reference, host_manifest, _) = pushed_index();
    let root = ImageRoot::new();

    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &reference]),
    );

    let rec = root.store().resolve(&reference).unwrap();
    assert_eq!(rec.manifest_digest, host_manifest);
    assert_eq!(
        platform_file(&root, &reference),
        rcrun_it::images::host_arch()
    );
}

#[test]
fn platform_flag_picks_arm64_from_the_index() {
    let (_reg, reference, _, arm_manifest) = pushed_index();
    let root = ImageRoot::new();

    run_ok(root.rcrun().args([
        "pull",
        "-q",
        "--tls-verify=false",
        "--platform",
        "linux/arm64",
        &reference,
    ]));

    let rec = root.store().resolve(&reference).unwrap();
    assert_eq!(rec.manifest_digest, arm_manifest);
    assert_eq!(rec.platform, "linux/arm64");
    assert_eq!(platform_file(&root, &reference), "arm64");
}

#[test]
fn platform_missing_from_the_index_is_a_clear_error() {
    let (_reg, reference, _, _) = pushed_index();
    let root = ImageRoot::new();

    let out = run(root.rcrun().args([
        "pull",
        "-q",
        "--tls-verify=false",
        "--platform",
        "linux/s390x",
        &reference,
    ]));

    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no image for platform linux/s390x"), "{err}");
    assert!(err.contains("linux/arm64/v8"), "lists what there is: {err}");
    assert!(root.blobs().is_empty());
}
