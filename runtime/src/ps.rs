//! `ps`: the host pids of every process in a container's cgroup.

use crate::error::{Result, RuntimeError};
use crate::store::StateStore;

/// Host pids of the processes of container `id`, sorted.
pub fn pids(store: &StateStore, id: &str) -> Result<Vec<i32>> {
    crate::store::validate_id(id)?;
    let rec = store.read(id)?;
    let mut pids = rec
        .cgroup
        .pids()
        .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}
