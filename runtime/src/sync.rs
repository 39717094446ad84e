//! The create-time conversation between the runtime (parent) and the
//! container init (child) over a `SOCK_SEQPACKET` socket pair: one message
//! per packet, so every setup error in the child comes back as one precise
//! message, and EOF means the child died.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Result, RuntimeError};

/// A message on the sync socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Child → parent: write my uid/gid maps (I am in a new user namespace).
    MapIds,
    /// Child → parent: the container init has this pid (in the parent's pid
    /// namespace); sent when an extra fork was needed.
    InitPid(i32),
    /// Child → parent: I am in my namespaces: run the `prestart` and
    /// `createRuntime` hooks now.
    Hooks,
    /// Child → parent: set up and about to wait for `start`.
    Ready,
    /// Child → parent: setup failed with this message.
    Error(String),
    /// Parent → child: go on.
    Continue,
}

const MAX_MSG: usize = 8192;

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::MapIds => b"M".to_vec(),
            Msg::InitPid(p) => format!("P{p}").into_bytes(),
            Msg::Hooks => b"K".to_vec(),
            Msg::Ready => b"R".to_vec(),
            Msg::Error(m) => {
                let mut v = b"E".to_vec();
                v.extend_from_slice(m.as_bytes());
                v.truncate(MAX_MSG);
                v
            }
            Msg::Continue => b"C".to_vec(),
        }
    }

    fn decode(buf: &[u8]) -> Option<Msg> {
        let (&tag, rest) = buf.split_first()?;
        Some(match tag {
            b'M' => Msg::MapIds,
            b'P' => Msg::InitPid(std::str::from_utf8(rest).ok()?.parse().ok()?),
            b'K' => Msg::Hooks,
            b'R' => Msg::Ready,
            b'E' => Msg::Error(String::from_utf8_lossy(rest).into_owned()),
            b'C' => Msg::Continue,
            _ => return None,
        })
    }
}

/// One end of the sync socket pair.
#[derive(Debug)]
pub struct SyncSocket {
    fd: OwnedFd,
}

/// A connected pair: (parent end, child end), both close-on-exec.
pub fn pair() -> Result<(SyncSocket, SyncSocket)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| RuntimeError::sys("socketpair for the init sync socket", e))?;
    Ok((SyncSocket { fd: a }, SyncSocket { fd: b }))
}

impl SyncSocket {
    /// Send one message.
    pub fn send(&self, msg: &Msg) -> Result<()> {
        let buf = msg.encode();
        loop {
            match send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(RuntimeError::sys("send on the init sync socket", e)),
            }
        }
    }

    /// Receive one message; `Ok(None)` when the other side closed (died).
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; MAX_MSG];
        loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return Msg::decode(&buf[..n]).map(Some).ok_or_else(|| {
                        RuntimeError::Init(format!(
                            "unexpected message on the sync socket: {:?}",
                            String::from_utf8_lossy(&buf[..n])
                        ))
                    })
                }
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(RuntimeError::sys("recv on the init sync socket", e)),
            }
        }
    }

    /// The raw descriptor (kept open in the child until exec).
    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Renumber the socket to a descriptor `>= min`.
    pub fn move_above(self, min: i32) -> Result<Self> {
        Ok(SyncSocket {
            fd: crate::fds::move_above(self.fd, min)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().expect("pair");
        for m in [
            Msg::MapIds,
            Msg::InitPid(4242),
            Msg::Hooks,
            Msg::Ready,
            Msg::Error("process.cwd: no such directory".into()),
            Msg::Continue,
        ] {
            a.send(&m).expect("send");
            assert_eq!(b.recv().expect("recv"), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().expect("eof"), None);
    }
}
