//! `rcrun-oci events <id>`: the container's resource usage as runc's event
//! JSON lines. `--stats` prints one stats event and exits; without it a
//! stats event every `--interval` (and an `oom` event when the kernel
//! OOM-kills a process of the container) until the container stops.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rcrun_runtime::events::Event;
use rcrun_runtime::record::Status;
use rcrun_runtime::RuntimeError;

use super::GlobalOpts;

/// `events` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events (e.g. 5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
}

/// How often the stream checks for OOM kills and a stopped container.
const TICK: Duration = Duration::from_millis(200);

/// Run `events`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    let store = super::store(g)?;
    if a.stats {
        return emit(&rcrun_runtime::events::stats(&store, &a.id)?);
    }
    let mut ooms = rcrun_runtime::events::oom_kills(&store, &a.id)?;
    let mut next_stats = Instant::now();
    loop {
        // A container that stopped or was deleted ends the stream.
        match rcrun_runtime::state(&store, &a.id) {
            Ok(st) if st.status != Status::Stopped => {}
            Ok(_) | Err(RuntimeError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let now_ooms = match rcrun_runtime::events::oom_kills(&store, &a.id) {
            Ok(n) => n,
            Err(RuntimeError::NotFound(_) | RuntimeError::BadState { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if now_ooms > ooms {
            ooms = now_ooms;
            let oom = Event {
                kind: "oom",
                id: a.id.clone(),
                data: None,
            };
            if emit(&oom).is_err() {
                return Ok(());
            }
        }
        if Instant::now() >= next_stats {
            next_stats += a.interval;
            let stats = match rcrun_runtime::events::stats(&store, &a.id) {
                Ok(s) => s,
                Err(RuntimeError::NotFound(_) | RuntimeError::BadState { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            // A reader that went away ends the stream quietly.
            if emit(&stats).is_err() {
                return Ok(());
            }
        }
        std::thread::sleep(TICK.min(a.interval));
    }
}

fn emit(e: &Event) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, e)?;
    out.write_all(b"\n")
        .and_then(|()| out.flush())
        .context("write to stdout")
}

/// A Go-style duration: `500ms`, `5s`, `1m`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("duration {s:?}: use e.g. 5s or 500ms"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "us" | "µs" => n / 1e6,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("duration {s:?}: unknown unit {unit:?} (use ms, s, m or h)"),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        bail!("duration {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5s").expect("5s"), Duration::from_secs(5));
        assert_eq!(
            parse_duration("250ms").expect("ms"),
            Duration::from_millis(250)
        );
        assert_eq!(parse_duration("2").expect("plain"), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5x").is_err());
    }
}
