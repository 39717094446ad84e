//! Persistence: network definitions under the data root
//! (`networks/<name>.json`), endpoint records and their locks under the run
//! root (`endpoints/<network>/<id>.json`), and lock files. Every write is
//! atomic (temp file, rename). Network definitions are also made durable
//! (fsync of file and directory): they must survive a reboot. Endpoint
//! records and IPAM entries describe sandboxes whose netns cannot outlive a
//! reboot, so they skip the fsync (25 ms each on a slow disk): rename keeps
//! them atomic against a killed process, and after a power loss `gc`
//! reclaims whatever they describe. Endpoint records live on the run root's
//! tmpfs: they are rewritten at every attach step, and a reboot (which ends
//! every netns) clears them with the state they describe.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{NetError, Result};
use crate::model::{Endpoint, Network};

/// Whether a write must survive a power loss, or only a killed process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory (network definitions).
    Durable,
    /// Atomic rename only (per-sandbox state that a reboot makes stale anyway).
    ProcessCrash,
}

/// Write `bytes` to `path` atomically and durably: temp file in the same dir,
/// fsync, rename over, fsync the directory.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, bytes, Durability::Durable)
}

/// Write `bytes` to `path` atomically, fsyncing only when `d` asks for it.
pub fn atomic_write_with(path: &Path, bytes: &[u8], d: Durability) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| NetError::io("create dir", dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(|e| NetError::io("create", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| {
            if d == Durability::Durable {
                f.sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(|e| NetError::io("write", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        NetError::io("rename into place", path, e)
    })?;
    if d == Durability::Durable {
        if let Ok(dirf) = File::open(dir) {
            let _ = dirf.sync_all();
        }
    }
    Ok(())
}

/// Serialize `value` as pretty JSON and write it atomically with durability `d`.
pub fn write_json<T: Serialize>(path: &Path, value: &T, d: Durability) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| NetError::Corrupt {
        path: path.to_path_buf(),
        source: e,
    })?;
    atomic_write_with(path, &text, d)
}

/// Read JSON from `path`; `None` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| NetError::Corrupt {
                path: path.to_path_buf(),
                source: e,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io("read", path, e)),
    }
}

/// Remove a file; a missing file is fine.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove", path, e)),
    }
}

/// An exclusive `flock` on a lock file, released on drop.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl LockGuard {
    /// Block until the exclusive lock on `path` (created if missing) is held.
    pub fn acquire(path: &Path) -> Result<Self> {
        Self::acquire_with(path, false)
    }

    /// Block until a shared lock on `path` (created if missing) is held.
    pub fn acquire_shared(path: &Path) -> Result<Self> {
        Self::acquire_with(path, true)
    }

    fn acquire_with(path: &Path, shared: bool) -> Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| NetError::io("create dir", dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| NetError::io("open lock", path, e))?;
        let locked = if shared {
            file.lock_shared()
        } else {
            file.lock()
        };
        locked.map_err(|e| NetError::io("lock", path, e))?;
        Ok(LockGuard { file })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The driver's view of the data root and the run root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    run: PathBuf,
}

