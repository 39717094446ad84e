//! `exec`: start one more process in a created or running container, as
//! `runc exec` does.
//!
//! The runtime (single-threaded, from a sealed binary) checks the container
//! is neither stopped nor paused, opens a pidfd on its init, and works out
//! which of the init's namespaces differ from its own. It makes the
//! container's pid namespace the one its children are born in (`setns` of
//! `CLONE_NEWPID` only changes `pid_for_children`), then forks a child that
//! joins the container's cgroup (every hierarchy) and all the other
//! namespaces at once (`setns` on the pidfd). When the runtime may not enter
//! the pid namespace itself, the child joins it too and forks once more
//! (`CLONE_PARENT`, so the process stays the runtime's child). That process then gets the
//! container's terminal (`--console-socket`), closes every descriptor but
//! stdio and the preserved ones, resets signals, applies rlimits, seccomp
//! (before the credentials, or right before exec with no_new_privs, as the
//! init does), user and capabilities, umask and cwd, and execs. Its setup
//! errors come back over a sync socket as one message; the socket closing on
//! exec (close-on-exec) tells the runtime the exec happened.
//!
//! The process spec: a whole `process.json`, or the container's with the
//! command line's overrides ([`process_spec`]); capabilities and rlimits it
//! leaves out are the container's; seccomp is always the container's.

mod child;
pub mod process_spec;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::error::{Result, RuntimeError};
use crate::process::PidFd;
use crate::record::Status;
use crate::store::{write_atomic, StateStore};
use crate::sync::{self, Msg};

pub use process_spec::{load_process, parse_user, ProcessOverrides};

/// Where the process spec of an `exec` comes from.
#[derive(Debug, Clone)]
pub enum ProcessSource {
    /// A complete process spec (`--process process.json`).
    Spec(Box<Process>),
    /// The container's `config.json` process with these changes.
    Overrides(ProcessOverrides),
}

/// What `exec` needs besides the container id.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The process to run.
    pub process: ProcessSource,
    /// Unix socket that receives the pty master when the process has a
    /// terminal.
    pub console_socket: Option<PathBuf>,
    /// Write the new process's host pid here (atomically) once it runs.
    pub pid_file: Option<PathBuf>,
    /// Pass descriptors 3..3+N to the process.
    pub preserve_fds: u32,
}

/// The namespace kinds `exec` joins when the init's differs from the runtime's.
const NS_KINDS: [(&str, libc::c_int); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("mnt", libc::CLONE_NEWNS),
    ("pid", libc::CLONE_NEWPID),
    ("net", libc::CLONE_NEWNET),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("cgroup", libc::CLONE_NEWCGROUP),
];

