//! Running one plugin binary: environment, stdin, its own process group, a
//! per-call timeout after which the whole group is SIGKILLed, and turning
//! its exit into output or a [`PluginFailure`].

use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::error::{PluginErrorObject, PluginFailure};

/// The CNI_* environment of one invocation.
#[derive(Debug, Clone, Default)]
pub struct PluginEnv<'a> {
    /// CNI_COMMAND.
    pub command: &'a str,
    /// CNI_CONTAINERID (empty = unset).
    pub container_id: &'a str,
    /// CNI_NETNS (empty = unset).
    pub netns: &'a str,
    /// CNI_IFNAME (empty = unset).
    pub ifname: &'a str,
    /// CNI_ARGS, already `K=V;K=V` joined (empty = unset).
    pub args: &'a str,
    /// CNI_PATH.
    pub path: &'a str,
}

/// How long to wait for a plugin before killing it, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The most of a plugin's output kept in error messages.
const SNIPPET: usize = 512;

fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    match s.char_indices().nth(SNIPPET) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Run `plugin` with `env` and `stdin`; return its stdout when it exits 0.
/// A non-zero exit gives the plugin's error object when stdout holds one.
pub fn run_plugin(
    plugin: &Path,
    env: &PluginEnv<'_>,
    stdin: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, PluginFailure> {
    // libcni retries "text file busy" (a plugin binary being written) a few times.
    let mut attempts = 0;
    let mut child = loop {
        match spawn(plugin, env) {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 5 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(source) => {
                return Err(PluginFailure::Spawn {
                    path: plugin.to_path_buf(),
                    source,
                })
            }
        }
    };
    let deadline = Instant::now() + timeout;
    let writer = feed_stdin(&mut child, stdin);
    let collected = collect(&mut child, deadline);
    let outcome = match collected {
        Ok((stdout, stderr)) => match wait_until(&mut child, deadline) {
            Ok(Some(status)) => Ok((status, stdout, stderr)),
            Ok(None) => Err(None),
            Err(e) => Err(Some(e)),
        },
        Err(None) => Err(None),
        Err(Some(e)) => Err(Some(e)),
    };
    let result = match outcome {
        Ok((status, stdout, stderr)) => interpret(status, stdout, stderr),
        Err(None) => {
            kill_group(&mut child);
            Err(PluginFailure::Timeout { after: timeout })
        }
        Err(Some(source)) => {
            kill_group(&mut child);
            Err(PluginFailure::Spawn {
                path: plugin.to_path_buf(),
                source,
            })
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    result
}

fn spawn(plugin: &Path, env: &PluginEnv<'_>) -> std::io::Result<Child> {
    let mut cmd = Command::new(plugin);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .env("CNI_COMMAND", env.command)
        .env("CNI_PATH", env.path);
    for (k, v) in [
        ("CNI_CONTAINERID", env.container_id),
        ("CNI_NETNS", env.netns),
        ("CNI_IFNAME", env.ifname),
        ("CNI_ARGS", env.args),
    ] {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    cmd.spawn()
}

/// Write stdin and close it. Small configs fit the pipe and are written
/// inline; a larger one gets a thread so a plugin that does not read cannot
/// block us past the timeout.
fn feed_stdin(child: &mut Child, data: &[u8]) -> Option<std::thread::JoinHandle<()>> {
    let mut pipe = child.stdin.take()?;
    if data.len() <= 4096 {
        let _ = pipe.write_all(data);
        None
    } else {
        let data = data.to_vec();
        Some(std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        }))
    }
}

/// Read stdout and stderr to EOF, or give up at `deadline` (`Err(None)`).
type Collected = Result<(Vec<u8>, Vec<u8>), Option<std::io::Error>>;

fn collect(child: &mut Child, deadline: Instant) -> Collected {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let (Some(mut so), Some(mut se)) = (child.stdout.take(), child.stderr.take()) else {
        return Ok((out, err));
    };
    let (mut so_open, mut se_open) = (true, true);
    let mut buf = [0u8; 8192];
    while so_open || se_open {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(None);
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let (r_out, r_err) = {
            let mut fds = Vec::with_capacity(2);
            if so_open {
                fds.push(PollFd::new(so.as_fd(), PollFlags::POLLIN));
            }
            if se_open {
                fds.push(PollFd::new(se.as_fd(), PollFlags::POLLIN));
            }
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Some(e.into())),
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            let mut it = fds.iter();
            let r_out = so_open && it.next().is_some_and(ready);
            let r_err = se_open && it.next().is_some_and(ready);
            (r_out, r_err)
        };
        if r_out {
            match so.read(&mut buf) {
                Ok(0) => so_open = false,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Some(e)),
            }
        }
        if r_err {
            match se.read(&mut buf) {
                Ok(0) => se_open = false,
                Ok(n) => err.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Some(e)),
            }
        }
    }
    Ok((out, err))
}

