//! `events`: a container's resource usage as runc's event JSON
//! (`{"type":"stats","id":...,"data":{"cpu":...,"memory":...,"pids":...}}`)
//! and OOM notices (`{"type":"oom","id":...}`), read from its cgroup
//! (v1 controllers or cgroup2). The field names and units are runc's
//! (`libcontainer/cgroups` stats: nanoseconds, bytes), so tools that parse
//! `runc events` parse these.

mod read;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cgroups::{CgroupHandle, Mode};
use crate::error::{Result, RuntimeError};
use crate::record::Status;
use crate::store::StateStore;

/// One line of `events` output.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The container id.
    pub id: String,
    /// The stats of a `stats` event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// runc's `types.Stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// CPU time.
    pub cpu: Cpu,
    /// cpuset (not collected: always empty).
    pub cpuset: Empty,
    /// Memory usage and limits.
    pub memory: Memory,
    /// Task count and limit.
    pub pids: Pids,
    /// Block I/O (not collected: always empty).
    pub blkio: Empty,
    /// Hugepage usage (not collected: always empty).
    pub hugetlb: BTreeMap<String, Empty>,
    /// Intel RDT (not collected: always empty).
    pub intel_rdt: Empty,
    /// Network interfaces (runc leaves this null too).
    pub network_interfaces: Option<Vec<Empty>>,
}

/// An object with no fields (`{}`), for the sections runc has and rcrun
/// does not collect.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Empty {}

/// runc's `types.Cpu`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cpu {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// In the kernel.
    pub kernel: u64,
    /// In user space.
    pub user: u64,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Time throttled, in nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// runc's `types.Memory`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Page cache, in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory + swap (v1 memsw) or swap (v2).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat`, as is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Usage, peak, limit and limit hits of one memory counter, in bytes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryEntry {
    /// The limit (`u64::MAX` when unlimited on v2, the kernel's huge value on v1).
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// How often the limit was hit.
    pub failcnt: u64,
}

/// runc's `types.Pids`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pids {
    /// Tasks now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// The limit (omitted when unlimited).
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The stats event of container `id` (created, running or paused).
pub fn stats(store: &StateStore, id: &str) -> Result<Event> {
    let (rec, _) = live_record(store, id)?;
    Ok(Event {
        kind: "stats",
        id: id.to_string(),
        data: Some(collect(&rec.cgroup)?),
    })
}

/// The number of OOM kills in container `id`'s cgroup so far (0 without a
/// memory controller).
pub fn oom_kills(store: &StateStore, id: &str) -> Result<u64> {
    let (rec, _) = live_record(store, id)?;
    read::oom_kills(&rec.cgroup).map_err(|e| RuntimeError::Cgroup(e.to_string()))
}

/// Usage counters of `cgroup`.
pub fn collect(cgroup: &CgroupHandle) -> Result<Stats> {
    let r = match cgroup.mode {
        Mode::V2 => match cgroup.unified_dir() {
            Some(dir) => read::v2(dir),
            None => Ok(Stats::default()),
        },
        Mode::V1 | Mode::Hybrid => read::v1(cgroup),
    };
    r.map_err(|e| RuntimeError::Cgroup(e.to_string()))
}

fn live_record(store: &StateStore, id: &str) -> Result<(crate::record::ContainerRecord, Status)> {
    crate::store::validate_id(id)?;
    let rec = store.read(id)?;
    let status = rec.status(&store.dir(id));
    if status == Status::Stopped {
        return Err(RuntimeError::BadState {
            id: id.to_string(),
            status: status.to_string(),
            message: "a stopped container has no stats".to_string(),
        });
    }
    Ok((rec, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_runcs_field_names() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.memory.kernel_tcp.limit = 7;
        s.pids.current = 1;
        let e = Event {
            kind: "stats",
            id: "c".into(),
            data: Some(s),
        };
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["type"], "stats");
        assert_eq!(v["data"]["cpu"]["usage"]["total"], 5);
        assert_eq!(v["data"]["memory"]["kernelTCP"]["limit"], 7);
        assert_eq!(v["data"]["pids"]["current"], 1);
        assert!(v["data"]["network_interfaces"].is_null());
        assert!(v["data"]["intel_rdt"].is_object());
        let oom = Event {
            kind: "oom",
            id: "c".into(),
            data: None,
        };
        assert_eq!(
            serde_json::to_string(&oom).expect("json"),
            r#"{"type":"oom","id":"c"}"#
        );
    }
}
