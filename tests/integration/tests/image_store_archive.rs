//! `rcrun load` of archives written by skopeo (a client rcrun did not
//! write), `rcrun save` read back by skopeo and by `rcrun load`, `rcrun
//! import` of a rootfs tarball, all through the `rcrun` binary.

mod image_common;

use std::fs;
use std::path::Path;
use std::process::Command;

use image_common::{data_root, images_json, rcrun};
use rcrun_it::bins::{run, run_ok};
use rcrun_it::images::{busybox_oci_layout, gzip, nginx_oci_layout, tar_of_dir, OciImage};
use serde_json::Value;

fn skopeo(args: &[&str]) -> String {
    run_ok(Command::new("skopeo").args(args))
}

fn busybox(dir: &Path) -> OciImage {
    busybox_oci_layout(&dir.join("layout"))
}

/// The unpacked bottom layer of `image` holds busybox.
fn assert_busybox_unpacked(root: &Path, image: &str) {
    let out = run_ok(rcrun(root).args(["image", "inspect", image]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let dir = v[0]["LayerDirs"][0].as_str().unwrap();
    assert!(
        Path::new(dir).join("bin/busybox").is_file(),
        "{dir} lacks bin/busybox"
    );
    assert_eq!(v[0]["Config"]["Cmd"], serde_json::json!(["sh"]));
}

#[test]
fn load_docker_archive_written_by_skopeo() {
    let work = tempfile::tempdir().unwrap();
    let img = busybox(work.path());
    let archive = work.path().join("bb-docker.tar");
    skopeo(&[
        "copy",
        &img.transport(),
        &format!("docker-archive:{}:busybox:latest", archive.display()),
    ]);
    let root = data_root();
    let out = run_ok(rcrun(root.path()).args(["load", "-i"]).arg(&archive));
    assert!(
        out.contains("Loaded image: docker.io/library/busybox:latest"),
        "{out}"
    );
    let list = images_json(root.path());
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0]["id"],
        img.config_digest.as_str(),
        "image id is the config digest"
    );
    assert_busybox_unpacked(root.path(), "busybox");

    // `rcrun load` without -i reads the archive from stdin.
    let root2 = data_root();
    let out = rcrun(root2.path())
        .arg("load")
        .stdin(fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        images_json(root2.path())[0]["id"],
        img.config_digest.as_str()
    );
}

#[test]
fn load_oci_archive_written_by_skopeo() {
    let work = tempfile::tempdir().unwrap();
    let img = busybox(work.path());
    let archive = work.path().join("bb-oci.tar");
    skopeo(&[
        "copy",
        &img.transport(),
        &format!(
            "oci-archive:{}:ris.example/tools/busybox:1.0",
            archive.display()
        ),
    ]);
    let root = data_root();
    let out = run_ok(rcrun(root.path()).args(["load", "-i"]).arg(&archive));
    assert!(
        out.contains("Loaded image: ris.example/tools/busybox:1.0"),
        "{out}"
    );
    let list = images_json(root.path());
    assert_eq!(
        list[0]["manifest_digest"],
        img.manifest_digest.as_str(),
        "skopeo copied the manifest as is"
    );
    // Short names resolve to the one image whose repository ends in busybox.
    assert_busybox_unpacked(root.path(), "busybox:1.0");
}

#[test]
fn load_oci_layout_directory() {
    let work = tempfile::tempdir().unwrap();
    let img = nginx_oci_layout(&work.path().join("layout"));
    let root = data_root();
    let out = run_ok(rcrun(root.path()).args(["load", "-i"]).arg(&img.dir));
    assert!(out.contains("docker.io/library/nginx:latest"), "{out}");
    let v: Value = serde_json::from_str(&run_ok(
        rcrun(root.path()).args(["image", "inspect", "nginx"]),
    ))
    .unwrap();
    let dirs: Vec<&str> = v[0]["LayerDirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(dirs.len(), 3);
    assert!(Path::new(dirs[2]).join("usr/sbin/nginx").is_file());
    assert_eq!(v[0]["Config"]["StopSignal"], "SIGQUIT");
}

#[test]
fn save_then_load_round_trips_in_both_formats_and_skopeo_reads_them() {
    let work = tempfile::tempdir().unwrap();
    let img = busybox(work.path());
    let root = data_root();
    run_ok(rcrun(root.path()).args(["load", "-q", "-i"]).arg(&img.dir));
    run_ok(rcrun(root.path()).args(["tag", "busybox", "ris.example/bb:saved"]));
    for (format, transport) in [
        ("oci-archive", "oci-archive"),
        ("docker-archive", "docker-archive"),
    ] {
        let out = work.path().join(format!("saved-{format}.tar"));
        run_ok(
            rcrun(root.path())
                .args(["save", "--format", format, "-o"])
                .arg(&out)
                .arg("ris.example/bb:saved"),
        );
        let inspected = skopeo(&["inspect", &format!("{transport}:{}", out.display())]);
        let v: Value = serde_json::from_str(&inspected).unwrap();
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1, "{inspected}");

        let root2 = data_root();
        let loaded = run_ok(rcrun(root2.path()).args(["load", "-i"]).arg(&out));
        assert!(
            loaded.contains("ris.example/bb:saved"),
            "{format}: {loaded}"
        );
        let list = images_json(root2.path());
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0]["id"],
            img.config_digest.as_str(),
            "{format}: same image id after the round trip"
        );
        if format == "oci-archive" {
            assert_eq!(list[0]["manifest_digest"], img.manifest_digest.as_str());
        }
        assert_busybox_unpacked(root2.path(), "ris.example/bb:saved");
    }
}

