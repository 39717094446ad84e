//! `<container-dir>/attach.sock`: clients attach to a running container's
//! streams. Both directions carry frames with docker's 8-byte header
//! `[kind, 0, 0, 0, len (u32 big-endian)]` followed by `len` bytes.
//!
//! Monitor → client: [`STDOUT`], [`STDERR`] (output read after the client
//! connected), then [`EXIT`] (the exit record's JSON) before the monitor
//! closes the connection. Client → monitor: [`STDIN`] (bytes for the
//! container's stdin), [`CLOSE_STDIN`] (EOF on the container's stdin),
//! [`RESIZE`] (`rows`, `cols` as u16 big-endian; terminal only).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{console, sys};

/// Client → monitor: stdin bytes.
pub const STDIN: u8 = 0;
/// Monitor → client: stdout (or terminal) bytes.
pub const STDOUT: u8 = 1;
/// Monitor → client: stderr bytes.
pub const STDERR: u8 = 2;
/// Monitor → client: the exit record, last frame.
pub const EXIT: u8 = 3;
/// Client → monitor: close the container's stdin.
pub const CLOSE_STDIN: u8 = 4;
/// Client → monitor: terminal size, `rows` and `cols` as u16 big-endian.
pub const RESIZE: u8 = 5;

/// Largest frame accepted from a client.
const MAX_FRAME: usize = 1 << 20;

/// Append one frame to `out`.
pub fn frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Splits a byte stream into frames.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Add received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame `(kind, payload)`, `Ok(None)` if incomplete,
    /// an error for an oversized frame.
    pub fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if len > MAX_FRAME {
            return Err(Error::msg(format!(
                "attach frame of {len} bytes is too large"
            )));
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let kind = self.buf[0];
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Ok(Some((kind, payload)))
    }
}

/// What an attached client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Write to the container's stdin.
    Stdin(Vec<u8>),
    /// Close the container's stdin.
    CloseStdin,
    /// Resize the terminal.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

impl Request {
    /// Interpret a client frame; unknown kinds are ignored (`None`).
    pub fn from_frame(kind: u8, payload: Vec<u8>) -> Option<Self> {
        match kind {
            STDIN => Some(Request::Stdin(payload)),
            CLOSE_STDIN => Some(Request::CloseStdin),
            RESIZE if payload.len() >= 4 => Some(Request::Resize {
                rows: u16::from_be_bytes([payload[0], payload[1]]),
                cols: u16::from_be_bytes([payload[2], payload[3]]),
            }),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Client {
    fd: libc::c_int,
    dec: Decoder,
}

/// The attach socket and its clients.
#[derive(Debug)]
pub struct Attach {
    path: PathBuf,
    listener: libc::c_int,
    clients: Vec<Client>,
    out: Vec<u8>,
}

impl Attach {
    /// Listen on `path`.
    pub fn listen(path: &Path) -> Result<Self> {
        Ok(Attach {
            path: path.to_path_buf(),
            listener: console::listen(path)?,
            clients: Vec::new(),
            out: Vec::new(),
        })
    }

    /// The descriptors to poll for input: the listener first, then clients.
    pub fn fds(&self) -> Vec<libc::c_int> {
        std::iter::once(self.listener)
            .chain(self.clients.iter().map(|c| c.fd))
            .collect()
    }

    /// The descriptor at `fds()[i]` is readable (or hung up): accept a new
    /// client, or read a client's frames. Returns the requests it made.
    pub fn on_readable(&mut self, i: usize) -> Vec<Request> {
        if i == 0 {
            while let Ok(Some(fd)) = console::accept(self.listener) {
                self.clients.push(Client {
                    fd,
                    dec: Decoder::default(),
                });
            }
            return Vec::new();
        }
        let Some(c) = self.clients.get_mut(i - 1) else {
            return Vec::new();
        };
        let mut reqs = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let mut drop_client = false;
        loop {
            match sys::read_some(c.fd, &mut buf) {
                Ok(Some(0)) | Err(_) => {
                    drop_client = true;
                    break;
                }
                Ok(Some(n)) => c.dec.push(&buf[..n]),
                Ok(None) => break,
            }
        }
        loop {
            match c.dec.next_frame() {
                Ok(Some((kind, payload))) => reqs.extend(Request::from_frame(kind, payload)),
                Ok(None) => break,
                Err(_) => {
                    drop_client = true;
                    break;
                }
            }
        }
        if drop_client {
            sys::close(c.fd);
            self.clients.remove(i - 1);
        }
        reqs
    }

    /// Send output to every client; a client whose socket is full (it does
    /// not read) or gone is disconnected rather than stalling the monitor.
    pub fn broadcast(&mut self, kind: u8, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        self.out.clear();
        frame(kind, data, &mut self.out);
        let out = &self.out;
        self.clients.retain(|c| {
            // SAFETY: out is a valid slice; MSG_DONTWAIT|MSG_NOSIGNAL flags.
            let n = unsafe {
                libc::send(
                    c.fd,
                    out.as_ptr().cast(),
                    out.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            let keep = n >= 0 && n as usize == out.len();
            if !keep {
                sys::close(c.fd);
            }
            keep
        });
    }

    /// Remove the socket (no new clients), then send the exit record to
    /// every client and close them.
    pub fn finish(mut self, exit_json: &str) {
        let _ = std::fs::remove_file(&self.path);
        sys::close(self.listener);
        self.broadcast(EXIT, exit_json.as_bytes());
        for c in &self.clients {
            sys::close(c.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_roundtrip_through_the_decoder() {
        let mut bytes = Vec::new();
        frame(STDIN, b"hello", &mut bytes);
        frame(RESIZE, &[0, 24, 0, 80], &mut bytes);
        frame(CLOSE_STDIN, b"", &mut bytes);
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 0, 0, 0, 5]);
        let mut d = Decoder::default();
        d.push(&bytes[..10]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(&bytes[10..]);
        let mut reqs = Vec::new();
        while let Some((k, p)) = d.next_frame().unwrap() {
            reqs.extend(Request::from_frame(k, p));
        }
        assert_eq!(
            reqs,
            vec![
                Request::Stdin(b"hello".to_vec()),
                Request::Resize { rows: 24, cols: 80 },
                Request::CloseStdin
            ]
        );
    }

    #[test]
    fn oversized_frame_is_an_error() {
        let mut d = Decoder::default();
        d.push(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(d.next_frame().is_err());
    }
}
