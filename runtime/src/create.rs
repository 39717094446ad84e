//! `create`: make a container from a bundle and leave its init set up and
//! waiting for `start`.
//!
//! The runtime (single-threaded, from a sealed binary) makes the state dir,
//! the exec fifo and the cgroup, opens joined namespace paths and a verified
//! procfs handle, applies `linux.resources` to the new cgroup, then clones
//! the init (which joins the cgroup itself: a single-thread move is much
//! cheaper than a cgroup.procs migration). Over the sync socket it writes the
//! init's id maps when asked, and waits for `Ready` or a setup error. On any error it kills what it started and
//! removes the cgroup and state dir, so nothing is left behind.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType as Ns, LinuxResources};

use crate::cgroups::{CgroupError, CgroupHandle};
use crate::error::{Result, RuntimeError};
use crate::hooks::HookKind;
use crate::init::{child_main, InitContext};
use crate::namespaces::NamespacePlan;
use crate::record::{now_rfc3339, ContainerRecord, OciState, Status, EXEC_FIFO};
use crate::skeleton::Skeleton;
use crate::spec::{load_bundle, Bundle};
use crate::store::{write_atomic, LockedDir, StateStore};
use crate::sync::{self, Msg, SyncSocket};

/// What `create` needs besides the state store.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Container id.
    pub id: String,
    /// Bundle directory (holding `config.json`).
    pub bundle: PathBuf,
    /// Write the init's pid here (atomically) once it is set up.
    pub pid_file: Option<PathBuf>,
    /// Pass descriptors 3..3+N to the container.
    pub preserve_fds: u32,
    /// Unix socket to send the pty master to (`process.terminal`).
    pub console_socket: Option<PathBuf>,
}

/// The default cgroup of a container whose spec has no `linux.cgroupsPath`.
pub fn default_cgroup_path(id: &str) -> PathBuf {
    PathBuf::from("/rcrun-oci").join(id)
}

/// Create the container; on success its init waits for `start` and the
/// returned record is on disk. The calling process must be single-threaded
/// and run from a sealed binary ([`crate::exe_seal::reexec_sealed`]).
pub fn create(store: &StateStore, opts: &CreateOptions) -> Result<ContainerRecord> {
    if !crate::exe_seal::is_sealed() {
        return Err(RuntimeError::Unsealed(
            "the runtime binary is writable through /proc/self/exe (CVE-2019-5736): \
             call exe_seal::reexec_sealed() before creating containers"
                .to_string(),
        ));
    }
    let threads = crate::process::thread_count()?;
    if threads != 1 {
        return Err(RuntimeError::Init(format!(
            "the runtime has {threads} threads; containers are only forked from a single-threaded process"
        )));
    }
    crate::store::validate_id(&opts.id)?;
    let bundle = load_bundle(&opts.bundle)?;
    // Compile (or find in the cache) the seccomp program now, in the
    // runtime: the init then only loads it.
    if let Some(profile) = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        crate::seccomp::prepare(profile, store.root())
            .map_err(|m| RuntimeError::spec("linux.seccomp", m))?;
    }
    if crate::namespaces::declared(&bundle.spec)?
        .iter()
        .any(|(kind, path)| *kind == Ns::User && path.is_none())
    {
        crate::userns_support::check(nix::unistd::geteuid().is_root())?;
    }
    let min_fd = 3 + opts.preserve_fds as i32;
    let locked = store.create_dir(&opts.id)?;
    let mut undo = Undo {
        dir: Some(locked),
        cgroup: None,
        children: Vec::new(),
    };
    let result = create_in(&mut undo, store, &bundle, opts, min_fd);
    match result {
        Ok(rec) => {
            undo.disarm();
            Ok(rec)
        }
        Err(e) => {
            // Undo removes the state dir; then the skeleton may be unused.
            drop(undo);
            if let Err(w) = Skeleton::of_root(store.root()).withdraw_if_unused(store) {
                tracing::warn!("cleanup after failed create: {w}");
            }
            Err(e)
        }
    }
}

