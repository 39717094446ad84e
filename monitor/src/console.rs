//! Unix sockets of the monitor: the console socket that receives a pty
//! master from the runtime (SCM_RIGHTS, as runc sends it) and listening
//! sockets in the container directory.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys;

/// Longest socket path `sockaddr_un` holds (without the NUL).
const SUN_PATH_MAX: usize = 107;

/// A name for a socket path that fits `sockaddr_un`: the path itself when
/// short enough, else `/proc/<pid>/fd/<dirfd>/<file>` through an `O_PATH`
/// descriptor of its directory, kept open while this value lives. Clients
/// of a long path can connect the same way.
#[derive(Debug)]
pub struct SockPath {
    /// What to bind or connect to.
    pub addr: PathBuf,
    dirfd: Option<libc::c_int>,
}

impl Drop for SockPath {
    fn drop(&mut self) {
        if let Some(fd) = self.dirfd.take() {
            sys::close(fd);
        }
    }
}

/// See [`SockPath`].
pub fn sock_path(path: &Path) -> Result<SockPath> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return Ok(SockPath {
            addr: path.to_path_buf(),
            dirfd: None,
        });
    }
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return Err(Error::msg(format!(
            "socket path {} has no directory",
            path.display()
        )));
    };
    let c = sys::cstr(dir)?;
    // SAFETY: c is a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    sys::check(fd, || format!("open {}", dir.display()))?;
    let addr = PathBuf::from(format!("/proc/{}/fd/{fd}", std::process::id())).join(file);
    Ok(SockPath {
        addr,
        dirfd: Some(fd),
    })
}

/// Bind and listen on a unix stream socket at `path` (removing a stale one;
/// long paths are handled as [`SockPath`]). The socket is non-blocking and
/// close-on-exec.
pub fn listen(path: &Path) -> Result<libc::c_int> {
    let sp = sock_path(path)?;
    let c = sys::cstr(&sp.addr)?;
    let bytes = c.as_bytes_with_nul();
    // SAFETY: a zeroed sockaddr_un is valid; we fill family and path.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() > addr.sun_path.len() {
        return Err(Error::msg(format!(
            "socket path {} is longer than {} bytes",
            sp.addr.display(),
            addr.sun_path.len() - 1
        )));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, &s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = s as libc::c_char;
    }
    // SAFETY: c is a valid C string; a missing file is fine.
    unsafe { libc::unlink(c.as_ptr()) };
    // SAFETY: socket with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    sys::check(fd, || "socket AF_UNIX".to_string())?;
    // SAFETY: addr is a filled sockaddr_un of the size passed.
    let r = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = Error::last_os(format!("bind {}", path.display()));
        sys::close(fd);
        return Err(e);
    }
    // SAFETY: listen on the bound socket.
    if unsafe { libc::listen(fd, 16) } != 0 {
        let e = Error::last_os(format!("listen {}", path.display()));
        sys::close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// Accept one pending connection (non-blocking, close-on-exec); `Ok(None)`
/// when none is pending.
pub fn accept(listener: libc::c_int) -> Result<Option<libc::c_int>> {
    // SAFETY: NULL address out-pointers are allowed.
    let fd = unsafe {
        libc::accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    };
    if fd >= 0 {
        return Ok(Some(fd));
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::ECONNABORTED) | Some(libc::EINTR) => Ok(None),
        _ => Err(Error::last_os("accept")),
    }
}

/// Receive the pty master the runtime sent over the console socket
/// `listener` (it connected and sent before its `create` returned).
pub fn receive_master(listener: libc::c_int) -> Result<libc::c_int> {
    let conn = accept(listener)?
        .ok_or_else(|| Error::msg("the runtime did not connect to the console socket"))?;
    let res = recv_fd(conn);
    sys::close(conn);
    res
}

/// Read one message from `conn` and return the descriptor it carried.
fn recv_fd(conn: libc::c_int) -> Result<libc::c_int> {
    let mut data = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one SCM_RIGHTS header with up to 4 descriptors (u64 aligned).
    let mut cbuf = [0u64; 8];
    // SAFETY: a zeroed msghdr is valid; we point it at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // The connection is non-blocking; the runtime has already sent and exited.
    // SAFETY: msg points at valid buffers for the call's duration.
    let n = unsafe { libc::recvmsg(conn, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(Error::last_os(
            "receive the pty master from the console socket",
        ));
    }
    // SAFETY: CMSG_FIRSTHDR/NXTHDR walk the control buffer recvmsg filled.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg points inside cbuf, as returned by the CMSG macros.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: an SCM_RIGHTS payload holds at least one c_int; read
            // unaligned as the buffer gives no alignment promise for data.
            let fd =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int) };
            return Ok(fd);
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Err(Error::msg(
        "the console socket message carried no descriptor",
    ))
}

/// Send `fd` over the connected socket `conn` (tests; what a runtime does).
pub fn send_fd(conn: libc::c_int, fd: libc::c_int) -> Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u64; 4];
    // SAFETY: a zeroed msghdr is valid; we point it at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen =
        unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    // SAFETY: the control buffer is large enough for one descriptor.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::c_int, fd);
    }
    // SAFETY: msg points at valid buffers.
    let n = unsafe { libc::sendmsg(conn, &msg, 0) };
    sys::check(n as libc::c_int, || "sendmsg SCM_RIGHTS".to_string()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::io::AsRawFd;

    #[test]
    fn long_socket_paths_go_through_the_directory_descriptor() {
        let base = std::env::temp_dir().join(format!("rxd-long-{}", std::process::id()));
        let dir = base.join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("attach.sock");
        assert!(path.as_os_str().len() > SUN_PATH_MAX);
        let l = listen(&path).unwrap();
        assert!(path.exists(), "the socket file is in the long directory");
        let sp = sock_path(&path).unwrap();
        assert!(sp.addr.starts_with("/proc/"));
        let client = std::os::unix::net::UnixStream::connect(&sp.addr).unwrap();
        drop(client);
        sys::close(l);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn receives_a_descriptor_over_the_console_socket() {
        let dir = std::env::temp_dir().join(format!("rxd-cons-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("console.sock");
        let l = listen(&path).unwrap();
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let (r, w) = sys::pipe().unwrap();
        send_fd(client.as_raw_fd(), w).unwrap();
        let got = receive_master(l).unwrap();
        sys::write_all(got, b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(sys::read_some(r, &mut b).unwrap(), Some(1));
        for fd in [l, r, w, got] {
            sys::close(fd);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
