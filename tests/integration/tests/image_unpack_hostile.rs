//! Hostile layer tarballs: nothing is written outside the layer dir, and
//! refused input is an error naming the entry, leaving no layer behind.

mod image_common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use image_common::data_root;
use rcrun_image::{ImageError, Store};
use rcrun_it::images::{commit_layers, plain, LayerTar};
use serde_json::json;

/// A directory outside the data root that must stay empty.
struct Canary(tempfile::TempDir);

impl Canary {
    fn new() -> Self {
        Canary(
            tempfile::Builder::new()
                .prefix("ris-canary-")
                .tempdir()
                .unwrap(),
        )
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    /// The canary path without its leading `/` (as a tar path).
    fn rel(&self) -> String {
        self.path()
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .to_string()
    }
    fn assert_untouched(&self) {
        let entries: Vec<PathBuf> = fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            entries.is_empty(),
            "something was written outside the layer: {entries:?}"
        );
    }
}

/// The layer dirs and temp dirs under the store (must be none after a refusal).
fn layer_dirs(store: &Store) -> Vec<String> {
    fs::read_dir(store.root().join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Commit the one-layer image `name` and expect a `BadLayerEntry` error
/// naming `entry`; returns the error's text.
fn expect_entry_error(store: &Store, name: &str, layer: Vec<u8>, entry: &str) -> String {
    match commit_layers(store, name, &[layer], plain, json!({})) {
        Err(e @ ImageError::BadLayerEntry { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(entry), "error should name {entry:?}: {msg}");
            msg
        }
        other => panic!("expected a BadLayerEntry error naming {entry:?}, got {other:?}"),
    }
}

#[test]
fn dotdot_path_is_refused_naming_the_entry() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let canary = Canary::new();
    let climb = format!("../../../../../../../../../../{}/evil", canary.rel());
    let layer = LayerTar::new()
        .dir("ok/", 0o755)
        .file(&climb, 0o644, b"pwned")
        .finish();
    let msg = expect_entry_error(&store, "ris/dotdot", layer, "evil");
    assert!(msg.contains(".."), "{msg}");
    canary.assert_untouched();
    assert!(
        layer_dirs(&store).is_empty(),
        "a refused layer left {:?}",
        layer_dirs(&store)
    );
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn absolute_symlink_then_write_through_it_stays_in_the_layer() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let canary = Canary::new();
    let abs = canary.path().to_str().unwrap().to_string();
    // The link's target exists inside the layer too: the write lands there.
    let mut t = LayerTar::new();
    let mut acc = String::new();
    for comp in canary.rel().split('/') {
        acc.push_str(comp);
        acc.push('/');
        t.dir(&acc, 0o755);
    }
    let layer = t
        .symlink("escape", &abs)
        .file("escape/pwned", 0o644, b"inside")
        .finish();
    let img = commit_layers(&store, "ris/abslink", &[layer], plain, json!({})).unwrap();
    canary.assert_untouched();
    let dir = &store.layer_dirs(&img)[0];
    assert_eq!(
        fs::read(dir.join(canary.rel()).join("pwned")).unwrap(),
        b"inside"
    );
    assert_eq!(
        fs::read_link(dir.join("escape")).unwrap(),
        PathBuf::from(&abs)
    );

    // Without the directory in the layer, the write is refused, not sent to the host.
    let store2_root = data_root();
    let store2 = Store::open(store2_root.path()).unwrap();
    let layer = LayerTar::new()
        .symlink("escape", &abs)
        .file("escape/pwned", 0o644, b"x")
        .finish();
    expect_entry_error(&store2, "ris/abslink2", layer, "escape/pwned");
    canary.assert_untouched();
    assert!(layer_dirs(&store2).is_empty());
}

#[test]
fn relative_symlink_climbing_out_stays_in_the_layer() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let canary = Canary::new();
    let up = format!("../../../../../../../../../../../../{}", canary.rel());
    let mut t = LayerTar::new();
    let mut acc = String::new();
    for comp in canary.rel().split('/') {
        acc.push_str(comp);
        acc.push('/');
        t.dir(&acc, 0o755);
    }
    let layer = t
        .dir("a/", 0o755)
        .symlink("a/up", &up)
        .file("a/up/pwned", 0o644, b"clamped")
        .symlink("a/dots", "../../..")
        .file("a/dots/top", 0o644, b"root")
        .finish();
    let img = commit_layers(&store, "ris/rellink", &[layer], plain, json!({})).unwrap();
    canary.assert_untouched();
    let dir = &store.layer_dirs(&img)[0];
    assert_eq!(
        fs::read(dir.join(canary.rel()).join("pwned")).unwrap(),
        b"clamped"
    );
    // `..` past the root stops at the layer root.
    assert_eq!(fs::read(dir.join("top")).unwrap(), b"root");
}

