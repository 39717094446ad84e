//! Shared pieces of the image tests: a private data root, the `rcrun`
//! command on it, its image list, an image pushed to a test registry, and
//! reading xattrs and stderr.
#![allow(dead_code)]

use std::ffi::CString;
use std::path::Path;
use std::process::{Command, Output};

use rcrun_it::bins::{bin, run_ok};
use rcrun_it::images::OciImage;
use rcrun_it::registry::Registry;
use serde_json::Value;

/// A fresh data root, removed on drop.
pub fn data_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ris-data-")
        .tempdir()
        .unwrap()
}

/// `rcrun --data-root <root>`.
pub fn rcrun(root: &Path) -> Command {
    let mut c = Command::new(bin("rcrun"));
    c.arg("--data-root").arg(root);
    c
}

/// `rcrun images --format json` on `root`, as a list.
pub fn images_json(root: &Path) -> Vec<Value> {
    let out = run_ok(rcrun(root).args(["images", "--format", "json"]));
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Build an image with `build` in a fresh OCI layout and push it to `reg` as
/// `name` (`repo:tag`) with skopeo (`extra` copy flags). Returns the layout
/// dir (keep it alive while the image's files are used), the image, and
/// its `host:port/name` reference.
pub fn push_image(
    reg: &Registry,
    build: fn(&Path) -> OciImage,
    name: &str,
    extra: &[&str],
) -> (tempfile::TempDir, OciImage, String) {
    let layout = tempfile::tempdir().unwrap();
    let img = build(layout.path());
    reg.skopeo_push(&img.transport(), name, extra);
    let reference = format!("{}/{name}", reg.host());
    (layout, img, reference)
}

/// The value of xattr `name` on `path` (not following symlinks), if set.
pub fn lgetxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the length passed.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}
