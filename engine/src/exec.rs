//! `exec`: run another process in a running container through the OCI
//! runtime's `exec` (`rcrun-oci exec`, a child process), with this
//! process's stdio; `-t` makes the runtime allocate and proxy a terminal.
//! Signals are forwarded; the exit code is the process's, or docker's
//! 126/127 when the command cannot be run, 125 for other failures.

use std::process::{Command, Stdio};

use rcrun_runtime::foreground::SignalForwarder;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::fsutil;

/// What `exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Command and arguments.
    pub command: Vec<String>,
    /// Keep stdin attached.
    pub interactive: bool,
    /// Allocate a terminal.
    pub tty: bool,
    /// Extra `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// User (name or uid, optionally `:group`), resolved in the container.
    pub user: Option<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Return once the process runs (`-d`).
    pub detach: bool,
}

impl Engine {
    /// Run `opts.command` in container `query`; returns its exit code. The
    /// caller installs `fwd` before any thread starts.
    pub fn exec(&self, query: &str, opts: &ExecOptions, fwd: &SignalForwarder) -> Result<i32> {
        let c = self.records.resolve(query)?;
        let (status, _) = self.live_status(&c);
        if status != "running" {
            return Err(EngineError::WrongState {
                id: query.to_string(),
                state: status.into(),
                hint: "exec needs a running container",
            });
        }
        if opts.command.is_empty() {
            return Err(EngineError::invalid(
                "COMMAND",
                "",
                "give the command to run",
            ));
        }
        let run_dir = self.paths.container_run_dir(&c.id);
        let log = run_dir.join(format!("exec-{}.log", std::process::id()));
        let mut cmd = Command::new(&self.bins.oci);
        cmd.arg("--root")
            .arg(self.paths.oci_root())
            .arg("--log")
            .arg(&log)
            .arg("exec");
        if opts.tty {
            cmd.arg("--tty");
        }
        if opts.detach {
            cmd.arg("--detach");
        }
        for e in &opts.env {
            cmd.arg("--env").arg(e);
        }
        if let Some(w) = &opts.workdir {
            cmd.arg("--cwd").arg(w);
        }
        if let Some(u) = &opts.user {
            let rootfs = self.rootfs_dirs(&c.id).rootfs;
            let user = rcrun_image::passwd::resolve_user(&rootfs, u)?;
            cmd.arg("--user").arg(format!("{}:{}", user.uid, user.gid));
            for g in &user.additional_gids {
                cmd.arg("--additional-gids").arg(g.to_string());
            }
        }
        cmd.arg(&c.id).args(&opts.command);
        if !opts.interactive && !opts.tty {
            cmd.stdin(Stdio::null());
        }
        let child = cmd.spawn().map_err(|e| EngineError::Spawn {
            program: self.bins.oci.clone(),
            source: e,
        })?;
        let code = fwd.forward_until_exit(child.id() as i32)?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = fsutil::remove_file(&log);
        if text.trim().is_empty() {
            return Ok(code);
        }
        let msg = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(crate::start::log_message)
            .unwrap_or_default();
        Err(self.classify_command_error(&c, opts.command.first().map(String::as_str), &msg))
    }
}
