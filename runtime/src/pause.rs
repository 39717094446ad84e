//! `pause` and `resume`: freeze and thaw every process of a container
//! through its cgroup's freezer (v1 `freezer.state`, v2 `cgroup.freeze`).
//! While frozen the container's status is `paused`.

use crate::error::{Result, RuntimeError};
use crate::record::Status;
use crate::store::StateStore;

/// Freeze container `id` (must be running).
pub fn pause(store: &StateStore, id: &str) -> Result<()> {
    let locked = store.lock(id)?;
    let rec = locked.read()?;
    let status = rec.status(&locked.dir);
    if status != Status::Running {
        return Err(RuntimeError::BadState {
            id: id.to_string(),
            status: status.to_string(),
            message: "only a running container can be paused".to_string(),
        });
    }
    tracing::debug!("pause {id}: freeze {}", rec.cgroup.path.display());
    rec.cgroup.freeze().map_err(|e| {
        // Leave it as it was: a half-frozen container is neither state.
        let _ = rec.cgroup.thaw();
        RuntimeError::Cgroup(e.to_string())
    })
}

/// Thaw container `id` (must be paused).
pub fn resume(store: &StateStore, id: &str) -> Result<()> {
    let locked = store.lock(id)?;
    let rec = locked.read()?;
    let status = rec.status(&locked.dir);
    if status != Status::Paused {
        return Err(RuntimeError::BadState {
            id: id.to_string(),
            status: status.to_string(),
            message: "only a paused container can be resumed".to_string(),
        });
    }
    tracing::debug!("resume {id}: thaw {}", rec.cgroup.path.display());
    rec.cgroup
        .thaw()
        .map_err(|e| RuntimeError::Cgroup(e.to_string()))
}
