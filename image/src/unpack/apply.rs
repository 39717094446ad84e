//! Applying tar entries to a layer dir through in-root resolution, with
//! overlayfs whiteout conversion and full metadata (owner, mode incl.
//! setuid/setgid, xattrs incl. security.capability, mtimes).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use tar::EntryType;

use super::inroot::{
    self, cstr, is_whiteout, lstatat, mkdirat, remove_all_at, set_xattr_at, set_xattr_fd, unlinkat,
    Root, OPAQUE_XATTR,
};
use super::paths::{classify, split, split_link_target, Whiteout};

/// Owner, mode, mtime and xattrs of one entry.
#[derive(Debug, Default)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub mtime: i64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Extraction state of one layer.
#[derive(Debug)]
pub struct Applier {
    root: Root,
    /// Directories whose mtime is set at the end (children change it).
    dir_times: Vec<(Vec<OsString>, i64)>,
    /// Copy buffer reused for every regular file.
    buf: Vec<u8>,
}

impl Applier {
    /// Extract into the (empty) directory `root`.
    pub fn new(root: Root) -> Self {
        Applier {
            root,
            dir_times: Vec::new(),
            buf: vec![0u8; 256 * 1024],
        }
    }

    /// Apply one entry; the error is the reason, the caller names the entry.
    pub fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), String> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut comps = split(&path)?;
        let meta = read_meta(entry).map_err(|e| format!("bad header: {e}"))?;
        let Some(name) = comps.pop() else {
            if kind != EntryType::Directory {
                return Err("the layer root can only be a directory".into());
            }
            return self.apply_dir_meta(&[], &meta).map_err(|e| e.to_string());
        };
        match classify(&name)? {
            Whiteout::Meta => return Ok(()),
            Whiteout::Opaque => {
                return self
                    .opaque(&comps)
                    .map_err(|e| format!("make opaque dir: {e}"))
            }
            Whiteout::File(hidden) => {
                return self
                    .whiteout(&comps, hidden)
                    .map_err(|e| format!("make whiteout: {e}"))
            }
            Whiteout::None => {}
        }
        let parent = self
            .root
            .dir(&comps, true)
            .map_err(|e| format!("parent directory: {e}"))?;
        let pfd = parent.as_raw_fd();
        let is_dir = kind == EntryType::Directory;
        let replaced_whiteout =
            prepare_slot(pfd, &name, is_dir).map_err(|e| format!("replace existing entry: {e}"))?;
        let r = match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(pfd, &name, entry, &meta)
            }
            EntryType::Directory => {
                comps.push(name.clone());
                match mkdirat(pfd, &name, 0o700) {
                    Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                        return Err(format!("mkdir: {e}"))
                    }
                    _ => {}
                }
                if replaced_whiteout {
                    set_xattr_at(pfd, &name, OPAQUE_XATTR, b"y")
                        .map_err(|e| format!("set opaque: {e}"))?;
                }
                self.apply_dir_meta(&comps, &meta)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| e.to_string())?
                    .ok_or("symlink without a target")?
                    .into_owned();
                symlinkat(target.as_os_str(), pfd, &name)
                    .and_then(|()| apply_meta_at(pfd, &name, &meta, true))
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| e.to_string())?
                    .ok_or("hardlink without a target")?
                    .into_owned();
                let mut tcomps = split_link_target(&target)?;
                let tname = tcomps.pop().ok_or("hardlink target is empty")?;
                let tdir = self
                    .root
                    .dir(&tcomps, false)
                    .map_err(|e| format!("hardlink target {target:?} is not in this layer: {e}"))?;
                linkat(tdir.as_raw_fd(), &tname, pfd, &name).map_err(|e| {
                    io::Error::other(format!(
                        "hardlink to {target:?} (must be a file earlier in this layer): {e}"
                    ))
                })
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                let ftype = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                mknodat(pfd, &name, ftype, libc::makedev(major, minor))
                    .and_then(|()| apply_meta_at(pfd, &name, &meta, false))
            }
            other => return Err(format!("unsupported tar entry type {other:?}")),
        };
        r.map_err(|e| e.to_string())
    }

    /// Set the deferred directory mtimes, deepest last-created first.
    pub fn finish(mut self) -> Result<(), String> {
        while let Some((comps, mtime)) = self.dir_times.pop() {
            let fd = self
                .root
                .resolve(
                    &comps,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                )
                .map_err(|e| format!("{:?}: reopen directory: {e}", inroot::join(&comps)))?;
            set_times_fd(fd.as_raw_fd(), mtime)
                .map_err(|e| format!("{:?}: set mtime: {e}", inroot::join(&comps)))?;
        }
        Ok(())
    }

    fn apply_dir_meta(&mut self, comps: &[OsString], meta: &Meta) -> io::Result<()> {
        let fd = self
            .root
            .resolve(comps, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
        apply_meta_fd(fd.as_raw_fd(), meta)?;
        self.dir_times.push((comps.to_vec(), meta.mtime));
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        pfd: RawFd,
        name: &OsStr,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
    ) -> io::Result<()> {
        let c = cstr(name)?;
        // SAFETY: `c` is valid; O_EXCL|O_NOFOLLOW create a new file in `pfd` only.
        let fd = unsafe {
            libc::openat(
                pfd,
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is new and owned by the File.
        let mut f = unsafe { File::from_raw_fd(fd) };
        loop {
            let n = entry.read(&mut self.buf)?;
            if n == 0 {
                break;
            }
            f.write_all(&self.buf[..n])?;
        }
        apply_meta_fd(f.as_raw_fd(), meta)?;
        set_times_fd(f.as_raw_fd(), meta.mtime)
    }

    fn opaque(&mut self, dir: &[OsString]) -> io::Result<()> {
        self.root.dir(dir, true)?;
        let fd = self
            .root
            .resolve(dir, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
        set_xattr_fd(fd.as_raw_fd(), OPAQUE_XATTR, b"y")
    }

    fn whiteout(&mut self, dir: &[OsString], hidden: &OsStr) -> io::Result<()> {
        let parent = self.root.dir(dir, true)?;
        let pfd = parent.as_raw_fd();
        match lstatat(pfd, hidden) {
            // This layer already has `hidden`: a whiteout only hides lower
            // layers, so keep it; a directory must then hide the lower one's
            // contents, which is what an opaque directory does.
            Ok(st) => {
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    set_xattr_at(pfd, hidden, OPAQUE_XATTR, b"y")?;
                }
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                mknodat(pfd, hidden, libc::S_IFCHR, 0)
            }
            Err(e) => Err(e),
        }
    }
}

/// Make room for a new entry `name` in `pfd`: an existing directory stays
/// when the new entry is a directory too; anything else is removed (tar
/// semantics: the later entry wins). Returns true if a whiteout was removed.
fn prepare_slot(pfd: RawFd, name: &OsStr, new_is_dir: bool) -> io::Result<bool> {
    let st = match lstatat(pfd, name) {
        Ok(st) => st,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
        Err(e) => return Err(e),
    };
    let existing_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if existing_dir && new_is_dir {
        return Ok(false);
    }
    let was_whiteout = is_whiteout(&st);
    if existing_dir {
        remove_all_at(pfd, name)?;
    } else {
        unlinkat(pfd, name, false)?;
    }
    Ok(was_whiteout)
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let mut m = Meta {
        uid: h.uid()? as u32,
        gid: h.gid()? as u32,
        mode: h.mode()? & 0o7777,
        mtime: h.mtime()? as i64,
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let num = || {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
            };
            match key {
                "uid" => m.uid = num().ok_or_else(|| io::Error::other("bad PAX uid"))?,
                "gid" => m.gid = num().ok_or_else(|| io::Error::other("bad PAX gid"))?,
                "mtime" => {
                    if let Some(secs) = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.split('.').next())
                        .and_then(|s| s.parse::<i64>().ok())
                    {
                        m.mtime = secs;
                    }
                }
                _ => {
                    if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                        if x.starts_with("trusted.overlay.") {
                            return Err(io::Error::other(format!(
                                "xattr {x} would change how overlayfs reads the layer"
                            )));
                        }
                        m.xattrs.push((x.to_string(), value.to_vec()));
                    }
                }
            }
        }
    }
    Ok(m)
}

