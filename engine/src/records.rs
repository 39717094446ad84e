//! Container records: one JSON file per container under the data root
//! (`containers/<id>/container.json`), written atomically, mutated under a
//! per-container `flock`. Names are unique: a new name is reserved under a
//! global lock after checking every record. Lookup accepts a full id, a
//! unique id prefix or a name.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::fsutil::{self, Lock};
use crate::options::RunOptions;
use crate::paths::Paths;

/// File name of a container record inside its directory.
pub const RECORD_FILE: &str = "container.json";

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being set up by `run` (sandbox, rootfs, bundle); not yet started.
    Created,
    /// Started (its init may have exited since: see [`crate::status`]).
    Running,
    /// Exited and cleaned up.
    Exited,
}

/// The process a container runs, resolved from the image and the options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// argv.
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// The user as written.
    pub user: String,
    /// Stop signal name.
    pub stop_signal: String,
    /// Stop signal number.
    pub stop_signal_number: i32,
}

/// The mutable state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Status as last recorded.
    pub status: Status,
    /// Pid of the container's first init (a restart by the monitor makes a
    /// new one: see [`crate::Engine::current_init`]).
    pub pid: i32,
    /// Start time (clock ticks since boot) of that pid, against pid reuse.
    pub pid_start: u64,
    /// Pid of its monitor (0 for foreground runs: `rcrun run` itself waits).
    pub monitor_pid: i32,
    /// Pid of the process supervising it (monitor or foreground `rcrun`).
    pub supervisor_pid: i32,
    /// Start time of the supervisor pid.
    pub supervisor_start: u64,
    /// When it last started.
    pub started_at: Option<String>,
    /// When it last exited.
    pub finished_at: Option<String>,
    /// Last exit code (128+N when killed by signal N).
    pub exit_code: Option<i32>,
    /// Times the monitor restarted it (from its `restarts` file, kept here
    /// once the container has exited).
    pub restart_count: u32,
    /// Set by `stop`/`kill`/`rm -f` (with the monitor's `no-restart` file):
    /// the restart policy must not restart it.
    pub stopped_by_user: bool,
    /// The last setup error, if any.
    pub error: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            monitor_pid: 0,
            supervisor_pid: 0,
            supervisor_start: 0,
            started_at: None,
            finished_at: None,
            exit_code: None,
            restart_count: 0,
            stopped_by_user: false,
            error: None,
        }
    }
}

/// Everything the engine knows about a container, persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id (config digest).
    pub image_id: String,
    /// Creation time.
    pub created: String,
    /// The run options as given.
    pub options: RunOptions,
    /// The resolved process.
    pub process: ProcessInfo,
    /// The sandbox it runs in.
    pub sandbox_id: String,
    /// Its hostname.
    pub hostname: String,
    /// Labels (image labels overlaid with `--label`).
    pub labels: BTreeMap<String, String>,
    /// Mounts as `(source, destination, read-only)`, for inspect.
    pub mounts: Vec<MountInfo>,
    /// Mutable state.
    pub state: State,
}

/// One mount of a container, as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path (or volume name).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Read-only?
    pub read_only: bool,
}

impl Container {
    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// The container records of a data root.
#[derive(Debug, Clone)]
pub struct Records {
    paths: Paths,
}

impl Records {
    /// The records under `paths.data_root`.
    pub fn new(paths: &Paths) -> Self {
        Records {
            paths: paths.clone(),
        }
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.paths.container_dir(id).join(RECORD_FILE)
    }

    /// Store a new record, reserving its name (unique among all records).
    /// An empty name is replaced by a free generated one. Names are kept
    /// in an index (`names/<name>` → id), so this costs the same with 1 or
    /// 1000 containers.
    pub fn insert(&self, c: &mut Container) -> Result<()> {
        let _names = Lock::acquire(&self.paths.names_lock())?;
        if c.name.is_empty() {
            c.name = generate_name(&c.id, &|n: &str| self.name_owner(n).is_some());
        }
        validate_name(&c.name)?;
        if let Some(other) = self.name_owner(&c.name) {
            return Err(EngineError::NameInUse {
                name: c.name.clone(),
                id: other,
            });
        }
        // The entry first: a crash before the record leaves a stale entry
        // (ignored, pruned by gc), never a record whose name is unindexed.
        let entry = self.paths.name_entry(&c.name);
        fsutil::atomic_write(&entry, c.id.as_bytes())?;
        if let Err(e) = self.save(c) {
            let _ = fs::remove_file(&entry);
            return Err(e);
        }
        Ok(())
    }

    /// Remove index entries whose container is gone or renamed (left by a
    /// crash); returns the names removed.
    pub fn prune_names(&self) -> Vec<String> {
        let _names = match Lock::acquire(&self.paths.names_lock()) {
            Ok(l) => l,
            Err(_) => return Vec::new(),
        };
        let dir = self.paths.data_root.join("names");
        let mut pruned = Vec::new();
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && self.name_owner(&name).is_none() {
                let _ = fs::remove_file(e.path());
                pruned.push(name);
            }
        }
        pruned
    }

    /// The id owning `name`: the index entry, when its container's record
    /// still exists and still carries that name (a stale entry left by a
    /// crash between the record's removal and the entry's is ignored).
    fn name_owner(&self, name: &str) -> Option<String> {
        let id = fs::read_to_string(self.paths.name_entry(name)).ok()?;
        let id = id.trim();
        match self.load(id) {
            Ok(c) if c.name == name => Some(c.id),
            _ => None,
        }
    }