/// Run a new process in container `id`; returns its host pid once it has
/// exec'd. The process is a child of the caller (wait for it in the
/// foreground). The calling process must be single-threaded and run from a
/// sealed binary ([`crate::exe_seal::reexec_sealed`]).
pub fn exec(store: &StateStore, id: &str, opts: &ExecOptions) -> Result<i32> {
    if !crate::exe_seal::is_sealed() {
        return Err(RuntimeError::Unsealed(
            "the runtime binary is writable through /proc/self/exe (CVE-2019-5736): \
             call exe_seal::reexec_sealed() before exec"
                .to_string(),
        ));
    }
    let threads = crate::process::thread_count()?;
    if threads != 1 {
        return Err(RuntimeError::Init(format!(
            "the runtime has {threads} threads; processes are only forked from a single-threaded process"
        )));
    }
    let mut locked = store.lock(id)?;
    let rec = locked.read()?;
    match rec.status(&locked.dir) {
        Status::Stopped => {
            return Err(RuntimeError::BadState {
                id: id.to_string(),
                status: Status::Stopped.to_string(),
                message: "cannot exec into a stopped container".to_string(),
            })
        }
        Status::Paused => {
            return Err(RuntimeError::BadState {
                id: id.to_string(),
                status: Status::Paused.to_string(),
                message: "cannot exec into a paused container: resume it first".to_string(),
            })
        }
        _ => {}
    }
    let spec = crate::spec::load_config(&rec.bundle.join("config.json"))?;
    let process = match &opts.process {
        ProcessSource::Spec(p) => {
            process_spec::inherit_defaults(p.as_ref().clone(), spec.process().as_ref())
        }
        ProcessSource::Overrides(o) => {
            let base = spec.process().as_ref().ok_or_else(|| {
                RuntimeError::spec("process", "missing in the container's config.json")
            })?;
            process_spec::with_overrides(base, o)?
        }
    };
    let filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => Some(
            crate::seccomp::build_filter_cached(profile, store.root())
                .map_err(|m| RuntimeError::spec("linux.seccomp", m))?,
        ),
        None => None,
    };

    let min_fd = 3 + opts.preserve_fds as i32;
    locked.renumber_above(min_fd)?;
    let init = PidFd::open(rec.pid, Some(rec.start_time))?;
    let pidfd = crate::fds::dup_above(&init.as_fd(), min_fd)?;
    drop(init);
    let mut ns_flags = differing_namespaces(rec.pid)?;
    let mut pid_ns_guard = None;
    if ns_flags & libc::CLONE_NEWPID != 0 {
        pid_ns_guard = PidNsForChildren::enter(&pidfd, min_fd);
        if pid_ns_guard.is_some() {
            // Our next child is born in the container's pid namespace: no
            // second fork needed.
            ns_flags &= !libc::CLONE_NEWPID;
        }
    }
    let console = connect_console(&process, opts, min_fd)?;
    let (parent_sock, child_sock) = sync::pair()?;
    let parent_sock = parent_sock.move_above(min_fd)?;
    let child_sock = child_sock.move_above(min_fd)?;
    tracing::debug!(
        "exec {id}: join namespaces {ns_flags:#x} of init {}",
        rec.pid
    );

    // The process is single-threaded (checked above).
    let r = crate::raw_fork::raw_fork(0)
        .map_err(|e| RuntimeError::sys(format!("fork the exec process of {id}"), e))?;
    if r == 0 {
        drop(parent_sock);
        let ctx = child::ChildContext {
            process: &process,
            cgroup: &rec.cgroup,
            pidfd: pidfd.as_raw_fd(),
            ns_flags,
            sync: &child_sock,
            console_fd: console.as_ref().map(|c| c.as_raw_fd()),
            filter: filter.as_ref(),
            preserve_fds: opts.preserve_fds as i32,
        };
        child::child_main(&ctx);
    }
    // Later children of this process are born in its own pid namespace again.
    drop(pid_ns_guard);
    drop(child_sock);
    drop(console);
    let mut reaper = Reaper { children: vec![r] };
    let pid = drive(&parent_sock, &mut reaper, r).map_err(|e| match e {
        RuntimeError::Init(message) => RuntimeError::Exec {
            id: id.to_string(),
            message,
        },
        e => e,
    })?;
    if let Some(pf) = &opts.pid_file {
        // Unrecorded, the process would be out of the caller's reach: the
        // reaper kills it on this error.
        write_atomic(pf, pid.to_string().as_bytes(), 0o644)?;
    }
    reaper.children.clear();
    tracing::debug!("exec {id}: process {pid} running");
    Ok(pid)
}

/// Follow the child's setup until it execs; returns the process's pid.
fn drive(sock: &sync::SyncSocket, reaper: &mut Reaper, first: i32) -> Result<i32> {
    let mut pid = first;
    let mut ready = false;
    loop {
        match sock.recv()? {
            Some(Msg::InitPid(p)) => {
                pid = p;
                reaper.children.push(p);
                // The forking child exits right after reporting.
                let _ = waitpid(Pid::from_raw(first), None);
                reaper.children.retain(|&c| c != first);
            }
            Some(Msg::Ready) => ready = true,
            // Closed on exec (close-on-exec): the process runs.
            None if ready => return Ok(pid),
            None => return Err(RuntimeError::Init(describe_death(reaper))),
            Some(Msg::Error(m)) => return Err(RuntimeError::Init(m)),
            Some(other) => {
                return Err(RuntimeError::Init(format!(
                    "protocol error: the exec process sent {other:?}"
                )))
            }
        }
    }
}

