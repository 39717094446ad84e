//! Whether a sandbox's network namespace still exists.

use std::path::Path;

/// True when `path` is a live network namespace file: a bind mount of a netns
/// (nsfs) or a `/proc/PID/ns/net` link of a running process. A path whose
/// bind mount is gone (an empty file or nothing) is not.
pub fn is_alive(path: &Path) -> bool {
    match nix::sys::statfs::statfs(path) {
        // statfs follows /proc/PID/ns/net to the nsfs inode.
        Ok(st) => st.filesystem_type() == nix::sys::statfs::NSFS_MAGIC,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_netns_is_alive_plain_files_are_not() {
        assert!(is_alive(Path::new("/proc/self/ns/net")));
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ns");
        std::fs::write(&f, "").unwrap();
        assert!(!is_alive(&f));
        assert!(!is_alive(&d.path().join("missing")));
    }
}