fn create_in(
    undo: &mut Undo,
    store: &StateStore,
    bundle: &Bundle,
    opts: &CreateOptions,
    min_fd: i32,
) -> Result<ContainerRecord> {
    let dir = undo.dir_path();
    if let Some(locked) = undo.dir.as_mut() {
        locked.renumber_above(min_fd)?;
    }
    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .map_err(|e| RuntimeError::sys(format!("mkfifo {}", fifo_path.display()), e))?;
    // mkfifo obeys the umask; the init may run as any uid and must open it for writing.
    nix::sys::stat::fchmodat(
        None,
        &fifo_path,
        Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| RuntimeError::sys(format!("chmod {}", fifo_path.display()), e))?;
    let fifo_fd = open_fd(&fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, min_fd)?;
    let console = connect_console(bundle, opts, min_fd)?;
    let proc_fd = open_procfs(min_fd)?;

    let linux = bundle.spec.linux().as_ref();
    let cg_path = linux
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| default_cgroup_path(&opts.id));
    let resources = linux.and_then(|l| l.resources().as_ref());
    let cgroup = create_cgroup(&cg_path, resources)?;
    undo.cgroup = Some(cgroup.clone());
    if let Some(res) = resources.filter(|_| !cgroup.v1.is_empty() || cgroup.unified.is_some()) {
        cgroup
            .apply(res)
            .map_err(|e| RuntimeError::Cgroup(e.to_string()))?;
    }

    let mut plan = NamespacePlan::open(&bundle.spec)?;
    plan.move_fds_above(min_fd)?;
    // A user namespace (new or joined) or a joined pid namespace needs the
    // step-by-step path; see init::enter.
    let slow_path = plan.mode(Ns::User).is_some() || plan.is_joined(Ns::Pid);
    let (parent_sock, child_sock) = sync::pair()?;
    let parent_sock = parent_sock.move_above(min_fd)?;
    let child_sock = child_sock.move_above(min_fd)?;

    let skeleton = if !slow_path && fits_skeleton(bundle, &plan) {
        match Skeleton::of_root(store.root()).open_for(store, &opts.id) {
            Ok(Some(fd)) => Some(crate::fds::move_above(fd, min_fd)?),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!("create {}: {e}; copying the runtime's mounts", opts.id);
                None
            }
        }
    } else {
        None
    };
    let mut clone_flags = if slow_path {
        0
    } else {
        plan.new_flags(&[Ns::User, Ns::Ipc, Ns::Uts, Ns::Network, Ns::Pid, Ns::Mount])
            .bits()
    };
    if skeleton.is_some() {
        // The init makes its mount namespace from the skeleton.
        clone_flags &= !libc::CLONE_NEWNS;
    }
    tracing::debug!(
        "create {}: clone flags {clone_flags:#x}, {} path, {} mounts, cgroup {}",
        opts.id,
        if slow_path { "setns/unshare" } else { "clone" },
        if skeleton.is_some() {
            "skeleton"
        } else {
            "host"
        },
        cg_path.display()
    );
    let child = raw_clone(clone_flags)?;
    if child == 0 {
        drop(parent_sock);
        let ctx = InitContext {
            id: &opts.id,
            bundle,
            spec: &bundle.spec,
            plan: &plan,
            cgroup: &cgroup,
            sync: &child_sock,
            console_fd: console.as_ref().map(|c| c.as_raw_fd()),
            fifo_fd: fifo_fd.as_raw_fd(),
            proc_fd: proc_fd.as_raw_fd(),
            preserve_fds: opts.preserve_fds as i32,
            slow_path,
            skeleton_fd: skeleton.as_ref().map(|fd| fd.as_raw_fd()),
        };
        child_main(&ctx);
    }
    drop(child_sock);
    drop(skeleton);
    undo.children.push(child);
    let init_pid = drive_init(undo, &parent_sock, bundle, &opts.id, &proc_fd, child)?;

    let (_, start_time) = crate::process::stat(init_pid).ok_or_else(|| {
        RuntimeError::Init(format!("the init (pid {init_pid}) vanished after setup"))
    })?;
    let rec = ContainerRecord {
        id: opts.id.clone(),
        pid: init_pid,
        start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: now_rfc3339(),
        owner: owner_name(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        cgroup,
        hooks: bundle.spec.hooks().clone(),
    };
    if let Some(locked) = undo.dir.as_ref() {
        locked.write(&rec)?;
    }
    tracing::debug!("create {}: init {init_pid} ready", opts.id);
    if let Some(pf) = &opts.pid_file {
        write_atomic(pf, format!("{init_pid}").as_bytes(), 0o644)?;
    }
    Ok(rec)
}

