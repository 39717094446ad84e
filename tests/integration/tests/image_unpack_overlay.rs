//! Whiteouts and opaque dirs become overlayfs whiteouts, and the merged
//! overlay rootfs shows what the image means: lower files hidden, the upper
//! layer's own files kept, writes going to the container's upper dir.

mod image_common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use image_common::{data_root, lgetxattr};
use rcrun_image::rootfs::{mount_rootfs, remove_rootfs, unmount_rootfs};
use rcrun_image::Store;
use rcrun_it::images::{commit_layers, gzip, plain, LayerTar};
use serde_json::json;

/// An overlay mount unmounted (and its upper/work removed) on drop.
struct Mounted {
    upper: PathBuf,
    work: PathBuf,
    target: PathBuf,
}

impl Mounted {
    fn new(base: &Path, layers: &[PathBuf]) -> Self {
        let m = Mounted {
            upper: base.join("upper"),
            work: base.join("work"),
            target: base.join("merged"),
        };
        mount_rootfs(layers, &m.upper, &m.work, &m.target).unwrap();
        m
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = remove_rootfs(&self.upper, &self.work, &self.target);
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn whiteouts_and_opaque_dirs_in_the_merged_rootfs() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let lower = LayerTar::new()
        .dir("etc/", 0o755)
        .file("etc/keep", 0o644, b"keep")
        .file("etc/gone", 0o644, b"gone")
        .dir("opq/", 0o755)
        .file("opq/old", 0o644, b"old")
        .dir("dir/", 0o755)
        .file("dir/inner", 0o644, b"inner")
        .file("replaced", 0o644, b"lower")
        .finish();
    let upper = LayerTar::new()
        .dir("etc/", 0o755)
        .file("etc/.wh.gone", 0o644, b"")
        .dir("opq/", 0o755)
        .file("opq/.wh..wh..opq", 0o644, b"")
        .file("opq/new", 0o644, b"new")
        // Same layer creates `mine` and then whites it out: it must survive.
        .file("mine", 0o644, b"mine")
        .file(".wh.mine", 0o644, b"")
        // A whiteout first, then the same name as a directory: an opaque dir.
        .file(".wh.dir", 0o644, b"")
        .dir("dir/", 0o755)
        .file("dir/fresh", 0o644, b"fresh")
        // A whiteout, then a file of that name: the file.
        .file(".wh.replaced", 0o644, b"")
        .file("replaced", 0o644, b"upper")
        .finish();
    let img = commit_layers(&store, "ris/wh", &[lower, upper], gzip, json!({})).unwrap();
    let dirs = store.layer_dirs(&img);
    assert_eq!(dirs.len(), 2);

    // The upper layer dir holds overlayfs whiteouts, not `.wh.` files.
    let wh = fs::symlink_metadata(dirs[1].join("etc/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "etc/gone should be a 0:0 whiteout"
    );
    assert!(!dirs[1].join("etc/.wh.gone").exists());
    assert_eq!(
        lgetxattr(&dirs[1].join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        lgetxattr(&dirs[1].join("dir"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );

    let base = tempfile::Builder::new()
        .prefix("ris-ovl-")
        .tempdir()
        .unwrap();
    let m = Mounted::new(base.path(), &dirs);
    let merged = &m.target;
    assert_eq!(names(&merged.join("etc")), ["keep"]);
    assert_eq!(names(&merged.join("opq")), ["new"]);
    assert_eq!(names(&merged.join("dir")), ["fresh"]);
    assert_eq!(fs::read(merged.join("mine")).unwrap(), b"mine");
    assert_eq!(fs::read(merged.join("replaced")).unwrap(), b"upper");

    // Writes go to the container's upper dir; the image layers stay as they were.
    fs::write(merged.join("etc/keep"), b"changed").unwrap();
    fs::remove_file(merged.join("replaced")).unwrap();
    assert_eq!(fs::read(dirs[0].join("etc/keep")).unwrap(), b"keep");
    assert_eq!(fs::read(dirs[1].join("replaced")).unwrap(), b"upper");
    assert_eq!(fs::read(m.upper.join("etc/keep")).unwrap(), b"changed");

    unmount_rootfs(merged).unwrap();
    assert!(
        names(merged).is_empty(),
        "target still shows the overlay after unmount"
    );
}

#[test]
fn overlay_with_more_layers_than_mount_options_fit() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    // 60 layers of ~100-byte paths: over the 4096-byte mount(2) option limit.
    let layers: Vec<Vec<u8>> = (0..60)
        .map(|i| {
            LayerTar::new()
                .file(&format!("f{i:02}"), 0o644, format!("{i}").as_bytes())
                .finish()
        })
        .collect();
    let img = commit_layers(&store, "ris/many", &layers, plain, json!({})).unwrap();
    let dirs = store.layer_dirs(&img);
    let opts: usize = dirs.iter().map(|d| d.as_os_str().len() + 1).sum();
    assert!(
        opts > 4096,
        "test needs lowerdir longer than a page, got {opts}"
    );
    let base = tempfile::Builder::new()
        .prefix("ris-ovl-")
        .tempdir()
        .unwrap();
    let m = Mounted::new(base.path(), &dirs);
    assert_eq!(names(&m.target).len(), 60);
    assert_eq!(fs::read(m.target.join("f59")).unwrap(), b"59");
    drop(m);
    assert!(!base.path().join("merged").exists());
    assert!(!base.path().join("upper").exists());
}

#[test]
fn layers_shared_between_images_are_unpacked_once() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let base = LayerTar::new().file("base", 0o644, b"base").finish();
    let a = LayerTar::new().file("a", 0o644, b"a").finish();
    let b = LayerTar::new().file("b", 0o644, b"b").finish();
    let one = commit_layers(&store, "ris/one", &[base.clone(), a], gzip, json!({})).unwrap();
    let before = fs::metadata(&store.layer_dirs(&one)[0]).unwrap().ino();
    let two = commit_layers(&store, "ris/two", &[base, b], gzip, json!({})).unwrap();
    assert_eq!(one.layers[0].chain_id, two.layers[0].chain_id);
    assert_ne!(one.layers[1].chain_id, two.layers[1].chain_id);
    assert_eq!(
        fs::metadata(&store.layer_dirs(&two)[0]).unwrap().ino(),
        before,
        "shared layer was unpacked again"
    );
    assert_eq!(names(&store.root().join("layers")).len(), 3);
}

#[test]
fn process_config_reads_users_from_the_merged_rootfs_not_the_host() {
    use rcrun_image::spec::{process_config, RunOverrides};
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    // The image's /etc/passwd is an absolute symlink: it must resolve inside
    // the rootfs (to the image's file), never to the host's /etc/passwd.
    let base = LayerTar::new()
        .dir("etc/", 0o755)
        .file(
            "etc/passwd.image",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\nris-app:x:777:778::/home/app:/bin/sh\n",
        )
        .symlink("etc/passwd", "/etc/passwd.image")
        .file(
            "etc/group",
            0o644,
            b"root:x:0:\nris-grp:x:778:\nris-extra:x:900:ris-app\n",
        )
        .finish();
    let img = commit_layers(
        &store,
        "ris/spec",
        &[base],
        gzip,
        json!({"User": "ris-app", "Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "Env": ["A=1"],
               "WorkingDir": "/srv", "ExposedPorts": {"8080/tcp": {}}, "StopSignal": "SIGINT"}),
    )
    .unwrap();
    let config = store.image_config(&img).unwrap();
    let base = tempfile::Builder::new()
        .prefix("ris-ovl-")
        .tempdir()
        .unwrap();
    let m = Mounted::new(base.path(), &store.layer_dirs(&img));
    let ov = RunOverrides {
        args: vec!["--check".into()],
        env: vec!["B=2".into()],
        ..Default::default()
    };
    let pc = process_config(&config, &m.target, &ov, "ris/spec").unwrap();
    assert_eq!(pc.args, ["/bin/app", "--check"]);
    assert_eq!((pc.user.uid, pc.user.gid), (777, 778));
    assert_eq!(pc.user.additional_gids, [900]);
    assert!(
        pc.env.contains(&"HOME=/home/app".to_string()),
        "{:?}",
        pc.env
    );
    assert!(pc.env.contains(&"A=1".to_string()) && pc.env.contains(&"B=2".to_string()));
    assert_eq!(pc.cwd, "/srv");
    assert_eq!(pc.stop_signal_number, libc::SIGINT);
    assert_eq!(pc.exposed_ports[0].port, 8080);
    // `root` exists on the host too, but a name only the host knows fails.
    let err = process_config(
        &config,
        &m.target,
        &RunOverrides {
            user: Some("daemon".into()),
            ..Default::default()
        },
        "ris/spec",
    )
    .unwrap_err();
    assert!(err.to_string().contains("daemon"), "{err}");
}
