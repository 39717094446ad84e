//! `linux.resources` written to cgroup v1 controller files, in the order and
//! with the fallbacks runc uses.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources};
use serde::{Deserialize, Serialize};

use super::convert;
use super::devices;
use super::error::CgroupError;
use super::fsio::{self, has, write};

/// The container's directory in one v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Dir {
    /// The hierarchy's controllers, e.g. `["cpu"]` or `["cpu", "cpuacct"]`.
    pub controllers: Vec<String>,
    /// The cgroup directory, e.g. `/sys/fs/cgroup/cpu/rcrun-oci/web`.
    pub dir: PathBuf,
}

/// The directory of the hierarchy holding `controller`.
pub fn dir_for<'a>(dirs: &'a [V1Dir], controller: &str) -> Option<&'a Path> {
    dirs.iter()
        .find(|d| d.controllers.iter().any(|c| c == controller))
        .map(|d| d.dir.as_path())
}

fn need<'a>(
    dirs: &'a [V1Dir],
    controller: &'static str,
    field: &'static str,
) -> Result<&'a Path, CgroupError> {
    dir_for(dirs, controller).ok_or(CgroupError::ControllerMissing { field, controller })
}

/// Apply everything v1 expresses. Hugepage limits go through [`hugetlb`]
/// and `unified` through the caller, since on a hybrid host they may land in
/// the cgroup2 hierarchy instead.
pub fn apply(dirs: &[V1Dir], r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(rules) = r.devices() {
        let dir = need(dirs, "devices", "linux.resources.devices")?;
        for rule in devices::rules(rules)? {
            let file = if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            write(dir, file, &rule.v1_line())?;
        }
    }
    if let Some(m) = r.memory() {
        if memory_is_set(m) {
            memory(need(dirs, "memory", "linux.resources.memory")?, m)?;
        }
    }
    if let Some(c) = r.cpu() {
        cpu(dirs, c)?;
    }
    if let Some(p) = r.pids() {
        let dir = need(dirs, "pids", "linux.resources.pids")?;
        write(dir, "pids.max", &convert::pids_max(p.limit()))?;
    }
    if let Some(b) = r.block_io() {
        if blkio_is_set(b) {
            blkio(need(dirs, "blkio", "linux.resources.blockIO")?, b)?;
        }
    }
    if let Some(n) = r.network() {
        network(dirs, n)?;
    }
    if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
        let dir = need(dirs, "rdma", "linux.resources.rdma")?;
        for (device, l) in rdma {
            let mut line = device.clone();
            if let Some(h) = l.hca_handles() {
                line.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                line.push_str(&format!(" hca_object={o}"));
            }
            write(dir, "rdma.max", &line)?;
        }
    }
    Ok(())
}

/// Hugepage limits through a v1 hugetlb hierarchy.
pub fn hugetlb(
    dir: &Path,
    limits: &[oci_spec::runtime::LinuxHugepageLimit],
) -> Result<(), CgroupError> {
    for l in limits {
        let stem = convert::hugetlb_stem(l.page_size())?;
        write(
            dir,
            &format!("{stem}.limit_in_bytes"),
            &l.limit().to_string(),
        )?;
    }
    Ok(())
}

