//! `tmpcopyup` (the option podman gives `--tmpfs` mounts): what the image
//! had in the directory a tmpfs now covers is copied into the new tmpfs.
//!
//! The walk is done on descriptors with `O_NOFOLLOW` and `*at` calls only:
//! symlinks are copied as links, never followed, so the image cannot make
//! the copy read or write outside the two trees.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use super::sys;

/// Deepest directory nesting copied; deeper trees are an error (`ELOOP`).
const MAX_DEPTH: usize = 64;

/// A readable directory fd of `dir` (an `O_PATH` fd), taken before the
/// tmpfs covers it.
pub fn open_lower(dir: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    sys::openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
}

/// Copy the contents, mode and owner of directory `from` into `to` (the
/// root of the fresh tmpfs, as an `O_PATH` fd).
pub fn copy_up(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let to = sys::openat(to, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let st = sys::fstat(from)?;
    copy_dir(from, to.as_fd(), 0)?;
    set_owner_mode(to.as_fd(), &st)
}

fn set_owner_mode(fd: BorrowedFd<'_>, st: &libc::stat) -> Result<(), Errno> {
    // SAFETY: fd is an open (non-O_PATH) descriptor; plain syscalls.
    if unsafe { libc::fchown(fd.as_raw_fd(), st.st_uid, st.st_gid) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: as above.
    if unsafe { libc::fchmod(fd.as_raw_fd(), st.st_mode & 0o7777) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// The entry names of directory `dir` (a readable fd), without `.` and `..`.
fn entries(dir: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, Errno> {
    // fdopendir takes ownership: give it a duplicate.
    let dup = sys::openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    // SAFETY: `dup` is a valid directory fd whose ownership moves to the DIR.
    let d = unsafe { libc::fdopendir(dup.as_raw_fd()) };
    if d.is_null() {
        return Err(Errno::last());
    }
    std::mem::forget(dup);
    let mut out = Vec::new();
    loop {
        Errno::clear();
        // SAFETY: `d` is a valid DIR stream until closedir below.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            let e = Errno::last_raw();
            // SAFETY: `d` is valid and closed exactly once.
            unsafe { libc::closedir(d) };
            if e != 0 {
                return Err(Errno::from_raw(e));
            }
            return Ok(out);
        }
        // SAFETY: readdir returned a valid dirent with a NUL-terminated name.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
}

fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated; `st` is written entirely on success.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fstatat succeeded.
    Ok(unsafe { st.assume_init() })
}

fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>, depth: usize) -> Result<(), Errno> {
    if depth > MAX_DEPTH {
        return Err(Errno::ELOOP);
    }
    for name in entries(from)? {
        sys::with_cstr(&name, |c| copy_entry(from, to, c, depth))?;
    }
    Ok(())
}

fn copy_entry(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &CStr,
    depth: usize,
) -> Result<(), Errno> {
    let st = fstatat_nofollow(from, name)?;
    let perm = st.st_mode & 0o7777;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            sys::mkdirat(to, name, 0o700)?;
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            let src = sys::openat(from, name, flags, 0)?;
            let dst = sys::openat(to, name, flags, 0)?;
            copy_dir(src.as_fd(), dst.as_fd(), depth + 1)?;
            set_owner_mode(dst.as_fd(), &st)
        }
        libc::S_IFREG => {
            let src = sys::openat(from, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
            let dst = sys::openat(
                to,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            )?;
            let (mut s, mut d) = (std::fs::File::from(src), std::fs::File::from(dst));
            std::io::copy(&mut s, &mut d)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            set_owner_mode(d.as_fd(), &st)
        }
        libc::S_IFLNK => {
            let target =
                nix::fcntl::readlinkat(Some(from.as_raw_fd()), OsStr::from_bytes(name.to_bytes()))?;
            sys::with_cstr(target.as_bytes(), |t| sys::symlinkat(t, to, name))?;
            sys::fchownat_nofollow(to, name, st.st_uid, st.st_gid)
        }
        _ => {
            sys::mknodat(to, name, (st.st_mode & libc::S_IFMT) | perm, st.st_rdev)?;
            sys::fchownat_nofollow(to, name, st.st_uid, st.st_gid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn copies_files_dirs_and_links_without_following() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let from = tmp.path().join("from");
        let to = tmp.path().join("to");
        fs::create_dir_all(from.join("sub/deeper")).expect("mkdir");
        fs::create_dir(&to).expect("mkdir to");
        fs::write(from.join("a.txt"), "alpha").expect("write");
        fs::write(from.join("sub/deeper/b"), "beta").expect("write");
        fs::set_permissions(from.join("sub"), fs::Permissions::from_mode(0o751)).expect("chmod");
        fs::set_permissions(&from, fs::Permissions::from_mode(0o1777)).expect("chmod");
        symlink("/etc/passwd", from.join("link")).expect("symlink");
        let f = fs::File::open(&from).expect("open from");
        let t = fs::File::open(&to).expect("open to");
        copy_up(f.as_fd(), t.as_fd()).expect("copy_up");
        assert_eq!(fs::read_to_string(to.join("a.txt")).expect("a"), "alpha");
        assert_eq!(
            fs::read_to_string(to.join("sub/deeper/b")).expect("b"),
            "beta"
        );
        assert_eq!(
            fs::read_link(to.join("link")).expect("link").to_str(),
            Some("/etc/passwd")
        );
        let mode =
            |p: &std::path::Path| fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
        assert_eq!(mode(&to.join("sub")), 0o751);
        assert_eq!(mode(&to), 0o1777);
    }
}
