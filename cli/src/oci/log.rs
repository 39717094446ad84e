//! Error and debug lines in runc's formats, to `--log FILE` or stderr.
//! Engines read the last `error` line of the log file (containerd), or
//! stderr (podman): an error goes to the log file and to stderr.

use std::io::Write;

use super::{GlobalOpts, LogFormat};

/// Where and how to log.
#[derive(Debug)]
pub struct Logger {
    file: Option<std::fs::File>,
    format: LogFormat,
}

impl Logger {
    /// A logger for the global options (`--log`, `--log-format`); it also
    /// installs a `tracing` subscriber that writes the runtime's warnings
    /// (and debug events with `--debug`) in the same format to the same place.
    pub fn new(g: &GlobalOpts) -> Self {
        let file = g.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        let level = if g.debug {
            tracing::Level::DEBUG
        } else {
            tracing::Level::WARN
        };
        install(
            file.as_ref().and_then(|f| f.try_clone().ok()),
            g.log_format,
            level,
        );
        Logger {
            file,
            format: g.log_format,
        }
    }

    /// Log an error: one line in the log file (when given) and on stderr.
    pub fn error(&self, msg: &str) {
        if let Some(mut f) = self.file.as_ref() {
            let _ = f.write_all(line(self.format, "error", msg).as_bytes());
        }
        eprintln!("rcrun-oci: {msg}");
    }
}

/// Send `tracing` events at `level` and above (warnings such as a failed
/// poststop hook; debug with `--debug`) to `file` (else stderr) as
/// runc-style lines.
fn install(file: Option<std::fs::File>, format: LogFormat, level: tracing::Level) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .event_format(RuncLines { format });
    let _ = match file {
        Some(f) => builder.with_writer(std::sync::Mutex::new(f)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}

/// A `tracing` event formatter producing [`line`]s.
struct RuncLines {
    format: LogFormat,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for RuncLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut msg = MessageVisitor(String::new());
        event.record(&mut msg);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        writer.write_str(&line(self.format, &level, &msg.0))
    }
}

/// Collects an event's fields as `message key=value ...`.
struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}

/// Log a command-line usage error (found before the options could be
/// parsed) to the `--log` file named in `args`, in the `--log-format` named
/// there: engines show only what the log file says. The message is clap's
/// first line, without its `error: ` prefix. Nothing happens without `--log`.
pub fn usage_error(args: &[String], clap_msg: &str) {
    let (Some(path), format) = log_flags(args) else {
        return;
    };
    let msg = clap_msg.lines().next().unwrap_or(clap_msg);
    let msg = msg.strip_prefix("error: ").unwrap_or(msg);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line(format, "error", msg).as_bytes());
    }
}

/// `--log FILE` / `--log=FILE` and `--log-format F` / `--log-format=F` in
/// raw arguments (text unless `json`).
fn log_flags(args: &[String]) -> (Option<&str>, LogFormat) {
    let mut log = None;
    let mut format = LogFormat::Text;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_str(), None),
        };
        let value = match name {
            "--log" | "--log-format" => inline.or_else(|| it.next().map(String::as_str)),
            _ => continue,
        };
        match (name, value) {
            ("--log", Some(v)) => log = Some(v),
            ("--log-format", Some("json")) => format = LogFormat::Json,
            ("--log-format", Some(_)) => format = LogFormat::Text,
            _ => {}
        }
    }
    (log, format)
}

/// One log line (with newline) in `format`.
pub fn line(format: LogFormat, level: &str, msg: &str) -> String {
    let time = rcrun_runtime::record::now_rfc3339();
    match format {
        LogFormat::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{v}\n")
        }
        LogFormat::Text => format!(
            "time={time:?} level={level} msg={}\n",
            serde_json::Value::String(msg.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_fields() {
        let l = line(LogFormat::Json, "error", "container \"x\" does not exist");
        let v: serde_json::Value = serde_json::from_str(&l).expect("json");
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn log_flags_are_found_in_both_spellings() {
        let args: Vec<String> = ["--log", "/l.json", "--log-format=json", "nosuch"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(log_flags(&args), (Some("/l.json"), LogFormat::Json));
        let args: Vec<String> = ["--root", "/r", "--log=/l", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(log_flags(&args), (Some("/l"), LogFormat::Text));
        assert_eq!(log_flags(&[]), (None, LogFormat::Text));
    }

    #[test]
    fn text_line_quotes_the_message() {
        let l = line(LogFormat::Text, "error", "a b");
        assert!(l.contains("level=error msg=\"a b\""), "{l}");
    }
}
