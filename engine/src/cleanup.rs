//! What happens when a container's process has exited for good (the
//! monitor's exit command `rcrun container cleanup ID`, a foreground run,
//! `stop`, `rm -f`, `gc`): record the exit, delete the runtime state, leave
//! the sandbox (the last member tears it down), unmount the rootfs and, with
//! `--rm`, remove the container. Restarts (`--restart`) happen before this,
//! inside the monitor, which runs the exit command only at the final exit.
//! Idempotent: a second call finds nothing to do.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::fsutil;
use crate::procs;
use crate::records::{Container, Status};

/// Exit code recorded when the process vanished without an exit record.
pub const UNKNOWN_EXIT: i32 = 255;

impl Engine {
    /// Clean up after container `id`'s process exited (see the module doc).
    pub fn cleanup(&self, id: &str) -> Result<()> {
        if !self.paths.container_dir(id).exists() {
            return Ok(());
        }
        let _lock = self.records.lock(id)?;
        let mut c = match self.records.load(id) {
            Ok(c) => c,
            Err(EngineError::NoSuchContainer(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.cleanup_locked(&mut c)
    }

    /// [`Engine::cleanup`] with the container's lock held.
    pub(crate) fn cleanup_locked(&self, c: &mut Container) -> Result<()> {
        if c.state.status != Status::Running {
            return Ok(());
        }
        let exit = self.exit_record(&c.id);
        let (pid, start) = self.current_init(c);
        if exit.is_none() && procs::is_alive(pid, start) {
            return Err(EngineError::WrongState {
                id: c.id.clone(),
                state: "running".into(),
                hint: "its process has not exited",
            });
        }
        let code = exit.as_ref().map(|x| x.exit_code).unwrap_or(UNKNOWN_EXIT);
        if let Ok(store) = self.oci_store() {
            if let Err(e) = rcrun_runtime::delete(&store, &c.id, true) {
                tracing::debug!("delete runtime state of {}: {e}", c.id);
            }
        }
        c.state.restart_count = self.restart_count(c);
        c.state.status = Status::Exited;
        c.state.exit_code = Some(code);
        c.state.finished_at = Some(
            exit.map(|x| x.finished_at)
                .unwrap_or_else(fsutil::now_rfc3339),
        );
        c.state.pid = 0;
        c.state.pid_start = 0;
        self.records.save(c)?;
        self.release(c)
    }

    /// Give back what a stopped container holds: sandbox membership, the
    /// rootfs mount, the runtime dir; remove it entirely with `--rm`.
    fn release(&self, c: &Container) -> Result<()> {
        let mut first: Option<EngineError> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        if !c.sandbox_id.is_empty() {
            note(
                self.sandboxes
                    .leave(&self.nets, &c.sandbox_id, &c.id)
                    .map(|_| ()),
            );
        }
        let d = self.rootfs_dirs(&c.id);
        note(rcrun_image::rootfs::unmount_rootfs(&d.rootfs).map_err(EngineError::from));
        note(fsutil::remove_dir_all(&self.paths.container_run_dir(&c.id)));
        if c.options.auto_remove {
            note(
                rcrun_image::rootfs::remove_rootfs(&d.upper, &d.work, &d.rootfs)
                    .map_err(EngineError::from),
            );
            note(self.records.remove(&c.id));
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
