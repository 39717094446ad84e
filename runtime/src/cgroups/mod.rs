//! Cgroup placement and resource limits from `linux.cgroupsPath` and
//! `linux.resources`, on cgroup v1, v2 and hybrid hosts.
//!
//! A [`CgroupHandle`] is the container's cgroup: one directory per v1
//! controller hierarchy and/or one in the cgroup2 hierarchy. It is plain data
//! (serde), so a later command reopens it from `state.json` without probing
//! the host again. The host layout is read once per process
//! ([`layout::host_layout`]).
//!
//! Hybrid hosts (v1 controllers plus a cgroup2 mount at
//! `/sys/fs/cgroup/unified`) are controlled through v1, like runc. The cgroup2
//! directory is only made and joined when something needs it there —
//! hugepage limits when hugetlb is not bound to a v1 hierarchy, or
//! `linux.resources.unified` — because moving a process in cgroup2 costs an
//! RCU grace period (several ms) on every start.
//!
//! Usage by the runtime: [`CgroupHandle::create`], then
//! [`CgroupHandle::apply`], then put the container's init in it — cheapest is
//! [`CgroupHandle::enter`] called by the (single-threaded) init itself before
//! it unshares its cgroup namespace; [`CgroupHandle::add_pid`] does it from
//! outside. On delete, [`CgroupHandle::destroy`].
//!
//! Device rules go to the v1 devices controller, or on v2 into an eBPF
//! program attached to the cgroup (`devices_bpf`).
//!
//! Not here: systemd/dbus cgroup management (a systemd-style
//! `slice:prefix:name` path is laid out like systemd would, without asking
//! systemd).

pub mod convert;
pub mod devices;
mod devices_bpf;
mod error;
mod freezer;
mod fsio;
pub mod layout;
pub mod path;
mod stats;
mod v1;
mod v2;

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use error::CgroupError;
pub use layout::{host_layout, HostLayout, Mode};
pub use stats::CgroupStats;
pub use v1::V1Dir;

use path::CgroupPath;

/// How long [`CgroupHandle::destroy`] waits for exiting tasks to leave.
const DRAIN_PATIENCE: Duration = Duration::from_secs(2);

/// A container's cgroup in every hierarchy it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupHandle {
    /// The cgroupsPath it was created from, as given.
    pub path: PathBuf,
    /// The host layout it was created on.
    pub mode: Mode,
    /// One directory per v1 controller hierarchy (empty on v2).
    pub v1: Vec<V1Dir>,
    /// The cgroup2 directory: always used on v2; on hybrid used only once
    /// [`CgroupHandle::apply`] has made it (see the module docs).
    pub unified: Option<PathBuf>,
}

impl CgroupHandle {
    /// Create the container's cgroup for `path` (`linux.cgroupsPath`:
    /// absolute from each hierarchy's root, relative from the runtime's own
    /// cgroup) in every controller hierarchy. On failure nothing it made is
    /// left behind.
    pub fn create(path: &Path) -> Result<Self, CgroupError> {
        let layout = host_layout()?;
        let cp = CgroupPath::parse(path)?;
        let mut handle = CgroupHandle {
            path: path.to_path_buf(),
            mode: layout.mode,
            v1: Vec::new(),
            unified: None,
        };
        let res = handle.make_dirs(layout, &cp);
        if let Err(e) = res {
            let _ = handle.destroy();
            return Err(e);
        }
        Ok(handle)
    }

    fn make_dirs(&mut self, layout: &HostLayout, cp: &CgroupPath) -> Result<(), CgroupError> {
        for h in &layout.v1 {
            let dir = cp.dir_in(&h.mount, &h.own);
            let cpuset = h.controllers.iter().any(|c| c == "cpuset");
            // Record first so a failure half-way still removes it.
            self.v1.push(V1Dir {
                controllers: h.controllers.clone(),
                dir: dir.clone(),
            });
            fsio::mkdir_v1(&h.mount, &dir, cpuset)?;
        }
        if let Some(mount) = &layout.unified {
            let dir = cp.dir_in(mount, &layout.unified_own);
            self.unified = Some(dir.clone());
            if layout.mode == Mode::V2 {
                let controllers = fsio::available_v2(mount, v2::CONTROLLERS)?;
                fsio::mkdir_v2(mount, &dir, &controllers)?;
            }
        }
        Ok(())
    }

