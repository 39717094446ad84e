//! `clone(2)` without a new stack: a `fork` that takes namespace and
//! parent flags. The runtime uses it for the container init, the extra
//! fork into a pid namespace and the skeleton's builder; glibc's `fork`
//! takes no flags. Only for single-threaded processes: the child runs no
//! atfork handlers.

use nix::errno::Errno;

/// Clone this single-threaded process with `flags` (plus `SIGCHLD`):
/// the child's pid in the parent, 0 in the child.
pub(crate) fn raw_fork(flags: libc::c_int) -> Result<libc::pid_t, Errno> {
    // SAFETY: raw clone without a new stack behaves like fork (the child
    // runs on a copy-on-write copy of this stack). Callers are
    // single-threaded, so no lock is held by another thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    libc::pid_t::try_from(r).map_err(|_| Errno::EOVERFLOW)
}
