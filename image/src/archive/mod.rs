//! Image archives: `load` of `docker save` tarballs and OCI image layouts
//! (as a tar, `oci-archive`, or a directory), `save` to either format, and
//! `import` of a root filesystem tarball as a one-layer image.

mod import;
mod load;
mod save;

pub use self::import::import;
pub use self::load::{load, load_oci_dir, load_reader, Loaded};
pub use self::save::{save, ArchiveFormat};

/// Annotation holding an image's full name (containerd, docker ≥ 25).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// OCI annotation holding an image's reference name (often only the tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `a/./b/../c`-free relative form of an archive member path, or `None`
/// for paths that climb out of the archive.
fn clean_member(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn member_paths_are_cleaned() {
        assert_eq!(
            super::clean_member("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(
            super::clean_member("a/../b/layer.tar").as_deref(),
            Some("b/layer.tar")
        );
        assert_eq!(super::clean_member("../x"), None);
    }
}
