//! Several processes committing the same image at once: all succeed, every
//! layer is unpacked once, and the store holds one copy.

use std::fs;
use std::process::{Command, Stdio};

use rcrun_it::bins::{bin, run_ok};
use rcrun_it::images::nginx_oci_layout;

#[test]
fn concurrent_loads_of_one_image_unpack_each_layer_once() {
    let work = tempfile::tempdir().unwrap();
    let img = nginx_oci_layout(&work.path().join("layout"));
    let archive = work.path().join("nginx.tar");
    run_ok(Command::new("skopeo").args([
        "copy",
        &img.transport(),
        &format!("oci-archive:{}:ris.example/nginx:1", archive.display()),
    ]));
    let root = tempfile::Builder::new()
        .prefix("ris-data-")
        .tempdir()
        .unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(bin("rcrun"))
                .arg("--data-root")
                .arg(root.path())
                .args(["--debug", "load", "-i"])
                .arg(&archive)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut unpacks = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a concurrent load failed: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("ris.example/nginx:1"));
        unpacks += err.matches("unpacked layer").count();
    }
    assert_eq!(
        unpacks, 3,
        "each of the 3 layers must be unpacked exactly once"
    );
    let layers: Vec<String> = fs::read_dir(root.path().join("images/layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(layers.len(), 3, "{layers:?}");
    assert!(layers.iter().all(|l| !l.starts_with(".tmp")));
    assert_eq!(
        fs::read_dir(root.path().join("images/tmp"))
            .unwrap()
            .count(),
        0
    );
    let out = run_ok(
        Command::new(bin("rcrun"))
            .arg("--data-root")
            .arg(root.path())
            .args(["images", "-q"]),
    );
    assert_eq!(out.lines().count(), 1, "{out}");
}
