//! `delete`: remove a container's resources (cgroup, state dir). A stopped
//! or created container is deleted as is (a created init is killed first,
//! as runc does); a running one only with `force`, which kills every process
//! in its cgroup and waits for the init to exit.

use std::time::Duration;

use nix::sys::signal::{kill as kill_pid, Signal};
use nix::unistd::Pid;

use crate::error::{Result, RuntimeError};
use crate::process::PidFd;
use crate::record::Status;
use crate::store::{LockedDir, StateStore};

/// How long `delete` waits for killed processes to exit.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Delete container `id`. With `force`, a missing container is not an error
/// and a running one is killed first.
pub fn delete(store: &StateStore, id: &str, force: bool) -> Result<()> {
    let locked = match store.lock(id) {
        Ok(l) => l,
        Err(RuntimeError::NotFound(_)) => return delete_leftover(store, id, force),
        Err(e) => return Err(e),
    };
    let rec = match locked.read() {
        Ok(rec) => rec,
        // A record that cannot be parsed names no process or cgroup to
        // clean up; --force still removes the state dir.
        Err(RuntimeError::CorruptState { .. }) if force => return locked.remove(),
        Err(e) => return Err(e),
    };
    match rec.status(&locked.dir) {
        Status::Stopped => {}
        status @ (Status::Running | Status::Paused) if !force => {
            return Err(RuntimeError::BadState {
                id: id.to_string(),
                status: status.to_string(),
                message: "cannot delete a running container: stop it first or use --force"
                    .to_string(),
            })
        }
        _ => kill_all_and_wait(&rec, id)?,
    }
    remove(locked, &rec.cgroup)?;
    withdraw_skeleton(store);
    crate::start::run_record_hooks(&rec, crate::hooks::HookKind::Poststop, Status::Stopped);
    Ok(())
}

/// With the root's last container gone, withdraw its mount-namespace
/// skeleton (a failure only leaves it for the next delete).
fn withdraw_skeleton(store: &StateStore) {
    if let Err(e) = crate::skeleton::Skeleton::of_root(store.root()).withdraw_if_unused(store) {
        tracing::warn!("{e}");
    }
}

/// A state dir without `state.json` is what an interrupted `create` leaves:
/// remove it when nobody holds its lock.
fn delete_leftover(store: &StateStore, id: &str, force: bool) -> Result<()> {
    crate::store::validate_id(id)?;
    let dir = store.dir(id);
    if dir.exists() && !store.is_locked(id) {
        std::fs::remove_dir_all(&dir).map_err(|e| RuntimeError::io(&dir, e))?;
        withdraw_skeleton(store);
        return Ok(());
    }
    if force {
        return Ok(());
    }
    Err(RuntimeError::NotFound(id.to_string()))
}

fn kill_all_and_wait(rec: &crate::record::ContainerRecord, id: &str) -> Result<()> {
    let init = PidFd::open(rec.pid, Some(rec.start_time)).ok();
    if let Some(init) = &init {
        let _ = init.signal(Signal::SIGKILL);
    }
    for pid in rec
        .cgroup
        .pids()
        .map_err(|e| RuntimeError::Cgroup(e.to_string()))?
    {
        let _ = kill_pid(Pid::from_raw(pid), Signal::SIGKILL);
    }
    // Frozen (paused) tasks only act on SIGKILL once thawed.
    if rec.cgroup.is_frozen() {
        rec.cgroup
            .thaw()
            .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
    }
    if let Some(init) = &init {
        if !init.wait_exit(Some(KILL_WAIT))? {
            return Err(RuntimeError::BadState {
                id: id.to_string(),
                status: Status::Running.to_string(),
                message: format!(
                    "init {} did not exit within {KILL_WAIT:?} of SIGKILL",
                    rec.pid
                ),
            });
        }
    }
    Ok(())
}

fn remove(locked: LockedDir, cgroup: &crate::cgroups::CgroupHandle) -> Result<()> {
    tracing::debug!(
        "delete {}: remove cgroup {} and {}",
        locked.id,
        cgroup.path.display(),
        locked.dir.display()
    );
    cgroup
        .destroy()
        .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
    locked.remove()
}