#[allow(deprecated)] // `kernel` is read only to say it is ignored.
fn memory_is_set(m: &LinuxMemory) -> bool {
    m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().filter(|l| *l != 0);
    let mut swap = m.swap().filter(|s| *s != 0);
    if limit == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    if let (Some(l), true) = (limit, m.check_before_update() == Some(true)) {
        let usage = fsio::read_u64_or_max(dir, "memory.usage_in_bytes")?.unwrap_or(0);
        if l > 0 && (l as u64) < usage {
            return Err(CgroupError::InvalidValue {
                field: "linux.resources.memory.limit".into(),
                value: l.to_string(),
                reason: "lower than the cgroup's current usage (checkBeforeUpdate)",
            });
        }
    }
    let memsw = "memory.memsw.limit_in_bytes";
    let swap_ok = swap.is_some() && has(dir, memsw);
    if swap.is_some() && !swap_ok {
        tracing::warn!(
            path = %dir.display(),
            "linux.resources.memory.swap ignored: swap accounting is off (no {memsw})"
        );
    }
    match (limit, swap.filter(|_| swap_ok)) {
        (Some(l), Some(s)) => {
            // The kernel wants limit <= memsw at every step: raise memsw
            // first when growing, lower the limit first when shrinking.
            let current = fsio::read_u64_or_max(dir, "memory.limit_in_bytes")?;
            let growing = s == -1 || current.is_some_and(|c| (c as i128) < s as i128);
            if growing {
                write(dir, memsw, &s.to_string())?;
                write(dir, "memory.limit_in_bytes", &l.to_string())?;
            } else {
                write(dir, "memory.limit_in_bytes", &l.to_string())?;
                write(dir, memsw, &s.to_string())?;
            }
        }
        (Some(l), None) => write(dir, "memory.limit_in_bytes", &l.to_string())?,
        (None, Some(s)) => write(dir, memsw, &s.to_string())?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        write(dir, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(CgroupError::InvalidValue {
                field: "linux.resources.memory.swappiness".into(),
                value: s.to_string(),
                reason: "must be 0..=100",
            });
        }
        write(dir, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

fn cpu(dirs: &[V1Dir], c: &LinuxCpu) -> Result<(), CgroupError> {
    let cpuset_set = c.cpus().as_deref().is_some_and(|s| !s.is_empty())
        || c.mems().as_deref().is_some_and(|s| !s.is_empty());
    if cpuset_set {
        let dir = need(dirs, "cpuset", "linux.resources.cpu.cpus")?;
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.mems", mems)?;
        }
    }
    let shares = c.shares().filter(|s| *s != 0);
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    let rt_runtime = c.realtime_runtime().filter(|r| *r != 0);
    let rt_period = c.realtime_period().filter(|p| *p != 0);
    let any = shares.is_some()
        || quota.is_some()
        || period.is_some()
        || c.burst().is_some()
        || c.idle().is_some()
        || rt_runtime.is_some()
        || rt_period.is_some();
    if !any {
        return Ok(());
    }
    let dir = need(dirs, "cpu", "linux.resources.cpu")?;
    if let Some(s) = shares {
        write(dir, "cpu.shares", &s.to_string())?;
    }
    match (period, quota) {
        (Some(p), Some(q)) => {
            // A new period can be refused against the old quota and the other
            // way round; try the other order on failure, as runc does.
            if write(dir, "cpu.cfs_period_us", &p.to_string()).is_err() {
                write(dir, "cpu.cfs_quota_us", &q.to_string())?;
                write(dir, "cpu.cfs_period_us", &p.to_string())?;
            } else {
                write(dir, "cpu.cfs_quota_us", &q.to_string())?;
            }
        }
        (Some(p), None) => write(dir, "cpu.cfs_period_us", &p.to_string())?,
        (None, Some(q)) => write(dir, "cpu.cfs_quota_us", &q.to_string())?,
        (None, None) => {}
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", &i.to_string())?;
    }
    if rt_runtime.is_some() || rt_period.is_some() {
        if !has(dir, "cpu.rt_runtime_us") {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.cpu.realtimeRuntime".into(),
                layout: "cgroup v1",
                hint: "this kernel has no CONFIG_RT_GROUP_SCHED; drop the realtime fields",
            });
        }
        if let Some(p) = rt_period {
            write(dir, "cpu.rt_period_us", &p.to_string())?;
        }
        if let Some(r) = rt_runtime {
            write(dir, "cpu.rt_runtime_us", &r.to_string())?;
        }
    }
    Ok(())
}

fn blkio_is_set(b: &LinuxBlockIo) -> bool {
    let throttled = [
        b.throttle_read_bps_device(),
        b.throttle_write_bps_device(),
        b.throttle_read_iops_device(),
        b.throttle_write_iops_device(),
    ]
    .iter()
    .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()));
    throttled
        || b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
}

fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // CFQ's blkio.weight is gone from current kernels; BFQ offers blkio.bfq.weight.
    let weight_file = if has(dir, "blkio.weight") {
        Some("blkio.weight")
    } else if has(dir, "blkio.bfq.weight") {
        Some("blkio.bfq.weight")
    } else {
        None
    };
    let wants_weight = b.weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty());
    if wants_weight && weight_file.is_none() {
        return Err(CgroupError::Unsupported {
            field: "linux.resources.blockIO.weight".into(),
            layout: "cgroup v1",
            hint: "no blkio.weight or blkio.bfq.weight: select the bfq I/O scheduler or drop the weights",
        });
    }
    if let (Some(w), Some(file)) = (b.weight().filter(|w| *w != 0), weight_file) {
        write(dir, file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        if has(dir, "blkio.leaf_weight") {
            write(dir, "blkio.leaf_weight", &w.to_string())?;
        } else {
            tracing::warn!(
                "linux.resources.blockIO.leafWeight ignored: CFQ only, not in this kernel"
            );
        }
    }
    if let (Some(devs), Some(file)) = (b.weight_device(), weight_file) {
        let file = format!("{file}_device");
        for d in devs {
            if let Some(w) = d.weight() {
                write(dir, &file, &format!("{}:{} {w}", d.major(), d.minor()))?;
            }
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, devs) in throttles {
        for d in devs.iter().flatten() {
            write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

fn network(dirs: &[V1Dir], n: &LinuxNetwork) -> Result<(), CgroupError> {
    if let Some(id) = n.class_id() {
        let dir = need(dirs, "net_cls", "linux.resources.network.classID")?;
        write(dir, "net_cls.classid", &id.to_string())?;
    }
    if let Some(prios) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
        let dir = need(dirs, "net_prio", "linux.resources.network.priorities")?;
        for p in prios {
            write(
                dir,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    Ok(())
}
