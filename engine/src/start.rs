//! Starting a created container: detached under a new `rcrun-monitor`
//! (which runs the runtime's `create` and supervises the init; the engine
//! then runs `start`), or in the foreground with the calling `rcrun` as the
//! init's parent (subreaper): it runs `rcrun-oci create` with the
//! container's output going to our terminal and its log
//! (`foreground_output`), starts, forwards signals, waits, writes the exit
//! record and cleans up.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rcrun_runtime::foreground::SignalForwarder;
use rcrun_runtime::tty::ConsoleListener;
use serde::Deserialize;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::foreground_output::{OutputPipes, Tee, TtyTee};
use crate::fsutil;
use crate::options::RestartPolicy;
use crate::procs::{self, ReadyPipe};
use crate::records::{Container, Status};
use crate::status::exit_record_json;

/// How long the monitor may take to create the container.
const MONITOR_READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
struct Ready {
    pid: Option<i32>,
    error: Option<String>,
}

impl Engine {
    /// Start `c` (status `created`) detached, under a new monitor.
    pub fn start_detached(&self, c: &mut Container) -> Result<()> {
        let _lock = self.records.lock(&c.id)?;
        self.spawn_monitor_and_start(c)
    }

    /// Spawn a monitor for `c` and start the container; the caller holds
    /// the container's lock (so the exit command waits for the record).
    /// The monitor applies the restart policy itself (`--restart`).
    fn spawn_monitor_and_start(&self, c: &mut Container) -> Result<()> {
        let run_dir = self.paths.container_run_dir(&c.id);
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| EngineError::io("create directory", &run_dir, e))?;
        for stale in ["exit", "no-restart", "restarts"] {
            fsutil::remove_file(&run_dir.join(stale))?;
        }
        let pipe = ReadyPipe::new()?;
        let mut cmd = Command::new(&self.bins.monitor);
        cmd.arg("--id")
            .arg(&c.id)
            .arg("--runtime")
            .arg(&self.bins.oci)
            .arg("--runtime-arg")
            .arg("--root")
            .arg("--runtime-arg")
            .arg(self.paths.oci_root())
            .arg("--bundle")
            .arg(self.bundle_dir(&c.id))
            .arg("--container-dir")
            .arg(&run_dir)
            .arg("--log-path")
            .arg(self.log_path(&c.id))
            .arg("--ready-fd")
            .arg(pipe.write.as_raw_fd().to_string())
            .arg("--exit-command")
            .arg(&self.bins.rcrun);
        if c.options.tty {
            cmd.arg("--tty");
        }
        if c.options.interactive {
            cmd.arg("--stdin");
        }
        if c.options.restart != RestartPolicy::No {
            cmd.arg("--restart").arg(String::from(c.options.restart));
        }
        for a in self.exit_command_args(&c.id) {
            cmd.arg("--exit-command-arg").arg(a);
        }
        let fd = pipe.write.as_raw_fd();
        let mut child = procs::spawn_detached(&mut cmd, &[fd])?;
        let said = pipe.read_all(MONITOR_READY_TIMEOUT)?;
        tracing::debug!(id = %c.id, said = said.trim(), "monitor reported");
        let _ = child.wait();
        let ready: Ready = serde_json::from_str(said.trim()).map_err(|_| EngineError::Monitor {
            id: c.id.clone(),
            reason: if said.trim().is_empty() {
                format!("{} exited without reporting", self.bins.monitor.display())
            } else {
                format!("unexpected monitor message {:?}", said.trim())
            },
        })?;
        let pid = match (ready.pid, ready.error) {
            (Some(pid), _) if pid > 0 => pid,
            (_, Some(err)) => return Err(self.classify_create_error(c, &err)),
            _ => {
                return Err(EngineError::Monitor {
                    id: c.id.clone(),
                    reason: format!("unexpected monitor message {:?}", said.trim()),
                })
            }
        };
        let pid_start = procs::start_time(pid).unwrap_or(0);
        // The monitor writes its pid (it forked away from our child); its
        // being the init's parent is the fallback.
        let monitor_pid = std::fs::read_to_string(run_dir.join("monitor.pid"))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .filter(|p| *p > 0)
            .or_else(|| parent_pid(pid))
            .unwrap_or(0);
        let store = self.oci_store()?;
        if let Err(e) = rcrun_runtime::start(&store, &c.id) {
            procs::signal(pid, pid_start, nix::sys::signal::Signal::SIGKILL);
            return Err(e.into());
        }
        c.state.status = Status::Running;
        c.state.pid = pid;
        c.state.pid_start = pid_start;
        c.state.monitor_pid = monitor_pid;
        c.state.supervisor_pid = monitor_pid;
        c.state.supervisor_start = procs::start_time(monitor_pid).unwrap_or(0);
        c.state.started_at = Some(fsutil::now_rfc3339());
        c.state.finished_at = None;
        c.state.exit_code = None;
        c.state.error = None;
        self.records.save(c)
    }

    /// The arguments of the monitor's exit command after `rcrun`.
    fn exit_command_args(&self, id: &str) -> Vec<String> {
        vec![
            "--root".into(),
            self.paths.run_root.display().to_string(),
            "--data-root".into(),
            self.paths.data_root.display().to_string(),
            "container".into(),
            "cleanup".into(),
            id.to_string(),
        ]
    }

    /// Run `c` in the foreground: this process becomes the init's parent,
    /// the container gets this process's stdio (stdin only with `-i`),
    /// signals in `fwd` are forwarded. Returns the exit code (128+N when
    /// killed by signal N). The caller installs `fwd` before any thread
    /// starts. With `-t` the runtime sends the pty master to a console
    /// socket here and this process proxies it to its own terminal.
    pub fn run_foreground(&self, c: &mut Container, fwd: &SignalForwarder) -> Result<i32> {
        // SAFETY: prctl with integer arguments has no memory effects.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            return Err(EngineError::Sys {
                op: "become child subreaper".into(),
                source: nix::errno::Errno::last(),
            });
        }
        std::fs::create_dir_all(self.paths.oci_root())
            .map_err(|e| EngineError::io("create directory", self.paths.oci_root(), e))?;
        let console = if c.options.tty {
            Some(ConsoleListener::bind(&self.paths.oci_root())?)
        } else {
            None
        };
        // The output goes to the terminal and the log: through pipes and a
        // copying thread, or (with a terminal) through the pty proxy. Both
        // are set up before anything runs, so failing here leaves nothing.
        let log = self.log_path(&c.id);
        let (tee, tty_out, stdio) = if console.is_some() {
            (None, Some(TtyTee::open(&log)?), None)
        } else {
            let (tee, out_w, err_w) = Tee::spawn(&log, OutputPipes::new()?)?;
            (Some(tee), None, Some((out_w, err_w)))
        };
        let (pid, pid_start) = {
            let _lock = self.records.lock(&c.id)?;
            let (pid, pid_start) = self.create_foreground(c, console.as_ref(), stdio)?;
            let store = self.oci_store()?;
            if let Err(e) = rcrun_runtime::start(&store, &c.id) {
                procs::signal(pid, pid_start, nix::sys::signal::Signal::SIGKILL);
                let _ = rcrun_runtime::delete(&store, &c.id, true);
                return Err(e.into());
            }
            let me = std::process::id() as i32;
            c.state.status = Status::Running;
            c.state.pid = pid;
            c.state.pid_start = pid_start;
            c.state.monitor_pid = 0;
            c.state.supervisor_pid = me;
            c.state.supervisor_start = procs::start_time(me).unwrap_or(0);
            c.state.started_at = Some(fsutil::now_rfc3339());
            self.records.save(c)?;
            (pid, pid_start)
        };
        let _ = pid_start;
        let code = match (console, tty_out) {
            (Some(l), Some(mut out)) => {
                let master = l.accept_master()?;
                drop(l);
                rcrun_runtime::tty::proxy_until_exit_to(fwd, master, pid, &mut out)?
            }
            _ => fwd.forward_until_exit(pid)?,
        };
        if let Some(tee) = tee {
            tee.finish();
        }
        let signal = (code > 128).then_some(code - 128);
        let exit = exit_record_json(code, signal, &fsutil::now_rfc3339());
        fsutil::atomic_write(
            &self.paths.container_run_dir(&c.id).join("exit"),
            exit.as_bytes(),
        )?;
        self.cleanup(&c.id)?;
        Ok(code)
    }

    /// `rcrun-oci create` of `c` with our stdio, or `stdio` (stdout,
    /// stderr) for the container's output.
    fn create_foreground(
        &self,
        c: &Container,
        console: Option<&ConsoleListener>,
        stdio: Option<(OwnedFd, OwnedFd)>,
    ) -> Result<(i32, u64)> {
        let run_dir = self.paths.container_run_dir(&c.id);
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| EngineError::io("create directory", &run_dir, e))?;
        let log = run_dir.join("runtime.log");
        let pid_file = run_dir.join("pid");
        fsutil::remove_file(&log)?;
        fsutil::remove_file(&run_dir.join("exit"))?;
        let mut cmd = Command::new(&self.bins.oci);
        cmd.arg("--root")
            .arg(self.paths.oci_root())
            .arg("--log")
            .arg(&log)
            .arg("create")
            .arg("--bundle")
            .arg(self.bundle_dir(&c.id))
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(l) = console {
            cmd.arg("--console-socket").arg(l.path());
        }
        cmd.arg(&c.id);
        if !c.options.interactive {
            cmd.stdin(Stdio::null());
        }
        if let Some((out, err)) = stdio {
            cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
        }
        let status = cmd.status().map_err(|e| EngineError::Spawn {
            program: self.bins.oci.clone(),
            source: e,
        })?;
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let msg = last_log_message(&text)
                .unwrap_or_else(|| format!("{} create failed ({status})", self.bins.oci.display()));
            return Err(self.classify_create_error(c, &msg));
        }
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .map_err(|e| EngineError::io("read", &pid_file, e))?
            .trim()
            .parse()
            .map_err(|_| {
                EngineError::invalid("pid file", pid_file.display().to_string(), "not a pid")
            })?;
        Ok((pid, procs::start_time(pid).unwrap_or(0)))
    }

    /// Map the runtime's create error to docker's exit codes: 127 when the
    /// command does not exist, 126 when it cannot be executed, else 125.
    pub(crate) fn classify_create_error(&self, c: &Container, msg: &str) -> EngineError {
        self.classify_command_error(c, c.process.args.first().map(String::as_str), msg)
    }

    /// As [`Engine::classify_create_error`] for a command `arg0` run in `c`.
    pub(crate) fn classify_command_error(
        &self,
        c: &Container,
        arg0: Option<&str>,
        msg: &str,
    ) -> EngineError {
        let rootfs = self.rootfs_dirs(&c.id).rootfs;
        let code = classify(msg, &rootfs, arg0);
        match code {
            Some(code) => EngineError::Command {
                message: msg.to_string(),
                code,
            },
            None => EngineError::Monitor {
                id: c.id.clone(),
                reason: msg.to_string(),
            },
        }
    }
}