/// Does the container's new mount namespace qualify for a copy of the
/// skeleton (see [`crate::skeleton`])? The init must make a new one and
/// run no `createContainer` hook; the spec must fit
/// ([`crate::rootfs::fits_skeleton`]).
fn fits_skeleton(bundle: &Bundle, plan: &NamespacePlan) -> bool {
    plan.is_new(Ns::Mount)
        && crate::hooks::hooks_of(&bundle.spec, HookKind::CreateContainer).is_empty()
        && crate::rootfs::fits_skeleton(&bundle.spec)
}

/// Create the container's cgroup. An unprivileged user (rootless, as
/// `spec --rootless` configures) usually may not: as runc does, that is fine
/// when the spec asks for no limits (device rules aside: a user namespace
/// cannot make device nodes), and the container then runs in the caller's
/// cgroup with an empty handle.
fn create_cgroup(path: &Path, resources: Option<&LinuxResources>) -> Result<CgroupHandle> {
    match CgroupHandle::create(path) {
        Ok(cg) => Ok(cg),
        Err(CgroupError::Create { path: dir, source })
            if source.kind() == std::io::ErrorKind::PermissionDenied
                && !nix::unistd::geteuid().is_root() =>
        {
            if resources.is_some_and(limits_anything) {
                return Err(RuntimeError::Cgroup(format!(
                    "create cgroup {}: permission denied: an unprivileged user cannot set \
                     linux.resources; drop them (rcrun-oci spec --rootless does) or run as root",
                    dir.display()
                )));
            }
            tracing::debug!(
                "rootless: no cgroup for {} ({}: {source})",
                path.display(),
                dir.display()
            );
            let mode = crate::cgroups::host_layout()
                .map_err(|e| RuntimeError::Cgroup(e.to_string()))?
                .mode;
            Ok(CgroupHandle {
                path: path.to_path_buf(),
                mode,
                v1: Vec::new(),
                unified: None,
            })
        }
        Err(e) => Err(RuntimeError::Cgroup(e.to_string())),
    }
}

/// Whether `linux.resources` sets anything besides device rules.
fn limits_anything(r: &LinuxResources) -> bool {
    let mut rest = r.clone();
    rest.set_devices(None);
    rest != LinuxResources::default()
}

/// Answer the init's requests until it is ready; returns the init's pid.
fn drive_init(
    undo: &mut Undo,
    sock: &SyncSocket,
    bundle: &Bundle,
    id: &str,
    proc_fd: &OwnedFd,
    child: i32,
) -> Result<i32> {
    let spec = &bundle.spec;
    let mut init_pid = child;
    loop {
        match sock.recv()? {
            None => return Err(RuntimeError::Init(describe_death(init_pid, child))),
            Some(Msg::MapIds) => {
                crate::proc_write::write_id_maps(proc_fd, child, spec)?;
                sock.send(&Msg::Continue)?;
            }
            Some(Msg::InitPid(pid)) => {
                init_pid = pid;
                undo.children.push(pid);
                // The intermediate child exits right after reporting.
                let _ = waitpid(Pid::from_raw(child), None);
                undo.children.retain(|&c| c != child);
            }
            Some(Msg::Hooks) => {
                let state = hook_state(bundle, id, init_pid, Status::Creating);
                for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
                    crate::hooks::run(spec, kind, &state).map_err(RuntimeError::Init)?;
                }
                sock.send(&Msg::Continue)?;
            }
            Some(Msg::Ready) => return Ok(init_pid),
            Some(Msg::Error(m)) => return Err(RuntimeError::Init(m)),
            Some(Msg::Continue) => {
                return Err(RuntimeError::Init(
                    "protocol error: the init sent Continue".to_string(),
                ))
            }
        }
    }
}

