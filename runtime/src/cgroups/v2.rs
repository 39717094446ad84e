//! `linux.resources` written to cgroup v2 interface files, converting the
//! v1-shaped OCI values as runc does (see [`super::convert`]).

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources};

use super::convert;
use super::devices;
use super::devices_bpf;
use super::error::CgroupError;
use super::fsio::{self, has, write};

/// The controllers rcrun enables for a container's cgroup on a v2 host,
/// when the root offers them.
pub const CONTROLLERS: &[&str] = &[
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

const LAYOUT: &str = "cgroup v2";

/// Apply every resource to the v2 cgroup `dir` (except `unified`, see
/// [`unified`]).
pub fn apply(dir: &Path, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(spec) = r.devices() {
        devices_bpf::attach(dir, &devices::rules(spec)?)?;
    }
    if let Some(m) = r.memory() {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(p) = r.pids() {
        write(dir, "pids.max", &convert::pids_max(p.limit()))?;
    }
    if let Some(b) = r.block_io() {
        io(dir, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(dir, h)?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.network".into(),
                layout: LAYOUT,
                hint: "net_cls/net_prio exist only in v1; drop classID and priorities",
            });
        }
    }
    if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
        for (device, l) in rdma {
            let handles = l.hca_handles().map_or("max".to_string(), |h| h.to_string());
            let objects = l.hca_objects().map_or("max".to_string(), |o| o.to_string());
            write(
                dir,
                "rdma.max",
                &format!("{device} hca_handle={handles} hca_object={objects}"),
            )?;
        }
    }
    Ok(())
}

/// Hugepage limits as `hugetlb.<size>.max`.
pub fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for l in limits {
        let stem = convert::hugetlb_stem(l.page_size())?;
        write(dir, &format!("{stem}.max"), &convert::limit_v2(l.limit()))?;
    }
    Ok(())
}

/// `linux.resources.unified`: each key is an interface file of the cgroup,
/// written as given.
pub fn unified(dir: &Path, map: &HashMap<String, String>) -> Result<(), CgroupError> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let ok = !key.is_empty() && !key.contains('/') && key.contains('.') && key != "..";
        if !ok {
            return Err(CgroupError::InvalidValue {
                field: "linux.resources.unified".into(),
                value: key.clone(),
                reason: "keys are cgroup2 file names such as memory.high",
            });
        }
        if !has(dir, key) {
            return Err(CgroupError::InvalidValue {
                field: format!("linux.resources.unified[{key}]"),
                value: map[key].clone(),
                reason: "no such cgroup2 file here (is its controller available?)",
            });
        }
        write(dir, key, &map[key])?;
    }
    Ok(())
}

