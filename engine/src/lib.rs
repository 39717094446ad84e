//! rcrun's orchestration library: every container runs in a sandbox (a pause
//! process owning the net, ipc and uts namespaces, see DESIGN.md), app
//! containers join it as `--network container:ID` does, and a small monitor
//! supervises each detached container. `cli/` (the `rcrun` command), the CRI
//! server and test harnesses call this crate; it drives `rcrun-runtime`,
//! `rcrun-image` and a network back end (`rcrun-netdriver` or `rcrun-cni-host`).
//!
//! Not here: argument parsing and printing (the CLI's job), the monitor and
//! pause processes themselves (the `rcrun-monitor` crate), image building.

pub mod bundle;
pub mod cleanup;
pub mod create;
pub mod engine;
pub mod error;
pub mod exec;
mod foreground_output;
pub mod fsutil;
pub mod gc;
pub mod hosts;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod mounts;
pub mod netns;
pub mod networks;
pub mod options;
pub mod paths;
pub mod pause_mntns;
pub mod pods;
pub mod procs;
pub mod records;
pub mod sandbox;
pub mod security;
pub mod security_defaults;
pub mod start;
pub mod status;
pub mod volumes;

pub use engine::{Binaries, Engine};
pub use error::{EngineError, Result};
pub use options::{NetworkMode, RestartPolicy, RunOptions};
pub use paths::Paths;
