//! `start`: release a created container's init to exec the user process.
//! Opens the exec fifo for reading, which unblocks the init's open for
//! writing; the init writes one byte and execs. A pidfd on the init is
//! polled alongside, so an init that died makes `start` fail, not hang.

use std::io::Read;
use std::os::fd::AsFd;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use crate::error::{Result, RuntimeError};
use crate::hooks::HookKind;
use crate::process::PidFd;
use crate::record::{Status, EXEC_FIFO};
use crate::store::StateStore;

/// Start container `id` (must be `created`).
pub fn start(store: &StateStore, id: &str) -> Result<()> {
    let locked = store.lock(id)?;
    let rec = locked.read()?;
    let status = rec.status(&locked.dir);
    if status != Status::Created {
        return Err(RuntimeError::BadState {
            id: id.to_string(),
            status: status.to_string(),
            message: "only a created container can be started".to_string(),
        });
    }
    let pidfd = PidFd::open(rec.pid, Some(rec.start_time))?;
    let fifo_path = locked.dir.join(EXEC_FIFO);
    let fd = nix::fcntl::open(
        &fifo_path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RuntimeError::sys(format!("open {}", fifo_path.display()), e))?;
    // SAFETY: `open` returned a fresh descriptor that nothing else owns.
    let mut fifo = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(RuntimeError::sys("poll the exec fifo", e)),
        }
        let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            let mut buf = [0u8; 1];
            match fifo.read(&mut buf) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(RuntimeError::io(&fifo_path, e)),
            }
        }
        if init_gone {
            return Err(RuntimeError::BadState {
                id: id.to_string(),
                status: Status::Stopped.to_string(),
                message: "the init exited before it could be started".to_string(),
            });
        }
    }
    std::fs::remove_file(&fifo_path).map_err(|e| RuntimeError::io(&fifo_path, e))?;
    tracing::debug!("start {id}: released init {}", rec.pid);
    run_record_hooks(&rec, HookKind::Poststart, Status::Running);
    Ok(())
}

/// Run `poststart`/`poststop` hooks stored in the record; failures are
/// warnings (runtime-spec: they do not change the outcome).
pub(crate) fn run_record_hooks(
    rec: &crate::record::ContainerRecord,
    kind: HookKind,
    status: Status,
) {
    let Some(hooks) = rec.hooks.clone() else {
        return;
    };
    let mut spec = oci_spec::runtime::Spec::default();
    spec.set_hooks(Some(hooks));
    let mut state = crate::record::OciState::from_record(rec, status);
    state.pid = rec.pid;
    if let Err(e) = crate::hooks::run(&spec, kind, &state) {
        tracing::warn!("container {}: {e}", rec.id);
    }
}
