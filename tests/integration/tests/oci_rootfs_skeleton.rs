//! Containers whose mount namespace is a copy of the state root's skeleton
//! (`runtime/src/skeleton.rs`) instead of the runtime's namespace: the
//! skeleton is published while the root holds containers and withdrawn
//! with the last; specs that do not fit take the runtime's namespace; and
//! the root propagation still ties the rootfs and bind mounts to the host's
//! mounts as it does in a copy of the runtime's namespace.

mod oci_common;
mod rtf_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use oci_common::{skip, Oci};
use rcrun_it::bundle::Bundle;
use rtf_common::*;
use serde_json::json;

/// Is `path` a mount point in the test's (the host's) namespace?
fn host_has_mount_at(path: &Path) -> bool {
    let p = path.display().to_string();
    host_mounts()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p.as_str()))
}

/// `create` with `--debug`; returns stderr (the runtime's debug log).
fn create_logged(oci: &Oci, b: &Bundle, id: &str) -> String {
    let bundle = b.path().display().to_string();
    let out = oci.out(&["--debug", "create", "--bundle", &bundle, id]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "create {id}: {err}");
    err
}

#[test]
fn the_skeleton_is_published_while_the_root_holds_containers() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let skel = oci.root().join("mntns-skeleton");
    let b = Bundle::busybox(&["sleep", "100"]);
    let (c0, c1, c2) = (id(), id(), id());
    // A lone container copies the runtime's namespace.
    let log = create_logged(&oci, &b, &c0);
    assert!(log.contains("host mounts"), "{log}");
    assert!(
        !host_has_mount_at(&skel),
        "skeleton published for one container"
    );
    // The second one makes the skeleton; the third finds it.
    for c in [&c1, &c2] {
        let log = create_logged(&oci, &b, c);
        assert!(log.contains("skeleton mounts"), "{log}");
        assert!(
            host_has_mount_at(&skel),
            "no skeleton published at {skel:?}"
        );
    }
    // A bind source that does not exist fails as it does without the
    // skeleton: one error naming the source, nothing left.
    let mut bad = Bundle::busybox(&["true"]);
    bad.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/x", "type": "bind", "source": "/nonexistent-rtf-src",
                   "options": ["rbind"]}),
        );
    });
    let bad_id = id();
    let err = oci.fails(&[
        "create",
        "--bundle",
        &bad.path().display().to_string(),
        &bad_id,
    ]);
    assert!(err.contains("/nonexistent-rtf-src"), "{err}");
    oci.assert_no_leftovers(&bad_id, bad.path());
    oci.ok(&["delete", "--force", &c0]);
    oci.ok(&["start", &c1]);
    // The container's own table: its rootfs at / and what the spec mounts,
    // nothing of the host's or the skeleton's.
    let pid = oci.state(&c1)["pid"].as_i64().expect("pid");
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let rootfs = b.rootfs().display().to_string();
    assert_eq!(
        mi.lines().next().and_then(|l| l.split(' ').nth(4)),
        Some("/"),
        "{mi}"
    );
    assert_eq!(expect_mount(&mi, "/").root, rootfs, "{mi}");
    for l in mi.lines() {
        let mp = l.split(' ').nth(4).unwrap_or("");
        assert!(
            ["/", "/proc", "/dev", "/sys"]
                .iter()
                .any(|top| mp == *top || mp.starts_with(&format!("{top}/"))),
            "a mount from outside the spec: {l}\n{mi}"
        );
    }
    oci.ok(&["delete", "--force", &c1]);
    assert!(host_has_mount_at(&skel), "withdrawn while {c2} exists");
    oci.ok(&["delete", "--force", &c2]);
    assert!(
        !host_has_mount_at(&skel),
        "skeleton left after the last delete"
    );
    assert!(!skel.exists());
    let left: Vec<_> = std::fs::read_dir(oci.root())
        .expect("ls root")
        .map(|e| e.map(|e| e.file_name()))
        .collect();
    assert!(left.is_empty(), "files left in the state root: {left:?}");
    oci.assert_no_leftovers(&c1, b.path());
}

