//! Test images built from Debian packages, as OCI image layouts (`oci:DIR`
//! for skopeo): a one-layer busybox image (busybox-static) and a three-layer
//! nginx image (the busybox layer, then nginx-light's shared libraries, then
//! nginx itself with a config and a passwd naming www-data). Layer tars are
//! deterministic, so the busybox layer of both images is the same blob.
//!
//! Also the pieces to build other images: [`tar_of_dir`], [`write_oci_layout`].

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::bundle::make_busybox_rootfs;

/// Where Debian's nginx-light puts its binary.
pub const NGINX: &str = "/usr/sbin/nginx";
/// The page the nginx test image serves at `/`.
pub const NGINX_INDEX_HTML: &str = "<h1>rcrun nginx test image</h1>\n";

/// An image written into an OCI image layout.
#[derive(Debug, Clone)]
pub struct OciImage {
    /// The layout directory.
    pub dir: PathBuf,
    /// `org.opencontainers.image.ref.name` of the image in `index.json`.
    pub ref_name: String,
    /// Manifest digest (`sha256:…`).
    pub manifest_digest: String,
    /// Config digest = image id.
    pub config_digest: String,
    /// Layer blob digests (gzip), bottom first.
    pub layer_digests: Vec<String>,
    /// Uncompressed layer digests, bottom first.
    pub diff_ids: Vec<String>,
}

impl OciImage {
    /// The skopeo/podman transport string: `oci:<dir>:<ref>`.
    pub fn transport(&self) -> String {
        format!("oci:{}:{}", self.dir.display(), self.ref_name)
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    let mut s = String::from("sha256:");
    for b in Sha256::digest(data) {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// GOARCH of this host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A deterministic, uncompressed tar of everything under `dir` (sorted,
/// owner 0:0, fixed mtime, symlinks kept as symlinks), paths relative to it.
pub fn tar_of_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    append_tree(&mut b, dir, Path::new(""));
    b.into_inner().expect("finish tar")
}

fn append_tree(b: &mut tar::Builder<Vec<u8>>, root: &Path, rel: &Path) {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))
        .expect("read dir for tar")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    names.sort();
    for n in names {
        let rel = rel.join(&n);
        let full = root.join(&rel);
        let md = fs::symlink_metadata(&full).expect("stat for tar");
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_mode(md.mode() & 0o7777);
        if md.file_type().is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            let target = fs::read_link(&full).expect("readlink");
            b.append_link(&mut h, &rel, &target).expect("tar symlink");
        } else if md.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel, std::io::empty())
                .expect("tar dir");
            append_tree(b, root, &rel);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(&full).expect("open for tar");
            b.append_data(&mut h, &rel, f).expect("tar file");
        }
    }
}

/// gzip `data` (deterministic: no name, mtime 0).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip finish")
}

fn write_blob(dir: &Path, data: &[u8]) -> String {
    let d = sha256(data);
    let p = dir.join("blobs/sha256").join(&d["sha256:".len()..]);
    fs::create_dir_all(p.parent().expect("blob dir")).expect("mkdir blobs");
    fs::write(&p, data).expect("write blob");
    d
}

/// Add an image to the OCI layout at `dir` (created if needed; an existing
/// `index.json` gets one more manifest): `layers` are uncompressed tars,
/// stored gzip-compressed; `exec_config` is the config's `config` section
/// (Cmd, Env, ...); `arch` is the GOARCH to declare.
pub fn write_oci_layout(
    dir: &Path,
    ref_name: &str,
    layers: &[Vec<u8>],
    exec_config: Value,
    arch: &str,
) -> OciImage {
    fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir layout");
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let mut diff_ids = Vec::new();
    let mut layer_descs = Vec::new();
    let mut layer_digests = Vec::new();
    for l in layers {
        diff_ids.push(sha256(l));
        let gz = gzip(l);
        let d = write_blob(dir, &gz);
        layer_descs.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": d, "size": gz.len()
        }));
        layer_digests.push(d);
    }
    let history: Vec<Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"created": "2023-11-14T22:13:20Z", "created_by": format!("rcrun test layer {i}")}))
        .collect();
    let config = json!({
        "created": "2023-11-14T22:13:20Z",
        "architecture": arch,
        "os": "linux",
        "config": exec_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).expect("config json");
    let config_digest = write_blob(dir, &config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_bytes.len()},
        "layers": layer_descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest json");
    let manifest_digest = write_blob(dir, &manifest_bytes);
    let index_path = dir.join("index.json");
    let mut index: Value = fs::read(&index_path)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
    let manifests = index["manifests"].as_array_mut().expect("index manifests");
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != ref_name);
    manifests.push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest_bytes.len(),
        "platform": {"architecture": arch, "os": "linux"},
        "annotations": {"org.opencontainers.image.ref.name": ref_name},
    }));
    fs::write(
        &index_path,
        serde_json::to_vec_pretty(&index).expect("index json"),
    )
    .expect("index.json");
    OciImage {
        dir: dir.to_path_buf(),
        ref_name: ref_name.to_string(),
        manifest_digest,
        config_digest,
        layer_digests,
        diff_ids,
    }
}