    /// Drop the index entry of `name` if it still points at `id`.
    fn release_name(&self, name: &str, id: &str) {
        let entry = self.paths.name_entry(name);
        if fs::read_to_string(&entry).is_ok_and(|owner| owner.trim() == id) {
            let _ = fs::remove_file(entry);
        }
    }

    /// Write `c` atomically.
    pub fn save(&self, c: &Container) -> Result<()> {
        fsutil::write_json(&self.record_path(&c.id), c)
    }

    /// The record of `id` (a full id).
    pub fn load(&self, id: &str) -> Result<Container> {
        fsutil::read_json(&self.record_path(id))?
            .ok_or_else(|| EngineError::NoSuchContainer(id.to_string()))
    }

    /// Every readable record, oldest first. Directories without a record
    /// (half-made by a crashed `run`) are skipped; `gc` removes them.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            if let Ok(Some(c)) = fsutil::read_json::<Container>(&self.record_path(&id)) {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    /// Every directory name under `containers/` that looks like an id.
    pub fn ids(&self) -> Result<Vec<String>> {
        Ok(fsutil::dir_entries(&self.paths.containers_dir())?
            .into_iter()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect())
    }

    /// Find a container by full id, name, or unique id prefix (docker's
    /// order: an exact id, then a name, then a prefix).
    pub fn resolve(&self, query: &str) -> Result<Container> {
        let is_id = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if is_id(query) {
            if let Ok(c) = self.load(query) {
                return Ok(c);
            }
        }
        let q = query.strip_prefix('/').unwrap_or(query);
        if validate_name(q).is_ok() {
            if let Some(id) = self.name_owner(q) {
                return self.load(&id);
            }
        }
        let mut hits = self
            .ids()?
            .into_iter()
            .filter(|id| !q.is_empty() && id.starts_with(q));
        match (hits.next(), hits.next()) {
            (Some(id), None) => self
                .load(&id)
                .map_err(|_| EngineError::NoSuchContainer(query.to_string())),
            (Some(_), Some(_)) => Err(EngineError::Ambiguous(query.to_string())),
            _ => Err(EngineError::NoSuchContainer(query.to_string())),
        }
    }

    /// Hold the per-container lock.
    pub fn lock(&self, id: &str) -> Result<Lock> {
        Lock::acquire(&self.paths.container_dir(id).join("lock"))
    }

    /// Rename `id` to `new`, keeping names unique.
    pub fn rename(&self, id: &str, new: &str) -> Result<()> {
        validate_name(new)?;
        let _names = Lock::acquire(&self.paths.names_lock())?;
        let _lock = self.lock(id)?;
        if let Some(other) = self.name_owner(new) {
            return Err(EngineError::NameInUse {
                name: new.to_string(),
                id: other,
            });
        }
        let mut c = self.load(id)?;
        let old = std::mem::replace(&mut c.name, new.to_string());
        fsutil::atomic_write(&self.paths.name_entry(new), id.as_bytes())?;
        self.save(&c)?;
        self.release_name(&old, id);
        Ok(())
    }

    /// Remove the record and everything in its persistent directory, and
    /// its name from the index.
    pub fn remove(&self, id: &str) -> Result<()> {
        let name = self.load(id).ok().map(|c| c.name);
        fsutil::remove_dir_all(&self.paths.container_dir(id))?;
        if let Some(name) = name {
            self.release_name(&name, id);
        }
        Ok(())
    }
}

/// A name for which `taken` is false: `adjective_noun` picked from the id,
/// else `rcrun_<id prefix>`.
pub fn generate_name(id: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let prefix = &id[..12.min(id.len())];
    let seed = u64::from_str_radix(prefix, 16).unwrap_or(0);
    for i in 0..8u64 {
        let n = seed.wrapping_add(i.wrapping_mul(0x9e37_79b9));
        let name = format!(
            "{}_{}",
            ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize],
            NOUNS[((n / 64) % NOUNS.len() as u64) as usize]
        );
        if !taken(&name) {
            return name;
        }
    }
    format!("rcrun_{prefix}")
}

/// docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 bytes.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            "--name",
            name,
            "use letters, digits, '_', '.', '-', starting with a letter or digit",
        ))
    }
}

const ADJECTIVES: [&str; 32] = [
    "admiring", "agitated", "amazing", "bold", "brave", "busy", "calm", "clever", "cool",
    "dazzling", "eager", "elated", "epic", "festive", "focused", "gallant", "gentle", "happy",
    "jolly", "keen", "kind", "lucid", "modest", "nifty", "quirky", "relaxed", "serene", "sharp",
    "stoic", "tender", "vibrant", "zen",
];

const NOUNS: [&str; 32] = [
    "albattani",
    "babbage",
    "bell",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "fermat",
    "galileo",
    "gauss",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "mayer",
    "mccarthy",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "wright",
    "yalow",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_avoid_taken_ones() {
        let id = "0123456789ab".repeat(5) + "cdef";
        let first = generate_name(&id, &|_| false);
        let second = generate_name(&id, &|n: &str| n == first);
        assert_ne!(first, second);
        assert!(validate_name(&first).is_ok());
    }

    #[test]
    fn names_follow_docker_rules() {
        assert!(validate_name("web-1.a_b").is_ok());
        assert!(validate_name("-web").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
    }
}
