//! `load`: read a docker-save tarball or an OCI archive as one stream,
//! storing every blob as it passes (verified against its name when the
//! archive names blobs by digest), then commit the images it describes.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use super::{clean_member, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::digest::hex_of;
use crate::error::{ImageError, Result};
use crate::manifest::{self, is_index, parse_index};
use crate::platform::{available_in_index, select_in_index, Platform};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use crate::unpack::{decompress, Compression};

/// JSON members bigger than this are not metadata (and are refused).
const MAX_JSON: u64 = 16 << 20;

/// One image a load committed.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The image as stored.
    pub image: ImageRecord,
}

/// One entry of a docker-save `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What the stream left: member path -> (digest, size) of stored blobs,
/// member path -> bytes of metadata files, symlinks.
#[derive(Debug, Default)]
struct Members {
    blobs: HashMap<String, (String, u64)>,
    json: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
}

impl Members {
    /// Follow archive symlinks (old docker saves link duplicate layers).
    fn resolve(&self, path: &str) -> String {
        let mut p = path.to_string();
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }
}

/// Load every image in the archive at `path` (tar, optionally gzip or zstd
/// compressed): docker-save format (`manifest.json`) or OCI (`oci-layout`
/// + `index.json`).
pub fn load(store: &Store, path: &Path) -> Result<Vec<Loaded>> {
    let f = File::open(path).map_err(|e| ImageError::io("open archive", path, e))?;
    load_reader(store, f, path)
}

/// [`load`] from a stream (`rcrun load` without `-i` reads stdin); `source`
/// names it in messages.
pub fn load_reader(store: &Store, src: impl Read, source: &Path) -> Result<Vec<Loaded>> {
    let lease = store.lease()?;
    let r = load_leased(store, src, source);
    drop(lease);
    if r.is_err() {
        // Leave no blobs of a refused archive behind.
        let _ = store.collect_if_idle();
    }
    r
}

fn load_leased(store: &Store, src: impl Read, source: &Path) -> Result<Vec<Loaded>> {
    let (_, plain) = decompress(BufReader::with_capacity(1 << 20, src))
        .map_err(|e| ImageError::io("read archive", source, e))?;
    let members = read_members(store, plain, source)?;
    let src = source.display().to_string();
    if members.json.contains_key("index.json") && members.json.contains_key("oci-layout") {
        let docker_tags = docker_repo_tags(&members, &src)?;
        load_oci_index(store, &members.json["index.json"], &src, &docker_tags)
    } else if let Some(m) = members.json.get("manifest.json") {
        load_docker(store, m, &members, &src)
    } else {
        Err(ImageError::InvalidContent {
            what: "archive",
            digest: src,
            reason: "neither a docker save archive (manifest.json) nor an OCI archive (oci-layout + index.json)".into(),
        })
    }
}

/// Load the images of an OCI image layout directory (`oci:DIR`).
pub fn load_oci_dir(store: &Store, dir: &Path) -> Result<Vec<Loaded>> {
    let _lease = store.lease()?;
    let src = dir.display().to_string();
    let index = fs::read(dir.join("index.json"))
        .map_err(|e| ImageError::io("read", dir.join("index.json"), e))?;
    let blobs = dir.join("blobs/sha256");
    for ent in fs::read_dir(&blobs).map_err(|e| ImageError::io("read directory", &blobs, e))? {
        let ent = ent.map_err(|e| ImageError::io("read directory", &blobs, e))?;
        let digest = format!("sha256:{}", ent.file_name().to_string_lossy());
        if hex_of(&digest).is_err() {
            continue;
        }
        let mut f = File::open(ent.path()).map_err(|e| ImageError::io("open", ent.path(), e))?;
        store.ingest_blob(&digest, &mut f)?;
    }
    load_oci_index(store, &index, &src, &HashMap::new())
}

fn read_members(store: &Store, plain: impl Read, path: &Path) -> Result<Members> {
    let bad = |entry: &str, reason: String| ImageError::InvalidContent {
        what: "archive member",
        digest: format!("{}:{entry}", path.display()),
        reason,
    };
    let mut members = Members::default();
    let mut archive = tar::Archive::new(plain);
    let entries = archive
        .entries()
        .map_err(|e| ImageError::io("read archive", path, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ImageError::InvalidContent {
            what: "archive",
            digest: path.display().to_string(),
            reason: format!("not a tar archive, or truncated: {e}"),
        })?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = clean_member(&raw) else {
            return Err(bad(&raw, "path climbs out of the archive".into()));
        };
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| bad(&raw, e.to_string()))?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let joined = if kind.is_symlink() {
                let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                format!("{dir}/{target}")
            } else {
                target
            };
            if let Some(t) = clean_member(&joined) {
                members.links.insert(name, t);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            let digest = format!("sha256:{hex}");
            hex_of(&digest).map_err(|_| bad(&raw, "blob name is not a sha256 digest".into()))?;
            store
                .ingest_blob(&digest, &mut entry)
                .map_err(|e| match e {
                    ImageError::DigestMismatch { .. } => bad(&raw, e.to_string()),
                    other => other,
                })?;
            members.blobs.insert(name, (digest, size));
        } else if name.ends_with(".json") || name == "oci-layout" || name == "repositories" {
            if size > MAX_JSON {
                return Err(bad(
                    &raw,
                    format!("metadata file of {size} bytes is too big"),
                ));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| ImageError::io("read archive", path, e))?;
            members.json.insert(name, data);
        } else {
            let (digest, size) = store.ingest_unverified(&mut entry)?;
            members.blobs.insert(name, (digest, size));
        }
    }
    Ok(members)
}

