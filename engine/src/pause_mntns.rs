//! The empty mount namespace all pause processes share. The first pause
//! process makes one (an empty read-only tmpfs as its root) and the engine
//! bind-mounts it at `<run-root>/pause-mntns`; later pause processes join it
//! with one `setns` (`rcrun-pause --mntns`), which costs the same however
//! many mounts the host has, where making a namespace copies the host's
//! whole mount table (two more mounts per running container). The mount is
//! withdrawn when the last sandbox goes. Containers never see it: copying a
//! mount namespace skips mount-namespace files.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::fsutil::Lock;
use crate::netns;
use crate::paths::Paths;

/// `statfs` type of namespace files (`NSFS_MAGIC`).
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The shared pause mount namespace of one run root.
#[derive(Debug, Clone)]
pub struct SharedMntns {
    path: PathBuf,
    lock: PathBuf,
    sandboxes_dir: PathBuf,
}

impl SharedMntns {
    /// The shared namespace of the run root of `paths`.
    pub fn new(paths: &Paths) -> Self {
        SharedMntns {
            path: paths.pause_mntns(),
            lock: paths.locks_dir().join("pause-mntns.lock"),
            sandboxes_dir: paths.sandboxes_dir(),
        }
    }

    /// Where the namespace is (or will be) bind-mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Is a namespace published at the path?
    pub fn is_published(&self) -> bool {
        is_ns_file(&self.path)
    }

    /// Publish the mount namespace of pause process `pid` unless one is
    /// published already (the pause process joined it, or a concurrent
    /// engine published first).
    pub fn publish_from(&self, pid: i32) -> Result<()> {
        if self.is_published() {
            return Ok(());
        }
        let _lock = Lock::acquire(&self.lock)?;
        if self.is_published() {
            return Ok(());
        }
        std::fs::File::create(&self.path).map_err(|e| EngineError::io("create", &self.path, e))?;
        let source = PathBuf::from(format!("/proc/{pid}/ns/mnt"));
        nix::mount::mount(
            Some(&source),
            &self.path,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| EngineError::io("bind-mount", &self.path, e.into()))
    }

    /// Withdraw the namespace when no sandbox directory is left (the pause
    /// processes still in it keep it alive; the next one makes a new one).
    pub fn withdraw_if_unused(&self) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        let _lock = Lock::acquire(&self.lock)?;
        if any_dir(&self.sandboxes_dir) {
            return Ok(());
        }
        netns::remove(&self.path)
    }
}

/// Does `dir` hold at least one directory?
fn any_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().any(|e| e.path().is_dir()))
        .unwrap_or(false)
}

/// Is a namespace file mounted at `path`?
fn is_ns_file(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and st a valid statfs.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == NSFS_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_or_a_missing_path_is_not_a_namespace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        assert!(!is_ns_file(&f));
        std::fs::write(&f, b"").expect("write");
        assert!(!is_ns_file(&f));
        assert!(is_ns_file(Path::new("/proc/self/ns/mnt")));
    }

    #[test]
    fn any_dir_ignores_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!any_dir(dir.path()));
        std::fs::write(dir.path().join("x.lock"), b"").expect("write");
        assert!(!any_dir(dir.path()));
        std::fs::create_dir(dir.path().join("sb")).expect("mkdir");
        assert!(any_dir(dir.path()));
        assert!(!any_dir(&dir.path().join("missing")));
    }
}