#[test]
fn hardlink_to_host_passwd_is_refused_and_passwd_untouched() {
    let before = fs::metadata("/etc/passwd").unwrap();
    let before_data = fs::read("/etc/passwd").unwrap();
    for target in [
        "/etc/passwd",
        "../../../../../../../../etc/passwd",
        "etc/passwd",
    ] {
        let root = data_root();
        let store = Store::open(root.path()).unwrap();
        let layer = LayerTar::new().hardlink("stolen", target).finish();
        let msg = expect_entry_error(&store, "ris/hardlink", layer, "stolen");
        assert!(msg.contains("hardlink"), "{msg}");
        assert!(layer_dirs(&store).is_empty());
    }
    let after = fs::metadata("/etc/passwd").unwrap();
    assert_eq!(after.nlink(), before.nlink(), "/etc/passwd got a new link");
    assert_eq!(after.ino(), before.ino());
    assert_eq!(fs::read("/etc/passwd").unwrap(), before_data);
}

#[test]
fn hardlink_inside_the_layer_shares_the_inode() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let layer = LayerTar::new()
        .dir("bin/", 0o755)
        .file("bin/tool", 0o755, b"#!/bin/sh\n")
        .hardlink("bin/alias", "bin/tool")
        .finish();
    let img = commit_layers(&store, "ris/hlok", &[layer], plain, json!({})).unwrap();
    let dir = &store.layer_dirs(&img)[0];
    let a = fs::metadata(dir.join("bin/tool")).unwrap();
    let b = fs::metadata(dir.join("bin/alias")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);
}

#[test]
fn whiteouts_of_dot_and_dotdot_are_refused() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let layer = LayerTar::new()
        .dir("d/", 0o755)
        .file("d/.wh...", 0o644, b"")
        .finish();
    expect_entry_error(&store, "ris/whdot", layer, "d/.wh...");
}

#[test]
fn overlay_xattrs_in_a_layer_are_refused() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let layer = LayerTar::new()
        .file_full(
            "f",
            0o644,
            (0, 0),
            0,
            &[("trusted.overlay.redirect", b"/etc")],
            b"x",
        )
        .finish();
    expect_entry_error(&store, "ris/ovlx", layer, "f");
}

#[test]
fn diff_id_mismatch_is_refused_and_leaves_no_layer() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let layer = LayerTar::new().file("f", 0o644, b"data").finish();
    let wrong = rcrun_it::images::sha256(b"something else");
    let r = rcrun_it::images::commit_layers_with_diff_ids(
        &store,
        "ris/diffid",
        &[layer],
        plain,
        json!({}),
        vec![wrong.clone()],
    );
    match r {
        Err(ImageError::DiffIdMismatch { expected, .. }) => assert_eq!(expected, wrong),
        other => panic!("expected DiffIdMismatch, got {other:?}"),
    }
    assert!(layer_dirs(&store).is_empty());
    assert!(store.list().unwrap().is_empty());
}
