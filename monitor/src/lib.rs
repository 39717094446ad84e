//! The two small helper processes of rcrun's sandbox model (DESIGN.md):
//!
//! - `rcrun-pause`, the sandbox's pause process: owns the sandbox's uts, ipc
//!   (and optionally pid) namespaces, joined to its network namespace,
//!   pivoted into an empty read-only root with no capabilities.
//! - `rcrun-monitor`, the per-container monitor (like conmon): runs the OCI
//!   runtime's `create`, becomes the subreaper and parent of the container's
//!   init, logs its output in the k8s-file format, records its exit status
//!   and runs an exit command.
//!
//! Both are synchronous, single-threaded and link libc only, to stay small in
//! memory. The contracts are in monitor/README.md. This crate is not an
//! orchestration library: `rcrun-engine` starts these processes.

pub mod args;
pub mod attach;
pub mod caps;
pub mod console;
pub mod error;
pub mod exitfile;
pub mod json;
pub mod logfile;
pub mod monitor;
pub mod ns;
pub mod pause;
pub mod restart;
pub mod spawn;
pub mod supervise;
pub mod sys;
pub mod timefmt;
