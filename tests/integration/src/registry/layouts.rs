//! Image layouts the registry tests push: a two-platform index, an image
//! whose layers are gzip, zstd and uncompressed, and images sharing all but
//! one layer with busybox and nginx (built on [`crate::images`]).

use std::fs;
use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};

use crate::images::{self, sha256, OciImage};

/// A layer tar holding one file `path` with `content`.
pub fn file_layer(path: &str, content: &str) -> Vec<u8> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let full = tmp.path().join(path);
    fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    fs::write(&full, content).expect("write layer file");
    images::tar_of_dir(tmp.path())
}

/// In the layout `dir`: busybox for the host (ref `amd64`, or the host's
/// arch) and a fake `linux/arm64` image (busybox's layer plus
/// `/etc/rir-platform` = `arm64`, ref `arm64`), and an image index over both
/// under ref `multi`. Returns (host image, arm64 image, index digest).
pub fn two_platform_layout(dir: &Path) -> (OciImage, OciImage, String) {
    let busybox = images::busybox_layer();
    let env = json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]});
    let host = images::write_oci_layout(
        dir,
        "host",
        &[
            busybox.clone(),
            file_layer("etc/rir-platform", images::host_arch()),
        ],
        env.clone(),
        images::host_arch(),
    );
    let arm = images::write_oci_layout(
        dir,
        "arm64",
        &[busybox, file_layer("etc/rir-platform", "arm64")],
        env,
        "arm64",
    );
    let entry = |img: &OciImage, arch: &str| {
        let body = blob(dir, &img.manifest_digest);
        let mut p = json!({"architecture": arch, "os": "linux"});
        if arch == "arm64" {
            p["variant"] = json!("v8");
        }
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
               "digest": img.manifest_digest, "size": body.len(), "platform": p})
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&host, images::host_arch()), entry(&arm, "arm64")],
    });
    let index_bytes = serde_json::to_vec(&index).expect("index json");
    let index_digest = put_blob(dir, &index_bytes);
    add_ref(
        dir,
        "multi",
        "application/vnd.oci.image.index.v1+json",
        &index_digest,
        index_bytes.len(),
    );
    (host, arm, index_digest)
}

/// Compression of a layer in [`mixed_compression_layout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `tar+gzip`.
    Gzip,
    /// `tar+zstd`.
    Zstd,
    /// plain `tar`.
    None,
}

/// An image (ref `mixed`) in the layout `dir` whose layers are busybox
/// (gzip), `/etc/rir-zstd` (zstd) and `/etc/rir-plain` (uncompressed).
/// Returns the manifest digest.
pub fn mixed_compression_layout(dir: &Path) -> String {
    let layers = [
        (images::busybox_layer(), Compression::Gzip),
        (
            file_layer("etc/rir-zstd", "zstd layer\n"),
            Compression::Zstd,
        ),
        (
            file_layer("etc/rir-plain", "plain layer\n"),
            Compression::None,
        ),
    ];
    fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir layout");
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for (tar, c) in &layers {
        diff_ids.push(sha256(tar));
        let (data, media_type) = match c {
            Compression::Gzip => (
                images::gzip(tar),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            Compression::Zstd => (
                zstd::encode_all(&tar[..], 3).expect("zstd"),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            Compression::None => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
        };
        let d = put_blob(dir, &data);
        descs.push(json!({"mediaType": media_type, "digest": d, "size": data.len()}));
    }
    let config = json!({
        "architecture": images::host_arch(), "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config_bytes = serde_json::to_vec(&config).expect("config json");
    let config_digest = put_blob(dir, &config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_bytes.len()},
        "layers": descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest json");
    let digest = put_blob(dir, &manifest_bytes);
    add_ref(
        dir,
        "mixed",
        "application/vnd.oci.image.manifest.v1+json",
        &digest,
        manifest_bytes.len(),
    );
    digest
}

/// An image (ref `busybox-plus`) in the layout `dir` with busybox's layer
/// and one more (`/etc/rir-extra`): it shares all but one layer with
/// [`images::busybox_oci_layout`].
pub fn busybox_plus_layout(dir: &Path) -> OciImage {
    images::write_oci_layout(
        dir,
        "busybox-plus",
        &[
            images::busybox_layer(),
            file_layer("etc/rir-extra", "one more layer\n"),
        ],
        json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}),
        images::host_arch(),
    )
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    fs::read(
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .expect("read blob")
}

fn put_blob(dir: &Path, data: &[u8]) -> String {
    let d = sha256(data);
    let p = dir
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"));
    fs::create_dir_all(p.parent().expect("blob dir")).expect("mkdir blobs");
    fs::write(p, data).expect("write blob");
    d
}

fn add_ref(dir: &Path, name: &str, media_type: &str, digest: &str, size: usize) {
    let path = dir.join("index.json");
    let mut index: Value = fs::read(&path)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
    let list = index["manifests"].as_array_mut().expect("index manifests");
    list.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != name);
    list.push(
        json!({"mediaType": media_type, "digest": digest, "size": size,
                     "annotations": {"org.opencontainers.image.ref.name": name}}),
    );
    fs::write(
        &path,
        serde_json::to_vec_pretty(&index).expect("index json"),
    )
    .expect("write index.json");
}

/// An image (ref `nginx-plus`) in the layout `dir` holding `nginx` (from
/// [`images::nginx_oci_layout`] in the same layout): nginx's three layers
/// (same blobs: the tars are re-compressed deterministically) plus one more
/// (`/etc/rir-extra`), so it shares all but one layer with nginx.
pub fn nginx_plus_layout(dir: &Path, nginx: &OciImage) -> OciImage {
    let mut layers: Vec<Vec<u8>> = nginx
        .layer_digests
        .iter()
        .map(|d| {
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(&blob(dir, d)[..])
                .read_to_end(&mut tar)
                .expect("gunzip nginx layer");
            tar
        })
        .collect();
    layers.push(file_layer("etc/rir-extra", "one more layer\n"));
    let plus = images::write_oci_layout(
        dir,
        "nginx-plus",
        &layers,
        json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["nginx", "-g", "daemon off;"]}),
        images::host_arch(),
    );
    assert_eq!(
        plus.layer_digests[..3],
        nginx.layer_digests[..],
        "layers shared with nginx"
    );
    plus
}
