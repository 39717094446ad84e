//! Receiving a descriptor passed with SCM_RIGHTS (the console-socket
//! protocol runc and rcrun-oci use for a container's pty master).

use std::os::fd::{AsRawFd, FromRawFd};

/// Receive one descriptor sent with SCM_RIGHTS on `sock`.
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> std::fs::File {
    let mut name = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: name.as_mut_ptr().cast(),
        iov_len: name.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives recvmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: recvmsg on a connected socket with the buffers above.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR/CMSG_DATA walk its control buffer.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(
            !cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS,
            "no fd received"
        );
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32);
        std::fs::File::from_raw_fd(fd)
    }
}