/// While alive, the container's pid namespace is the one this process's
/// children are born in (`pid_for_children`; the process itself stays
/// where it is); dropping it restores the process's own.
#[derive(Debug)]
struct PidNsForChildren {
    own: OwnedFd,
}

impl PidNsForChildren {
    /// Enter the pid namespace of `pidfd` for children. Needs CAP_SYS_ADMIN
    /// over it; without (`None`) the exec child joins it and forks once more.
    fn enter(pidfd: &OwnedFd, min_fd: i32) -> Option<Self> {
        let own = std::fs::File::open("/proc/self/ns/pid").ok()?;
        let own = crate::fds::move_above(OwnedFd::from(own), min_fd).ok()?;
        // SAFETY: setns on a pidfd we own with one namespace flag.
        if unsafe { libc::setns(pidfd.as_raw_fd(), libc::CLONE_NEWPID) } < 0 {
            tracing::debug!(
                "exec: setns(CLONE_NEWPID) in the runtime: {}; forking twice",
                nix::Error::last()
            );
            return None;
        }
        Some(PidNsForChildren { own })
    }
}

impl Drop for PidNsForChildren {
    fn drop(&mut self) {
        // SAFETY: setns back to our own (active) pid namespace's nsfs file.
        if unsafe { libc::setns(self.own.as_raw_fd(), libc::CLONE_NEWPID) } < 0 {
            tracing::warn!(
                "exec: restore the pid namespace for children: {}",
                nix::Error::last()
            );
        }
    }
}

/// The namespace flags of every namespace of `pid` that is not the caller's.
fn differing_namespaces(pid: i32) -> Result<libc::c_int> {
    let mut flags = 0;
    for (name, flag) in NS_KINDS {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let t = match std::fs::read_link(&theirs) {
            Ok(t) => t,
            // A kernel without this namespace kind: nothing to join.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(RuntimeError::io(theirs, e)),
        };
        let ours = format!("/proc/self/ns/{name}");
        let o = std::fs::read_link(&ours).map_err(|e| RuntimeError::io(ours, e))?;
        if t != o {
            flags |= flag;
        }
    }
    Ok(flags)
}

/// With a terminal, connect to `--console-socket` (required: the CLI makes
/// its own for a foreground terminal).
fn connect_console(process: &Process, opts: &ExecOptions, min_fd: i32) -> Result<Option<OwnedFd>> {
    if process.terminal() != Some(true) {
        return Ok(None);
    }
    let Some(path) = &opts.console_socket else {
        return Err(RuntimeError::spec(
            "process.terminal",
            "true needs a console socket to send the pty master to",
        ));
    };
    let s = std::os::unix::net::UnixStream::connect(path).map_err(|e| RuntimeError::io(path, e))?;
    Ok(Some(crate::fds::move_above(OwnedFd::from(s), min_fd)?))
}

/// Why the exec's children went away without a message (they are ours: reap).
fn describe_death(reaper: &mut Reaper) -> String {
    let mut last = None;
    for pid in reaper.children.drain(..) {
        if let Ok(st) = waitpid(Pid::from_raw(pid), None) {
            last = Some(st);
        }
    }
    match last {
        Some(WaitStatus::Exited(_, code)) => {
            format!(
                "exec process exited with status {code} during setup without reporting an error"
            )
        }
        Some(WaitStatus::Signaled(_, sig, _)) => {
            format!("exec process killed by {sig} during setup")
        }
        _ => "exec process went away during setup".to_string(),
    }
}

/// Kills and reaps the exec's children unless disarmed (setup failed).
#[derive(Debug)]
struct Reaper {
    children: Vec<i32>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in &self.children {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
    }
}
