//! The state root (`--root`, default `/run/rcrun-oci`): one directory per
//! container holding `state.json` (written atomically: temp, fsync, rename)
//! and the exec fifo, and a per-container `flock` on that directory so two
//! commands never change one container at once.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};
use crate::record::ContainerRecord;

/// File name of the record inside a container's state dir.
pub const STATE_FILE: &str = "state.json";

/// The state root directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    root: PathBuf,
}

/// A container state dir held under an exclusive `flock` until dropped.
#[derive(Debug)]
pub struct LockedDir {
    /// The container id.
    pub id: String,
    /// The state dir.
    pub dir: PathBuf,
    _lock: File,
}

/// Check a container id like runc: `^[\w+.-]+$`, not `.` or `..`, at most 1024 bytes.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

impl StateStore {
    /// The store at `root` (created, mode 0700, when missing).
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| RuntimeError::io(root, e))?;
        Ok(StateStore {
            root: root.to_path_buf(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The state dir of `id` (which may not exist).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Make the state dir of a new container and lock it; `Exists` when the
    /// id is taken.
    pub fn create_dir(&self, id: &str) -> Result<LockedDir> {
        validate_id(id)?;
        let dir = self.dir(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::Exists(id.to_string()))
            }
            Err(e) => return Err(RuntimeError::io(&dir, e)),
        }
        self.lock_existing(id, dir)
    }

    /// Lock the state dir of an existing container (waits for other commands).
    pub fn lock(&self, id: &str) -> Result<LockedDir> {
        validate_id(id)?;
        let dir = self.dir(id);
        let locked = self.lock_existing(id, dir)?;
        // The dir may have been deleted while we waited for the lock.
        if !locked.dir.join(STATE_FILE).exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Ok(locked)
    }

    fn lock_existing(&self, id: &str, dir: PathBuf) -> Result<LockedDir> {
        let f = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(id.to_string()))
            }
            Err(e) => return Err(RuntimeError::io(&dir, e)),
        };
        f.lock().map_err(|e| RuntimeError::io(&dir, e))?;
        Ok(LockedDir {
            id: id.to_string(),
            dir,
            _lock: f,
        })
    }

    /// True when someone holds the lock of `id`'s state dir right now.
    pub fn is_locked(&self, id: &str) -> bool {
        match File::open(self.dir(id)) {
            Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// Read the record of `id` without locking (writes are atomic renames).
    pub fn read(&self, id: &str) -> Result<ContainerRecord> {
        validate_id(id)?;
        read_record(id, &self.dir(id))
    }

    /// Ids of every container dir, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let rd = std::fs::read_dir(&self.root).map_err(|e| RuntimeError::io(&self.root, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| RuntimeError::io(&self.root, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if let Some(name) = entry.file_name().to_str() {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Is there a container dir other than `id`'s (any, with `None`)?
    /// Stops at the first one.
    pub fn has_container_besides(&self, id: Option<&str>) -> Result<bool> {
        let rd = std::fs::read_dir(&self.root).map_err(|e| RuntimeError::io(&self.root, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| RuntimeError::io(&self.root, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && id.is_none_or(|id| entry.file_name().as_encoded_bytes() != id.as_bytes())
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Read `<dir>/state.json`.
pub fn read_record(id: &str, dir: &Path) -> Result<ContainerRecord> {
    let path = dir.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RuntimeError::NotFound(id.to_string()))
        }
        Err(e) => return Err(RuntimeError::io(&path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| RuntimeError::CorruptState {
        id: id.to_string(),
        path,
        message: e.to_string(),
    })
}

impl LockedDir {
    /// Renumber the lock descriptor to `>= min` (out of the range of fds
    /// passed to a container).
    pub fn renumber_above(&mut self, min: i32) -> Result<()> {
        use std::os::fd::AsRawFd;
        if self._lock.as_raw_fd() < min {
            let fd = crate::fds::dup_above(&self._lock, min)?;
            self._lock = File::from(fd);
        }
        Ok(())
    }

    /// Read this container's record.
    pub fn read(&self) -> Result<ContainerRecord> {
        read_record(&self.id, &self.dir)
    }

    /// Write this container's record atomically.
    pub fn write(&self, rec: &ContainerRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(|e| RuntimeError::CorruptState {
            id: self.id.clone(),
            path: self.dir.join(STATE_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&self.dir.join(STATE_FILE), &bytes, 0o600)
    }

    /// Remove the state dir (and everything in it).
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RuntimeError::io(&self.dir, e)),
        }
    }
}

/// Write `bytes` to `path` so readers see the old or the new content, never
/// a mix: temp file beside it, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RuntimeError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_like_runc() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ä"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn duplicate_create_is_exists() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = StateStore::open(d.path()).expect("open");
        let _a = s.create_dir("rtc-a").expect("first");
        assert!(matches!(
            s.create_dir("rtc-a"),
            Err(RuntimeError::Exists(_))
        ));
    }

    #[test]
    fn lock_of_missing_container_is_not_found() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = StateStore::open(d.path()).expect("open");
        assert!(matches!(s.lock("rtc-none"), Err(RuntimeError::NotFound(_))));
    }

    #[test]
    fn atomic_write_replaces_content() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f.json");
        write_atomic(&p, b"one", 0o600).expect("one");
        write_atomic(&p, b"two", 0o600).expect("two");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(d.path()).expect("ls").count(), 1);
    }
}
