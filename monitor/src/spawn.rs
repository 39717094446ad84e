//! Running the OCI runtime and the exit command as children of the monitor.

use std::path::{Path, PathBuf};

use crate::args::MonitorArgs;
use crate::error::Result;
use crate::sys;

/// The descriptors a child gets as fds 0, 1 and 2.
#[derive(Debug, Clone, Copy)]
pub struct Stdio {
    /// fd 0.
    pub stdin: libc::c_int,
    /// fd 1.
    pub stdout: libc::c_int,
    /// fd 2.
    pub stderr: libc::c_int,
}

/// `RUNTIME [runtime-args...] create --bundle DIR --pid-file PIDFILE
/// [--console-socket SOCK] ID`.
pub fn create_argv(a: &MonitorArgs, pid_file: &Path, console: Option<&Path>) -> Vec<String> {
    let mut v = vec![a.runtime.display().to_string()];
    v.extend(a.runtime_args.iter().cloned());
    v.push("create".into());
    v.push("--bundle".into());
    v.push(a.bundle.display().to_string());
    v.push("--pid-file".into());
    v.push(pid_file.display().to_string());
    if let Some(c) = console {
        v.push("--console-socket".into());
        v.push(c.display().to_string());
    }
    v.push(a.id.clone());
    v
}

/// `RUNTIME [runtime-args...] delete --force ID`, used to undo a `create`
/// the monitor cannot follow up on.
pub fn delete_argv(a: &MonitorArgs) -> Vec<String> {
    let mut v = vec![a.runtime.display().to_string()];
    v.extend(a.runtime_args.iter().cloned());
    v.extend(["delete".to_string(), "--force".to_string(), a.id.clone()]);
    v
}

/// `RUNTIME [runtime-args...] start ID` (restarts; the first start is the
/// caller's).
pub fn start_argv(a: &MonitorArgs) -> Vec<String> {
    let mut v = vec![a.runtime.display().to_string()];
    v.extend(a.runtime_args.iter().cloned());
    v.extend(["start".to_string(), a.id.clone()]);
    v
}

/// The exit command line, if any.
pub fn exit_argv(a: &MonitorArgs) -> Option<Vec<String>> {
    let cmd = a.exit_command.as_ref()?;
    let mut v = vec![cmd.clone()];
    v.extend(a.exit_command_args.iter().cloned());
    Some(v)
}

/// Fork and exec `argv` with `stdio`, default signal dispositions and an
/// empty signal mask; returns the child's pid.
pub fn spawn(argv: &[String], stdio: Stdio) -> Result<libc::pid_t> {
    let cargs = sys::cstrings(argv)?;
    let ptrs = sys::argv_ptrs(&cargs);
    let pid = sys::fork()?;
    if pid != 0 {
        return Ok(pid);
    }
    // Child: from here on only report by exit code.
    let fds = [stdio.stdin, stdio.stdout, stdio.stderr];
    // Move the sources above 2 first so dup2 cannot clobber one with another.
    let mut high = [0; 3];
    for (i, &fd) in fds.iter().enumerate() {
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor number.
        high[i] = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if high[i] < 0 {
            sys::exit_now(127);
        }
    }
    for (i, &fd) in high.iter().enumerate() {
        if sys::dup2(fd, i as libc::c_int).is_err() {
            sys::exit_now(127);
        }
    }
    for sig in [
        libc::SIGPIPE,
        libc::SIGHUP,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGCHLD,
    ] {
        let _ = sys::set_signal(sig, libc::SIG_DFL);
    }
    sys::unblock_all_signals();
    sys::exec(&ptrs);
    let _ = sys::write_all(2, b"exec ");
    let _ = sys::write_all(2, cargs[0].as_bytes());
    let _ = sys::write_all(2, b": cannot run the program\n");
    sys::exit_now(127)
}

/// Run `argv` with stdio on /dev/null and wait for it; returns its status.
pub fn run_quiet(argv: &[String]) -> Result<sys::ExitStatus> {
    let null = sys::open_devnull()?;
    let res = spawn(
        argv,
        Stdio {
            stdin: null,
            stdout: null,
            stderr: null,
        },
    );
    sys::close(null);
    sys::wait_pid(res?)
}

/// `<dir>/<name>`.
pub fn in_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> MonitorArgs {
        MonitorArgs {
            id: "c1".into(),
            runtime: "/usr/bin/rcrun-oci".into(),
            runtime_args: vec!["--root".into(), "/run/r".into()],
            bundle: "/b".into(),
            container_dir: "/c".into(),
            log_path: "/c/log".into(),
            exit_command: Some("/bin/rcrun".into()),
            exit_command_args: vec!["cleanup".into()],
            ..Default::default()
        }
    }

    #[test]
    fn runtime_command_lines() {
        let a = args();
        assert_eq!(
            create_argv(&a, Path::new("/c/pid"), Some(Path::new("/c/console.sock"))).join(" "),
            "/usr/bin/rcrun-oci --root /run/r create --bundle /b --pid-file /c/pid --console-socket /c/console.sock c1"
        );
        assert_eq!(
            delete_argv(&a).join(" "),
            "/usr/bin/rcrun-oci --root /run/r delete --force c1"
        );
        assert_eq!(exit_argv(&a).unwrap().join(" "), "/bin/rcrun cleanup");
    }

    #[test]
    fn run_quiet_reports_exit_status() {
        let s = run_quiet(&["/bin/sh".into(), "-c".into(), "exit 4".into()]).unwrap();
        assert_eq!(s, sys::ExitStatus::Exited(4));
        let s = run_quiet(&["/nonexistent/prog".into()]).unwrap();
        assert_eq!(s, sys::ExitStatus::Exited(127));
    }
}
