//! Mounts of the container's root filesystem through `rcrun-oci run`: the
//! default mounts and their flags, cgroup hierarchies, spec tmpfs and bind
//! mounts with their options, tmpcopyup, propagation. Checked from inside
//! the container by reading /proc/self/mountinfo and writing files.

mod oci_common;
mod rtf_common;

use std::fs;
use std::os::unix::fs::symlink;

use oci_common::{chmod_755, skip, Oci};
use rcrun_it::bundle::Bundle;
use rtf_common::*;
use serde_json::json;

#[test]
fn default_mounts_are_mounted_with_their_flags() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&["cat", "/proc/self/mountinfo"]);
    let mi = oci.run_stdout(&id(), b.path());

    let proc_ = expect_mount(&mi, "/proc");
    assert_eq!(proc_.fstype, "proc");
    let dev = expect_mount(&mi, "/dev");
    assert_eq!(dev.fstype, "tmpfs");
    assert!(
        dev.has("nosuid") && dev.super_opts.iter().any(|o| o == "size=65536k"),
        "{dev:?}"
    );
    assert!(dev.super_opts.iter().any(|o| o == "mode=755"), "{dev:?}");
    let pts = expect_mount(&mi, "/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert!(pts.has("nosuid") && pts.has("noexec"), "{pts:?}");
    assert!(
        pts.super_opts.iter().any(|o| o == "ptmxmode=666"),
        "{pts:?}"
    );
    let shm = expect_mount(&mi, "/dev/shm");
    assert_eq!(shm.fstype, "tmpfs");
    assert!(
        shm.has("nosuid") && shm.has("noexec") && shm.has("nodev"),
        "{shm:?}"
    );
    let mq = expect_mount(&mi, "/dev/mqueue");
    assert_eq!(mq.fstype, "mqueue");
    assert!(
        mq.has("nosuid") && mq.has("noexec") && mq.has("nodev"),
        "{mq:?}"
    );
    let sys = expect_mount(&mi, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    for f in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(sys.has(f), "/sys lacks {f}: {sys:?}");
    }
    let cg = expect_mount(&mi, "/sys/fs/cgroup");
    assert!(
        cg.has("ro") && cg.has("nosuid") && cg.has("noexec") && cg.has("nodev"),
        "{cg:?}"
    );
}

#[test]
fn cgroup_mount_shows_the_containers_own_hierarchies() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /proc/self/mountinfo; echo ==LS; ls /sys/fs/cgroup; echo ==W; touch /sys/fs/cgroup/x 2>&1; echo ==END",
    ]);
    let out = oci.run_stdout(&id(), b.path());
    let host = host_mounts();
    let host_is_v2 = mount_at(&host, "/sys/fs/cgroup").is_some_and(|m| m.fstype == "cgroup2");
    let cg = expect_mount(&out, "/sys/fs/cgroup");
    if host_is_v2 {
        assert_eq!(cg.fstype, "cgroup2", "{cg:?}");
        assert!(cg.has("ro"));
        return;
    }
    // v1 or hybrid: a read-only tmpfs holding every host hierarchy.
    assert_eq!(cg.fstype, "tmpfs", "{cg:?}");
    assert!(cg.has("ro"));
    let listing = section(&out, "==LS");
    for line in host.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let mp = f[4];
        if !mp.starts_with("/sys/fs/cgroup/") || !matches!(f[dash + 1], "cgroup" | "cgroup2") {
            continue;
        }
        let inside = expect_mount(&out, mp);
        assert_eq!(inside.fstype, f[dash + 1], "{mp}: {inside:?}");
        assert!(inside.has("ro") && inside.has("nosuid"), "{mp}: {inside:?}");
        // The default spec has a cgroup namespace: the hierarchy's root is
        // the container's own cgroup.
        assert_eq!(inside.root, "/", "{mp}: {inside:?}");
        let name = mp.rsplit('/').next().expect("basename");
        assert!(
            listing.lines().any(|l| l == name),
            "{name} missing in {listing}"
        );
    }
    assert!(section(&out, "==W").contains("Read-only"), "{out}");
}

