//! `update`: change the cgroup limits (`linux.resources`) of a live
//! container, as `runc update` does. Only the values given are written; the
//! container's resources as last set (`config.json`'s, merged with every
//! update) are remembered in `resources.json` in its state dir, so `update`
//! without arguments and later tools see the current limits.

use oci_spec::runtime::LinuxResources;
use serde_json::Value;

use crate::error::{Result, RuntimeError};
use crate::record::Status;
use crate::store::{write_atomic, StateStore};

/// File in the container's state dir holding its current resources.
pub const RESOURCES_FILE: &str = "resources.json";

/// Apply `changes` to container `id`'s cgroup and remember the result.
/// Returns the container's resources after the update.
pub fn update(store: &StateStore, id: &str, changes: &LinuxResources) -> Result<LinuxResources> {
    let locked = store.lock(id)?;
    let rec = locked.read()?;
    let status = rec.status(&locked.dir);
    if status == Status::Stopped {
        return Err(RuntimeError::BadState {
            id: id.to_string(),
            status: status.to_string(),
            message: "cannot update the resources of a stopped container".to_string(),
        });
    }
    let current = current_resources(store, id, &rec)?;
    rec.cgroup
        .apply(&with_swap_context(changes, &current))
        .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
    let merged = merge(&current, changes)?;
    let path = locked.dir.join(RESOURCES_FILE);
    let bytes = serde_json::to_vec_pretty(&merged).map_err(|e| RuntimeError::CorruptState {
        id: id.to_string(),
        path: path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&path, &bytes, 0o600)?;
    tracing::debug!("update {id}: {}", String::from_utf8_lossy(&bytes));
    Ok(merged)
}

/// The resources of container `id` as last set: `resources.json` after an
/// update, else the bundle's `linux.resources` (empty when it has none).
pub fn resources(store: &StateStore, id: &str) -> Result<LinuxResources> {
    let rec = store.read(id)?;
    current_resources(store, id, &rec)
}

fn current_resources(
    store: &StateStore,
    id: &str,
    rec: &crate::record::ContainerRecord,
) -> Result<LinuxResources> {
    let path = store.dir(id).join(RESOURCES_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            return serde_json::from_slice(&bytes).map_err(|e| RuntimeError::CorruptState {
                id: id.to_string(),
                path,
                message: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RuntimeError::io(path, e)),
    }
    let config = rec.bundle.join("config.json");
    match crate::spec::load_config(&config) {
        Ok(spec) => Ok(spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default()),
        // The bundle may be gone; the cgroup still is what it is.
        Err(RuntimeError::Io { .. }) => Ok(LinuxResources::default()),
        Err(e) => Err(e),
    }
}

/// A new memory limit without a swap value gets the remembered swap limit
/// alongside, so the cgroup code orders the two writes (v1 wants
/// limit <= memsw at every step), as runc's update does.
fn with_swap_context(changes: &LinuxResources, current: &LinuxResources) -> LinuxResources {
    let mut out = changes.clone();
    let swap = current.memory().as_ref().and_then(|m| m.swap());
    if let (Some(mut m), Some(swap)) = (*out.memory(), swap) {
        if m.limit().is_some() && m.swap().is_none() {
            m.set_swap(Some(swap));
            out.set_memory(Some(m));
        }
    }
    out
}

/// `base` with every value set in `changes` replacing its counterpart
/// (objects merged key by key, lists and numbers replaced).
pub fn merge(base: &LinuxResources, changes: &LinuxResources) -> Result<LinuxResources> {
    let to_value = |r: &LinuxResources| {
        serde_json::to_value(r).map_err(|e| RuntimeError::spec("linux.resources", e.to_string()))
    };
    let mut b = to_value(base)?;
    merge_values(&mut b, to_value(changes)?);
    serde_json::from_value(b).map_err(|e| RuntimeError::spec("linux.resources", e.to_string()))
}

fn merge_values(base: &mut Value, changes: Value) {
    match (base, changes) {
        (Value::Object(b), Value::Object(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge_values(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, c) => *b = c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).expect("resources")
    }

    #[test]
    fn a_new_memory_limit_carries_the_remembered_swap() {
        let current = res(serde_json::json!({"memory": {"limit": 100, "swap": 200}}));
        let changes = res(serde_json::json!({"memory": {"limit": 150}}));
        let out = with_swap_context(&changes, &current);
        let m = out.memory().as_ref().expect("memory");
        assert_eq!((m.limit(), m.swap()), (Some(150), Some(200)));
        let pids_only = res(serde_json::json!({"pids": {"limit": 5}}));
        assert!(with_swap_context(&pids_only, &current).memory().is_none());
    }

    #[test]
    fn merge_keeps_what_the_update_leaves_out() {
        let base = res(serde_json::json!({
            "memory": {"limit": 100, "swap": 200},
            "pids": {"limit": 10},
            "devices": [{"allow": false, "access": "rwm"}]
        }));
        let changes = res(serde_json::json!({"memory": {"limit": 50}, "cpu": {"shares": 512}}));
        let m = merge(&base, &changes).expect("merge");
        let mem = m.memory().as_ref().expect("memory");
        assert_eq!(mem.limit(), Some(50));
        assert_eq!(mem.swap(), Some(200));
        assert_eq!(m.pids().as_ref().map(|p| p.limit()), Some(10));
        assert_eq!(m.cpu().as_ref().and_then(|c| c.shares()), Some(512));
        assert_eq!(m.devices().as_ref().map(|d| d.len()), Some(1));
    }
}