#[allow(deprecated)] // `kernel` is only reported as ignored.
fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().filter(|l| *l != 0);
    if let (Some(l), true) = (limit, m.check_before_update() == Some(true)) {
        let usage = fsio::read_u64_or_max(dir, "memory.current")?.unwrap_or(0);
        if l > 0 && (l as u64) < usage {
            return Err(CgroupError::InvalidValue {
                field: "linux.resources.memory.limit".into(),
                value: l.to_string(),
                reason: "lower than the cgroup's current usage (checkBeforeUpdate)",
            });
        }
    }
    if let Some(swap) = convert::swap_v2(m.limit(), m.swap())? {
        if has(dir, "memory.swap.max") {
            write(dir, "memory.swap.max", &swap)?;
        } else if swap != "max" && swap != "0" {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.memory.swap".into(),
                layout: LAYOUT,
                hint: "swap accounting is off (no memory.swap.max); drop the swap limit",
            });
        }
    }
    if let Some(l) = limit {
        write(dir, "memory.max", &convert::limit_v2(l))?;
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        write(dir, "memory.low", &convert::limit_v2(r))?;
    }
    if m.swappiness().is_some() || m.disable_oom_killer() == Some(true) || m.kernel_tcp().is_some()
    {
        tracing::warn!(
            "memory swappiness, disableOOMKiller and kernelTCP have no cgroup v2 file; ignored"
        );
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_runtime().is_some_and(|r| r != 0) || c.realtime_period().is_some_and(|p| p != 0) {
        return Err(CgroupError::Unsupported {
            field: "linux.resources.cpu.realtimeRuntime".into(),
            layout: LAYOUT,
            hint: "cgroup v2 has no realtime budget; drop realtimeRuntime/realtimePeriod",
        });
    }
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", mems)?;
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write(dir, "cpu.weight", &convert::shares_to_weight(s).to_string())?;
    }
    if let Some(max) = convert::cpu_max(c.quota(), c.period()) {
        write(dir, "cpu.max", &max)?;
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // BFQ takes the blkio-range weight as is; otherwise convert for io.weight.
    let bfq = has(dir, "io.bfq.weight");
    let weight_text = |w: u16| {
        if bfq {
            w.to_string()
        } else {
            convert::blkio_weight_to_io_weight(w).to_string()
        }
    };
    let file = if bfq { "io.bfq.weight" } else { "io.weight" };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write(dir, file, &weight_text(w))?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), weight_text(w)),
            )?;
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, devs) in throttles {
        for d in devs.iter().flatten() {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", d.major(), d.minor()),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with empty stand-ins for the v2 interface files.
    fn fake_cgroup(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        d
    }

    fn read(d: &Path, f: &str) -> String {
        std::fs::read_to_string(d.join(f)).unwrap()
    }

    #[test]
    fn oci_values_land_converted_in_v2_files() {
        let d = fake_cgroup(&[
            "memory.max",
            "memory.low",
            "memory.swap.max",
            "cpu.weight",
            "cpu.max",
            "cpuset.cpus",
            "pids.max",
            "io.weight",
            "io.max",
            "hugetlb.2MB.max",
        ]);
        let r: LinuxResources = serde_json::from_str(
            r#"{
            "memory": {"limit": 1048576, "reservation": 524288, "swap": 3145728},
            "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "cpus": "0"},
            "pids": {"limit": -1},
            "blockIO": {"weight": 1000, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": -1}]
        }"#,
        )
        .unwrap();
        apply(d.path(), &r).unwrap();
        let p = d.path();
        assert_eq!(read(p, "memory.max"), "1048576");
        assert_eq!(read(p, "memory.low"), "524288");
        assert_eq!(read(p, "memory.swap.max"), "2097152");
        assert_eq!(read(p, "cpu.weight"), "100");
        assert_eq!(read(p, "cpu.max"), "20000 100000");
        assert_eq!(read(p, "cpuset.cpus"), "0");
        assert_eq!(read(p, "pids.max"), "max");
        assert_eq!(read(p, "io.weight"), "10000");
        assert_eq!(read(p, "io.max"), "8:0 rbps=1024");
        assert_eq!(read(p, "hugetlb.2MB.max"), "max");
    }

    #[test]
    fn v2_refuses_what_it_cannot_express() {
        let d = fake_cgroup(&["cpu.max"]);
        let rt: LinuxResources =
            serde_json::from_str(r#"{"cpu": {"realtimeRuntime": 950000}}"#).unwrap();
        assert!(matches!(
            apply(d.path(), &rt),
            Err(CgroupError::Unsupported { .. })
        ));
        let net: LinuxResources = serde_json::from_str(r#"{"network": {"classID": 1}}"#).unwrap();
        assert!(matches!(
            apply(d.path(), &net),
            Err(CgroupError::Unsupported { .. })
        ));
        let mut map = HashMap::new();
        map.insert("../escape".to_string(), "1".to_string());
        assert!(matches!(
            unified(d.path(), &map),
            Err(CgroupError::InvalidValue { .. })
        ));
        map.clear();
        map.insert("memory.high".to_string(), "1".to_string());
        let err = unified(d.path(), &map).unwrap_err();
        assert!(err.to_string().contains("memory.high"), "{err}");
    }
}
