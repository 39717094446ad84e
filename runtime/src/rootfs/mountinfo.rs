//! Just enough of `/proc/self/mountinfo` and `/proc/self/cgroup` to find the
//! host's cgroup hierarchies and the mount that holds the rootfs. Read only
//! when a spec needs it (a `cgroup` mount, a non-recursive or shared
//! `rootfsPropagation`), never on the common path.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::RootfsError;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry<'a> {
    /// The path inside the filesystem that is mounted (`root` field).
    pub root: Cow<'a, str>,
    /// Where it is mounted.
    pub mount_point: Cow<'a, str>,
    /// Filesystem type (`cgroup`, `cgroup2`, `tmpfs`, ...).
    pub fstype: &'a str,
    /// Superblock options (`rw,cpu,cpuacct`).
    pub super_opts: &'a str,
}

/// Read a /proc file whole. procfs reports size 0, so std's growing reads
/// would take ~10 syscalls for a mountinfo; start with a 16 KiB buffer.
pub fn read(path: &str) -> Result<String, RootfsError> {
    use std::io::Read;
    let err = |source| RootfsError::HostInfo {
        path: PathBuf::from(path),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut buf = String::with_capacity(16 * 1024);
    f.read_to_string(&mut buf).map_err(err)?;
    Ok(buf)
}

/// Read a /proc file in 4 KiB chunks until `enough` says the complete
/// lines read so far suffice, or to the end. procfs generates a seq_file
/// only as far as it is read, so stopping early saves the kernel's work on
/// a long mount table (hundreds of container mounts come after the boot
/// time cgroup mounts).
pub fn read_until(path: &str, enough: impl Fn(&str) -> bool) -> Result<String, RootfsError> {
    read_prefix(path, enough).map_err(|source| RootfsError::HostInfo {
        path: PathBuf::from(path),
        source,
    })
}

/// [`read_until`] with the bare I/O error.
pub(crate) fn read_prefix(path: &str, enough: impl Fn(&str) -> bool) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    // The boot-time mounts a caller looks for fit in the first page.
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 4 * 1024];
    loop {
        let n = match f.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().rposition(|b| *b == b'\n') {
            if std::str::from_utf8(&buf[..=end]).is_ok_and(&enough) {
                buf.truncate(end + 1);
                break;
            }
        }
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Parse mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> impl Iterator<Item = MountEntry<'_>> {
    text.lines().filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<MountEntry<'_>> {
    let mut f = line.split(' ');
    let _id = f.next()?;
    let _parent = f.next()?;
    let _dev = f.next()?;
    let root = f.next()?;
    let mount_point = f.next()?;
    let _opts = f.next()?;
    // Optional fields end at a lone "-".
    for field in f.by_ref() {
        if field == "-" {
            break;
        }
    }
    let fstype = f.next()?;
    let _source = f.next()?;
    let super_opts = f.next().unwrap_or("");
    Some(MountEntry {
        root: unescape(root),
        mount_point: unescape(mount_point),
        fstype,
        super_opts,
    })
}

/// Undo mountinfo's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The controllers (and `name=`) of a cgroup v1 superblock's options, in the
/// form `mount -t cgroup -o` takes: `rw,cpu,cpuacct` -> `cpu,cpuacct`.
pub fn v1_controllers(super_opts: &str) -> String {
    const NOT_CONTROLLERS: &[&str] = &[
        "rw",
        "ro",
        "noprefix",
        "clone_children",
        "xattr",
        "cpuset_v2_mode",
        "favordynmods",
        "nofavordynmods",
    ];
    let mut out = String::new();
    for o in super_opts.split(',') {
        if o.is_empty() || NOT_CONTROLLERS.contains(&o) || o.starts_with("release_agent=") {
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(o);
    }
    out
}

/// The path of this process's cgroup for the hierarchy with `controllers`
/// (`cpu,cpuacct`, `name=systemd`; empty for the v2 `0::` line) in
/// `/proc/self/cgroup` text.
pub fn cgroup_path<'a>(proc_cgroup: &'a str, controllers: &str) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let _id = f.next()?;
        let ctrls = f.next()?;
        let path = f.next()?;
        same_set(ctrls, controllers).then_some(path)
    })
}

fn same_set(a: &str, b: &str) -> bool {
    let n = |s: &str| s.split(',').filter(|x| !x.is_empty()).count();
    n(a) == n(b)
        && a.split(',')
            .filter(|x| !x.is_empty())
            .all(|x| b.split(',').any(|y| y == x))
}

/// The mount point, among `entries`, that holds `path` (the longest mount
/// point that is a path-component prefix of it).
pub fn mount_point_of<'a>(
    entries: impl Iterator<Item = MountEntry<'a>>,
    path: &Path,
) -> Option<PathBuf> {
    entries
        .map(|e| PathBuf::from(e.mount_point.as_ref()))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 22 0:40 /sub /mnt/with\\040space rw shared:5 master:2 - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields_and_optional_fields() {
        let v: Vec<_> = parse(MI).collect();
        assert_eq!(v.len(), 6);
        assert_eq!(v[2].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(v[2].fstype, "cgroup");
        assert_eq!(v[2].super_opts, "rw,cpu,cpuacct");
        assert_eq!(v[5].root, "/sub");
        assert_eq!(v[5].mount_point, "/mnt/with space");
        assert_eq!(v[5].fstype, "tmpfs");
    }

    #[test]
    fn controllers_from_super_options() {
        assert_eq!(v1_controllers("rw,cpu,cpuacct"), "cpu,cpuacct");
        assert_eq!(v1_controllers("rw,xattr,name=systemd"), "name=systemd");
        assert_eq!(
            v1_controllers("rw,noprefix,release_agent=/x,cpuset"),
            "cpuset"
        );
    }

    #[test]
    fn cgroup_path_matches_controller_sets() {
        let pc = "9:name=systemd:/a\n4:memory:/m/x\n1:cpuacct,cpu:/c\n0::/u\n";
        assert_eq!(cgroup_path(pc, "memory"), Some("/m/x"));
        assert_eq!(cgroup_path(pc, "cpu,cpuacct"), Some("/c"));
        assert_eq!(cgroup_path(pc, "name=systemd"), Some("/a"));
        assert_eq!(cgroup_path(pc, ""), Some("/u"));
        assert_eq!(cgroup_path(pc, "pids"), None);
    }

    #[test]
    fn mount_point_of_picks_longest_component_prefix() {
        let mp = mount_point_of(parse(MI), Path::new("/sys/fs/cgroup/unified/x"));
        assert_eq!(mp, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let mp = mount_point_of(parse(MI), Path::new("/sys/fs/cgroupx"));
        assert_eq!(mp, Some(PathBuf::from("/")));
    }
}