#[test]
fn save_of_unknown_image_fails_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let root = data_root();
    let out = work.path().join("none.tar");
    let o = run(rcrun(root.path())
        .args(["save", "-o"])
        .arg(&out)
        .arg("ris-missing"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(work.path()).unwrap().count(),
        0,
        "a temp file was left behind"
    );
}

#[test]
fn import_rootfs_tarball_makes_a_one_layer_image() {
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    rcrun_it::bundle::make_busybox_rootfs(&rootfs);
    let tarball = work.path().join("rootfs.tar.gz");
    fs::write(&tarball, gzip(&tar_of_dir(&rootfs))).unwrap();
    let root = data_root();
    let id = run_ok(
        rcrun(root.path())
            .arg("import")
            .arg(&tarball)
            .arg("ris/imported:v1"),
    );
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let v: Value = serde_json::from_str(&run_ok(rcrun(root.path()).args([
        "image",
        "inspect",
        "ris/imported:v1",
    ])))
    .unwrap();
    assert_eq!(v[0]["Id"], id.trim());
    assert_eq!(v[0]["RootFS"]["diff_ids"].as_array().unwrap().len(), 1);
    let dir = v[0]["LayerDirs"][0].as_str().unwrap();
    assert!(Path::new(dir).join("bin/busybox").is_file());
    // From stdin, without a name: a dangling image, listed as <none>.
    let f = fs::File::open(&tarball).unwrap();
    let out = rcrun(root.path())
        .args(["import", "-"])
        .stdin(f)
        .output()
        .unwrap();
    assert!(out.status.success());
    // Same content, same diff_id and layer; a new config (new created time),
    // so a second image, without a name.
    let list = images_json(root.path());
    assert_eq!(list.len(), 2);
    assert_eq!(
        list.iter()
            .filter(|i| i["names"].as_array().unwrap().is_empty())
            .count(),
        1
    );
    let table = run_ok(rcrun(root.path()).arg("images"));
    assert!(
        table.contains("ris/imported") && table.contains("<none>"),
        "{table}"
    );
}

#[test]
fn load_refuses_an_archive_whose_blob_does_not_match_its_digest() {
    let work = tempfile::tempdir().unwrap();
    let img = busybox(work.path());
    // Corrupt the layer blob of the layout, then archive it with tar.
    let layer = img
        .dir
        .join("blobs/sha256")
        .join(&img.layer_digests[0]["sha256:".len()..]);
    let mut data = fs::read(&layer).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    fs::write(&layer, data).unwrap();
    let archive = work.path().join("bad.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&img.dir)
            .arg("-cf")
            .arg(&archive)
            .arg("."),
    );
    let root = data_root();
    let o = run(rcrun(root.path()).args(["load", "-i"]).arg(&archive));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("digest mismatch") && err.contains(&img.layer_digests[0]),
        "{err}"
    );
    assert!(!rcrun_image::Store::open(root.path())
        .unwrap()
        .has_blob(&img.layer_digests[0]));
    assert!(images_json(root.path()).is_empty());
    let blobs = root.path().join("images/blobs/sha256");
    assert_eq!(
        fs::read_dir(&blobs).unwrap().count(),
        0,
        "a refused load left blobs"
    );
}

#[test]
fn import_of_a_hostile_tarball_is_refused_and_leaves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("evil.tar");
    let layer = rcrun_it::images::LayerTar::new()
        .file("ok", 0o644, b"fine")
        .hardlink("passwd", "/etc/passwd")
        .finish();
    fs::write(&tarball, layer).unwrap();
    let root = data_root();
    let o = run(rcrun(root.path())
        .arg("import")
        .arg(&tarball)
        .arg("ris/evil"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("\"passwd\"") && err.contains("hardlink"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(images_json(root.path()).is_empty());
    let images = root.path().join("images");
    assert_eq!(
        fs::read_dir(images.join("blobs/sha256")).unwrap().count(),
        0
    );
    assert_eq!(fs::read_dir(images.join("layers")).unwrap().count(), 0);
}