/// Wait for the child to exit, up to `deadline` (`Ok(None)` on timeout). A
/// pidfd makes this a single poll; without one it falls back to polling.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    if let Some(status) = child.try_wait()? {
        return Ok(Some(status));
    }
    let pidfd = pidfd_open(child.id());
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match &pidfd {
            Some(fd) => {
                let ms = left.as_millis().min(i32::MAX as u128) as i32;
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                match poll(
                    &mut fds,
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
                ) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            None => std::thread::sleep(left.min(Duration::from_millis(2))),
        }
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; it
    // touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    let fd = i32::try_from(fd).ok()?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// SIGKILL the plugin's process group (it leads its own), then reap it.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn interpret(
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
) -> Result<Vec<u8>, PluginFailure> {
    if status.success() {
        return Ok(stdout);
    }
    if let Some(signal) = status.signal() {
        return Err(PluginFailure::Signal {
            signal,
            stderr: snippet(&stderr),
        });
    }
    if let Ok(obj) = serde_json::from_slice::<PluginErrorObject>(&stdout) {
        return Err(PluginFailure::Error(obj));
    }
    Err(PluginFailure::Exit {
        code: status.code().unwrap_or(-1),
        stdout: snippet(&stdout),
        stderr: snippet(&stderr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn env() -> PluginEnv<'static> {
        PluginEnv {
            command: "ADD",
            container_id: "c1",
            netns: "/run/netns/x",
            ifname: "eth0",
            args: "A=1;B=2",
            path: "/usr/lib/cni",
        }
    }

    #[test]
    fn passes_env_and_stdin() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "echoer",
            r#"printf '%s|%s|%s|%s|%s|%s|' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH"; cat"#,
        );
        let out = run_plugin(&p, &env(), b"{\"x\":1}", Duration::from_secs(5)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ADD|c1|/run/netns/x|eth0|A=1;B=2|/usr/lib/cni|{\"x\":1}"
        );
        let big = vec![b'a'; 300_000];
        let out = run_plugin(&p, &env(), &big, Duration::from_secs(5)).unwrap();
        assert!(out.ends_with(&big));
    }

    #[test]
    fn error_object_exit_and_signal() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "err",
            r#"echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"later"}'; exit 1"#,
        );
        match run_plugin(&p, &env(), b"{}", Duration::from_secs(5)) {
            Err(PluginFailure::Error(o)) => assert_eq!((o.code, o.msg.as_str()), (11, "busy")),
            other => panic!("{other:?}"),
        }
        let p = script(d.path(), "exit3", "echo oops >&2; exit 3");
        match run_plugin(&p, &env(), b"{}", Duration::from_secs(5)) {
            Err(PluginFailure::Exit {
                code: 3, stderr, ..
            }) => assert_eq!(stderr, "oops"),
            other => panic!("{other:?}"),
        }
        let p = script(d.path(), "segv", "kill -SEGV $$");
        match run_plugin(&p, &env(), b"{}", Duration::from_secs(5)) {
            Err(PluginFailure::Signal { signal, .. }) => assert_eq!(signal, libc::SIGSEGV),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn timeout_kills_the_group() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let p = script(
            d.path(),
            "hang",
            &format!(
                "sleep 100 & echo $! > {}; exec 1>&- 2>&-; wait",
                pidfile.display()
            ),
        );
        let t0 = Instant::now();
        match run_plugin(&p, &env(), b"{}", Duration::from_millis(300)) {
            Err(PluginFailure::Timeout { .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "grandchild alive: {stat}"
        );
    }

    #[test]
    fn missing_binary_is_spawn_error() {
        match run_plugin(
            Path::new("/nonexistent/x"),
            &env(),
            b"{}",
            Duration::from_secs(1),
        ) {
            Err(PluginFailure::Spawn { path, .. }) => assert_eq!(path, Path::new("/nonexistent/x")),
            other => panic!("{other:?}"),
        }
    }
}