#[test]
fn cgroup_mount_without_a_cgroup_namespace_binds_the_containers_own_cgroups() {
    if skip() {
        return;
    }
    if mount_at(&host_mounts(), "/sys/fs/cgroup").is_some_and(|m| m.fstype == "cgroup2") {
        eprintln!("skipping: pure cgroup v2 host mounts cgroup2 directly");
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /proc/self/cgroup; echo ==MOUNTS; cat /proc/self/mountinfo",
    ]);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .retain(|n| n["type"] != "cgroup");
    });
    let out = oci.run_stdout(&id(), b.path());
    let mi = section(&out, "==MOUNTS");
    let mut checked = 0;
    for line in out.lines().take_while(|l| !l.starts_with("==")) {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.is_empty() || ctrls.starts_with("name=") || path == "/" {
            continue;
        }
        // The hierarchy's directory in the container is the bind of exactly
        // the container's cgroup, not the host's whole tree.
        let dir = ctrls.split(',').next().expect("a controller");
        let m = expect_mount(mi, &format!("/sys/fs/cgroup/{dir}"));
        assert_eq!(m.root, path, "{dir}: {m:?}");
        assert!(m.has("ro"), "{dir}: {m:?}");
        checked += 1;
    }
    assert!(
        checked > 0,
        "no v1 hierarchy with the container's cgroup in:\n{out}"
    );
}

#[test]
fn spec_tmpfs_and_readonly_bind_mounts_apply_their_options() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let src = tempfile::Builder::new()
        .prefix("rtf-src-")
        .tempdir()
        .expect("src dir");
    fs::write(src.path().join("hello"), "from-host\n").expect("write src file");
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /data/ro/hello; (echo x > /data/ro/new) 2>&1; echo ==RW; echo y > /data/rw/new && echo rw-ok; \
         echo ==TMP; stat -c '%a' /scratch; echo ==MOUNTS; cat /proc/self/mountinfo",
    ]);
    let s = src.path().display().to_string();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(
            json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                      "options": ["nosuid", "nodev", "noexec", "noatime", "mode=1770", "size=1m"]}),
        );
        m.push(
            json!({"destination": "/data/ro", "type": "bind", "source": s,
                      "options": ["rbind", "ro", "nosuid", "nodev"]}),
        );
        m.push(json!({"destination": "/data/rw", "source": s, "options": ["bind", "noexec"]}));
    });
    let out = oci.run_stdout(&id(), b.path());
    assert!(out.starts_with("from-host\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(section(&out, "==RW").contains("rw-ok"), "{out}");
    assert_eq!(section(&out, "==TMP").trim(), "1770");
    let mi = section(&out, "==MOUNTS");
    let t = expect_mount(mi, "/scratch");
    assert_eq!(t.fstype, "tmpfs");
    for f in ["nosuid", "nodev", "noexec", "noatime"] {
        assert!(t.has(f), "/scratch lacks {f}: {t:?}");
    }
    assert!(t.super_opts.iter().any(|o| o == "size=1024k"), "{t:?}");
    let ro = expect_mount(mi, "/data/ro");
    for f in ["ro", "nosuid", "nodev"] {
        assert!(ro.has(f), "/data/ro lacks {f}: {ro:?}");
    }
    let rw = expect_mount(mi, "/data/rw");
    assert!(rw.has("rw") && rw.has("noexec"), "{rw:?}");
    // The writable bind wrote through to the host directory.
    assert_eq!(
        fs::read_to_string(src.path().join("new")).expect("host file"),
        "y\n"
    );
}

#[test]
fn bind_mount_of_a_file_creates_the_destination_file() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let src = tempfile::Builder::new()
        .prefix("rtf-src-")
        .tempdir()
        .expect("src dir");
    let file = src.path().join("resolv.conf");
    fs::write(&file, "nameserver 127.0.0.53\n").expect("write");
    let mut b = Bundle::busybox(&["cat", "/etc/new/dir/resolv.conf"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/etc/new/dir/resolv.conf", "type": "bind",
            "source": file.display().to_string(), "options": ["bind", "ro"]}));
    });
    let out = oci.run_stdout(&id(), b.path());
    assert_eq!(out, "nameserver 127.0.0.53\n");
    assert!(b.rootfs().join("etc/new/dir/resolv.conf").is_file());
}

#[test]
fn relative_bind_source_is_relative_to_the_bundle() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["cat", "/srv/hello"]);
    fs::create_dir(b.path().join("rtf-data")).expect("mkdir");
    fs::write(b.path().join("rtf-data/hello"), "bundle-relative\n").expect("write");
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/srv", "type": "bind", "source": "rtf-data", "options": ["rbind"]}));
    });
    assert_eq!(oci.run_stdout(&id(), b.path()), "bundle-relative\n");
}