    /// Apply `linux.resources`. Call before the container's processes join.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let hugepages = resources.hugepage_limits().as_deref().unwrap_or_default();
        let unified = resources.unified().as_ref().filter(|m| !m.is_empty());
        match self.mode {
            Mode::V2 => {
                let dir = self.v2_dir()?;
                v2::apply(dir, resources)?;
                if let Some(map) = unified {
                    v2::unified(dir, map)?;
                }
            }
            Mode::V1 | Mode::Hybrid => {
                v1::apply(&self.v1, resources)?;
                if !hugepages.is_empty() {
                    if let Some(dir) = v1::dir_for(&self.v1, "hugetlb") {
                        v1::hugetlb(dir, hugepages)?;
                    } else {
                        let dir =
                            self.hybrid_unified(&["hugetlb"], "linux.resources.hugepageLimits")?;
                        v2::hugetlb(dir, hugepages)?;
                    }
                }
                if let Some(map) = unified {
                    let wanted: Vec<&str> = map
                        .keys()
                        .filter_map(|k| k.split_once('.').map(|(c, _)| c))
                        .filter(|c| *c != "cgroup")
                        .collect();
                    let dir = self.hybrid_unified(&wanted, "linux.resources.unified")?;
                    v2::unified(dir, map)?;
                }
            }
        }
        Ok(())
    }

    /// On a hybrid host, make the cgroup2 directory with `controllers`
    /// enabled (those the cgroup2 root offers).
    fn hybrid_unified(
        &self,
        controllers: &[&str],
        field: &'static str,
    ) -> Result<&Path, CgroupError> {
        let layout = host_layout()?;
        let (Some(mount), Some(dir), Mode::Hybrid) = (&layout.unified, &self.unified, self.mode)
        else {
            return Err(if field == "linux.resources.unified" {
                CgroupError::Unsupported {
                    field: field.into(),
                    layout: self.mode.describe(),
                    hint: "unified keys need a cgroup2 hierarchy; drop them or use a v2 host",
                }
            } else {
                CgroupError::ControllerMissing {
                    field,
                    controller: "hugetlb",
                }
            });
        };
        let offered = fsio::read(mount, "cgroup.controllers")?;
        let enable: Vec<&str> = controllers
            .iter()
            .copied()
            .filter(|c| offered.split_whitespace().any(|o| o == *c))
            .collect();
        if field == "linux.resources.hugepageLimits" && enable.is_empty() {
            return Err(CgroupError::ControllerMissing {
                field,
                controller: "hugetlb",
            });
        }
        fsio::mkdir_v2(mount, dir, &enable)?;
        Ok(dir)
    }

    fn v2_dir(&self) -> Result<&Path, CgroupError> {
        self.unified
            .as_deref()
            .ok_or_else(|| CgroupError::InvalidPath {
                path: self.path.display().to_string(),
                reason: "handle for a cgroup v2 host has no cgroup2 directory",
            })
    }

    /// The cgroup2 directory processes must join: always on v2, on hybrid
    /// only when [`CgroupHandle::apply`] made it.
    pub fn unified_dir(&self) -> Option<&Path> {
        let dir = self.unified.as_deref()?;
        match self.mode {
            Mode::V2 => Some(dir),
            Mode::Hybrid if dir.exists() => Some(dir),
            _ => None,
        }
    }

    /// Move process `pid` (all its threads) into the cgroup.
    ///
    /// Each `cgroup.procs` write is a thread-group migration, which costs
    /// the kernel an RCU grace period; prefer [`CgroupHandle::enter`] from the
    /// process itself on v1/hybrid hosts.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        let text = pid.to_string();
        for d in &self.v1 {
            fsio::write(&d.dir, "cgroup.procs", &text)?;
        }
        if let Some(dir) = self.unified_dir() {
            fsio::write(dir, "cgroup.procs", &text)?;
        }
        Ok(())
    }

    /// Move the calling thread into the cgroup. Meant for the container's
    /// init while it is still single-threaded (after fork, before it unshares
    /// its cgroup or user namespace): then the thread is the whole process.
    ///
    /// On v1 this writes `0` to each `tasks` file, a single-thread move that
    /// skips the kernel's global thread-group lock and its RCU grace period
    /// (about 0.05 ms per hierarchy instead of ~10 ms per start). A cgroup2
    /// directory is joined through `cgroup.procs`; on v2 hosts
    /// `clone3(CLONE_INTO_CGROUP)` with [`CgroupHandle::unified_dir`] is the
    /// cheap way.
    pub fn enter(&self) -> Result<(), CgroupError> {
        for d in &self.v1 {
            fsio::write(&d.dir, "tasks", "0")?;
        }
        if let Some(dir) = self.unified_dir() {
            fsio::write(dir, "cgroup.procs", "0")?;
        }
        Ok(())
    }

    /// Every process in the cgroup and its sub-cgroups, sorted.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        if let Some(dir) = self.tracking_dir() {
            fsio::procs_recursive(dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The one directory whose process list stands for the container.
    fn tracking_dir(&self) -> Option<&Path> {
        match self.mode {
            Mode::V2 => self.unified.as_deref(),
            Mode::V1 | Mode::Hybrid => ["pids", "freezer", "memory", "cpu"]
                .iter()
                .find_map(|c| v1::dir_for(&self.v1, c))
                .or_else(|| self.v1.first().map(|d| d.dir.as_path())),
        }
    }

    /// Remove the cgroup (and any sub-cgroups the container made) from every
    /// hierarchy, waiting briefly for exiting tasks to drain. Already gone is
    /// fine. Keeps going after an error and returns the first one.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first = None;
        let dirs = self
            .v1
            .iter()
            .map(|d| d.dir.as_path())
            .chain(self.unified.as_deref());
        for dir in dirs {
            if let Err(e) = fsio::remove_tree(dir, DRAIN_PATIENCE) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Freeze every process of the container (pause).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    /// Thaw the container's processes (resume).
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => freezer::set_v2(self.v2_dir()?, frozen),
            Mode::V1 | Mode::Hybrid => {
                let dir =
                    v1::dir_for(&self.v1, "freezer").ok_or(CgroupError::ControllerMissing {
                        field: "pause/resume",
                        controller: "freezer",
                    })?;
                freezer::set_v1(dir, frozen)
            }
        }
    }

    /// True when the container's processes are frozen (paused). A missing
    /// freezer reads as not frozen.
    pub fn is_frozen(&self) -> bool {
        match self.mode {
            Mode::V2 => self.unified.as_deref().is_some_and(freezer::is_frozen_v2),
            Mode::V1 | Mode::Hybrid => {
                v1::dir_for(&self.v1, "freezer").is_some_and(freezer::is_frozen_v1)
            }
        }
    }

    /// The directory of the v1 hierarchy holding `controller`, if any.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        v1::dir_for(&self.v1, controller)
    }

    /// CPU, memory and pids counters.
    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        match self.mode {
            Mode::V2 => stats::v2(self.v2_dir()?),
            Mode::V1 | Mode::Hybrid => stats::v1(
                v1::dir_for(&self.v1, "cpuacct"),
                v1::dir_for(&self.v1, "memory"),
                v1::dir_for(&self.v1, "pids"),
            ),
        }
    }
}

#[cfg(test)]
mod host_tests;