impl Store {
    /// A store over `data_root` and `run_root` (nothing is created until
    /// written).
    pub fn new(data_root: &Path, run_root: &Path) -> Self {
        Store {
            root: data_root.to_path_buf(),
            run: run_root.to_path_buf(),
        }
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn networks_dir(&self) -> PathBuf {
        self.root.join("networks")
    }

    /// Path of a network definition.
    pub fn network_path(&self, name: &str) -> PathBuf {
        self.networks_dir().join(format!("{name}.json"))
    }

    /// Exclusive lock serialising network create/remove.
    pub fn networks_lock(&self) -> Result<LockGuard> {
        LockGuard::acquire(&self.networks_dir().join(".lock"))
    }

    /// Shared lock held by attach/detach, so a network is not removed under them.
    pub fn networks_lock_shared(&self) -> Result<LockGuard> {
        LockGuard::acquire_shared(&self.networks_dir().join(".lock"))
    }

    /// Load network `name`, `None` if not defined.
    pub fn load_network(&self, name: &str) -> Result<Option<Network>> {
        read_json(&self.network_path(name))
    }

    /// Persist a network definition.
    pub fn save_network(&self, n: &Network) -> Result<()> {
        write_json(&self.network_path(&n.name), n, Durability::Durable)
    }

    /// Remove a network definition.
    pub fn remove_network(&self, name: &str) -> Result<()> {
        remove_file(&self.network_path(name))
    }

    /// Every network definition, sorted by name.
    pub fn list_networks(&self) -> Result<Vec<Network>> {
        let dir = self.networks_dir();
        let mut out = Vec::new();
        for name in json_stems(&dir)? {
            if let Some(n) = read_json(&dir.join(format!("{name}.json")))? {
                out.push(n);
            }
        }
        out.sort_by(|a: &Network, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn endpoints_dir(&self, network: &str) -> PathBuf {
        self.run.join("endpoints").join(network)
    }

    /// Path of an endpoint record.
    pub fn endpoint_path(&self, network: &str, id: &str) -> PathBuf {
        self.endpoints_dir(network).join(format!("{id}.json"))
    }

    /// Lock for one sandbox's attach/detach on one network.
    pub fn endpoint_lock(&self, network: &str, id: &str) -> Result<LockGuard> {
        LockGuard::acquire(&self.endpoints_dir(network).join(format!(".{id}.lock")))
    }

    /// Remove the per-sandbox lock file (after detach).
    pub fn remove_endpoint_lock(&self, network: &str, id: &str) {
        let _ = fs::remove_file(self.endpoints_dir(network).join(format!(".{id}.lock")));
    }

    /// Load an endpoint record.
    pub fn load_endpoint(&self, network: &str, id: &str) -> Result<Option<Endpoint>> {
        read_json(&self.endpoint_path(network, id))
    }

    /// Persist an endpoint record.
    pub fn save_endpoint(&self, ep: &Endpoint) -> Result<()> {
        write_json(
            &self.endpoint_path(&ep.network, &ep.sandbox.id),
            ep,
            Durability::ProcessCrash,
        )
    }

    /// Remove an endpoint record.
    pub fn remove_endpoint(&self, network: &str, id: &str) -> Result<()> {
        remove_file(&self.endpoint_path(network, id))
    }

    /// Endpoint records of one network.
    pub fn list_endpoints(&self, network: &str) -> Result<Vec<Endpoint>> {
        let dir = self.endpoints_dir(network);
        let mut out = Vec::new();
        for id in json_stems(&dir)? {
            if let Some(e) = read_json(&dir.join(format!("{id}.json")))? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Remove the (empty) endpoints dir of a removed network.
    pub fn remove_endpoints_dir(&self, network: &str) {
        let dir = self.endpoints_dir(network);
        if let Ok(rd) = fs::read_dir(&dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                if n.to_string_lossy().ends_with(".lock") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        let _ = fs::remove_dir(dir);
    }
}

/// Stems of `*.json` files in `dir` (not hidden temp files); empty if no dir.
fn json_stems(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| NetError::io("list", dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".json") {
            out.push(stem.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b.json");
        write_json(&p, &vec![1, 2], Durability::Durable).unwrap();
        write_json(&p, &vec![3], Durability::ProcessCrash).unwrap();
        let v: Vec<i32> = read_json(&p).unwrap().unwrap();
        assert_eq!(v, vec![3]);
        let names: Vec<_> = fs::read_dir(d.path().join("a"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1);
        assert!(read_json::<Vec<i32>>(&d.path().join("none.json"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn corrupt_json_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        fs::write(&p, "{nope").unwrap();
        let e = read_json::<Vec<i32>>(&p).unwrap_err().to_string();
        assert!(e.contains("x.json"), "{e}");
    }
}