/// chown, then chmod (chown clears setuid/setgid), then xattrs (chown clears
/// security.capability) on an open fd.
fn apply_meta_fd(fd: RawFd, m: &Meta) -> io::Result<()> {
    // SAFETY: plain syscalls on a valid fd.
    if unsafe { libc::fchown(fd, m.uid, m.gid) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fchmod(fd, m.mode as libc::mode_t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    for (k, v) in &m.xattrs {
        set_xattr_fd(fd, k, v).map_err(|e| io::Error::other(format!("set xattr {k}: {e}")))?;
    }
    Ok(())
}

/// The same for `name` in `pfd`, never following a symlink at `name`.
fn apply_meta_at(pfd: RawFd, name: &OsStr, m: &Meta, is_symlink: bool) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: `c` valid; AT_SYMLINK_NOFOLLOW acts on the entry itself.
    if unsafe { libc::fchownat(pfd, c.as_ptr(), m.uid, m.gid, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if !is_symlink {
        // SAFETY: `c` valid; the entry was just created by us and is not a symlink.
        if unsafe { libc::fchmodat(pfd, c.as_ptr(), m.mode as libc::mode_t, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    for (k, v) in &m.xattrs {
        set_xattr_at(pfd, name, k, v)
            .map_err(|e| io::Error::other(format!("set xattr {k}: {e}")))?;
    }
    let ts = times(m.mtime);
    // SAFETY: `c` and `ts` valid for the call.
    if unsafe { libc::utimensat(pfd, c.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn times(mtime: i64) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    [t, t]
}

fn set_times_fd(fd: RawFd, mtime: i64) -> io::Result<()> {
    let ts = times(mtime);
    // SAFETY: `ts` valid for the call; fd valid.
    if unsafe { libc::futimens(fd, ts.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn symlinkat(target: &OsStr, pfd: RawFd, name: &OsStr) -> io::Result<()> {
    let t = cstr(target)?;
    let n = cstr(name)?;
    // SAFETY: both strings valid; the link is created inside `pfd`.
    if unsafe { libc::symlinkat(t.as_ptr(), pfd, n.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn linkat(tdir: RawFd, tname: &OsStr, pfd: RawFd, name: &OsStr) -> io::Result<()> {
    let t = cstr(tname)?;
    let n = cstr(name)?;
    // SAFETY: strings valid; flags 0 links a symlink itself, never its target.
    if unsafe { libc::linkat(tdir, t.as_ptr(), pfd, n.as_ptr(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn mknodat(pfd: RawFd, name: &OsStr, ftype: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: `n` valid; creates a node inside `pfd`.
    if unsafe { libc::mknodat(pfd, n.as_ptr(), ftype | 0o600, dev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
