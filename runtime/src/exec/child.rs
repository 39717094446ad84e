//! The forked side of `exec`: join the container's cgroup and namespaces,
//! fork into its pid namespace, set the process up like the init's last
//! steps, and exec. Errors go back over the sync socket as one message.

use std::ffi::CString;

use crate::seccomp::Filter;
use nix::sys::stat::{umask, Mode};
use oci_spec::runtime::Process;

use crate::cgroups::CgroupHandle;
use crate::init::{credentials, exec as init_exec, rlimits, terminal};
use crate::sync::{Msg, SyncSocket};

/// What the forked child needs, borrowed from the runtime's memory.
#[derive(Debug)]
pub(super) struct ChildContext<'a> {
    /// The process spec to run.
    pub process: &'a Process,
    /// The container's cgroup.
    pub cgroup: &'a CgroupHandle,
    /// pidfd of the container's init.
    pub pidfd: i32,
    /// `CLONE_NEW*` flags of the init's namespaces to join.
    pub ns_flags: libc::c_int,
    /// Child end of the sync socket.
    pub sync: &'a SyncSocket,
    /// Connection to the console socket when the process has a terminal.
    pub console_fd: Option<i32>,
    /// The container's seccomp filter, built by the runtime.
    pub filter: Option<&'a Filter>,
    /// Descriptors 3..3+N passed to the process.
    pub preserve_fds: i32,
}

/// Run the child; never returns. On error, report it and exit 1.
pub(super) fn child_main(ctx: &ChildContext<'_>) -> ! {
    let err = match run(ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ctx.sync.send(&Msg::Error(err));
    // SAFETY: _exit ends this forked child without running the parent's
    // destructors or atexit handlers.
    unsafe { libc::_exit(1) }
}

fn run(ctx: &ChildContext<'_>) -> Result<std::convert::Infallible, String> {
    // Not dumpable until exec: processes in the container cannot ptrace us
    // or open our /proc files while we still hold host descriptors.
    // SAFETY: prctl(PR_SET_DUMPABLE) takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } < 0 {
        return Err(format!("prctl(PR_SET_DUMPABLE): {}", nix::Error::last()));
    }
    if let Some(adj) = ctx.process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| format!("process.oomScoreAdj {adj}: {e}"))?;
    }
    ctx.cgroup
        .enter()
        .map_err(|e| format!("join cgroup {}: {e}", ctx.cgroup.path.display()))?;
    if ctx.ns_flags != 0 {
        // SAFETY: setns on a pidfd we own with CLONE_NEW* flags joins all
        // those namespaces of the process at once.
        if unsafe { libc::setns(ctx.pidfd, ctx.ns_flags) } < 0 {
            return Err(format!(
                "join the container's namespaces ({:#x}): {}",
                ctx.ns_flags,
                nix::Error::last()
            ));
        }
    }
    if ctx.ns_flags & libc::CLONE_NEWPID != 0 {
        crate::init::enter::fork_into_pid_namespace(ctx.sync)?;
    }
    setup_and_exec(ctx)
}

/// The process's own setup, in the init's order, then exec.
fn setup_and_exec(ctx: &ChildContext<'_>) -> Result<std::convert::Infallible, String> {
    let process = ctx.process;
    rlimits::apply(process)?;
    if let Some(fd) = ctx.console_fd {
        terminal::setup(process, fd, false)?;
        let _ = nix::unistd::close(fd);
    }
    let keep: Vec<i32> = std::iter::once(ctx.sync.raw())
        .chain(3..3 + ctx.preserve_fds)
        .collect();
    crate::fds::close_all_except(3, &keep).map_err(|e| format!("close inherited fds: {e}"))?;
    crate::fds::inherit_range(3, 3 + ctx.preserve_fds)
        .map_err(|e| format!("--preserve-fds: {e}"))?;
    init_exec::reset_signals()?;
    let nnp = process.no_new_privileges() == Some(true);
    if let (Some(f), false) = (ctx.filter, nnp) {
        crate::seccomp::load(f)?;
    }
    credentials::apply(process)?;
    umask(Mode::from_bits_truncate(
        process.user().umask().unwrap_or(0o022) as libc::mode_t,
    ));
    init_exec::enter_cwd(process.cwd())?;
    let env = init_exec::environment(process);
    let args = process.args().as_deref().unwrap_or(&[]);
    let arg0 = args.first().ok_or("process.args: empty")?;
    let program = init_exec::find_program(arg0, &env)?;
    let c_program = init_exec::cstring(program.as_os_str().as_encoded_bytes(), "process.args")?;
    let c_args = args
        .iter()
        .map(|a| init_exec::cstring(a.as_bytes(), "process.args"))
        .collect::<Result<Vec<CString>, _>>()?;
    let c_env = env
        .iter()
        .map(|e| init_exec::cstring(e.as_bytes(), "process.env"))
        .collect::<Result<Vec<CString>, _>>()?;
    if nnp {
        // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1) takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            return Err(format!("process.noNewPrivileges: {}", nix::Error::last()));
        }
    }
    ctx.sync.send(&Msg::Ready).map_err(|e| e.to_string())?;
    if let (Some(f), true) = (ctx.filter, nnp) {
        crate::seccomp::load(f)?;
    }
    let err = nix::unistd::execve(&c_program, &c_args, &c_env)
        .err()
        .unwrap_or(nix::Error::EINVAL);
    let _ = ctx
        .sync
        .send(&Msg::Error(format!("exec {}: {err}", program.display())));
    // SAFETY: _exit ends the process without running inherited destructors.
    unsafe { libc::_exit(127) }
}
