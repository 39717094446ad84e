//! A container's live status: the record says what was last written; the
//! exit file (written by the monitor, or by a foreground `rcrun run`) and
//! the init's pid say what is true now, before the cleanup has run.

use serde::Deserialize;

use crate::engine::Engine;
use crate::fsutil;
use crate::options::RestartPolicy;
use crate::procs;
use crate::records::{Container, Status};

/// The exit record `<run-dir>/exit`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    /// Exit code (128+N when killed by signal N).
    pub exit_code: i32,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    /// When it exited.
    pub finished_at: String,
}

/// Format an exit record as the monitor does.
pub fn exit_record_json(code: i32, signal: Option<i32>, finished_at: &str) -> String {
    serde_json::json!({"exitCode": code, "signal": signal, "finishedAt": finished_at}).to_string()
        + "\n"
}

impl Engine {
    /// The exit record of container `id`, if its process has exited and
    /// the record is not yet cleaned up.
    pub fn exit_record(&self, id: &str) -> Option<ExitRecord> {
        fsutil::read_json(&self.paths.container_run_dir(id).join("exit"))
            .ok()
            .flatten()
    }

    /// The container's current init `(pid, start time)`: the monitor's
    /// `pid` file (rewritten on each restart), else the record's.
    pub fn current_init(&self, c: &Container) -> (i32, u64) {
        let from_file = std::fs::read_to_string(self.paths.container_run_dir(&c.id).join("pid"))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .filter(|p| *p > 0);
        match from_file {
            Some(p) if p != c.state.pid => (p, procs::start_time(p).unwrap_or(0)),
            _ => (c.state.pid, c.state.pid_start),
        }
    }

    /// How often the monitor has restarted `c` (its `restarts` file while
    /// it runs, the record's count afterwards).
    pub fn restart_count(&self, c: &Container) -> u32 {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Restarts {
            restart_count: u32,
        }
        fsutil::read_json::<Restarts>(&self.paths.container_run_dir(&c.id).join("restarts"))
            .ok()
            .flatten()
            .map(|r| r.restart_count)
            .unwrap_or(0)
            .max(c.state.restart_count)
    }

    /// `(status, exit code)` now: `created`, `running`, `restarting`, `exited`.
    pub fn live_status(&self, c: &Container) -> (&'static str, Option<i32>) {
        match c.state.status {
            Status::Created => ("created", None),
            Status::Exited => ("exited", c.state.exit_code),
            Status::Running => {
                if let Some(x) = self.exit_record(&c.id) {
                    return ("exited", Some(x.exit_code));
                }
                let (pid, start) = self.current_init(c);
                if procs::is_alive(pid, start) {
                    ("running", None)
                } else if self.supervisor_alive(c) {
                    // The init is gone and its monitor lives: it is either
                    // recording the exit (a moment) or restarting it.
                    if c.options.restart == RestartPolicy::No || c.state.stopped_by_user {
                        ("running", None)
                    } else {
                        ("restarting", None)
                    }
                } else {
                    ("exited", c.state.exit_code)
                }
            }
        }
    }

    /// Is the process supervising `c` (monitor, or foreground `rcrun`) alive?
    pub fn supervisor_alive(&self, c: &Container) -> bool {
        procs::is_alive(c.state.supervisor_pid, c.state.supervisor_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_records_parse_as_the_monitor_writes_them() {
        let r: ExitRecord = serde_json::from_str(
            r#"{"exitCode":137,"signal":9,"finishedAt":"2026-11-21T03:30:52.1Z"}"#,
        )
        .unwrap();
        assert_eq!(r.exit_code, 137);
        assert_eq!(r.signal, Some(9));
        let back: ExitRecord = serde_json::from_str(&exit_record_json(1, None, "t")).unwrap();
        assert_eq!(back.exit_code, 1);
        assert_eq!(back.signal, None);
    }
}

#[cfg(test)]
mod live_tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::Binaries;
    use crate::paths::Paths;
    use crate::records::{ProcessInfo, State};

    fn engine(dir: &std::path::Path) -> Engine {
        let paths = Paths::new(&dir.join("run"), &dir.join("data"));
        let bridge = rcrun_netdriver::BridgeDriver::new(
            rcrun_netdriver::DriverConfig::new(&paths.data_root, &paths.run_root),
            Box::new(rcrun_netdriver::NoneFirewall),
        );
        Engine::new(paths, Binaries::in_dir(dir), bridge, dir.join("cni"))
    }

    fn container(pid: i32) -> Container {
        Container {
            id: "ab".repeat(32),
            name: "c".into(),
            image: "i".into(),
            image_id: "sha256:x".into(),
            created: fsutil::now_rfc3339(),
            options: Default::default(),
            process: ProcessInfo::default(),
            sandbox_id: String::new(),
            hostname: "h".into(),
            labels: BTreeMap::new(),
            mounts: vec![],
            state: State {
                status: Status::Running,
                pid,
                pid_start: procs::start_time(pid).unwrap_or(0),
                ..State::default()
            },
        }
    }

    #[test]
    fn status_follows_the_init_the_exit_record_and_the_restarts_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let me = std::process::id() as i32;
        let c = container(me);
        assert_eq!(e.live_status(&c), ("running", None));
        assert_eq!(e.current_init(&c).0, me);

        let run_dir = e.paths.container_run_dir(&c.id);
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(
            run_dir.join("restarts"),
            r#"{"restartCount":2,"lastExit":{}}"#,
        )
        .unwrap();
        assert_eq!(e.restart_count(&c), 2);
        std::fs::write(run_dir.join("exit"), exit_record_json(3, None, "t")).unwrap();
        assert_eq!(e.live_status(&c), ("exited", Some(3)));

        // A dead init without a supervisor or an exit record: exited.
        std::fs::remove_file(run_dir.join("exit")).unwrap();
        let mut gone = container(me);
        gone.state.pid = i32::MAX;
        gone.state.pid_start = 1;
        std::fs::write(run_dir.join("pid"), i32::MAX.to_string()).unwrap();
        assert_eq!(e.live_status(&gone), ("exited", None));
    }
}
