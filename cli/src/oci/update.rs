//! `rcrun-oci update <id>`: change the cgroup limits of a live container,
//! with runc's flags or a `linux.resources` JSON (`-r FILE`, `-r -` for
//! stdin); flags given with `-r` override the file's values.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use super::GlobalOpts;

/// `update` arguments (runc's).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
    /// A JSON file of linux.resources to apply, or - for stdin.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Kernel TCP buffer limit (cgroup v1).
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1: none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (e.g. 0-1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// SCHED_IDLE for the cgroup (0 or 1).
    #[arg(long)]
    pub cpu_idle: Option<i64>,
    /// Maximum number of tasks (-1: unlimited; 0 leaves it as is, as runc).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

/// Run `update`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    let mut res = match &a.resources {
        Some(p) => read_resources(p)?,
        None => Value::Object(Map::new()),
    };
    apply_flags(&mut res, a)?;
    let changes = serde_json::from_value(res).context("linux.resources")?;
    rcrun_runtime::update::update(&super::store(g)?, &a.id, &changes)?;
    Ok(())
}

fn read_resources(p: &PathBuf) -> anyhow::Result<Value> {
    let mut text = String::new();
    if p.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("read resources from stdin")?;
    } else {
        text = std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
    }
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not linux.resources JSON", p.display()))?;
    if !v.is_object() {
        bail!("{}: linux.resources must be a JSON object", p.display());
    }
    Ok(v)
}

/// Set `section.key = value` in the resources object.
fn set(res: &mut Value, section: &str, key: &str, value: Value) {
    if !res[section].is_object() {
        res[section] = json!({});
    }
    res[section][key] = value;
}

fn apply_flags(res: &mut Value, a: &Args) -> anyhow::Result<()> {
    let mem = [
        ("limit", &a.memory, "--memory"),
        ("reservation", &a.memory_reservation, "--memory-reservation"),
        ("swap", &a.memory_swap, "--memory-swap"),
        ("kernelTCP", &a.kernel_memory_tcp, "--kernel-memory-tcp"),
    ];
    for (key, v, flag) in mem {
        if let Some(v) = v {
            set(res, "memory", key, json!(parse_bytes(v, flag)?));
        }
    }
    let cpu: [(&str, Option<Value>); 8] = [
        ("shares", a.cpu_share.map(|v| json!(v))),
        ("period", a.cpu_period.map(|v| json!(v))),
        ("quota", a.cpu_quota.map(|v| json!(v))),
        ("realtimePeriod", a.cpu_rt_period.map(|v| json!(v))),
        ("realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v))),
        ("cpus", a.cpuset_cpus.as_ref().map(|v| json!(v))),
        ("mems", a.cpuset_mems.as_ref().map(|v| json!(v))),
        ("idle", a.cpu_idle.map(|v| json!(v))),
    ];
    for (key, v) in cpu {
        if let Some(v) = v {
            set(res, "cpu", key, v);
        }
    }
    if let Some(p) = a.pids_limit.filter(|p| *p != 0) {
        set(res, "pids", "limit", json!(p));
    }
    if let Some(w) = a.blkio_weight {
        set(res, "blockIO", "weight", json!(w));
    }
    Ok(())
}

/// A byte count as runc's units.RAMInBytes: `1024`, `512k`, `100m`,
/// `1.5g`, `2GiB`; `-1` for unlimited.
pub fn parse_bytes(s: &str, flag: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("{flag} {s:?}: not a size (e.g. 100m)"))?;
    let unit = unit.trim().trim_end_matches('b').trim_end_matches('i');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("{flag} {s:?}: unknown unit (use k, m, g, t)"),
    };
    Ok((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_runc() {
        assert_eq!(parse_bytes("1024", "--memory").expect("n"), 1024);
        assert_eq!(parse_bytes("100m", "--memory").expect("m"), 100 << 20);
        assert_eq!(parse_bytes("2GiB", "--memory").expect("g"), 2 << 30);
        assert_eq!(parse_bytes("-1", "--memory").expect("-1"), -1);
        assert!(parse_bytes("ten", "--memory").is_err());
        assert!(parse_bytes("5x", "--memory").is_err());
    }
}
