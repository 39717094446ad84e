//! The output of a container run in the foreground: it goes to the calling
//! terminal and into the container's log, in the format the monitor writes
//! for a detached container (`rcrun_monitor::logfile`), so `rcrun logs`
//! works for both.
//!
//! Without a terminal the container writes into two pipes ([`OutputPipes`])
//! and a thread ([`Tee`]) copies each chunk to our own stdout or stderr and
//! into the log. With a terminal, [`TtyTee`] is the writer the pty proxy
//! copies the master's output to.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rcrun_monitor::logfile::{format_chunk, Stream};
use rcrun_monitor::timefmt::now_rfc3339;

use crate::error::{EngineError, Result};

/// How long the tee keeps reading after the container's init exited, for
/// output still in the pipes or held by processes that outlived it.
const GRACE: Duration = Duration::from_millis(250);

/// Open (create, append) the container's log `path`.
fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| EngineError::io("open log", path, e))
}

/// Append the records of one chunk of `stream` to `log`. A failed write
/// does not stop the run: the terminal still gets the output.
fn log_chunk(log: &mut File, stream: Stream, data: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    format_chunk(&now_rfc3339(), stream, data, buf);
    if let Err(e) = log.write_all(buf) {
        tracing::debug!(error = %e, "writing the container log");
    }
}

/// The write ends handed to the container as its stdout and stderr, and
/// the read ends for the [`Tee`].
#[derive(Debug)]
pub(crate) struct OutputPipes {
    /// The container's stdout.
    pub out_w: OwnedFd,
    /// The container's stderr.
    pub err_w: OwnedFd,
    out_r: OwnedFd,
    err_r: OwnedFd,
}

impl OutputPipes {
    /// Two close-on-exec pipes.
    pub(crate) fn new() -> Result<Self> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| EngineError::Sys {
                op: "make an output pipe".into(),
                source,
            })
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        Ok(OutputPipes {
            out_w,
            err_w,
            out_r,
            err_r,
        })
    }
}

/// The thread copying the pipes to our stdout/stderr and the log.
#[derive(Debug)]
pub(crate) struct Tee {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Tee {
    /// Start copying: the read ends of `pipes` are the thread's; the write
    /// ends are returned for the container.
    pub(crate) fn spawn(log: &Path, pipes: OutputPipes) -> Result<(Self, OwnedFd, OwnedFd)> {
        let log = open_log(log)?;
        let stop = Arc::new(AtomicBool::new(false));
        let OutputPipes {
            out_w,
            err_w,
            out_r,
            err_r,
        } = pipes;
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rcrun-output".into())
            .spawn(move || copy_until_closed(log, [out_r, err_r], &flag))
            .map_err(|e| EngineError::Sys {
                op: "start the output thread".into(),
                source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)),
            })?;
        Ok((
            Tee {
                thread: Some(thread),
                stop,
            },
            out_w,
            err_w,
        ))
    }

    /// Wait until every writer has closed the pipes, or at most [`GRACE`]
    /// from now (also what dropping the tee does, on an error path).
    pub(crate) fn finish(self) {
        drop(self);
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread's loop: poll both pipes; copy each read to fd 1 or 2 and the
/// log; end when both are closed, or [`GRACE`] after `stop` was set.
fn copy_until_closed(mut log: File, pipes: [OwnedFd; 2], stop: &AtomicBool) {
    const STREAMS: [Stream; 2] = [Stream::Stdout, Stream::Stderr];
    let mut open = [true, true];
    let mut stop_seen: Option<Instant> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut records = Vec::new();
    while open.iter().any(|o| *o) {
        let which: Vec<usize> = (0..2).filter(|i| open[*i]).collect();
        let mut polled: Vec<PollFd> = which
            .iter()
            .map(|i| PollFd::new(pipes[*i].as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut polled, PollTimeout::from(100u8)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => {
                tracing::debug!(error = %e, "polling the output pipes");
                return;
            }
        }
        let ready: Vec<usize> = which
            .iter()
            .zip(&polled)
            .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|(i, _)| *i)
            .collect();
        drop(polled);
        for i in ready {
            match nix::unistd::read(pipes[i].as_raw_fd(), &mut buf) {
                Ok(0) => open[i] = false,
                Ok(n) => {
                    let data = &buf[..n];
                    let _ = match STREAMS[i] {
                        Stream::Stdout => {
                            let mut o = std::io::stdout().lock();
                            o.write_all(data).and_then(|()| o.flush())
                        }
                        Stream::Stderr => std::io::stderr().lock().write_all(data),
                    };
                    log_chunk(&mut log, STREAMS[i], data, &mut records);
                }
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                Err(_) => open[i] = false,
            }
        }
        if stop.load(Ordering::Acquire)
            && stop_seen.get_or_insert_with(Instant::now).elapsed() >= GRACE
        {
            return;
        }
    }
}

/// A writer for the pty proxy: what it writes goes to our stdout and, as
/// `stdout` records, into the container's log.
#[derive(Debug)]
pub(crate) struct TtyTee {
    log: File,
    records: Vec<u8>,
}

impl TtyTee {
    /// Open the container's log `path` for the proxy's copy.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Ok(TtyTee {
            log: open_log(path)?,
            records: Vec::new(),
        })
    }
}

impl Write for TtyTee {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = std::io::stdout().lock().write(data)?;
        log_chunk(&mut self.log, Stream::Stdout, &data[..n], &mut self.records);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tee_logs_both_streams_until_the_writers_close() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        let (tee, out_w, err_w) = Tee::spawn(&log, OutputPipes::new().unwrap()).unwrap();
        let mut out = File::from(out_w);
        let mut err = File::from(err_w);
        out.write_all(b"one\ntw").unwrap();
        err.write_all(b"oops\n").unwrap();
        out.write_all(b"o\n").unwrap();
        drop((out, err));
        let started = Instant::now();
        tee.finish();
        assert!(
            started.elapsed() < GRACE * 4,
            "ends at EOF, not by the grace"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let records: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let mut f = l.splitn(4, ' ');
                let _ts = f.next().unwrap();
                let stream = f.next().unwrap().to_string();
                let _tag = f.next().unwrap();
                (stream, f.next().unwrap_or("").to_string())
            })
            .collect();
        let stdout: String = records
            .iter()
            .filter(|(s, _)| s == "stdout")
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("|");
        assert!(stdout == "one|tw|o" || stdout == "one|two", "{text}");
        assert!(
            records.contains(&("stderr".into(), "oops".into())),
            "{text}"
        );
    }

    #[test]
    fn the_tee_gives_up_on_writers_that_stay_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        let (tee, out_w, _err_w) = Tee::spawn(&log, OutputPipes::new().unwrap()).unwrap();
        let mut out = File::from(out_w);
        out.write_all(b"still here\n").unwrap();
        let started = Instant::now();
        tee.finish();
        assert!(started.elapsed() >= GRACE, "waited for the grace");
        assert!(std::fs::read_to_string(&log)
            .unwrap()
            .contains("stdout F still here"));
    }
}
