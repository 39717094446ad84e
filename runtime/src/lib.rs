//! rcrun's OCI runtime core: turns an OCI bundle (`config.json` + rootfs) into a
//! running container and tracks it on disk, as the OCI runtime-spec describes.
//!
//! It knows nothing of images or networks: callers hand it a bundle, and join
//! network namespaces by path through `linux.namespaces`.
//!
//! Module map (one job each):
//! - [`cgroups`]: cgroup v1 / v2 / hybrid placement and `linux.resources`.
//! - [`rootfs`]: mounts, devices, pivot_root, masked and read-only paths,
//!   in-root path resolution; [`skeleton`]: the small mount namespace new
//!   containers' namespaces are copied from.
//!
//! Lifecycle verbs, one file each: [`create`](mod@create), [`start`](mod@start),
//! [`state`](mod@state), [`kill`](mod@kill), [`delete`](mod@delete),
//! [`list`](mod@list), [`ps`]; [`exec`](mod@exec) (a new process in a live
//! container: its namespaces, cgroup, caps, seccomp, rlimits);
//! [`pause`] (`pause`/`resume` through the freezer); [`update`](mod@update)
//! (new cgroup limits, remembered); [`events`] (runc-style stats and OOM
//! events from the cgroup). Plus [`foreground`] (wait and forward signals
//! for `run` and `exec`) and [`tty`] (foreground terminals: receive the pty
//! master, raw mode, proxy, window size).
//!
//! Underneath:
//! - [`spec`]: load and validate `config.json`; [`default_spec`] and
//!   [`features`] for `spec` / `features`.
//! - [`store`]: the state root, atomic `state.json`, per-container flock;
//!   [`record`]: what is stored and the derived status.
//! - [`namespaces`]: new and joined namespaces; `init` (private): the
//!   container init's steps; [`sync`]: the parent/init socket protocol;
//!   [`proc_write`]: id maps and oom_score_adj of the init;
//!   [`userns_support`]: whether the host allows a new user namespace.
//! - [`seccomp`]: `linux.seccomp` profiles through libseccomp; [`hooks`]:
//!   the lifecycle hooks.
//! - [`exe_seal`]: CVE-2019-5736 protection; [`fds`]: descriptor hygiene
//!   (CVE-2024-21626); [`process`]: /proc facts and pidfds;
//!   [`signal`]: signal names.
//!
//! Not here: images, networks, the monitor.
//! Refused with a clear error for now: `create` of a `process.terminal`
//! container without a console socket (`run` and `exec` in the foreground
//! proxy a terminal themselves), the time namespace, seccomp
//! `SCMP_ACT_NOTIFY`.

pub mod cgroups;
pub mod rootfs;

pub mod create;
pub mod default_spec;
pub mod delete;
pub mod error;
pub mod events;
pub mod exe_seal;
pub mod exec;
pub mod fds;
pub mod features;
pub mod foreground;
pub mod hooks;
mod init;
pub mod kill;
pub mod list;
pub mod namespaces;
pub mod pause;
pub mod proc_write;
pub mod process;
pub mod ps;
mod raw_fork;
pub mod record;
pub mod seccomp;
pub mod signal;
pub mod skeleton;
pub mod spec;
pub mod start;
pub mod state;
pub mod store;
pub mod sync;
pub mod tty;
pub mod update;
pub mod userns_support;

pub use create::{create, CreateOptions};
pub use delete::delete;
pub use error::{Result, RuntimeError};
pub use kill::kill;
pub use record::{ContainerRecord, OciState, Status};
pub use start::start;
pub use state::state;
pub use store::StateStore;
