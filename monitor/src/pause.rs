//! The sandbox's pause process (`rcrun-pause`): joins the sandbox's network
//! namespace, creates uts/ipc (and optionally pid) namespaces, hides the
//! host's filesystem behind an empty read-only tmpfs (joining the shared
//! `--mntns` that holds one, or making its own mount namespace), drops every
//! capability, then sleeps until SIGTERM/SIGINT, reaping zombies.

use crate::args::PauseArgs;
use crate::error::Result;
use crate::{caps, ns, sys};

/// Signals the pause process waits for.
const WAITED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD];

/// A handler that does nothing: with it installed, pid 1 of a pid namespace
/// does not drop SIGTERM sent from inside, and `sigwaitinfo` takes the signal.
extern "C" fn ignore_signal(_: libc::c_int) {}

/// Run the pause process: set up, report on `--ready-fd`, sleep. Returns the
/// process exit code.
pub fn run(args: &PauseArgs) -> i32 {
    let set = match setup(args) {
        Ok(set) => set,
        Err(e) => {
            report(args.ready_fd, &format!("error: {e}\n"));
            return 1;
        }
    };
    if !args.new_pid {
        report(args.ready_fd, "ok\n");
        return sleep_as_init(&set);
    }
    let child = match sys::fork() {
        Ok(pid) => pid,
        Err(e) => {
            report(args.ready_fd, &format!("error: {e}\n"));
            return 1;
        }
    };
    if child == 0 {
        // Pid 1 of the new pid namespace. It dies with the relay above it
        // (and with it, every process of the namespace).
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        if let Some(fd) = args.ready_fd {
            sys::close(fd);
        }
        sys::exit_now(sleep_as_init(&set));
    }
    report(args.ready_fd, "ok\n");
    relay(child, &set)
}

/// Everything before the sleep; returns the blocked signal set.
fn setup(args: &PauseArgs) -> Result<libc::sigset_t> {
    let mut keep = args.keep_fds.clone();
    keep.extend(args.ready_fd);
    sys::close_fds_except(&keep)?;
    sys::set_signal(libc::SIGHUP, libc::SIG_IGN)?;
    sys::set_signal(libc::SIGPIPE, libc::SIG_IGN)?;
    for sig in WAITED {
        sys::set_signal(
            sig,
            ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )?;
    }
    let set = sys::block_signals(&WAITED)?;
    ns::join_netns(&args.netns)?;
    // Before the shared empty root hides /dev/null.
    sys::stdio_to_devnull()?;
    // Joining the shared empty root costs the same at any size of the
    // host's mount table; copying that table (and detaching the copy) does
    // not.
    let shared = match &args.mntns {
        Some(path) => ns::join_mntns(path)?,
        None => false,
    };
    let mut flags = libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if !shared {
        flags |= libc::CLONE_NEWNS;
    }
    if args.new_pid {
        flags |= libc::CLONE_NEWPID;
    }
    ns::unshare(flags)?;
    if let Some(h) = &args.hostname {
        ns::set_hostname(h)?;
    }
    if !shared {
        ns::pivot_to_empty_root()?;
    }
    caps::drop_all()?;
    Ok(set)
}

/// Write the readiness line (best effort: the caller may have gone) and
/// close the descriptor.
fn report(fd: Option<libc::c_int>, line: &str) {
    if let Some(fd) = fd {
        let _ = sys::write_all(fd, line.as_bytes());
        sys::close(fd);
    }
}

/// Wait for one of the blocked signals.
fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    loop {
        // SAFETY: set is an initialised sigset; info may be NULL.
        let sig = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if sig > 0 {
            return sig;
        }
    }
}

/// Sleep until SIGTERM/SIGINT (exit 0), reaping every child that ends.
fn sleep_as_init(set: &libc::sigset_t) -> i32 {
    loop {
        match wait_signal(set) {
            libc::SIGCHLD => while sys::reap_any().is_some() {},
            _ => return 0,
        }
    }
}

/// With `--new-pid`: stay in the caller's pid namespace, forward
/// SIGTERM/SIGINT to the namespace's pid 1 and exit with its status.
fn relay(child: libc::pid_t, set: &libc::sigset_t) -> i32 {
    loop {
        match wait_signal(set) {
            libc::SIGCHLD => {
                while let Some((pid, status)) = sys::reap_any() {
                    if pid == child {
                        return status.code();
                    }
                }
            }
            sig => {
                // SAFETY: kill with a pid we forked and a valid signal.
                unsafe { libc::kill(child, sig) };
            }
        }
    }
}
