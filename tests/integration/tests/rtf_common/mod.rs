//! Shared helpers of the `oci_rootfs*` tests: unique ids, mountinfo
//! parsing, output sections, and the user-namespace config edit.
#![allow(dead_code)]

use serde_json::{json, Value};

/// A unique container id for this test (`rtf` prefix).
pub fn id() -> String {
    rcrun_it::unique::name("rtf")
}

/// One mountinfo line: mount point, per-mount options, optional fields,
/// filesystem type, superblock options.
#[derive(Debug)]
pub struct MountLine {
    /// Path inside the filesystem that is mounted.
    pub root: String,
    /// Per-mount options (`ro`, `nosuid`, ...).
    pub opts: Vec<String>,
    /// Optional fields (`shared:N`, `master:N`).
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Superblock options.
    pub super_opts: Vec<String>,
}

impl MountLine {
    /// The mount has per-mount option `opt`.
    pub fn has(&self, opt: &str) -> bool {
        self.opts.iter().any(|o| o == opt)
    }
}

/// The topmost mount at `mount_point` in mountinfo text.
pub fn mount_at(mountinfo: &str, mount_point: &str) -> Option<MountLine> {
    mountinfo.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let dash = f.iter().position(|x| *x == "-")?;
        (f.get(4) == Some(&mount_point)).then(|| MountLine {
            root: f[3].to_string(),
            opts: f[5].split(',').map(str::to_string).collect(),
            optional: f[6..dash].iter().map(|s| s.to_string()).collect(),
            fstype: f[dash + 1].to_string(),
            super_opts: f
                .get(dash + 3)
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        })
    })
}

/// [`mount_at`], panicking with the whole mountinfo when nothing is there.
pub fn expect_mount(mountinfo: &str, mount_point: &str) -> MountLine {
    mount_at(mountinfo, mount_point)
        .unwrap_or_else(|| panic!("{mount_point} is not mounted in the container:\n{mountinfo}"))
}

/// The output after the line `marker` (the container prints sections).
pub fn section<'a>(out: &'a str, marker: &str) -> &'a str {
    let start = out
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker} missing in:\n{out}"));
    let rest = &out[start + marker.len()..];
    let rest = rest.strip_prefix('\n').unwrap_or(rest);
    let end = rest.find("\n==").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// The test process's (the host's) mountinfo.
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("host mountinfo")
}

/// Make the container root host uid/gid 100000 in a new user namespace and
/// drop devpts' `gid=5` (unmapped), as runc's rootless spec does. `netns`
/// keeps the network namespace; the bundle dir must be 0755.
pub fn into_user_namespace(c: &mut Value, netns: bool) {
    let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
    if !netns {
        ns.retain(|n| n["type"] != "network");
    }
    ns.push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    for m in c["mounts"].as_array_mut().expect("mounts") {
        if m["type"] == "devpts" {
            m["options"] = json!([
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620"
            ]);
        }
    }
}