/// The state document hooks get on stdin.
pub(crate) fn hook_state(bundle: &Bundle, id: &str, pid: i32, status: Status) -> OciState {
    OciState {
        oci_version: crate::record::OCI_VERSION.to_string(),
        id: id.to_string(),
        pid,
        status,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: String::new(),
        owner: String::new(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
    }
}

/// Why the init went away without a message (it is our child: reap it).
fn describe_death(init_pid: i32, child: i32) -> String {
    let mut last = None;
    for pid in [child, init_pid] {
        if let Ok(st) = waitpid(Pid::from_raw(pid), None) {
            last = Some(st);
        }
    }
    match last {
        Some(WaitStatus::Exited(_, code)) => {
            format!("exited with status {code} during setup without reporting an error")
        }
        Some(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig} during setup"),
        _ => "went away during setup".to_string(),
    }
}

/// fork-like clone with namespace flags; 0 in the child.
fn raw_clone(flags: libc::c_int) -> Result<i32> {
    crate::raw_fork::raw_fork(flags)
        .map_err(|e| RuntimeError::sys(format!("clone the container init (flags {flags:#x})"), e))
}

/// With `process.terminal`, connect to `--console-socket` (required).
fn connect_console(bundle: &Bundle, opts: &CreateOptions, min_fd: i32) -> Result<Option<OwnedFd>> {
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    match (&opts.console_socket, terminal) {
        (_, false) => Ok(None),
        (None, true) => Err(RuntimeError::spec(
            "process.terminal",
            "true needs --console-socket (rcrun-oci sends the pty master there and does not proxy terminals)",
        )),
        (Some(path), true) => {
            let s = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| RuntimeError::io(path, e))?;
            Ok(Some(crate::fds::move_above(OwnedFd::from(s), min_fd)?))
        }
    }
}

fn open_fd(path: &Path, flags: OFlag, min_fd: i32) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(path, flags, Mode::empty())
        .map_err(|e| RuntimeError::sys(format!("open {}", path.display()), e))?;
    // SAFETY: `open` returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    crate::fds::move_above(fd, min_fd)
}

/// `O_PATH` handle on the host's `/proc`, checked to be procfs.
fn open_procfs(min_fd: i32) -> Result<OwnedFd> {
    let fd = open_fd(
        Path::new("/proc"),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        min_fd,
    )?;
    let st = nix::sys::statfs::fstatfs(&fd).map_err(|e| RuntimeError::sys("statfs /proc", e))?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(RuntimeError::sys(
            "/proc is not a procfs mount",
            nix::Error::EXDEV,
        ));
    }
    Ok(fd)
}

/// Open `<proc>/<rel>` without following symlinks or crossing mounts.
pub(crate) fn open_in_proc(proc_fd: &OwnedFd, rel: &str, flags: OFlag) -> Result<OwnedFd> {
    let fd = openat(
        Some(proc_fd.as_raw_fd()),
        rel,
        flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| RuntimeError::sys(format!("open /proc/{rel}"), e))?;
    // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn owner_name() -> String {
    let uid = nix::unistd::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// What `create` undoes when it fails: processes it started, the cgroup and
/// the state dir, in that order.
#[derive(Debug)]
struct Undo {
    dir: Option<LockedDir>,
    cgroup: Option<CgroupHandle>,
    children: Vec<i32>,
}

impl Undo {
    fn dir_path(&self) -> PathBuf {
        self.dir.as_ref().map(|d| d.dir.clone()).unwrap_or_default()
    }

    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.children.clear();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        for &pid in &self.children {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                tracing::warn!("cleanup after failed create: {e}");
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = dir.remove() {
                tracing::warn!("cleanup after failed create: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).expect("resources")
    }

    #[test]
    fn device_rules_alone_limit_nothing() {
        let r = resources(serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}));
        assert!(!limits_anything(&r));
        assert!(!limits_anything(&LinuxResources::default()));
        assert!(limits_anything(&resources(
            serde_json::json!({"pids": {"limit": 10}})
        )));
    }
}
