//! Named volumes, docker's `local` driver: a directory
//! `<data-root>/volumes/<name>/_data` that containers bind-mount, and a small
//! JSON record `<data-root>/volumes/<name>/volume.json`. Create, list,
//! inspect, remove (refused while a container uses the volume, unless
//! forced) and prune. Which containers use a volume is the caller's
//! knowledge: it passes an `in_use` predicate.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What can go wrong with volumes.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume has this name.
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    /// The name is not a valid volume name.
    #[error("invalid volume name {0:?}: use 2 to 255 characters from [a-zA-Z0-9_.-], starting with a letter or digit")]
    InvalidName(String),
    /// The volume is used by a container.
    #[error("volume {0} is in use by a container: remove the container first, or use --force")]
    InUse(String),
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A volume record is not valid JSON.
    #[error("corrupt volume record {path}: {source}")]
    Corrupt {
        /// The record.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result with [`VolumeError`].
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { op, path, source }
}

/// One volume, as `volume inspect` shows it (docker's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// The name.
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// The directory containers mount.
    pub mountpoint: PathBuf,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// User labels (`--label k=v`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options (`--opt k=v`, kept as given; the local driver ignores them).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `local`.
    pub scope: String,
}

/// The volumes under one data root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    root: PathBuf,
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, at most 255 bytes (docker's rule).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (2..=255).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

impl VolumeStore {
    /// The store under `<data_root>/volumes`.
    pub fn new(data_root: &Path) -> Self {
        VolumeStore {
            root: data_root.join("volumes"),
        }
    }

    /// `<data-root>/volumes`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn record(&self, name: &str) -> PathBuf {
        self.dir(name).join("volume.json")
    }

    /// An exclusive lock over the store (create/remove), released on drop.
    fn lock(&self) -> Result<File> {
        fs::create_dir_all(&self.root).map_err(io("create directory", &self.root))?;
        let p = self.root.join(".lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io("open lock file", &p))?;
        f.lock().map_err(io("lock", &p))?;
        Ok(f)
    }

    /// Create volume `name` (a random 64-hex name when `None`). Creating a
    /// name that exists returns the existing volume, as docker does.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let name = match name {
            Some(n) => n.to_string(),
            None => random_name()?,
        };
        if !valid_name(&name) {
            return Err(VolumeError::InvalidName(name));
        }
        let _lock = self.lock()?;
        if let Ok(v) = self.inspect(&name) {
            return Ok(v);
        }
        let dir = self.dir(&name);
        let data = dir.join("_data");
        fs::create_dir_all(&data).map_err(io("create directory", &data))?;
        let v = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: data,
            created_at: rcrun_runtime::record::now_rfc3339(),
            labels,
            options,
            scope: "local".into(),
        };
        let res = write_record(&self.record(&name), &v);
        if let Err(e) = res {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(v)
    }

    /// The volume `name`, created if missing (for `-v name:/path`).
    pub fn ensure(&self, name: &str) -> Result<Volume> {
        match self.inspect(name) {
            Ok(v) => Ok(v),
            Err(VolumeError::NoSuchVolume(_)) => {
                self.create(Some(name), BTreeMap::new(), BTreeMap::new())
            }
            Err(e) => Err(e),
        }
    }

    /// The record of `name`.
    pub fn inspect(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(VolumeError::NoSuchVolume(name.to_string()));
        }
        let p = self.record(name);
        let mut text = String::new();
        match File::open(&p) {
            Ok(mut f) => f.read_to_string(&mut text).map_err(io("read", &p))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.unrecorded(name),
            Err(e) => return Err(io("open", &p)(e)),
        };
        serde_json::from_str(&text).map_err(|source| VolumeError::Corrupt { path: p, source })
    }

    /// A `_data` directory without a record (made by a `-v name:/path`
    /// that created the directory only) is still a volume; its creation
    /// time is the directory's mtime.
    fn unrecorded(&self, name: &str) -> Result<Volume> {
        let data = self.dir(name).join("_data");
        let md = match fs::metadata(&data) {
            Ok(md) if md.is_dir() => md,
            _ => return Err(VolumeError::NoSuchVolume(name.to_string())),
        };
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        Ok(Volume {
            name: name.to_string(),
            driver: "local".into(),
            mountpoint: data,
            created_at: rcrun_runtime::record::rfc3339(
                mtime.as_secs() as i64,
                mtime.subsec_nanos(),
            ),
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            scope: "local".into(),
        })
    }

    /// Every volume, sorted by name. Directories holding neither a record
    /// nor `_data` are skipped.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read directory", &self.root)(e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) {
                continue;
            }
            match self.inspect(&name) {
                Ok(v) => out.push(v),
                Err(VolumeError::NoSuchVolume(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Remove `name` and its data. Refused while `in_use(name)` unless
    /// `force`.
    pub fn remove(&self, name: &str, force: bool, in_use: &dyn Fn(&str) -> bool) -> Result<()> {
        let _lock = self.lock()?;
        self.inspect(name)?;
        if !force && in_use(name) {
            return Err(VolumeError::InUse(name.to_string()));
        }
        let dir = self.dir(name);
        // Drop the record first: a crash half-way leaves no volume that
        // looks whole.
        let rec = self.record(name);
        match fs::remove_file(&rec) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &rec)(e)),
        }
        fs::remove_dir_all(&dir).map_err(io("remove", &dir))
    }

    /// Remove every volume not in use; returns the removed names.
    pub fn prune(&self, in_use: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for v in self.list()? {
            if in_use(&v.name) {
                continue;
            }
            match self.remove(&v.name, false, in_use) {
                Ok(()) => removed.push(v.name),
                Err(VolumeError::NoSuchVolume(_)) | Err(VolumeError::InUse(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

/// Write the record atomically (temp, fsync, rename).
fn write_record(path: &Path, v: &Volume) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|source| VolumeError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(&bytes).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("fsync", &tmp))?;
    fs::rename(&tmp, path).map_err(io("rename", path))
}

/// 64 random hex digits (anonymous volumes).
fn random_name() -> Result<String> {
    let mut buf = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(io("read", Path::new("/dev/urandom")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, VolumeStore) {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::new(d.path());
        (d, s)
    }

    #[test]
    fn names_follow_docker_rules() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol.1-x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(".."));
        assert!(!valid_name(&"a".repeat(256)));
    }

    #[test]
    fn create_inspect_list_remove() {
        let (d, s) = store();
        let labels = BTreeMap::from([("team".to_string(), "web".to_string())]);
        let v = s
            .create(Some("data"), labels.clone(), BTreeMap::new())
            .unwrap();
        assert_eq!(v.mountpoint, d.path().join("volumes/data/_data"));
        assert!(v.mountpoint.is_dir());
        assert_eq!(v.driver, "local");
        assert_eq!(s.inspect("data").unwrap(), v);
        // Creating it again returns the same volume.
        assert_eq!(
            s.create(Some("data"), BTreeMap::new(), BTreeMap::new())
                .unwrap(),
            v
        );
        let anon = s.create(None, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert_eq!(anon.name.len(), 64);
        let names: Vec<String> = s.list().unwrap().into_iter().map(|v| v.name).collect();
        let mut want = vec!["data".to_string(), anon.name.clone()];
        want.sort();
        assert_eq!(names, want);
        s.remove("data", false, &|_| false).unwrap();
        assert!(!d.path().join("volumes/data").exists());
        assert!(matches!(
            s.inspect("data"),
            Err(VolumeError::NoSuchVolume(_))
        ));
        assert!(matches!(
            s.remove("data", false, &|_| false),
            Err(VolumeError::NoSuchVolume(_))
        ));
    }

    #[test]
    fn volume_in_use_is_kept_unless_forced() {
        let (_d, s) = store();
        s.ensure("busy").unwrap();
        std::fs::write(s.inspect("busy").unwrap().mountpoint.join("f"), "x").unwrap();
        let e = s.remove("busy", false, &|n| n == "busy").unwrap_err();
        assert_eq!(
            e.to_string(),
            "volume busy is in use by a container: remove the container first, or use --force"
        );
        assert!(s.inspect("busy").is_ok());
        s.remove("busy", true, &|n| n == "busy").unwrap();
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn prune_removes_only_unused_volumes() {
        let (_d, s) = store();
        for n in ["keep", "drop1", "drop2"] {
            s.ensure(n).unwrap();
        }
        let mut removed = s.prune(&|n| n == "keep").unwrap();
        removed.sort();
        assert_eq!(removed, ["drop1", "drop2"]);
        let left: Vec<String> = s.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(left, ["keep"]);
    }

    #[test]
    fn invalid_names_and_corrupt_records_are_errors() {
        let (d, s) = store();
        let e = s
            .create(Some("../etc"), BTreeMap::new(), BTreeMap::new())
            .unwrap_err();
        assert!(matches!(e, VolumeError::InvalidName(_)), "{e}");
        std::fs::create_dir_all(d.path().join("volumes/bad")).unwrap();
        std::fs::write(d.path().join("volumes/bad/volume.json"), "{").unwrap();
        assert!(matches!(s.inspect("bad"), Err(VolumeError::Corrupt { .. })));
        std::fs::remove_dir_all(d.path().join("volumes/bad")).unwrap();
        // A directory with neither record nor _data is not a volume.
        std::fs::create_dir_all(d.path().join("volumes/empty")).unwrap();
        assert!(s.list().unwrap().is_empty());
        // `_data` alone (made by `-v name:/path`) is a volume.
        std::fs::create_dir_all(d.path().join("volumes/bare/_data")).unwrap();
        let v = s.inspect("bare").unwrap();
        assert_eq!(v.mountpoint, d.path().join("volumes/bare/_data"));
        assert!(v.created_at.ends_with('Z'));
        assert_eq!(s.list().unwrap().len(), 1);
        s.remove("bare", false, &|_| false).unwrap();
        assert!(!d.path().join("volumes/bare").exists());
    }
}