/// 126/127 for a command that cannot run, from the runtime's message.
fn classify(msg: &str, rootfs: &Path, arg0: Option<&str>) -> Option<i32> {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        return Some(127);
    }
    if msg.contains("not an executable file") || msg.contains("permission denied") {
        let exists = arg0
            .filter(|a| a.starts_with('/'))
            .map(|a| rootfs.join(a.trim_start_matches('/')))
            .is_none_or(|p: PathBuf| std::fs::symlink_metadata(p).is_ok());
        return Some(if exists { 126 } else { 127 });
    }
    None
}

/// The `msg` of the last line of an `rcrun-oci --log` file.
fn last_log_message(text: &str) -> Option<String> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(log_message(line))
}

/// The `msg` of one `rcrun-oci --log` line (text or JSON format).
pub(crate) fn log_message(line: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        if let Some(m) = v["msg"].as_str() {
            return m.to_string();
        }
    }
    match line.find("msg=") {
        Some(i) => {
            let rest = &line[i + 4..];
            let rest = rest.strip_prefix('"').unwrap_or(rest);
            let end = rest.rfind('"').unwrap_or(rest.len());
            rest[..end].replace("\\\"", "\"")
        }
        None => line.trim().to_string(),
    }
}

/// The parent pid of `pid` from `/proc/PID/stat`.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_errors_map_to_docker_codes() {
        let root = Path::new("/nonexistent-root");
        assert_eq!(
            classify(
                "exec: \"nope\": executable file not found in $PATH",
                root,
                Some("nope")
            ),
            Some(127)
        );
        assert_eq!(
            classify(
                "exec: \"/x\": not an executable file in the container",
                root,
                Some("/x")
            ),
            Some(127)
        );
        assert_eq!(
            classify(
                "exec: \"/\": not an executable file in the container",
                Path::new("/"),
                Some("/")
            ),
            Some(126)
        );
        assert_eq!(classify("cgroup: no space", root, Some("sh")), None);
    }

    #[test]
    fn log_messages_are_extracted() {
        assert_eq!(
            last_log_message("time=\"t\" level=error msg=\"exec: \\\"x\\\": not found\"\n")
                .unwrap(),
            "exec: \"x\": not found"
        );
        assert_eq!(
            last_log_message("{\"level\":\"error\",\"msg\":\"boom\"}\n").unwrap(),
            "boom"
        );
    }

    #[test]
    fn parent_of_this_process_is_known() {
        let me = std::process::id() as i32;
        assert_eq!(
            parent_pid(me),
            Some(std::os::unix::process::parent_id() as i32)
        );
    }
}
