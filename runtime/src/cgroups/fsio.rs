//! File-level cgroup operations: write and read control files, make a cgroup
//! directory chain (copying cpuset values on v1, enabling controllers on v2),
//! list processes recursively, and remove a subtree once its tasks are gone.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::CgroupError;

/// Write `value` to the cgroup file `dir/file` in one write(2).
pub fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let res = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| CgroupError::Write {
        path,
        value: value.to_string(),
        source,
    })
}

/// Read `dir/file`, trimmed.
pub fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

/// Read `dir/file` as a number; `None` for `max` (unlimited).
pub fn read_u64_or_max(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    let text = read(dir, file)?;
    if text == "max" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| CgroupError::Parse {
        path: dir.join(file),
        content: text,
    })
}

/// Whether the control file exists (the controller or feature is present).
pub fn has(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Create `dir` and any missing parents below `mount`. On a v1 cpuset
/// hierarchy every level from the top down gets `cpuset.cpus`/`cpuset.mems`
/// from its parent when they are empty, since an empty cpuset cannot hold
/// tasks (checking existing levels too covers a parent that a concurrent
/// create has made but not filled yet). Intermediate cpuset levels made here
/// get `cgroup.clone_children`, so the kernel fills their later children at
/// mkdir: writing `cpuset.cpus` makes it check the value against every
/// sibling, which grows with the number of containers.
pub fn mkdir_v1(mount: &Path, dir: &Path, cpuset: bool) -> Result<(), CgroupError> {
    let created = missing_levels(mount, dir);
    for level in &created {
        make_dir(level)?;
    }
    if cpuset {
        let rel = dir.strip_prefix(mount).unwrap_or(dir);
        let mut parent = mount.to_path_buf();
        for comp in rel.components() {
            let level = parent.join(comp);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if read(&level, file)?.is_empty() {
                    let v = read(&parent, file)?;
                    write(&level, file, &v)?;
                }
            }
            parent = level;
        }
        for level in created.iter().filter(|l| l.as_path() != dir) {
            // Only a speed-up: without it each child is filled as above.
            let _ = write(level, "cgroup.clone_children", "1");
        }
    }
    Ok(())
}

/// Create `dir` and any missing parents below the cgroup2 `mount`, enabling
/// `controllers` in `cgroup.subtree_control` of every level above `dir`, so
/// that `dir` gets their interface files.
pub fn mkdir_v2(mount: &Path, dir: &Path, controllers: &[&str]) -> Result<(), CgroupError> {
    if !controllers.is_empty() {
        let mut level = mount.to_path_buf();
        let rel = dir.strip_prefix(mount).unwrap_or(dir);
        for comp in rel.components() {
            enable_controllers(&level, controllers)?;
            level.push(comp);
            if !level.exists() {
                make_dir(&level)?;
            }
        }
    }
    for level in missing_levels(mount, dir) {
        make_dir(&level)?;
    }
    Ok(())
}

/// The controllers of `controllers` that the cgroup2 root offers.
pub fn available_v2(
    mount: &Path,
    controllers: &[&'static str],
) -> Result<Vec<&'static str>, CgroupError> {
    let offered = read(mount, "cgroup.controllers")?;
    Ok(controllers
        .iter()
        .copied()
        .filter(|c| offered.split_whitespace().any(|o| o == *c))
        .collect())
}

fn enable_controllers(level: &Path, controllers: &[&str]) -> Result<(), CgroupError> {
    let enabled = read(level, "cgroup.subtree_control")?;
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    write(level, "cgroup.subtree_control", &missing.join(" "))
}

fn make_dir(dir: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::Create {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// The levels from the first missing one down to `dir`, top first.
fn missing_levels(mount: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = dir;
    while cur != mount && !cur.exists() {
        out.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    out.reverse();
    out
}

/// Every pid in `dir/cgroup.procs` and in every sub-cgroup, depth first.
pub fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let path = dir.join("cgroup.procs");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(CgroupError::Read { path, source }),
    };
    for line in text.lines() {
        let pid = line.trim().parse().map_err(|_| CgroupError::Parse {
            path: path.clone(),
            content: line.to_string(),
        })?;
        out.push(pid);
    }
    for sub in subdirs(dir)? {
        procs_recursive(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(e.path());
        }
    }
    Ok(out)
}

/// Remove `dir` and every sub-cgroup below it, deepest first. Retries while
/// the kernel still reports tasks (EBUSY) for up to `patience`; a directory
/// that is already gone is fine.
pub fn remove_tree(dir: &Path, patience: Duration) -> Result<(), CgroupError> {
    for sub in subdirs(dir)? {
        remove_tree(&sub, patience)?;
    }
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if start.elapsed() >= patience {
                    return Err(CgroupError::Busy {
                        path: dir.to_path_buf(),
                        waited_ms: start.elapsed().as_millis() as u64,
                    });
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a v1 cpuset hierarchy (root only): the levels made get their
    /// parent's cpus/mems, and the intermediate ones clone_children, so a
    /// child made later by anyone is filled by the kernel.
    #[test]
    fn mkdir_v1_fills_cpuset_levels_and_sets_clone_children() {
        let mount = Path::new("/sys/fs/cgroup/cpuset");
        if !nix::unistd::geteuid().is_root() || !mount.join("cpuset.cpus").exists() {
            eprintln!("skipped: needs root and a v1 cpuset hierarchy");
            return;
        }
        let top = mount.join(format!("rcrun-unit-{}", std::process::id()));
        let leaf = top.join("a");
        let res = std::panic::catch_unwind(|| {
            mkdir_v1(mount, &leaf, true).unwrap();
            let cpus = read(mount, "cpuset.cpus").unwrap();
            assert_eq!(read(&top, "cpuset.cpus").unwrap(), cpus);
            assert_eq!(read(&leaf, "cpuset.cpus").unwrap(), cpus);
            assert_eq!(
                read(&leaf, "cpuset.mems").unwrap(),
                read(mount, "cpuset.mems").unwrap()
            );
            assert_eq!(read(&top, "cgroup.clone_children").unwrap(), "1");
            assert_eq!(read(&leaf, "cgroup.clone_children").unwrap(), "0");
            fs::create_dir(top.join("b")).unwrap();
            assert_eq!(read(&top.join("b"), "cpuset.cpus").unwrap(), cpus);
        });
        for d in [top.join("b"), leaf, top.clone()] {
            let _ = fs::remove_dir(d);
        }
        assert!(!top.exists());
        if let Err(p) = res {
            std::panic::resume_unwind(p);
        }
    }

    #[test]
    fn missing_levels_lists_only_what_is_absent_top_first() {
        let tmp = tempfile::tempdir().unwrap();
        let mount = tmp.path();
        fs::create_dir(mount.join("a")).unwrap();
        let dir = mount.join("a/b/c");
        assert_eq!(
            missing_levels(mount, &dir),
            [mount.join("a/b"), mount.join("a/b/c")]
        );
        assert!(missing_levels(mount, &mount.join("a")).is_empty());
    }

    #[test]
    fn remove_tree_of_a_plain_directory_tree_and_of_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("x");
        fs::create_dir_all(dir.join("y/z")).unwrap();
        remove_tree(&dir, Duration::from_millis(10)).unwrap();
        assert!(!dir.exists());
        remove_tree(&dir, Duration::from_millis(10)).unwrap();
    }

    #[test]
    fn write_names_the_file_that_failed() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write(tmp.path(), "memory.max", "1").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("memory.max") && text.contains("\"1\""),
            "{text}"
        );
    }
}
