//! `logs`: read the monitor's log file (CRI k8s-file format, one record per
//! line: `<RFC3339Nano> <stdout|stderr> <F|P> <text>`), honour `--tail`,
//! `--since` and `-t`, and with `-f` keep reading until the container exits.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::fsutil;

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One parsed log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Timestamp as written.
    pub timestamp: String,
    /// Stream.
    pub stream: Stream,
    /// Full line (`F`) or a partial piece (`P`).
    pub partial: bool,
    /// The text, without the newline.
    pub text: String,
}

/// Parse one log line; `None` for a malformed line.
pub fn parse_line(line: &str) -> Option<LogRecord> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let mut it = line.splitn(4, ' ');
    let timestamp = it.next()?.to_string();
    let stream = match it.next()? {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match it.next()? {
        "F" => false,
        "P" => true,
        _ => return None,
    };
    Some(LogRecord {
        timestamp,
        stream,
        partial,
        text: it.next().unwrap_or("").to_string(),
    })
}

/// Parse `--since`: RFC 3339, Unix seconds (`1700000000[.5]`), or a
/// duration before now (`90s`, `10m`, `1h30m`). Returns Unix seconds.
pub fn parse_since(s: &str) -> Result<i64> {
    if let Some((secs, _)) = fsutil::parse_rfc3339(s) {
        return Ok(secs);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Ok(f as i64);
    }
    let mut total = 0i64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let mult = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => 0,
        };
        let n: i64 = num.parse().unwrap_or(-1);
        if mult == 0 || n < 0 {
            return Err(since_error(s));
        }
        total += n * mult;
        num.clear();
    }
    if !num.is_empty() || total == 0 && s != "0s" {
        return Err(since_error(s));
    }
    Ok(fsutil::now_secs() - total)
}

fn since_error(s: &str) -> EngineError {
    EngineError::invalid(
        "--since",
        s,
        "use a timestamp (2026-01-02T15:04:05Z), Unix seconds, or a duration like 10m",
    )
}

/// What `logs` prints.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep following until the container exits.
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only records at or after this Unix time.
    pub since: Option<i64>,
    /// Prefix lines with their timestamp.
    pub timestamps: bool,
}

/// Writes records to stdout/stderr, joining partial pieces.
struct Printer<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    timestamps: bool,
    at_line_start: [bool; 2],
}

impl Printer<'_> {
    fn print(&mut self, r: &LogRecord) -> std::io::Result<()> {
        let idx = (r.stream == Stream::Stderr) as usize;
        let w: &mut dyn Write = if idx == 1 { self.err } else { self.out };
        if self.timestamps && self.at_line_start[idx] {
            write!(w, "{} ", r.timestamp)?;
        }
        w.write_all(r.text.as_bytes())?;
        if !r.partial {
            w.write_all(b"\n")?;
        }
        self.at_line_start[idx] = !r.partial;
        w.flush()
    }
}

impl Engine {
    /// Print container `query`'s logs to `out` (stdout records) and `err`.
    pub fn logs(
        &self,
        query: &str,
        opts: &LogOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let c = self.records.resolve(query)?;
        let path = self.log_path(&c.id);
        let mut printer = Printer {
            out,
            err,
            timestamps: opts.timestamps,
            at_line_start: [true, true],
        };
        let io = |e: std::io::Error| EngineError::io("write logs of", path.clone(), e);
        let keep = |r: &LogRecord| {
            opts.since.is_none_or(|since| {
                fsutil::parse_rfc3339(&r.timestamp).is_some_and(|(s, _)| s >= since)
            })
        };
        let file = match File::open(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(EngineError::io("open", &path, e)),
        };
        let mut offset = 0u64;
        if let Some(f) = file {
            let mut reader = BufReader::new(f);
            let mut records = Vec::new();
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .map_err(|e| EngineError::io("read", &path, e))?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                offset += n as u64;
                if let Some(r) = parse_line(&line) {
                    if keep(&r) {
                        records.push(r);
                    }
                }
            }
            let start = match opts.tail {
                Some(n) => tail_start(&records, n),
                None => 0,
            };
            for r in &records[start..] {
                printer.print(r).map_err(io)?;
            }
        }
        if !opts.follow {
            return Ok(());
        }
        loop {
            let running = match self.records.load(&c.id) {
                Ok(cur) => self.live_status(&cur).0 == "running",
                Err(_) => false,
            };
            offset = self.follow_from(&path, offset, &mut printer, &keep)?;
            if !running {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn follow_from(
        &self,
        path: &std::path::Path,
        mut offset: u64,
        printer: &mut Printer<'_>,
        keep: &dyn Fn(&LogRecord) -> bool,
    ) -> Result<u64> {
        let Ok(mut f) = File::open(path) else {
            return Ok(offset);
        };
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| EngineError::io("seek", path, e))?;
        let mut reader = BufReader::new(f);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| EngineError::io("read", path, e))?;
            if n == 0 || !line.ends_with('\n') {
                return Ok(offset);
            }
            offset += n as u64;
            if let Some(r) = parse_line(&line) {
                if keep(&r) {
                    printer
                        .print(&r)
                        .map_err(|e| EngineError::io("write logs of", path, e))?;
                }
            }
        }
    }
}

/// Index of the first record of the last `n` lines (a line may span
/// several partial records).
fn tail_start(records: &[LogRecord], n: usize) -> usize {
    if n == 0 {
        return records.len();
    }
    let mut lines = 0;
    for i in (0..records.len()).rev() {
        if !records[i].partial {
            lines += 1;
            if lines > n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse() {
        let r = parse_line("2026-11-21T03:30:52.000000001Z stderr P half a line\n").unwrap();
        assert_eq!(r.stream, Stream::Stderr);
        assert!(r.partial);
        assert_eq!(r.text, "half a line");
        assert_eq!(parse_line("2026 stdout F ").unwrap().text, "");
        assert!(parse_line("garbage").is_none());
    }

    #[test]
    fn tail_counts_whole_lines() {
        let rec = |t: &str, partial| LogRecord {
            timestamp: "t".into(),
            stream: Stream::Stdout,
            partial,
            text: t.into(),
        };
        let rs = vec![
            rec("a", false),
            rec("b1", true),
            rec("b2", false),
            rec("c", false),
        ];
        assert_eq!(tail_start(&rs, 1), 3);
        assert_eq!(tail_start(&rs, 2), 1);
        assert_eq!(tail_start(&rs, 9), 0);
        assert_eq!(tail_start(&rs, 0), 4);
    }

    #[test]
    fn printer_joins_partials_and_prefixes_timestamps() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut p = Printer {
            out: &mut out,
            err: &mut err,
            timestamps: true,
            at_line_start: [true, true],
        };
        for l in ["T1 stdout P ab", "T2 stdout F cd", "T3 stderr F oops"] {
            p.print(&parse_line(l).unwrap()).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "T1 abcd\n");
        assert_eq!(String::from_utf8(err).unwrap(), "T3 oops\n");
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("1970-01-01T00:01:00Z").unwrap(), 60);
        assert_eq!(parse_since("1700000000").unwrap(), 1_700_000_000);
        let now = fsutil::now_secs();
        let t = parse_since("1h30m").unwrap();
        assert!((now - 5400 - t).abs() <= 1);
        assert!(parse_since("soon").is_err());
    }
}