#[test]
fn tmpcopyup_tmpfs_starts_with_the_image_contents() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /var/cache/seed/file; ls -l /var/cache/seed | grep link; echo new > /var/cache/new && echo written; \
         stat -c '%a' /var/cache/seed; grep ' /var/cache ' /proc/self/mountinfo",
    ]);
    let seed = b.rootfs().join("var/cache/seed");
    fs::create_dir_all(&seed).expect("mkdir seed");
    fs::write(seed.join("file"), "from-image\n").expect("write seed");
    symlink("/etc/shadow", seed.join("link")).expect("symlink");
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&seed, fs::Permissions::from_mode(0o750)).expect("chmod");
    }
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/var/cache", "type": "tmpfs", "source": "tmpfs",
            "options": ["tmpcopyup", "nosuid", "nodev", "mode=755"]}));
    });
    let out = oci.run_stdout(&id(), b.path());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from-image", "{out}");
    assert!(lines[1].ends_with("link -> /etc/shadow"), "{out}");
    assert_eq!(lines[2], "written");
    assert_eq!(lines[3], "750");
    assert!(lines[4].contains(" - tmpfs "), "{out}");
    // The write went to the tmpfs, not to the image.
    assert!(!b.rootfs().join("var/cache/new").exists());
}

#[test]
fn rootfs_propagation_is_applied_to_the_container_root() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    for (prop, shared) in [
        ("rshared", true),
        ("shared", true),
        ("rprivate", false),
        ("private", false),
        ("rslave", false),
    ] {
        let mut b = Bundle::busybox(&["cat", "/proc/self/mountinfo"]);
        b.edit(|c| c["linux"]["rootfsPropagation"] = json!(prop));
        let id = id();
        let mi = oci.run_stdout(&id, b.path());
        let root = expect_mount(&mi, "/");
        assert_eq!(
            root.optional.iter().any(|o| o.starts_with("shared:")),
            shared,
            "rootfsPropagation {prop}: / is {root:?}"
        );
        oci.assert_no_leftovers(&id, b.path());
    }
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!("sideways"));
    let out = oci.run_bundle(&id(), b.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sideways"),
        "{out:?}"
    );
}

#[test]
fn mount_propagation_options_apply_to_spec_mounts() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let src = tempfile::Builder::new()
        .prefix("rtf-src-")
        .tempdir()
        .expect("src dir");
    let mut b = Bundle::busybox(&["cat", "/proc/self/mountinfo"]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(
            json!({"destination": "/shared-tmp", "type": "tmpfs", "source": "tmpfs",
                      "options": ["rshared"]}),
        );
        m.push(json!({"destination": "/shared-bind", "type": "bind",
                      "source": src.path().display().to_string(), "options": ["rbind", "shared"]}));
        m.push(
            json!({"destination": "/private-tmp", "type": "tmpfs", "source": "tmpfs",
                      "options": ["rshared", "private"]}),
        );
    });
    let out = oci.run_stdout(&id(), b.path());
    let shared = |mp: &str| {
        expect_mount(&out, mp)
            .optional
            .iter()
            .any(|o| o.starts_with("shared:"))
    };
    assert!(shared("/shared-tmp"), "{out}");
    assert!(shared("/shared-bind"), "{out}");
    assert!(!shared("/private-tmp"), "{out}");
    // Nothing the container shares reaches the host.
    assert!(!host_mounts().contains("shared-tmp"));
}

#[test]
fn sysfs_in_a_user_namespace_without_its_own_netns_is_the_hosts_read_only() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "(touch /sys/rtf) 2>&1; cat /proc/self/mountinfo",
    ]);
    chmod_755(b.path());
    // A user namespace may not mount sysfs afresh without owning the network
    // namespace: the runtime's /sys is bound instead.
    b.edit(|c| into_user_namespace(c, false));
    let out = oci.run_stdout(&id(), b.path());
    assert!(out.contains("Read-only file system"), "{out}");
    let sys = expect_mount(&out, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    for f in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(sys.has(f), "/sys lacks {f}: {sys:?}");
    }
    // The cgroup tmpfs still covers the host's hierarchies that came along.
    assert!(expect_mount(&out, "/sys/fs/cgroup").has("ro"), "{out}");
}
