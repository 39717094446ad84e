//! Step 1 of the init: get into the container's namespaces.
//!
//! Fast path (no user namespace, no joined pid namespace): the parent's
//! `clone` already created every new namespace (cgroup excepted: it is
//! unshared once the init is in its cgroup) and the child is pid 1 of a new
//! pid namespace; here it only joins namespaces given by path.
//!
//! Slow path: join by path in [`JOIN_ORDER`](crate::namespaces::JOIN_ORDER)
//! (user first, mount last), unshare a new user namespace and get its maps,
//! unshare the other new namespaces, then fork once more so the init is a
//! member of the new or joined pid namespace; the forking child reports the
//! init's pid and exits.

use std::os::fd::BorrowedFd;

use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::LinuxNamespaceType as Ns;

use super::{handshake, InitContext};
use crate::sync::{Msg, SyncSocket};

const ALL: [Ns; 7] = [
    Ns::User,
    Ns::Ipc,
    Ns::Uts,
    Ns::Network,
    Ns::Pid,
    Ns::Cgroup,
    Ns::Mount,
];

/// Enter every namespace of the plan; returns in the process that is the init.
pub(super) fn namespaces(ctx: &InitContext<'_>) -> Result<(), String> {
    let plan = ctx.plan;
    if !ctx.slow_path {
        return join(ctx, &ALL);
    }
    join(ctx, &ALL)?;
    if plan.is_new(Ns::User) {
        unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| format!("unshare the user namespace: {e}"))?;
        map_ids(ctx)?;
    }
    let flags = plan.new_flags(&[Ns::Ipc, Ns::Uts, Ns::Network, Ns::Pid, Ns::Mount]);
    if !flags.is_empty() {
        unshare(flags).map_err(|e| format!("unshare namespaces {flags:?}: {e}"))?;
    }
    if plan.mode(Ns::Pid).is_some() {
        fork_into_pid_namespace(ctx.sync)?;
    }
    Ok(())
}

/// setns into every joined namespace among `kinds`, in join order.
fn join(ctx: &InitContext<'_>, kinds: &[Ns]) -> Result<(), String> {
    for (kind, path, fd) in ctx.plan.joins_in_order(kinds) {
        // SAFETY: `fd` is a namespace descriptor owned by the plan, open for
        // the whole call.
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        setns(bfd, CloneFlags::empty())
            .map_err(|e| format!("join {kind} namespace {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Have the parent write our uid/gid maps, then become root in the namespace.
fn map_ids(ctx: &InitContext<'_>) -> Result<(), String> {
    handshake(ctx.sync, Msg::MapIds)?;
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)).map_err(|e| {
        format!("linux.gidMappings: become gid 0 in the user namespace (is 0 mapped?): {e}")
    })?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).map_err(|e| {
        format!("linux.uidMappings: become uid 0 in the user namespace (is 0 mapped?): {e}")
    })?;
    Ok(())
}

/// Fork so the child is in the pid namespace that setns/unshare selected;
/// the child goes on (the container's init, or an exec'd process), this
/// process reports the child's pid on `sync` and exits. CLONE_PARENT makes
/// the child the runtime's, which can then wait for it (`run` and `exec`
/// in the foreground).
pub(crate) fn fork_into_pid_namespace(sync: &SyncSocket) -> Result<(), String> {
    // The runtime checked it is single-threaded before the first fork.
    let r = crate::raw_fork::raw_fork(libc::CLONE_PARENT)
        .map_err(|e| format!("fork into the container's pid namespace: {e}"))?;
    match r {
        0 => Ok(()),
        pid => {
            let _ = sync.send(&Msg::InitPid(pid));
            // SAFETY: this intermediate child is done; _exit skips the
            // parent's destructors and atexit handlers.
            unsafe { libc::_exit(0) }
        }
    }
}