#[test]
fn specs_that_need_the_runtimes_mounts_do_not_use_the_skeleton() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let skel = oci.root().join("mntns-skeleton");
    // Another container in the root, so a spec that fits would use it.
    let holder = Bundle::busybox(&["sleep", "100"]);
    create_logged(&oci, &holder, &id());
    // A createContainer hook runs in the container's namespace before the
    // rootfs is built and sees the runtime's mounts there.
    let mut hooked = Bundle::busybox(&["true"]);
    hooked.edit(|c| {
        c["hooks"] = json!({"createContainer": [{"path": "/bin/true"}]});
    });
    // A shared root would share the skeleton's mounts with the container.
    let mut rshared = Bundle::busybox(&["true"]);
    rshared.edit(|c| c["linux"]["rootfsPropagation"] = json!("rshared"));
    for (what, b) in [("hook", &hooked), ("rshared", &rshared)] {
        let id = id();
        let log = create_logged(&oci, b, &id);
        assert!(log.contains("host mounts"), "{what}: {log}");
        assert!(!host_has_mount_at(&skel), "{what}: skeleton published");
        oci.ok(&["start", &id]);
        oci.wait_status(&id, "stopped");
        oci.ok(&["delete", &id]);
        oci.assert_no_leftovers(&id, b.path());
    }
}

/// Host mounts made for the test, undone on drop (also on failure).
struct HostMounts(Vec<PathBuf>);

impl HostMounts {
    fn mount(&mut self, args: &[&str], at: &Path) {
        let st = Command::new("mount")
            .args(args)
            .arg(at)
            .status()
            .expect("mount");
        assert!(st.success(), "mount {args:?} {at:?}");
        self.0.push(at.to_path_buf());
    }

    /// Make `dir` a shared mount of its own.
    fn share(&mut self, dir: &Path) {
        let d = dir.display().to_string();
        self.mount(&["--bind", &d], dir);
        let st = Command::new("mount")
            .args(["--make-shared"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success());
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
    }
}

#[test]
fn host_mounts_reach_the_rootfs_and_binds_of_shared_sources_under_rslave_only() {
    if skip() {
        return;
    }
    let src = tempfile::Builder::new()
        .prefix("rtf-skel-src-")
        .tempdir()
        .expect("src dir");
    let mut b = Bundle::busybox(&["sleep", "100"]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/src", "type": "bind",
                      "source": src.path().display().to_string(), "options": ["rbind"]}));
    });
    let mut host = HostMounts(Vec::new());
    std::fs::create_dir_all(b.rootfs().join("late")).expect("mkdir");
    std::fs::create_dir_all(src.path().join("late")).expect("mkdir");
    host.share(&b.rootfs());
    host.share(src.path());
    let oci = Oci::new();
    // Another container in the root, so the two below use the skeleton.
    let holder = Bundle::busybox(&["sleep", "100"]);
    create_logged(&oci, &holder, &id());
    let mut ids = Vec::new();
    for prop in ["rslave", "rprivate"] {
        let mut b2 = Bundle::busybox(&["true"]);
        // The same rootfs and mounts, another propagation.
        let mut cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(b.path().join("config.json")).expect("config"),
        )
        .expect("json");
        cfg["root"]["path"] = json!(b.rootfs().display().to_string());
        cfg["linux"]["rootfsPropagation"] = json!(prop);
        b2.edit(|c| *c = cfg);
        let id = id();
        let log = create_logged(&oci, &b2, &id);
        assert!(log.contains("skeleton mounts"), "{prop}: {log}");
        oci.ok(&["start", &id]);
        ids.push((prop, id, b2));
    }
    host.mount(&["-t", "tmpfs", "late-root"], &b.rootfs().join("late"));
    host.mount(&["-t", "tmpfs", "late-src"], &src.path().join("late"));
    for (prop, id, _) in &ids {
        let pid = oci.state(id)["pid"].as_i64().expect("pid");
        let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
        let want = *prop == "rslave";
        assert_eq!(mount_at(&mi, "/late").is_some(), want, "{prop}: {mi}");
        assert_eq!(mount_at(&mi, "/src/late").is_some(), want, "{prop}: {mi}");
        // The container's / never propagates back: it is not shared.
        let root = expect_mount(&mi, "/");
        assert!(
            !root.optional.iter().any(|o| o.starts_with("shared:")),
            "{prop}: {root:?}"
        );
    }
    for (_, id, b2) in &ids {
        oci.ok(&["delete", "--force", id]);
        oci.assert_no_leftovers(id, b2.path());
    }
}
