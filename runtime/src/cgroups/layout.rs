//! The host's cgroup layout — v1, v2 (unified) or hybrid — read once per
//! process from `/proc/self/mountinfo`, and the runtime's own cgroup from
//! `/proc/self/cgroup` (relative `cgroupsPath` values hang below it).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::error::CgroupError;

/// Which cgroup version(s) the host mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only v1 controller hierarchies.
    V1,
    /// One cgroup2 hierarchy holding every controller.
    V2,
    /// v1 controller hierarchies plus a cgroup2 hierarchy (usually
    /// `/sys/fs/cgroup/unified`) that holds only the controllers no v1
    /// hierarchy took. Resources are controlled through v1.
    Hybrid,
}

impl Mode {
    /// How errors name this layout.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::V1 => "cgroup v1",
            Mode::V2 => "cgroup v2",
            Mode::Hybrid => "hybrid cgroups",
        }
    }
}

/// One mounted cgroup v1 hierarchy with at least one controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount: PathBuf,
    /// Its controllers, e.g. `["cpu", "cpuacct"]`.
    pub controllers: Vec<String>,
    /// This process's cgroup in it, from `/proc/self/cgroup` (`/` if unknown).
    pub own: String,
}

/// The host's cgroup mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLayout {
    /// v1, v2 or hybrid.
    pub mode: Mode,
    /// The v1 controller hierarchies (empty on v2).
    pub v1: Vec<V1Hierarchy>,
    /// Where the cgroup2 hierarchy is mounted, if it is.
    pub unified: Option<PathBuf>,
    /// This process's cgroup in the cgroup2 hierarchy (`/` if unknown).
    pub unified_own: String,
}

/// The v1 controller names the kernel knows; other mount options are not
/// controllers.
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

const MOUNTINFO: &str = "/proc/self/mountinfo";
const SELF_CGROUP: &str = "/proc/self/cgroup";

/// The host layout, detected on first use and cached for the process.
pub fn host_layout() -> Result<&'static HostLayout, CgroupError> {
    static LAYOUT: OnceLock<HostLayout> = OnceLock::new();
    if let Some(l) = LAYOUT.get() {
        return Ok(l);
    }
    // Missing /proc/self/cgroup only matters for relative paths; treat as root.
    let self_cgroup = std::fs::read_to_string(SELF_CGROUP).unwrap_or_default();
    // The boot-time cgroup mounts come first in a mount table that grows by
    // a few lines per running container: stop reading once every hierarchy
    // /proc/self/cgroup names has been seen.
    let mountinfo = crate::rootfs::mountinfo::read_prefix(MOUNTINFO, |partial| {
        shows_every_hierarchy(partial, &self_cgroup)
    })
    .map_err(|source| CgroupError::Read {
        path: MOUNTINFO.into(),
        source,
    })?;
    let layout = parse_layout(&mountinfo, &self_cgroup)?;
    Ok(LAYOUT.get_or_init(|| layout))
}

impl HostLayout {
    /// The v1 hierarchy that has `controller`, if mounted.
    pub fn v1_with(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }
}

/// Whether the first lines of mountinfo, `partial`, already give the whole
/// layout: a mount for every v1 controller hierarchy `/proc/self/cgroup`
/// lists, and a cgroup2 mount in its canonical place under `/sys/fs/cgroup`
/// (the kernel always lists the `0::` line, so a host without one is read
/// to the end, as is one that mounts a hierarchy after boot).
pub fn shows_every_hierarchy(partial: &str, self_cgroup: &str) -> bool {
    let Ok(layout) = parse_layout(partial, self_cgroup) else {
        return false;
    };
    let mut needs_v2 = false;
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(ctrls)) = (parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            needs_v2 = true;
            continue;
        }
        let mut want: Vec<&str> = ctrls
            .split(',')
            .filter(|c| V1_CONTROLLERS.contains(c))
            .collect();
        if want.is_empty() {
            continue; // a named hierarchy such as name=systemd
        }
        want.sort_unstable();
        let found = layout.v1.iter().any(|h| {
            let mut have: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
            have.sort_unstable();
            have == want
        });
        if !found {
            return false;
        }
    }
    !needs_v2
        || layout
            .unified
            .as_deref()
            .is_some_and(|p| p.starts_with("/sys/fs/cgroup"))
}

/// Build the layout from the text of `/proc/self/mountinfo` and
/// `/proc/self/cgroup`.
pub fn parse_layout(mountinfo: &str, self_cgroup: &str) -> Result<HostLayout, CgroupError> {
    let mut v1: Vec<V1Hierarchy> = Vec::new();
    let mut unified: Option<PathBuf> = None;
    for line in mountinfo.lines() {
        let Some(m) = parse_mount_line(line) else {
            continue;
        };
        match m.fstype {
            "cgroup2" => {
                // Prefer the canonical places if cgroup2 is mounted twice.
                let better = match &unified {
                    None => true,
                    Some(p) => {
                        !p.starts_with("/sys/fs/cgroup") && m.mount.starts_with("/sys/fs/cgroup")
                    }
                };
                if better {
                    unified = Some(m.mount);
                }
            }
            "cgroup" => {
                let controllers: Vec<String> = m
                    .super_options
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o))
                    .map(str::to_string)
                    .collect();
                if controllers.is_empty() {
                    continue; // a named hierarchy such as name=systemd
                }
                if v1.iter().any(|h| h.controllers == controllers) {
                    continue; // the same hierarchy mounted again (bind mount)
                }
                let own = own_v1_cgroup(self_cgroup, &controllers);
                v1.push(V1Hierarchy {
                    mount: m.mount,
                    controllers,
                    own,
                });
            }
            _ => {}
        }
    }
    let mode = match (v1.is_empty(), unified.is_some()) {
        (true, true) => Mode::V2,
        (false, true) => Mode::Hybrid,
        (false, false) => Mode::V1,
        (true, false) => {
            return Err(CgroupError::NoCgroupFs {
                path: MOUNTINFO.into(),
            })
        }
    };
    let unified_own = self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_string();
    Ok(HostLayout {
        mode,
        v1,
        unified,
        unified_own,
    })
}

