//! Parsing and checking the JSON documents of an image: manifests (OCI and
//! Docker schema 2), image indexes / manifest lists, image configs. Choosing a
//! platform's entry from an index is [`crate::platform`]'s job.

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::digest::hex_of;
use crate::error::{ImageError, Result};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer.
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Is this JSON an image index / manifest list (rather than a manifest)?
pub fn is_index(data: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(data) {
        Ok(p) => match p.media_type.as_deref() {
            Some(OCI_INDEX) | Some(DOCKER_MANIFEST_LIST) => true,
            Some(_) => false,
            None => p.manifests.is_some(),
        },
        Err(_) => false,
    }
}

/// Parse an image manifest and check its digests.
pub fn parse_manifest(data: &[u8], digest: &str) -> Result<ImageManifest> {
    let bad = |reason: String| ImageError::InvalidContent {
        what: "manifest",
        digest: digest.to_string(),
        reason,
    };
    if is_index(data) {
        return Err(bad(
            "is an image index, not a manifest; choose a platform's manifest".into(),
        ));
    }
    let m = ImageManifest::from_reader(data).map_err(|e| bad(e.to_string()))?;
    check_descriptor(m.config(), "manifest", digest)?;
    for l in m.layers() {
        check_descriptor(l, "manifest", digest)?;
        let mt = l.media_type().to_string();
        if mt.contains("encrypted") {
            return Err(bad(format!("layer {} is encrypted ({mt})", l.digest())));
        }
    }
    Ok(m)
}

/// Parse an image index / manifest list.
pub fn parse_index(data: &[u8], digest: &str) -> Result<ImageIndex> {
    let idx = ImageIndex::from_reader(data).map_err(|e| ImageError::InvalidContent {
        what: "image index",
        digest: digest.to_string(),
        reason: e.to_string(),
    })?;
    for d in idx.manifests() {
        check_descriptor(d, "image index", digest)?;
    }
    Ok(idx)
}

/// Parse an image config.
pub fn parse_config(data: &[u8], digest: &str) -> Result<ImageConfiguration> {
    ImageConfiguration::from_reader(data).map_err(|e| ImageError::InvalidContent {
        what: "image config",
        digest: digest.to_string(),
        reason: e.to_string(),
    })
}

fn check_descriptor(d: &Descriptor, what: &'static str, digest: &str) -> Result<()> {
    hex_of(d.digest().as_ref()).map_err(|_| ImageError::InvalidContent {
        what,
        digest: digest.to_string(),
        reason: format!("unsupported digest {} (only sha256 is)", d.digest()),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:4fc242d58285699eca05db3cc7c7122a2b8e014d9481f323bd9277baacfa0628";

    fn index_json() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{a}","size":2,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            a = "a".repeat(64)
        )
    }

    #[test]
    fn index_detected_by_media_type_or_manifests_field() {
        assert!(is_index(index_json().as_bytes()));
        assert!(is_index(br#"{"schemaVersion":2,"manifests":[]}"#));
        assert!(!is_index(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#
        ));
    }

    #[test]
    fn docker_schema2_manifest_parses() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
               "config":{{"mediaType":"{DOCKER_CONFIG}","size":7,"digest":"{D}"}},
               "layers":[{{"mediaType":"{DOCKER_LAYER_GZIP}","size":9,"digest":"{D}"}}]}}"#
        );
        let m = parse_manifest(m.as_bytes(), D).unwrap();
        assert_eq!(m.layers().len(), 1);
        assert!(parse_manifest(index_json().as_bytes(), D).is_err());
    }
}
