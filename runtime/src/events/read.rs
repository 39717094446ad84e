//! Reading runc-shaped stats from cgroup v1 controller files and cgroup2
//! interface files. A file a controller does not offer reads as zero; a
//! file that exists but cannot be read or parsed is an error.

use std::collections::BTreeMap;
use std::path::Path;

use super::{MemoryEntry, Stats};
use crate::cgroups::{CgroupError, CgroupHandle};

/// Clock ticks per second of `cpuacct.stat` (USER_HZ).
const USER_HZ: u64 = 100;

fn text(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

/// A number, `max` as `u64::MAX`, a missing file as 0.
fn num(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let Some(t) = text(dir, file)? else {
        return Ok(0);
    };
    let t = t.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| CgroupError::Parse {
        path: dir.join(file),
        content: t.to_string(),
    })
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, ...).
fn keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut out = BTreeMap::new();
    for line in text(dir, file)?.unwrap_or_default().lines() {
        if let Some((k, v)) = line.split_once(' ') {
            if let Ok(v) = v.trim().parse() {
                out.insert(k.to_string(), v);
            }
        }
    }
    Ok(out)
}

fn v1_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    Ok(MemoryEntry {
        limit: num(dir, &format!("{prefix}.limit_in_bytes"))?,
        usage: num(dir, &format!("{prefix}.usage_in_bytes"))?,
        max: num(dir, &format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: num(dir, &format!("{prefix}.failcnt"))?,
    })
}

/// Stats from the v1 hierarchies of `cg`.
pub(super) fn v1(cg: &CgroupHandle) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(d) = cg.v1_dir("cpuacct") {
        s.cpu.usage.total = num(d, "cpuacct.usage")?;
        s.cpu.usage.percpu = text(d, "cpuacct.usage_percpu")?
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let st = keyed(d, "cpuacct.stat")?;
        let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000 / USER_HZ);
        s.cpu.usage.user = ns(st.get("user").copied().unwrap_or(0));
        s.cpu.usage.kernel = ns(st.get("system").copied().unwrap_or(0));
    }
    if let Some(d) = cg.v1_dir("cpu") {
        let st = keyed(d, "cpu.stat")?;
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = cg.v1_dir("memory") {
        s.memory.usage = v1_entry(d, "memory")?;
        s.memory.swap = v1_entry(d, "memory.memsw")?;
        s.memory.kernel = v1_entry(d, "memory.kmem")?;
        s.memory.kernel_tcp = v1_entry(d, "memory.kmem.tcp")?;
        s.memory.raw = keyed(d, "memory.stat")?;
        s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
    }
    if let Some(d) = cg.v1_dir("pids") {
        s.pids.current = num(d, "pids.current")?;
        s.pids.limit = unlimited_as_zero(num(d, "pids.max")?);
    }
    Ok(s)
}

/// Stats from a cgroup2 directory.
pub(super) fn v2(dir: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    let cpu = keyed(dir, "cpu.stat")?;
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0).saturating_mul(1000);
    s.cpu.usage.total = us("usage_usec");
    s.cpu.usage.user = us("user_usec");
    s.cpu.usage.kernel = us("system_usec");
    s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.cpu.throttling.throttled_time = us("throttled_usec");
    if dir.join("memory.current").exists() {
        let events = keyed(dir, "memory.events")?;
        s.memory.usage = MemoryEntry {
            limit: num(dir, "memory.max")?,
            usage: num(dir, "memory.current")?,
            max: num(dir, "memory.peak")?,
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        s.memory.swap = MemoryEntry {
            limit: num(dir, "memory.swap.max")?,
            usage: num(dir, "memory.swap.current")?,
            max: num(dir, "memory.swap.peak")?,
            failcnt: 0,
        };
        s.memory.raw = keyed(dir, "memory.stat")?;
        s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    }
    s.pids.current = num(dir, "pids.current")?;
    s.pids.limit = unlimited_as_zero(num(dir, "pids.max")?);
    Ok(s)
}

fn unlimited_as_zero(v: u64) -> u64 {
    if v == u64::MAX {
        0
    } else {
        v
    }
}

/// OOM kills so far: v1 `memory.oom_control` `oom_kill`, v2
/// `memory.events` `oom_kill`.
pub(super) fn oom_kills(cg: &CgroupHandle) -> Result<u64, CgroupError> {
    let (dir, file) = match (cg.v1_dir("memory"), cg.unified_dir()) {
        (Some(d), _) => (d, "memory.oom_control"),
        (None, Some(d)) => (d, "memory.events"),
        (None, None) => return Ok(0),
    };
    Ok(keyed(dir, file)?.get("oom_kill").copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_files_become_runc_units() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        let w = |f: &str, t: &str| std::fs::write(d.join(f), t).expect("write");
        w(
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\n",
        );
        w("memory.current", "4096\n");
        w("memory.max", "max\n");
        w("memory.events", "low 0\nhigh 0\nmax 2\noom 0\noom_kill 1\n");
        w("memory.stat", "anon 100\nfile 200\n");
        w("pids.current", "3\n");
        w("pids.max", "max\n");
        let s = v2(d).expect("stats");
        assert_eq!(s.cpu.usage.total, 1_500_000);
        assert_eq!(s.cpu.usage.kernel, 500_000);
        assert_eq!(s.cpu.throttling.periods, 3);
        assert_eq!(s.memory.usage.usage, 4096);
        assert_eq!(s.memory.usage.limit, u64::MAX);
        assert_eq!(s.memory.usage.failcnt, 2);
        assert_eq!(s.memory.cache, 200);
        assert_eq!((s.pids.current, s.pids.limit), (3, 0));
    }

    #[test]
    fn garbage_in_a_counter_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("pids.current"), "lots\n").expect("write");
        let e = v2(tmp.path()).expect_err("garbage");
        assert!(e.to_string().contains("pids.current"), "{e}");
    }
}
