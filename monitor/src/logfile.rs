//! The container log in the CRI "k8s-file" format conmon writes:
//! `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>\n`, `P` marking a partial
//! line whose rest follows in the next record(s).

use std::path::Path;

use crate::error::Result;
use crate::sys;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// fd 1 (and a terminal's output).
    Stdout,
    /// fd 2.
    Stderr,
}

impl Stream {
    /// The name written in the log.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Append the log records for one chunk of output read at `timestamp` to
/// `out`: one `F` record per complete line, a `P` record for a trailing
/// piece without newline.
pub fn format_chunk(timestamp: &str, stream: Stream, data: &[u8], out: &mut Vec<u8>) {
    let mut rest = data;
    while !rest.is_empty() {
        let (line, tag, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], b'F', &rest[i + 1..]),
            None => (rest, b'P', &rest[rest.len()..]),
        };
        out.extend_from_slice(timestamp.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.name().as_bytes());
        out.push(b' ');
        out.push(tag);
        out.push(b' ');
        out.extend_from_slice(line);
        out.push(b'\n');
        rest = next;
    }
}

/// An open log file, appended to record by record.
#[derive(Debug)]
pub struct LogFile {
    fd: libc::c_int,
    buf: Vec<u8>,
}

impl LogFile {
    /// Open (create, append) `path` with mode 0640.
    pub fn open(path: &Path) -> Result<Self> {
        let c = sys::cstr(path)?;
        // SAFETY: c is a valid C string; flags and mode are plain integers.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                0o640 as libc::c_uint,
            )
        };
        sys::check(fd, || format!("open log {}", path.display()))?;
        Ok(LogFile {
            fd,
            buf: Vec::new(),
        })
    }

    /// Log one chunk read from `stream` now.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
        self.buf.clear();
        format_chunk(&crate::timefmt::now_rfc3339(), stream, data, &mut self.buf);
        sys::write_all(self.fd, &self.buf)
    }

    /// fsync and close.
    pub fn close(self) -> Result<()> {
        // SAFETY: fsync on the log's descriptor.
        let r = unsafe { libc::fsync(self.fd) };
        sys::close(self.fd);
        sys::check(r, || "fsync log".to_string()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(stream: Stream, data: &[u8]) -> String {
        let mut out = Vec::new();
        format_chunk("T", stream, data, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn complete_lines_are_full_records() {
        assert_eq!(
            fmt(Stream::Stdout, b"hello\nworld\n"),
            "T stdout F hello\nT stdout F world\n"
        );
        assert_eq!(fmt(Stream::Stderr, b"\n"), "T stderr F \n");
    }

    #[test]
    fn trailing_piece_is_partial() {
        assert_eq!(
            fmt(Stream::Stderr, b"a\nprompt> "),
            "T stderr F a\nT stderr P prompt> \n"
        );
        assert_eq!(fmt(Stream::Stdout, b""), "");
    }

    #[test]
    fn log_file_appends_timestamped_records() {
        let p = std::env::temp_dir().join(format!("rxd-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let mut l = LogFile::open(&p).unwrap();
        l.write(Stream::Stdout, b"x\n").unwrap();
        l.write(Stream::Stderr, b"y").unwrap();
        l.close().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("Z stdout F x"), "{}", lines[0]);
        assert!(lines[1].ends_with("Z stderr P y"), "{}", lines[1]);
        std::fs::remove_file(&p).unwrap();
    }
}
