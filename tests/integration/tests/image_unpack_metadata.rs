//! Layer unpacking keeps what the tar says: owners, modes with setuid and
//! setgid, xattrs including security.capability, mtimes, symlinks, device
//! nodes and fifos; gzip, zstd and plain layers all unpack.

mod image_common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use image_common::{data_root, lgetxattr};
use rcrun_image::Store;
use rcrun_it::images::{commit_layers, gzip, plain, zstd_compress, LayerTar};
use serde_json::json;

/// vfs_cap_data revision 2 granting CAP_NET_BIND_SERVICE (bit 10), effective.
fn net_bind_cap() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes()); // VFS_CAP_REVISION_2 | EFFECTIVE
    v.extend_from_slice(&(1u32 << 10).to_le_bytes()); // permitted lo
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable lo
    v.extend_from_slice(&0u32.to_le_bytes()); // permitted hi
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable hi
    v
}

#[test]
fn ownership_modes_setuid_xattrs_devices_preserved() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let cap = net_bind_cap();
    let layer = LayerTar::new()
        .dir("bin/", 0o755)
        // Owned by a user: chown must come before chmod or the setuid bit is lost,
        // and before the capability xattr or chown clears it.
        .file_full(
            "bin/suid",
            0o4755,
            (1234, 5678),
            1_500_000_000,
            &[("user.test", b"hello")],
            b"suid",
        )
        .file_full("bin/sgid", 0o2711, (0, 42), 1_500_000_001, &[], b"sgid")
        .file_full(
            "bin/capped",
            0o750,
            (33, 33),
            1_500_000_002,
            &[("security.capability", &cap)],
            b"cap",
        )
        .dir("tmp/", 0o1777)
        .dir("dev/", 0o755)
        .node("dev/null", tar::EntryType::Char, 1, 3, 0o666)
        .node("dev/loop9", tar::EntryType::Block, 7, 9, 0o660)
        .node("dev/fifo", tar::EntryType::Fifo, 0, 0, 0o600)
        .symlink("bin/sh", "/bin/busybox")
        .finish();
    let img = commit_layers(&store, "ris/meta", &[layer], gzip, json!({})).unwrap();
    let dir = &store.layer_dirs(&img)[0];

    let m = fs::metadata(dir.join("bin/suid")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    assert_eq!(m.mode() & 0o7777, 0o4755, "setuid kept after chown");
    assert_eq!(m.mtime(), 1_500_000_000);
    assert_eq!(
        lgetxattr(&dir.join("bin/suid"), "user.test").as_deref(),
        Some(&b"hello"[..])
    );

    let m = fs::metadata(dir.join("bin/sgid")).unwrap();
    assert_eq!(m.gid(), 42);
    assert_eq!(m.mode() & 0o7777, 0o2711);

    let m = fs::metadata(dir.join("bin/capped")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (33, 0o750));
    assert_eq!(
        lgetxattr(&dir.join("bin/capped"), "security.capability"),
        Some(cap)
    );

    assert_eq!(
        fs::metadata(dir.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );

    let null = fs::symlink_metadata(dir.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.mode() & 0o777, 0o666);
    let lp = fs::symlink_metadata(dir.join("dev/loop9")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), libc::makedev(7, 9));
    assert!(fs::symlink_metadata(dir.join("dev/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        fs::read_link(dir.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    // Directory mtimes are set after their children were written.
    assert_eq!(
        fs::metadata(dir.join("bin")).unwrap().mtime(),
        1_600_000_000
    );
}

#[test]
fn gzip_zstd_and_plain_layers_unpack() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let l = |name: &str| LayerTar::new().file(name, 0o644, name.as_bytes()).finish();
    let img = commit_layers(&store, "ris/gz", &[l("gz")], gzip, json!({})).unwrap();
    assert_eq!(
        fs::read(store.layer_dirs(&img)[0].join("gz")).unwrap(),
        b"gz"
    );
    let img = commit_layers(&store, "ris/zst", &[l("zst")], zstd_compress, json!({})).unwrap();
    assert_eq!(
        fs::read(store.layer_dirs(&img)[0].join("zst")).unwrap(),
        b"zst"
    );
    let img = commit_layers(&store, "ris/tar", &[l("tar")], plain, json!({})).unwrap();
    assert_eq!(
        fs::read(store.layer_dirs(&img)[0].join("tar")).unwrap(),
        b"tar"
    );
}
