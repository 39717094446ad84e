//! `top` (the host's `ps` over a container's processes) and `stats
//! --no-stream` (one sample of CPU, memory and pids from the container's
//! cgroup, on cgroup v1, hybrid and v2 hosts).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rcrun_engine::Engine;

/// Host pids of a running container's processes.
fn pids(engine: &Engine, query: &str) -> Result<(String, Vec<i32>)> {
    let c = engine.records.resolve(query)?;
    if engine.live_status(&c).0 != "running" {
        bail!("container {query} is not running");
    }
    let store = engine.oci_store()?;
    let pids = rcrun_runtime::ps::pids(&store, &c.id)
        .with_context(|| format!("list the processes of {query}"))?;
    Ok((c.id, pids))
}

/// `top CONTAINER`.
pub fn top(engine: &Engine, query: &str) -> Result<i32> {
    let (_, pids) = pids(engine, query)?;
    let list = pids
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let status = Command::new("ps")
        .args(["-o", "user,pid,ppid,c,stime,tty,time,args", "-p", &list])
        .status()
        .context("run ps (procps)")?;
    Ok(if status.success() { 0 } else { 1 })
}

/// The first existing file among `candidates`, read as text.
fn read_first(candidates: &[PathBuf]) -> Option<String> {
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
}

fn memory_bytes(id: &str) -> Option<u64> {
    let rel = format!(
        "{}/{id}",
        rcrun_engine::bundle::CGROUP_PARENT.trim_start_matches('/')
    );
    read_first(&[
        PathBuf::from(format!("/sys/fs/cgroup/memory/{rel}/memory.usage_in_bytes")),
        PathBuf::from(format!("/sys/fs/cgroup/{rel}/memory.current")),
        PathBuf::from(format!("/sys/fs/cgroup/unified/{rel}/memory.current")),
    ])?
    .trim()
    .parse()
    .ok()
}

/// CPU time used, in nanoseconds.
fn cpu_nanos(id: &str) -> Option<u64> {
    let rel = format!(
        "{}/{id}",
        rcrun_engine::bundle::CGROUP_PARENT.trim_start_matches('/')
    );
    for dir in ["cpuacct", "cpu,cpuacct"] {
        if let Ok(t) = std::fs::read_to_string(format!("/sys/fs/cgroup/{dir}/{rel}/cpuacct.usage"))
        {
            return t.trim().parse().ok();
        }
    }
    let stat = read_first(&[
        PathBuf::from(format!("/sys/fs/cgroup/{rel}/cpu.stat")),
        PathBuf::from(format!("/sys/fs/cgroup/unified/{rel}/cpu.stat")),
    ])?;
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|us| us * 1000)
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1}{}", units[i])
}

/// `stats --no-stream [CONTAINER...]`.
pub fn stats(engine: &Engine, queries: &[String]) -> Result<i32> {
    let names: Vec<String> = if queries.is_empty() {
        engine
            .records
            .list()?
            .into_iter()
            .filter(|c| engine.live_status(c).0 == "running")
            .map(|c| c.id)
            .collect()
    } else {
        queries.to_vec()
    };
    let mut rows = Vec::new();
    for n in &names {
        let c = engine.records.resolve(n)?;
        let (id, pids) = pids(engine, n)?;
        rows.push((c.name, id, pids.len(), cpu_nanos(&c.id)));
    }
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let wall = start.elapsed().as_nanos() as f64;
    println!(
        "{:<12}  {:<24}  {:>8}  {:>12}  {:>5}",
        "CONTAINER ID", "NAME", "CPU %", "MEM USAGE", "PIDS"
    );
    for (name, id, npids, cpu0) in rows {
        let cpu = match (cpu0, cpu_nanos(&id)) {
            (Some(a), Some(b)) => format!("{:.2}%", (b.saturating_sub(a)) as f64 / wall * 100.0),
            _ => "--".into(),
        };
        let mem = memory_bytes(&id)
            .map(human_bytes)
            .unwrap_or_else(|| "--".into());
        println!(
            "{:<12}  {:<24}  {:>8}  {:>12}  {:>5}",
            &id[..12],
            name,
            cpu,
            mem,
            npids
        );
    }
    Ok(0)
}
