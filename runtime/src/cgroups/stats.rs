//! A few usage counters of a container's cgroup, for `events --stats`.

use std::path::Path;

use serde::Serialize;

use super::error::CgroupError;
use super::fsio::{self, has, read_u64_or_max};

/// Usage counters; a field is `None` when its controller is absent, and a
/// limit is `None` when unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CgroupStats {
    /// CPU time used by all tasks, in nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Memory in use, in bytes.
    pub memory_usage_bytes: Option<u64>,
    /// The memory limit, in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Number of tasks.
    pub pids_current: Option<u64>,
    /// The task limit.
    pub pids_limit: Option<u64>,
}

/// v1 reports "no limit" as a huge page-aligned number near i64::MAX.
fn v1_limit(v: Option<u64>) -> Option<u64> {
    v.filter(|v| *v < (1u64 << 62))
}

/// Counters from v1 directories (each may be absent).
pub fn v1(
    cpuacct: Option<&Path>,
    memory: Option<&Path>,
    pids: Option<&Path>,
) -> Result<CgroupStats, CgroupError> {
    let mut s = CgroupStats::default();
    if let Some(d) = cpuacct {
        s.cpu_usage_ns = read_u64_or_max(d, "cpuacct.usage")?;
    }
    if let Some(d) = memory {
        s.memory_usage_bytes = read_u64_or_max(d, "memory.usage_in_bytes")?;
        s.memory_limit_bytes = v1_limit(read_u64_or_max(d, "memory.limit_in_bytes")?);
    }
    if let Some(d) = pids {
        s.pids_current = read_u64_or_max(d, "pids.current")?;
        s.pids_limit = read_u64_or_max(d, "pids.max")?;
    }
    Ok(s)
}

/// Counters from a v2 directory.
pub fn v2(dir: &Path) -> Result<CgroupStats, CgroupError> {
    let mut s = CgroupStats::default();
    if has(dir, "cpu.stat") {
        let text = fsio::read(dir, "cpu.stat")?;
        s.cpu_usage_ns = text
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|us| us * 1000);
    }
    if has(dir, "memory.current") {
        s.memory_usage_bytes = read_u64_or_max(dir, "memory.current")?;
        s.memory_limit_bytes = read_u64_or_max(dir, "memory.max")?;
    }
    if has(dir, "pids.current") {
        s.pids_current = read_u64_or_max(dir, "pids.current")?;
        s.pids_limit = read_u64_or_max(dir, "pids.max")?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_unlimited_memory_reads_as_none() {
        assert_eq!(v1_limit(Some(9_223_372_036_854_771_712)), None);
        assert_eq!(v1_limit(Some(104_857_600)), Some(104_857_600));
    }

    #[test]
    fn v2_counters_from_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        std::fs::write(d.join("memory.current"), "4096\n").unwrap();
        std::fs::write(d.join("memory.max"), "max\n").unwrap();
        let s = v2(d).unwrap();
        assert_eq!(s.cpu_usage_ns, Some(1_500_000));
        assert_eq!(s.memory_usage_bytes, Some(4096));
        assert_eq!(s.memory_limit_bytes, None);
        assert_eq!(s.pids_current, None);
    }
}
