//! `kill`: send a signal to a container's init, or with `all` to every
//! process in its cgroup.

use nix::sys::signal::{kill as kill_pid, Signal};
use nix::unistd::Pid;

use crate::error::{Result, RuntimeError};
use crate::process::PidFd;
use crate::record::Status;
use crate::store::StateStore;

/// Signal container `id`. Without `all` the container must be created or
/// running; with `all` every process still in its cgroup is signalled.
pub fn kill(store: &StateStore, id: &str, sig: Signal, all: bool) -> Result<()> {
    let locked = store.lock(id)?;
    let rec = locked.read()?;
    let status = rec.status(&locked.dir);
    if all {
        let pids = rec
            .cgroup
            .pids()
            .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
        for pid in pids {
            match kill_pid(Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(e) => return Err(RuntimeError::sys(format!("send {sig} to {pid}"), e)),
            }
        }
        if sig == Signal::SIGKILL && rec.cgroup.is_frozen() {
            rec.cgroup
                .thaw()
                .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
        }
        return Ok(());
    }
    if status == Status::Stopped {
        return Err(RuntimeError::BadState {
            id: id.to_string(),
            status: status.to_string(),
            message: "cannot signal a stopped container".to_string(),
        });
    }
    PidFd::open(rec.pid, Some(rec.start_time))?.signal(sig)?;
    // A paused container's init only acts on SIGKILL once thawed (as runc).
    if sig == Signal::SIGKILL && status == Status::Paused {
        rec.cgroup
            .thaw()
            .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
    }
    Ok(())
}