/// The uncompressed busybox layer (also the bottom layer of the nginx image).
pub fn busybox_layer() -> Vec<u8> {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_busybox_rootfs(tmp.path());
    tar_of_dir(tmp.path())
}

/// The busybox image (`ref_name` `busybox`), Cmd `sh`, in the layout `dir`.
pub fn busybox_oci_layout(dir: &Path) -> OciImage {
    write_oci_layout(
        dir,
        "busybox",
        &[busybox_layer()],
        json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        }),
        host_arch(),
    )
}

/// The nginx image (`ref_name` `nginx`) in the layout `dir`: busybox layer,
/// shared-library layer (what `ldd /usr/sbin/nginx` lists, at merged-/usr
/// paths, with `/lib -> usr/lib` and `/lib64 -> usr/lib64`), nginx layer
/// (binary, mime.types, an nginx.conf that runs in the foreground as
/// www-data on port 80 logging to stdout/stderr, an index page, passwd and
/// group with www-data). Cmd `nginx -g 'daemon off;'`, port 80/tcp,
/// StopSignal SIGQUIT.
pub fn nginx_oci_layout(dir: &Path) -> OciImage {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} missing: install the Debian nginx-light package"
    );
    write_oci_layout(
        dir,
        "nginx",
        &[busybox_layer(), nginx_libs_layer(), nginx_layer()],
        json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["nginx", "-g", "daemon off;"],
            "ExposedPorts": {"80/tcp": {}},
            "StopSignal": "SIGQUIT",
            "Labels": {"org.rcrun.test": "nginx"},
        }),
        host_arch(),
    )
}

/// Where a library path from ldd lives in a merged-/usr rootfs.
fn merged_usr(p: &str) -> String {
    for (old, new) in [("/lib64/", "/usr/lib64/"), ("/lib/", "/usr/lib/")] {
        if let Some(rest) = p.strip_prefix(old) {
            return format!("{new}{rest}");
        }
    }
    p.to_string()
}

fn nginx_libs_layer() -> Vec<u8> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let out = Command::new("ldd").arg(NGINX).output().expect("run ldd");
    assert!(out.status.success(), "ldd {NGINX} failed");
    fs::create_dir_all(root.join("usr/lib")).expect("mkdir usr/lib");
    fs::create_dir_all(root.join("usr/lib64")).expect("mkdir usr/lib64");
    symlink("usr/lib", root.join("lib")).expect("lib symlink");
    symlink("usr/lib64", root.join("lib64")).expect("lib64 symlink");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux... (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path else { continue };
        let dest = root.join(merged_usr(path).trim_start_matches('/'));
        fs::create_dir_all(dest.parent().expect("lib parent")).expect("mkdir lib dir");
        fs::copy(path, &dest).unwrap_or_else(|e| panic!("copy {path}: {e}"));
    }
    tar_of_dir(root)
}

fn nginx_layer() -> Vec<u8> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    for d in [
        "usr/sbin",
        "etc/nginx",
        "usr/share/nginx/html",
        "var/lib/nginx",
        "var/log/nginx",
        "run",
        "tmp",
    ] {
        fs::create_dir_all(root.join(d)).expect("mkdir nginx dirs");
    }
    fs::copy(NGINX, root.join("usr/sbin/nginx")).expect("copy nginx");
    fs::copy("/etc/nginx/mime.types", root.join("etc/nginx/mime.types")).expect("copy mime.types");
    fs::write(
        root.join("etc/nginx/nginx.conf"),
        "user www-data;\nworker_processes 1;\npid /run/nginx.pid;\nerror_log /dev/stderr;\n\
         events { worker_connections 64; }\n\
         http {\n  include /etc/nginx/mime.types;\n  access_log /dev/stdout;\n\
         \x20 server {\n    listen 80;\n    root /usr/share/nginx/html;\n    index index.html;\n  }\n}\n",
    )
    .expect("nginx.conf");
    fs::write(
        root.join("usr/share/nginx/html/index.html"),
        NGINX_INDEX_HTML,
    )
    .expect("index.html");
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n\
         nobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("passwd");
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n",
    )
    .expect("group");
    tar_of_dir(root)
}

