//! The container init: the child the runtime forks for a new container. It
//! joins its cgroup, sets oom_score_adj, enters its namespaces, builds the
//! root filesystem, applies the process settings, tells the parent it is
//! ready, waits for `start` on the exec fifo, and execs the user process.
//!
//! Every step is a function in a submodule, run in order by [`run`]; any
//! error goes back to the parent over the sync socket as one message, and
//! the child exits.

pub(crate) mod credentials;
pub(crate) mod enter;
pub(crate) mod exec;
pub(crate) mod rlimits;
pub(crate) mod terminal;

use std::convert::Infallible;

use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use crate::cgroups::CgroupHandle;
use crate::namespaces::NamespacePlan;
use crate::sync::{Msg, SyncSocket};

/// Everything the init needs, borrowed from the parent's memory (the init is
/// a fork of it, so nothing is serialized).
#[derive(Debug)]
pub(crate) struct InitContext<'a> {
    /// The container id (for the hooks' state).
    pub id: &'a str,
    /// The loaded bundle: spec, absolute dir (the init's cwd until
    /// pivot_root, so relative mount sources resolve against it, as with
    /// runc) and absolute rootfs path (in the runtime's mount namespace).
    pub bundle: &'a crate::spec::Bundle,
    /// The container's spec (`bundle.spec`).
    pub spec: &'a Spec,
    /// Namespaces to create and join.
    pub plan: &'a NamespacePlan,
    /// The container's cgroup (resources already applied); the init joins it.
    pub cgroup: &'a CgroupHandle,
    /// Child end of the sync socket.
    pub sync: &'a SyncSocket,
    /// Connection to `--console-socket` when `process.terminal` is set.
    pub console_fd: Option<i32>,
    /// `O_PATH` descriptor of the exec fifo.
    pub fifo_fd: i32,
    /// `O_PATH` descriptor of the host's `/proc` (verified procfs).
    pub proc_fd: i32,
    /// Descriptors 3..3+N passed to the container (`--preserve-fds`).
    pub preserve_fds: i32,
    /// True when namespaces are entered with setns/unshare and an extra
    /// fork (joining a user or pid namespace), false when clone made them.
    pub slow_path: bool,
    /// The mount-namespace skeleton to copy instead of the runtime's
    /// namespace (clone then made no mount namespace).
    pub skeleton_fd: Option<i32>,
}

/// Run the init; never returns. On error, report it to the parent and exit 1.
pub(crate) fn child_main(ctx: &InitContext<'_>) -> ! {
    let err = match run(ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ctx.sync.send(&Msg::Error(err));
    // SAFETY: _exit ends this forked child without running the parent's
    // atexit handlers or destructors, which belong to the parent.
    unsafe { libc::_exit(1) }
}

/// The init's steps, in order.
fn run(ctx: &InitContext<'_>) -> Result<Infallible, String> {
    ctx.cgroup
        .enter()
        .map_err(|e| format!("join cgroup {}: {e}", ctx.cgroup.path.display()))?;
    let process = ctx
        .spec
        .process()
        .as_ref()
        .ok_or("config.json process: missing")?;
    if let Some(adj) = process.oom_score_adj() {
        // SAFETY: the fd is the verified procfs handle the parent opened; it
        // stays open (owned by the parent's memory image) until exec.
        let proc_fd = unsafe { OwnedFd::from_raw_fd(ctx.proc_fd) };
        let res = crate::proc_write::write_oom_score_adj(&proc_fd, "thread-self", adj);
        std::mem::forget(proc_fd);
        res.map_err(|e| e.to_string())?;
    }
    enter::namespaces(ctx)?;
    if ctx.plan.is_new(LinuxNamespaceType::Cgroup) {
        unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| format!("unshare the cgroup namespace: {e}"))?;
    }
    rlimits::apply(process)?;
    let dir = &ctx.bundle.dir;
    nix::unistd::chdir(dir).map_err(|e| format!("chdir to the bundle {}: {e}", dir.display()))?;
    run_create_hooks(ctx)?;
    if ctx.plan.is_new(LinuxNamespaceType::Mount) {
        // SAFETY: the fd is the skeleton's, open in the parent's memory
        // image (and so in this fork) until the init execs.
        let skeleton = ctx
            .skeleton_fd
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
        crate::rootfs::prepare_rootfs(ctx.spec, &ctx.bundle.rootfs, skeleton)
            .map_err(|e| format!("rootfs: {e}"))?;
    }
    set_host_names(ctx.spec)?;
    if let Some(sysctl) = ctx.spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        crate::rootfs::apply_sysctls(sysctl).map_err(|e| format!("linux.sysctl: {e}"))?;
    }
    if let Some(fd) = ctx.console_fd {
        terminal::setup(process, fd, ctx.plan.is_new(LinuxNamespaceType::Mount))?;
        let _ = nix::unistd::close(fd);
    }
    if ctx.plan.is_new(LinuxNamespaceType::Mount) {
        crate::rootfs::finalize_rootfs(ctx.spec).map_err(|e| format!("rootfs: {e}"))?;
    }
    exec::prepare_and_exec(ctx, process)
}

/// `prestart` and `createRuntime` (by the parent, in the runtime's
/// namespaces), then `createContainer` (here, in the container's), all
/// before the root filesystem is built and pivoted into.
fn run_create_hooks(ctx: &InitContext<'_>) -> Result<(), String> {
    use crate::hooks::{hooks_of, HookKind};
    let spec = ctx.spec;
    if !hooks_of(spec, HookKind::Prestart).is_empty()
        || !hooks_of(spec, HookKind::CreateRuntime).is_empty()
    {
        handshake(ctx.sync, Msg::Hooks)?;
    }
    if !hooks_of(spec, HookKind::CreateContainer).is_empty() {
        let state = hook_state(ctx, crate::record::Status::Creating)?;
        crate::hooks::run(spec, HookKind::CreateContainer, &state)?;
    }
    Ok(())
}

/// The hooks' state document, with this process's pid in the runtime's pid
/// namespace (read through the host procfs handle).
pub(super) fn hook_state(
    ctx: &InitContext<'_>,
    status: crate::record::Status,
) -> Result<crate::record::OciState, String> {
    let link = nix::fcntl::readlinkat(Some(ctx.proc_fd), "self")
        .map_err(|e| format!("read our host pid: {e}"))?;
    let pid = link
        .to_str()
        .and_then(|s| s.parse::<i32>().ok())
        .ok_or_else(|| format!("read our host pid: unexpected {link:?}"))?;
    Ok(crate::create::hook_state(ctx.bundle, ctx.id, pid, status))
}

/// Send `msg` and wait for the parent's `Continue`.
fn handshake(sync: &SyncSocket, msg: Msg) -> Result<(), String> {
    sync.send(&msg).map_err(|e| e.to_string())?;
    match sync.recv() {
        Ok(Some(Msg::Continue)) => Ok(()),
        Ok(Some(other)) => Err(format!("unexpected reply {other:?} from the runtime")),
        Ok(None) => Err("the runtime went away during setup".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// `hostname` and `domainname` (validated to need a new UTS namespace).
fn set_host_names(spec: &Spec) -> Result<(), String> {
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| format!("hostname {h:?}: {e}"))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        // SAFETY: setdomainname reads `len` bytes from a valid buffer.
        let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        if r < 0 {
            return Err(format!("domainname {d:?}: {}", nix::Error::last()));
        }
    }
    Ok(())
}
