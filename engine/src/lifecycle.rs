//! The verbs on a container that exists: `stop` (stop signal, then SIGKILL
//! after the timeout), `kill`, `wait`, `rm`, `rename`.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::fsutil;
use crate::procs;
use crate::records::{Container, Status};

/// docker's default `stop` timeout.
pub const DEFAULT_STOP_TIMEOUT: u64 = 10;

/// How long to wait for the monitor's cleanup after the process died.
const CLEANUP_WAIT: Duration = Duration::from_secs(10);

impl Engine {
    /// Mark `c` as stopped by a person: no restart (the record's flag and
    /// the monitor's `no-restart` file). Returns it reloaded.
    fn mark_stopped(&self, id: &str) -> Result<Container> {
        let _lock = self.records.lock(id)?;
        let mut c = self.records.load(id)?;
        if c.state.status == Status::Running {
            let run_dir = self.paths.container_run_dir(id);
            if run_dir.exists() {
                fsutil::atomic_write(&run_dir.join("no-restart"), b"stopped by the user\n")?;
            }
            if !c.state.stopped_by_user {
                c.state.stopped_by_user = true;
                self.records.save(&c)?;
            }
        }
        Ok(c)
    }

    /// Stop a container: its stop signal, then SIGKILL after `timeout`
    /// seconds; returns once it is cleaned up. Returns its id.
    pub fn stop(&self, query: &str, timeout: Option<u64>) -> Result<String> {
        let c = self.records.resolve(query)?;
        let status = self.live_status(&c).0;
        if status != "running" && status != "restarting" {
            self.finish_cleanup(&c)?;
            return Ok(c.id);
        }
        let c = self.mark_stopped(&c.id)?;
        let (pid, start) = self.current_init(&c);
        let sig = Signal::try_from(c.process.stop_signal_number).unwrap_or(Signal::SIGTERM);
        procs::signal(pid, start, sig);
        let t = Duration::from_secs(timeout.unwrap_or(DEFAULT_STOP_TIMEOUT));
        if !procs::wait_gone(pid, start, t) {
            procs::signal(pid, start, Signal::SIGKILL);
            procs::wait_gone(pid, start, Duration::from_secs(10));
        }
        self.finish_cleanup(&c)?;
        Ok(c.id)
    }

    /// Send signal `sig` (`KILL`, `SIGTERM`, `9`) to a running container's
    /// init. Returns its id.
    pub fn kill(&self, query: &str, sig: &str) -> Result<String> {
        let sig = rcrun_runtime::signal::parse_signal(sig)
            .map_err(|_| EngineError::invalid("--signal", sig, "use a signal name or number"))?;
        let c = self.records.resolve(query)?;
        let (status, _) = self.live_status(&c);
        if status != "running" {
            return Err(EngineError::WrongState {
                id: query.to_string(),
                state: status.into(),
                hint: "only a running container can be signalled",
            });
        }
        // A signal meant to end the container vetoes restarts; others
        // (HUP, USR1, ...) leave the policy alone.
        let ends_it = matches!(
            sig,
            Signal::SIGKILL | Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT
        ) || sig as i32 == c.process.stop_signal_number;
        let c = if ends_it {
            self.mark_stopped(&c.id)?
        } else {
            c
        };
        let (pid, _) = self.current_init(&c);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).map_err(|e| {
            EngineError::Sys {
                op: format!("kill {} (pid {pid})", c.id),
                source: e,
            }
        })?;
        Ok(c.id)
    }

    /// Wait until the container has exited; returns its exit code.
    pub fn wait(&self, query: &str) -> Result<i32> {
        let c = self.records.resolve(query)?;
        let mut last = None;
        loop {
            let cur = match self.records.load(&c.id) {
                Ok(cur) => cur,
                Err(EngineError::NoSuchContainer(_)) => {
                    return last.ok_or(EngineError::NoSuchContainer(query.to_string()))
                }
                Err(e) => return Err(e),
            };
            match self.live_status(&cur) {
                ("exited", code) => return Ok(code.unwrap_or(crate::cleanup::UNKNOWN_EXIT)),
                ("created", _) => {
                    return Err(EngineError::WrongState {
                        id: query.to_string(),
                        state: "created".into(),
                        hint: "it was never started",
                    })
                }
                _ => {}
            }
            if let Some(x) = self.exit_record(&c.id) {
                last = Some(x.exit_code);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the supervisor's cleanup of a container whose process has
    /// gone; do it here when the supervisor is gone too.
    fn finish_cleanup(&self, c: &Container) -> Result<()> {
        let deadline = Instant::now() + CLEANUP_WAIT;
        loop {
            let cur = match self.records.load(&c.id) {
                Ok(cur) => cur,
                Err(EngineError::NoSuchContainer(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            if cur.state.status != Status::Running {
                return Ok(());
            }
            if !self.supervisor_alive(&cur) || Instant::now() >= deadline {
                return self.cleanup(&c.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Remove a container; a running one only with `force` (killed first).
    pub fn remove(&self, query: &str, force: bool) -> Result<String> {
        let c = self.records.resolve(query)?;
        if matches!(self.live_status(&c).0, "running" | "restarting") {
            if !force {
                return Err(EngineError::WrongState {
                    id: query.to_string(),
                    state: "running".into(),
                    hint: "stop it first or use rm -f",
                });
            }
            let c = self.mark_stopped(&c.id)?;
            let (pid, start) = self.current_init(&c);
            procs::signal(pid, start, Signal::SIGKILL);
            procs::wait_gone(pid, start, Duration::from_secs(10));
        }
        self.finish_cleanup(&c)?;
        let _lock = self.records.lock(&c.id)?;
        let c = match self.records.load(&c.id) {
            Ok(c) => c,
            Err(EngineError::NoSuchContainer(_)) => return Ok(c.id),
            Err(e) => return Err(e),
        };
        if c.state.status == Status::Created {
            if let Ok(store) = self.oci_store() {
                let _ = rcrun_runtime::delete(&store, &c.id, true);
            }
        }
        self.discard(&c)?;
        Ok(c.id)
    }

    /// Rename a container.
    pub fn rename(&self, query: &str, new: &str) -> Result<()> {
        let c = self.records.resolve(query)?;
        self.records.rename(&c.id, new)
    }

    /// Seconds since `rfc3339` (0 when unparsable).
    pub fn age_secs(rfc3339: &str) -> i64 {
        fsutil::parse_rfc3339(rfc3339)
            .map(|(s, _)| fsutil::now_secs() - s)
            .unwrap_or(0)
    }
}