/// Store an image made of `layers` (uncompressed tars; stored as given by
/// `compress`) with run config `exec_config` in `store` and commit it as
/// `name`: the path every pull and load ends in.
pub fn commit_layers(
    store: &rcrun_image::Store,
    name: &str,
    layers: &[Vec<u8>],
    compress: fn(&[u8]) -> Vec<u8>,
    exec_config: Value,
) -> Result<rcrun_image::ImageRecord, rcrun_image::ImageError> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    commit_layers_with_diff_ids(store, name, layers, compress, exec_config, diff_ids)
}

/// [`commit_layers`] with the config's diff_ids given (to test a mismatch).
pub fn commit_layers_with_diff_ids(
    store: &rcrun_image::Store,
    name: &str,
    layers: &[Vec<u8>],
    compress: fn(&[u8]) -> Vec<u8>,
    exec_config: Value,
    diff_ids: Vec<String>,
) -> Result<rcrun_image::ImageRecord, rcrun_image::ImageError> {
    let mut descs = Vec::new();
    for l in layers {
        let blob = compress(l);
        let d = store.ingest_bytes(&blob)?;
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": blob.len()}));
    }
    let config = json!({
        "architecture": host_arch(), "os": "linux", "config": exec_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let cbytes = serde_json::to_vec(&config).expect("config json");
    let cdigest = store.ingest_bytes(&cbytes)?;
    let m = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": cbytes.len()},
        "layers": descs,
    });
    let mdigest = store.ingest_bytes(&serde_json::to_vec(&m).expect("manifest json"))?;
    store.commit_image(&rcrun_image::Reference::parse(name)?, &mdigest)
}

/// Identity "compression" for [`commit_layers`].
pub fn plain(data: &[u8]) -> Vec<u8> {
    data.to_vec()
}

/// zstd for [`commit_layers`].
pub fn zstd_compress(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).expect("zstd")
}

/// Builds layer tars entry by entry, including entries the `tar` crate's
/// safe setters refuse (`..` paths), for hostile-input tests.
pub struct LayerTar {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerTar {
    /// An empty tar.
    pub fn new() -> Self {
        LayerTar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(path: &str, kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        // Raw bytes: the safe setter refuses `..`, which hostile tests need.
        let name = &mut h.as_old_mut().name;
        assert!(path.len() < name.len(), "test path too long: {path}");
        name[..path.len()].copy_from_slice(path.as_bytes());
        h
    }

    fn push(&mut self, mut h: tar::Header, data: &[u8]) -> &mut Self {
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).expect("append tar entry");
        self
    }

    /// A directory.
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        let h = Self::header(path, tar::EntryType::Directory, mode);
        self.push(h, b"")
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> &mut Self {
        let h = Self::header(path, tar::EntryType::Regular, mode);
        self.push(h, data)
    }

    /// A regular file with owner `(uid, gid)`, mtime and PAX xattrs.
    pub fn file_full(
        &mut self,
        path: &str,
        mode: u32,
        (uid, gid): (u64, u64),
        mtime: u64,
        xattrs: &[(&str, &[u8])],
        data: &[u8],
    ) -> &mut Self {
        if !xattrs.is_empty() {
            let keys: Vec<String> = xattrs
                .iter()
                .map(|(k, _)| format!("SCHILY.xattr.{k}"))
                .collect();
            let pax: Vec<(&str, &[u8])> = keys
                .iter()
                .zip(xattrs)
                .map(|(k, (_, v))| (k.as_str(), *v))
                .collect();
            self.b.append_pax_extensions(pax).expect("pax header");
        }
        let mut h = Self::header(path, tar::EntryType::Regular, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.push(h, data)
    }

    /// A symlink.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(path, tar::EntryType::Symlink, 0o777);
        h.set_link_name_literal(target).expect("link name");
        self.push(h, b"")
    }

    /// A hardlink to `target` (raw: may be absolute or climb).
    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = Self::header(path, tar::EntryType::Link, 0o644);
        h.set_link_name_literal(target).expect("link name");
        self.push(h, b"")
    }

    /// A char or block device or fifo.
    pub fn node(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> &mut Self {
        let mut h = Self::header(path, kind, mode);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.push(h, b"")
    }

    /// The finished tar.
    pub fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().expect("finish tar")
    }
}