struct MountLine<'a> {
    mount: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

/// Fields of one mountinfo line: `id parent maj:min root mountpoint opts
/// [optional...] - fstype source superopts`.
fn parse_mount_line(line: &str) -> Option<MountLine<'_>> {
    let (pre, post) = line.split_once(" - ")?;
    let mount = pre.split(' ').nth(4)?;
    let mut post = post.split(' ');
    let fstype = post.next()?;
    let _source = post.next()?;
    let super_options = post.next().unwrap_or("");
    Some(MountLine {
        mount: PathBuf::from(unescape_octal(mount)),
        fstype,
        super_options,
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    crate::rootfs::mountinfo::unescape(s).into_owned()
}

/// This process's cgroup in the v1 hierarchy holding exactly `controllers`.
fn own_v1_cgroup(self_cgroup: &str, controllers: &[String]) -> String {
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if ctrls.is_empty() {
            continue;
        }
        let mut listed: Vec<&str> = ctrls.split(',').collect();
        listed.sort_unstable();
        let mut wanted: Vec<&str> = controllers.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        if listed == wanted {
            return path.to_string();
        }
    }
    "/".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str =
        "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

    #[test]
    fn the_boot_time_lines_show_every_hierarchy_of_proc_self_cgroup() {
        let lines: Vec<&str> = HYBRID.lines().collect();
        let upto = |n: usize| {
            lines[..n]
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        };
        // Each prefix short of the unified mount lacks something.
        for n in 0..lines.len() {
            assert!(!shows_every_hierarchy(&upto(n), HYBRID_SELF), "{n} lines");
        }
        assert!(shows_every_hierarchy(HYBRID, HYBRID_SELF));
        // A hierarchy mounted after boot (hugetlb here) is waited for.
        let later = format!("5:hugetlb:/\n{HYBRID_SELF}");
        assert!(!shows_every_hierarchy(HYBRID, &later));
        let more =
            format!("{HYBRID}50 31 0:40 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb\n");
        assert!(shows_every_hierarchy(&more, &later));
        // cgroup2 outside /sys/fs/cgroup is not taken as the final answer.
        let v2_elsewhere = "60 27 0:41 / /mnt/cg2 rw - cgroup2 cgroup2 rw\n";
        assert!(!shows_every_hierarchy(v2_elsewhere, "0::/\n"));
        assert!(shows_every_hierarchy(
            &format!("{v2_elsewhere}61 23 0:41 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
            "0::/\n"
        ));
    }

    #[test]
    fn the_layout_read_here_matches_the_whole_mount_table() {
        let whole = std::fs::read_to_string(MOUNTINFO).expect("mountinfo");
        let own = std::fs::read_to_string(SELF_CGROUP).unwrap_or_default();
        let full = parse_layout(&whole, &own).expect("this host has cgroups");
        assert_eq!(host_layout().expect("layout"), &full);
    }

    #[test]
    fn hybrid_host_uses_v1_controllers_and_finds_unified() {
        let l = parse_layout(HYBRID, HYBRID_SELF).unwrap();
        assert_eq!(l.mode, Mode::Hybrid);
        assert_eq!(
            l.unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        let names: Vec<_> = l.v1.iter().map(|h| h.controllers.join(",")).collect();
        assert_eq!(names, ["cpu", "cpuacct", "cpuset", "memory"]);
        assert_eq!(l.v1_with("memory").unwrap().own, "/process_api/abc");
        assert_eq!(l.v1_with("cpu").unwrap().own, "/");
        assert!(l.v1_with("pids").is_none());
    }

    #[test]
    fn pure_v2_and_pure_v1_are_told_apart() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = parse_layout(v2, "0::/user.slice/session-1.scope\n").unwrap();
        assert_eq!(l.mode, Mode::V2);
        assert_eq!(l.unified_own, "/user.slice/session-1.scope");
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let l = parse_layout(v1, "2:cpu,cpuacct:/docker/x\n").unwrap();
        assert_eq!(l.mode, Mode::V1);
        assert_eq!(l.v1[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(l.v1[0].own, "/docker/x");
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let err = parse_layout("1 0 0:1 / / rw - ext4 /dev/sda rw\n", "").unwrap_err();
        assert!(matches!(err, CgroupError::NoCgroupFs { .. }));
    }

    #[test]
    fn bind_mounted_hierarchy_counted_once_and_escapes_decoded() {
        let text = "\
32 31 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
90 31 0:29 / /mnt/my\\040pids rw - cgroup cgroup rw,pids
";
        let l = parse_layout(text, "").unwrap();
        assert_eq!(l.v1.len(), 1);
        assert_eq!(unescape_octal("/mnt/my\\040pids"), "/mnt/my pids");
    }
}
