//! Blob ingest is verified (a mismatch leaves nothing), and the per-blob
//! lock makes a second downloader wait and then find the blob present.

mod image_common;

use std::fs;
use std::sync::mpsc;
use std::time::Duration;

use image_common::data_root;
use rcrun_image::{ImageError, Store};
use rcrun_it::images::sha256;

fn tmp_is_empty(store: &Store) -> bool {
    fs::read_dir(store.root().join("tmp")).unwrap().count() == 0
}

#[test]
fn ingest_with_a_wrong_digest_leaves_nothing() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let claimed = sha256(b"what the manifest promised");
    let err = store
        .ingest_blob(&claimed, &mut &b"what the registry sent"[..])
        .unwrap_err();
    match err {
        ImageError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, sha256(b"what the registry sent"));
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert!(!store.has_blob(&claimed));
    assert!(tmp_is_empty(&store));
    assert_eq!(
        fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );

    // The same for a file downloaded into the store's tmp dir.
    let tmp = store.temp_file().unwrap();
    fs::write(tmp.path(), b"corrupt").unwrap();
    let (_, path) = tmp.keep().unwrap();
    assert!(matches!(
        store.ingest_file(&claimed, &path),
        Err(ImageError::DigestMismatch { .. })
    ));
    assert!(!path.exists(), "the rejected download was left behind");
    assert!(!store.has_blob(&claimed));

    // Right content: stored under its digest, once.
    let good = sha256(b"ok");
    let p = store.ingest_blob(&good, &mut &b"ok"[..]).unwrap();
    assert_eq!(fs::read(p).unwrap(), b"ok");
    assert!(store.has_blob(&good));
    assert!(store.ingest_blob(&good, &mut &b"not even read"[..]).is_ok());
    assert!(matches!(
        store.ingest_blob("sha256:../../etc", &mut &b""[..]),
        Err(ImageError::InvalidDigest { .. })
    ));
}

#[test]
fn second_downloader_waits_for_the_blob_lock_then_sees_the_blob() {
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let data = b"layer bytes".to_vec();
    let digest = sha256(&data);
    let first = store.lock_blob(&digest).unwrap();
    let (tx, rx) = mpsc::channel();
    let other = {
        let store = store.clone();
        let digest = digest.clone();
        std::thread::spawn(move || {
            tx.send(()).unwrap();
            // A separate open file description: flock conflicts as between processes.
            let _lock = store.lock_blob(&digest).unwrap();
            store.has_blob(&digest)
        })
    };
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    store.ingest_blob(&digest, &mut &data[..]).unwrap();
    drop(first);
    assert!(
        other.join().unwrap(),
        "the second downloader got the lock before the first finished"
    );
}

#[test]
fn store_dir_is_private_so_host_users_cannot_reach_setuid_files_in_layers() {
    use std::os::unix::fs::PermissionsExt;
    let root = data_root();
    let store = Store::open(root.path()).unwrap();
    let mode = fs::metadata(store.root()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}