/// RepoTags of a docker archive's manifest.json by config digest (docker ≥ 25
/// writes an OCI layout and a manifest.json side by side).
fn docker_repo_tags(members: &Members, src: &str) -> Result<HashMap<String, Vec<String>>> {
    let mut out = HashMap::new();
    let Some(m) = members.json.get("manifest.json") else {
        return Ok(out);
    };
    let items: Vec<DockerItem> = serde_json::from_slice(m).map_err(|e| ImageError::Json {
        what: "parse manifest.json of",
        path: src.to_string(),
        source: e,
    })?;
    for it in items {
        if let Some((d, _)) = members.blobs.get(&members.resolve(&it.config)) {
            out.insert(d.clone(), it.repo_tags.unwrap_or_default());
        }
    }
    Ok(out)
}

fn load_oci_index(
    store: &Store,
    index_json: &[u8],
    src: &str,
    docker_tags: &HashMap<String, Vec<String>>,
) -> Result<Vec<Loaded>> {
    let index = parse_index(index_json, &format!("{src}:index.json"))?;
    let mut out = Vec::new();
    for desc in index.manifests() {
        let mut digest = desc.digest().to_string();
        let data = store.read_blob(&digest)?;
        if is_index(&data) {
            let nested = parse_index(&data, &digest)?;
            let host = Platform::host();
            digest = match select_in_index(&host, &nested) {
                Some(d) => d.digest().to_string(),
                None => {
                    return Err(ImageError::InvalidContent {
                        what: "image index",
                        digest,
                        reason: format!(
                            "no manifest for platform {host} (it has: {})",
                            available_in_index(&nested)
                        ),
                    })
                }
            };
        }
        let ann = desc.annotations().clone().unwrap_or_default();
        let mut names = Vec::new();
        if let Some(n) = ann
            .get(ANNOTATION_IMAGE_NAME)
            .or_else(|| ann.get(ANNOTATION_REF_NAME))
        {
            if let Ok(r) = Reference::parse(n) {
                names.push(r);
            }
        }
        let m = manifest::parse_manifest(&store.read_blob(&digest)?, &digest)?;
        for t in docker_tags
            .get(&m.config().digest().to_string())
            .into_iter()
            .flatten()
        {
            if let Ok(r) = Reference::parse(t) {
                names.push(r);
            }
        }
        let image = store.commit_image_names(&names, &digest)?;
        out.push(Loaded { image });
    }
    Ok(out)
}

fn load_docker(
    store: &Store,
    manifest_json: &[u8],
    members: &Members,
    src: &str,
) -> Result<Vec<Loaded>> {
    let items: Vec<DockerItem> =
        serde_json::from_slice(manifest_json).map_err(|e| ImageError::Json {
            what: "parse manifest.json of",
            path: src.to_string(),
            source: e,
        })?;
    let missing = |p: &str| ImageError::InvalidContent {
        what: "archive",
        digest: src.to_string(),
        reason: format!("manifest.json names {p:?}, which the archive does not contain"),
    };
    let mut out = Vec::new();
    for it in items {
        let cpath = members.resolve(&clean_member(&it.config).unwrap_or_default());
        let (config_digest, config_size) =
            match (members.json.get(&cpath), members.blobs.get(&cpath)) {
                (Some(bytes), _) => (store.ingest_bytes(bytes)?, bytes.len() as u64),
                (None, Some((d, s))) => (d.clone(), *s),
                (None, None) => return Err(missing(&it.config)),
            };
        let mut layers = Vec::new();
        for l in &it.layers {
            let lpath = members.resolve(&clean_member(l).unwrap_or_default());
            let (d, s) = members.blobs.get(&lpath).ok_or_else(|| missing(l))?;
            let media_type = match blob_compression(store, d)? {
                Compression::None => manifest::DOCKER_LAYER_TAR,
                Compression::Gzip => manifest::DOCKER_LAYER_GZIP,
                Compression::Zstd => manifest::OCI_LAYER_ZSTD,
            };
            layers.push(serde_json::json!({"mediaType": media_type, "size": s, "digest": d}));
        }
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest::DOCKER_MANIFEST,
            "config": {"mediaType": manifest::DOCKER_CONFIG, "size": config_size, "digest": config_digest},
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&m).map_err(|e| ImageError::Json {
            what: "serialize manifest for",
            path: src.to_string(),
            source: e,
        })?;
        let digest = store.ingest_bytes(&bytes)?;
        let names: Vec<Reference> = it
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<_>>()?;
        let image = store.commit_image_names(&names, &digest)?;
        out.push(Loaded { image });
    }
    Ok(out)
}

fn blob_compression(store: &Store, digest: &str) -> Result<Compression> {
    let p = store.blob_path(digest);
    let mut head = [0u8; 4];
    let mut f = File::open(&p).map_err(|e| ImageError::io("open", &p, e))?;
    let n = f
        .read(&mut head)
        .map_err(|e| ImageError::io("read", &p, e))?;
    Ok(Compression::detect(&head[..n]))
}
