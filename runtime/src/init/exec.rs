//! The init's last steps: close every descriptor but stdio, the preserved
//! ones and its own (CVE-2024-21626), reset signals, switch credentials,
//! load the seccomp filter (early without no_new_privs, last with it),
//! umask, chdir into `process.cwd` and check it is inside the container,
//! find the executable, set no_new_privs, report ready, block on the exec
//! fifo until `start`, and exec.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};
use oci_spec::runtime::Process;

use super::{credentials, InitContext};

use crate::sync::Msg;

/// PATH used to find the program when `process.env` has none (runc's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finish the process setup, wait for `start`, exec the user process.
pub(super) fn prepare_and_exec(
    ctx: &InitContext<'_>,
    process: &Process,
) -> Result<Infallible, String> {
    let keep = [ctx.sync.raw(), ctx.fifo_fd, ctx.proc_fd]
        .into_iter()
        .chain(3..3 + ctx.preserve_fds)
        .collect::<Vec<_>>();
    crate::fds::close_all_except(3, &keep).map_err(|e| format!("close inherited fds: {e}"))?;
    crate::fds::inherit_range(3, 3 + ctx.preserve_fds)
        .map_err(|e| format!("--preserve-fds: {e}"))?;
    reset_signals()?;
    // With no_new_privs the filter is loaded as late as possible (after the
    // wait for `start`, right before exec) so it need not allow the setup
    // syscalls; without it loading needs CAP_SYS_ADMIN, so it goes first,
    // as runc does. It is built now either way, so a bad profile fails `create`.
    let nnp = process.no_new_privileges() == Some(true);
    let filter = match ctx.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => Some(crate::seccomp::build_filter(profile)?),
        None => None,
    };
    if let (Some(f), false) = (&filter, nnp) {
        crate::seccomp::load(f)?;
    }
    credentials::apply(process)?;
    umask(Mode::from_bits_truncate(
        process.user().umask().unwrap_or(0o022) as libc::mode_t,
    ));
    enter_cwd(process.cwd())?;
    let env = environment(process);
    let args = process.args().as_deref().unwrap_or(&[]);
    let program = find_program(&args[0], &env)?;
    if nnp {
        // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1) takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            return Err(format!("process.noNewPrivileges: {}", nix::Error::last()));
        }
    }
    let c_program = cstring(program.as_os_str().as_encoded_bytes(), "process.args")?;
    let c_args = args
        .iter()
        .map(|a| cstring(a.as_bytes(), "process.args"))
        .collect::<Result<Vec<_>, _>>()?;
    let c_env = env
        .iter()
        .map(|e| cstring(e.as_bytes(), "process.env"))
        .collect::<Result<Vec<_>, _>>()?;
    ctx.sync.send(&Msg::Ready).map_err(|e| e.to_string())?;
    wait_for_start(ctx)?;
    run_start_hooks(ctx)?;
    if let (Some(f), true) = (&filter, nnp) {
        crate::seccomp::load(f)?;
    }
    let err = nix::unistd::execve(&c_program, &c_args, &c_env)
        .err()
        .unwrap_or(nix::Error::EINVAL);
    // The runtime that created us is gone: the container's stderr is the
    // only place left to say why the exec failed.
    eprintln!("rcrun-oci: exec {}: {err}", program.display());
    // SAFETY: _exit ends the init without running inherited destructors.
    unsafe { libc::_exit(127) }
}

pub(crate) fn cstring(bytes: &[u8], field: &str) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| format!("{field}: an entry holds a NUL byte"))
}

/// Empty signal mask and default dispositions (the runtime ignores SIGPIPE
/// and `run` blocks the signals it forwards; the container must not inherit
/// either).
pub(crate) fn reset_signals() -> Result<(), String> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| format!("reset the signal mask: {e}"))?;
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL is always sound.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
    }
    Ok(())
}

/// chdir into `cwd` and make sure the result is inside the container's root:
/// a cwd reached through a leaked descriptor (`/proc/self/fd/N`) lies outside
/// it, and getcwd then fails or reports an unreachable path.
pub(crate) fn enter_cwd(cwd: &Path) -> Result<(), String> {
    nix::unistd::chdir(cwd).map_err(|e| format!("process.cwd {}: {e}", cwd.display()))?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() && !p.starts_with("(unreachable)") => Ok(()),
        Ok(p) => Err(format!(
            "process.cwd {}: resolves to {} outside the container",
            cwd.display(),
            p.display()
        )),
        Err(e) => Err(format!(
            "process.cwd {}: is outside the container ({e})",
            cwd.display()
        )),
    }
}

/// `process.env`, plus `HOME` from the container's `/etc/passwd` when unset.
pub(crate) fn environment(process: &Process) -> Vec<String> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = home_of(process.user().uid()).unwrap_or_else(|| "/".to_string());
        env.push(format!("HOME={home}"));
    }
    env
}

fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok()? == uid).then(|| f[5].to_string())
    })
}

/// Resolve `arg0` like execvp with the container's PATH.
pub(crate) fn find_program(arg0: &str, env: &[String]) -> Result<PathBuf, String> {
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        // runc's wording, which engines map to exit codes 127 and 126.
        return if is_executable(&p) {
            Ok(p)
        } else if std::fs::metadata(&p).is_err() {
            Err(format!(
                "exec: {arg0:?}: stat {arg0}: no such file or directory in the container"
            ))
        } else {
            Err(format!(
                "exec: {arg0:?}: permission denied: not an executable file in the container"
            ))
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(arg0))
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("exec: {arg0:?}: executable file not found in $PATH"))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `startContainer` hooks: after `start`, before the user process, in the
/// container (paths resolve inside it).
fn run_start_hooks(ctx: &InitContext<'_>) -> Result<(), String> {
    use crate::hooks::{hooks_of, HookKind};
    if hooks_of(ctx.spec, HookKind::StartContainer).is_empty() {
        return Ok(());
    }
    let state = super::hook_state(ctx, crate::record::Status::Created)?;
    crate::hooks::run(ctx.spec, HookKind::StartContainer, &state)
}

/// Block until `start` opens the exec fifo for reading, then write one byte.
/// The fifo is reopened through the host procfs handle, as the init's
/// root is the container by now.
fn wait_for_start(ctx: &InitContext<'_>) -> Result<(), String> {
    let path = format!("thread-self/fd/{}", ctx.fifo_fd);
    let fd = loop {
        match nix::fcntl::openat(
            Some(ctx.proc_fd),
            path.as_str(),
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => break fd,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(format!("open the exec fifo: {e}")),
        }
    };
    // SAFETY: `fd` is the descriptor openat just returned.
    let fifo = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    use std::io::Write;
    (&fifo)
        .write_all(b"0")
        .map_err(|e| format!("write the exec fifo: {e}"))?;
    // Keep it open until exec (close-on-exec) so `start` sees EOF only then.
    std::mem::forget(fifo);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_only_when_executable() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(
            find_program("sh", &env).expect("sh"),
            PathBuf::from("/bin/sh")
        );
        let e = find_program("rtc-no-such-program", &env).expect_err("missing");
        assert!(e.contains("not found in $PATH"), "{e}");
        let e = find_program("/etc/passwd", &env).expect_err("not executable");
        assert!(e.contains("permission denied"), "{e}");
        let e = find_program("/rtc-no-such-file", &env).expect_err("missing");
        assert!(e.contains("no such file or directory"), "{e}");
    }
}
