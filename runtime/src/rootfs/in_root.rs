//! Path resolution confined to a root directory, on `openat2(RESOLVE_IN_ROOT)`.
//!
//! Every path is resolved by the kernel as if the root directory were `/`:
//! absolute symlinks, `..` climbing and magic links cannot leave it. Paths
//! that do not exist yet are created one component at a time with
//! `mkdirat`/`openat(O_NOFOLLOW)` below the deepest existing ancestor, never
//! by canonicalizing a string and joining it to the root.
//!
//! Why not the `pathrs` crate: its `Root` does the same openat2 resolution,
//! but `mkdir_all`/`create` re-open handles through a private procfs instance
//! (an extra `fsopen("proc")` superblock in every container start) and pull
//! seven crates; this module is the ~150 lines the runtime needs.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use super::sys;

/// How every lookup below the root resolves: `..` and absolute symlinks stay
/// inside, magic links (`/proc/self/fd/N`, `/proc/N/root`) are refused.
const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// A directory that paths are resolved inside of, as if it were `/`.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
}

impl RootDir {
    /// Open `path` (on the host, following symlinks) as the root.
    pub fn open(path: &Path) -> Result<Self, Errno> {
        let fd = sys::with_cstr(path.as_os_str().as_bytes(), |p| {
            sys::openat(
                // SAFETY: AT_FDCWD is a valid dirfd for *at calls.
                unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) },
                p,
                libc::O_PATH | libc::O_DIRECTORY,
                0,
            )
        })?;
        Ok(RootDir { fd })
    }

    /// The root's descriptor (`O_PATH`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// An `O_PATH` fd of `path` inside the root, following symlinks (inside).
    pub fn resolve(&self, path: &Path) -> Result<OwnedFd, Errno> {
        self.open_in(relative(path), libc::O_PATH)
    }

    /// Like [`RootDir::resolve`] but a symlink as the last component is
    /// returned itself, not followed.
    pub fn resolve_nofollow(&self, path: &Path) -> Result<OwnedFd, Errno> {
        self.open_in(relative(path), libc::O_PATH | libc::O_NOFOLLOW)
    }

    /// `openat2` of the relative `rel` below the root with `flags`.
    pub fn open_in(&self, rel: &[u8], flags: libc::c_int) -> Result<OwnedFd, Errno> {
        let rel = if rel.is_empty() { &b"."[..] } else { rel };
        sys::with_cstr(rel, |p| sys::openat2(self.fd(), p, flags, 0, IN_ROOT))
    }

    /// An `O_PATH` directory fd of `path`, creating missing directories with
    /// `mode`. A path whose missing part contains `..`, or that runs through a
    /// dangling symlink or a non-directory, is an error.
    pub fn mkdir_all(&self, path: &Path, mode: libc::mode_t) -> Result<OwnedFd, Errno> {
        let rel = relative(path);
        let (mut cur, rest) = match self.open_in(rel, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => self.deepest_existing(rel)?,
            Err(e) => return Err(e),
        };
        for name in rest.split(|&b| b == b'/') {
            match name {
                b"" | b"." => continue,
                b".." => return Err(Errno::ENOENT),
                _ => {}
            }
            cur = sys::with_cstr(name, |c| {
                match sys::mkdirat(cur.as_fd(), c, mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                // A single component with O_NOFOLLOW|O_DIRECTORY: a symlink
                // swapped in after mkdirat fails with ENOTDIR, never followed.
                sys::openat(
                    cur.as_fd(),
                    c,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )
            })?;
        }
        Ok(cur)
    }

    /// An fd of the file at `path`, creating an empty regular file with `mode`
    /// (and its missing parent directories, 0755) when nothing is there.
    pub fn create_file(&self, path: &Path, mode: libc::mode_t) -> Result<OwnedFd, Errno> {
        match self.resolve(path) {
            Err(Errno::ENOENT) => {}
            other => return other,
        }
        let (dir, name) = self.parent_and_name(path)?;
        sys::with_cstr(name.as_bytes(), |c| {
            sys::openat(
                dir.as_fd(),
                c,
                libc::O_CREAT
                    | libc::O_RDONLY
                    | libc::O_NOFOLLOW
                    | libc::O_NONBLOCK
                    | libc::O_NOCTTY,
                mode,
            )
        })
    }

    /// The parent directory of `path` (created if missing, 0755) and the last
    /// component, for `mknodat`/`symlinkat`-style calls that do not follow the
    /// last component. `/`, `.` and `..` as last component are `EINVAL`.
    pub fn parent_and_name<'p>(&self, path: &'p Path) -> Result<(OwnedFd, &'p OsStr), Errno> {
        let rel = relative(path);
        let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        if matches!(name, b"" | b"." | b"..") {
            return Err(Errno::EINVAL);
        }
        let dir = self.mkdir_all(Path::new(OsStr::from_bytes(parent)), 0o755)?;
        Ok((dir, OsStr::from_bytes(name)))
    }

    /// The deepest ancestor of `rel` that exists (resolved inside the root)
    /// and the part of `rel` below it.
    fn deepest_existing<'r>(&self, rel: &'r [u8]) -> Result<(OwnedFd, &'r [u8]), Errno> {
        let mut end = rel.len();
        while let Some(i) = rel[..end].iter().rposition(|&b| b == b'/') {
            end = i;
            match self.open_in(&rel[..i], libc::O_PATH | libc::O_DIRECTORY) {
                Ok(fd) => return Ok((fd, &rel[i + 1..])),
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok((self.open_in(b".", libc::O_PATH | libc::O_DIRECTORY)?, rel))
    }
}

/// `path` without leading and trailing slashes (`/a/b/` -> `a/b`, `/` -> ``).
fn relative(path: &Path) -> &[u8] {
    let b = path.as_os_str().as_bytes();
    let start = b.iter().position(|&c| c != b'/').unwrap_or(b.len());
    let end = b.iter().rposition(|&c| c != b'/').map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}

/// The host path an fd refers to (`readlink /proc/self/fd/N`).
#[cfg(test)]
fn fd_path(fd: BorrowedFd<'_>) -> std::path::PathBuf {
    let p = sys::ProcFdPath::new(fd);
    std::fs::read_link(OsStr::from_bytes(p.as_cstr().to_bytes()))
        .unwrap_or_else(|_| std::path::PathBuf::from("?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    struct Fixture {
        _tmp: tempfile::TempDir,
        host: std::path::PathBuf,
        root: std::path::PathBuf,
    }

    /// A tempdir holding `root/` (the container root) and `host/` (standing
    /// for host files an escape would reach).
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let host = tmp.path().join("host");
        let root = tmp.path().join("root");
        fs::create_dir_all(host.join("etc")).expect("mkdir host/etc");
        fs::write(host.join("etc/secret"), "host").expect("write host secret");
        fs::create_dir_all(root.join("etc")).expect("mkdir root/etc");
        fs::write(root.join("etc/secret"), "container").expect("write root secret");
        Fixture {
            _tmp: tmp,
            host,
            root,
        }
    }

    fn path_of(fd: &OwnedFd) -> std::path::PathBuf {
        fd_path(fd.as_fd())
    }

    #[test]
    fn relative_strips_slashes() {
        assert_eq!(relative(Path::new("/a/b/")), b"a/b");
        assert_eq!(relative(Path::new("/")), b"");
        assert_eq!(relative(Path::new("a")), b"a");
        assert_eq!(relative(Path::new("//x//")), b"x");
    }

    #[test]
    fn absolute_symlink_resolves_inside_root() {
        let f = fixture();
        // Points at the host's directory by absolute path.
        symlink(f.host.join("etc"), f.root.join("mnt")).expect("symlink");
        symlink("/etc", f.root.join("abs")).expect("symlink");
        let r = RootDir::open(&f.root).expect("open root");
        let fd = r.resolve(Path::new("/abs")).expect("resolve /abs");
        assert_eq!(path_of(&fd), f.root.join("etc"));
        // The host-absolute target does not exist inside the root.
        assert_eq!(r.resolve(Path::new("/mnt")).err(), Some(Errno::ENOENT));
    }

    #[test]
    fn climbing_symlink_stays_inside_root() {
        let f = fixture();
        symlink("../../../../../../host/etc", f.root.join("up")).expect("symlink");
        fs::create_dir_all(f.root.join("host/etc")).expect("mkdir decoy");
        let r = RootDir::open(&f.root).expect("open root");
        let fd = r.resolve(Path::new("up")).expect("resolve up");
        assert_eq!(path_of(&fd), f.root.join("host/etc"));
        let fd = r.resolve(Path::new("/../../etc/secret")).expect("dotdot");
        assert_eq!(path_of(&fd), f.root.join("etc/secret"));
    }

    #[test]
    fn symlink_loop_is_eloop() {
        let f = fixture();
        symlink("b", f.root.join("a")).expect("symlink");
        symlink("a", f.root.join("b")).expect("symlink");
        let r = RootDir::open(&f.root).expect("open root");
        assert_eq!(r.resolve(Path::new("/a")).err(), Some(Errno::ELOOP));
        assert_eq!(
            r.mkdir_all(Path::new("/a/x"), 0o755).err(),
            Some(Errno::ELOOP)
        );
    }

    #[test]
    fn magic_links_are_refused() {
        let f = fixture();
        symlink("/proc/self/root", f.root.join("proc")).expect("symlink");
        let r = RootDir::open(&f.root).expect("open root");
        // /proc/self/root inside the root does not exist: no escape.
        assert!(r.resolve(Path::new("/proc/etc")).is_err());
    }

    #[test]
    fn mkdir_all_creates_below_symlinked_dir_inside_root() {
        let f = fixture();
        symlink("/etc", f.root.join("mnt")).expect("symlink");
        let r = RootDir::open(&f.root).expect("open root");
        let fd = r
            .mkdir_all(Path::new("/mnt/new/deeper"), 0o755)
            .expect("mkdir_all");
        assert_eq!(path_of(&fd), f.root.join("etc/new/deeper"));
        assert!(!f.host.join("etc/new").exists());
    }

    #[test]
    fn mkdir_all_through_climbing_symlink_stays_inside() {
        let f = fixture();
        symlink("../../../../../host", f.root.join("esc")).expect("symlink");
        let r = RootDir::open(&f.root).expect("open root");
        // "esc" points at /host inside the root, which does not exist: the
        // dangling link is an error, and nothing is created on the host side.
        assert!(r.mkdir_all(Path::new("/esc/x"), 0o755).is_err());
        assert!(!f.host.join("x").exists());
        fs::create_dir(f.root.join("host")).expect("mkdir root/host");
        let fd = r.mkdir_all(Path::new("/esc/x"), 0o755).expect("mkdir_all");
        assert_eq!(path_of(&fd), f.root.join("host/x"));
        assert!(!f.host.join("x").exists());
    }

    #[test]
    fn mkdir_all_refuses_dotdot_in_missing_part() {
        let f = fixture();
        let r = RootDir::open(&f.root).expect("open root");
        assert_eq!(
            r.mkdir_all(Path::new("/nope/../x"), 0o755).err(),
            Some(Errno::ENOENT)
        );
    }

    #[test]
    fn mkdir_all_through_a_file_is_enotdir() {
        let f = fixture();
        let r = RootDir::open(&f.root).expect("open root");
        assert_eq!(
            r.mkdir_all(Path::new("/etc/secret/x"), 0o755).err(),
            Some(Errno::ENOTDIR)
        );
    }

    #[test]
    fn create_file_makes_empty_file_and_parents() {
        let f = fixture();
        symlink("/etc", f.root.join("cfg")).expect("symlink");
        let r = RootDir::open(&f.root).expect("open root");
        let fd = r
            .create_file(Path::new("/cfg/sub/file.conf"), 0o644)
            .expect("create_file");
        assert_eq!(path_of(&fd), f.root.join("etc/sub/file.conf"));
        assert_eq!(
            fs::read(f.root.join("etc/sub/file.conf")).expect("read"),
            b""
        );
        // An existing file is returned as is.
        let fd = r
            .create_file(Path::new("/etc/secret"), 0o644)
            .expect("existing");
        assert_eq!(path_of(&fd), f.root.join("etc/secret"));
        assert_eq!(
            fs::read_to_string(f.host.join("etc/secret")).expect("host"),
            "host"
        );
    }

    #[test]
    fn create_file_over_dangling_symlink_fails_without_escaping() {
        let f = fixture();
        symlink(f.host.join("etc/created"), f.root.join("dangling")).expect("symlink");
        let r = RootDir::open(&f.root).expect("open root");
        assert!(r.create_file(Path::new("/dangling"), 0o644).is_err());
        assert!(!f.host.join("etc/created").exists());
    }

    #[test]
    fn parent_and_name_rejects_root_and_dots() {
        let f = fixture();
        let r = RootDir::open(&f.root).expect("open root");
        assert_eq!(r.parent_and_name(Path::new("/")).err(), Some(Errno::EINVAL));
        assert_eq!(
            r.parent_and_name(Path::new("/a/..")).err(),
            Some(Errno::EINVAL)
        );
        let (dir, name) = r.parent_and_name(Path::new("/dev/null")).expect("split");
        assert_eq!(name, "null");
        assert_eq!(path_of(&dir), f.root.join("dev"));
    }
}
