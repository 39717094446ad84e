//! What the rootfs setup must refuse or hide, through `rcrun-oci run`:
//! masked and read-only paths, a read-only root, symlinks in the image that
//! try to redirect a mount (or the /dev/null used for masking) to the host,
//! mounts over /proc, and sysctls the container's namespaces do not isolate.
//! Escapes are checked on the host too.

mod oci_common;
mod rtf_common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use oci_common::{skip, Oci};
use rcrun_it::bundle::Bundle;
use rtf_common::*;
use serde_json::json;

#[test]
fn masked_paths_are_empty_and_readonly_paths_reject_writes() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "echo ==FILE; cat /proc/timer_list | wc -c; echo ==DIR; ls -A /sys/firmware | wc -l; \
         touch /sys/firmware/x 2>&1; echo ==RO; (echo 1 > /proc/sys/kernel/ns_last_pid) 2>&1; \
         (echo 1 > /dev/shm/x) 2>&1; (echo x > /etc/hostname) 2>&1; echo y > /tmp/rw && echo root-rw; echo ==MISSING; echo ok; echo ==MOUNTS; cat /proc/self/mountinfo",
    ]);
    b.edit(|c| {
        c["linux"]["maskedPaths"] =
            json!(["/proc/timer_list", "/sys/firmware", "/proc/rtf-missing"]);
        c["linux"]["readonlyPaths"] = json!([
            "/proc/sys",
            "/dev/shm",
            "/etc/hostname",
            "/proc/rtf-missing"
        ]);
        // A writable root shows the read-only paths are what refuses writes.
        c["root"]["readonly"] = json!(false);
    });
    let out = oci.run_stdout(&id(), b.path());
    // The host's /proc/timer_list is not empty; the masked one is.
    assert!(!fs::read_to_string("/proc/timer_list")
        .expect("host timer_list")
        .is_empty());
    assert_eq!(section(&out, "==FILE").trim(), "0", "{out}");
    let dir = section(&out, "==DIR");
    assert!(dir.starts_with("0\n"), "{out}");
    assert!(dir.contains("Read-only file system"), "{out}");
    let ro = section(&out, "==RO");
    assert_eq!(ro.matches("Read-only file system").count(), 3, "{out}");
    assert!(ro.contains("root-rw"), "{out}");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("etc/hostname")).expect("hostname"),
        "busybox\n"
    );
    assert_eq!(section(&out, "==MISSING").trim(), "ok");
    let mi = section(&out, "==MOUNTS");
    let psys = expect_mount(mi, "/proc/sys");
    for f in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(psys.has(f), "/proc/sys lacks {f}: {psys:?}");
    }
    let fw = expect_mount(mi, "/sys/firmware");
    assert_eq!(fw.fstype, "tmpfs");
    assert!(fw.has("ro"), "{fw:?}");
    let tl = expect_mount(mi, "/proc/timer_list");
    assert_eq!(tl.root, "/null", "masked by /dev/null: {tl:?}");
}

#[test]
fn readonly_root_rejects_writes_and_a_writable_root_accepts_them() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let script = "touch /rtf-written 2>&1; echo ==MOUNTS; cat /proc/self/mountinfo";
    let b = Bundle::busybox(&["sh", "-c", script]);
    let out = oci.run_stdout(&id(), b.path());
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(expect_mount(section(&out, "==MOUNTS"), "/").has("ro"));
    assert!(!b.rootfs().join("rtf-written").exists());

    let mut b = Bundle::busybox(&["sh", "-c", script]);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let out = oci.run_stdout(&id(), b.path());
    assert!(!out.contains("Read-only"), "{out}");
    assert!(expect_mount(section(&out, "==MOUNTS"), "/").has("rw"));
    assert!(b.rootfs().join("rtf-written").exists());
}

#[test]
fn symlinked_mount_destinations_stay_inside_the_rootfs() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    // A host directory the image's symlinks point at, absolutely and by
    // climbing; the same path exists inside the rootfs.
    let host = tempfile::Builder::new()
        .prefix("rtf-target-")
        .tempdir()
        .expect("host dir");
    let hp = host.path().to_path_buf();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "echo inside > /abs/tmpfs-here/f && cat /abs/tmpfs-here/f; cat /climb/bound/hello; cat /proc/self/mountinfo",
    ]);
    let rel_inside = hp.strip_prefix("/").expect("absolute tempdir");
    fs::create_dir_all(b.rootfs().join(rel_inside)).expect("same dir inside rootfs");
    symlink(&hp, b.rootfs().join("abs")).expect("absolute symlink");
    symlink(
        Path::new("../../../../../../../../..").join(rel_inside),
        b.rootfs().join("climb"),
    )
    .expect("climbing symlink");
    let src = tempfile::Builder::new()
        .prefix("rtf-src-")
        .tempdir()
        .expect("src");
    fs::write(src.path().join("hello"), "bound\n").expect("write");
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/abs/tmpfs-here", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/climb/bound", "type": "bind",
                      "source": src.path().display().to_string(), "options": ["rbind"]}));
    });
    let id = id();
    let out = oci.run_stdout(&id, b.path());
    assert!(out.starts_with("inside\nbound\n"), "{out}");
    // Inside, both mounts sit at the in-rootfs resolution of the symlinks.
    let inside = hp.display().to_string();
    expect_mount(&out, &format!("{inside}/tmpfs-here"));
    expect_mount(&out, &format!("{inside}/bound"));
    // On the host, nothing was created or mounted under the target.
    assert_eq!(
        fs::read_dir(&hp).expect("read host dir").count(),
        0,
        "host dir touched"
    );
    assert!(
        !host_mounts().contains(&inside),
        "a mount reached the host dir"
    );
    assert!(b.rootfs().join(rel_inside).join("tmpfs-here").is_dir());
    oci.assert_no_leftovers(&id, b.path());
}

#[test]
fn image_symlink_over_proc_cannot_redirect_the_proc_mount() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["sh", "-c", "cat /proc/self/mountinfo"]);
    fs::remove_dir(b.rootfs().join("proc")).expect("rmdir proc");
    symlink("/etc", b.rootfs().join("proc")).expect("proc -> /etc");
    b.edit(|c| c["linux"]["readonlyPaths"] = json!([]));
    let host_etc_before = mount_at(&host_mounts(), "/etc").is_some();
    let id = id();
    let out = oci.run_stdout(&id, b.path());
    // procfs landed on the container's own /etc.
    assert_eq!(expect_mount(&out, "/etc").fstype, "proc", "{out}");
    assert_eq!(mount_at(&host_mounts(), "/etc").is_some(), host_etc_before);
    assert!(Path::new("/etc/passwd").is_file(), "host /etc intact");
    oci.assert_no_leftovers(&id, b.path());
}

#[test]
fn fake_dev_null_is_refused_for_masking() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    // An image /dev (no tmpfs from the spec) whose "null" is a symlink to a
    // file a container must never get writable (CVE-2025-31133).
    let mut b = Bundle::busybox(&["true"]);
    symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null")).expect("fake null");
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.retain(|e| e["destination"] != "/dev");
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    });
    let id = id();
    let out = oci.run_bundle(&id, b.path());
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/null") && err.contains("1:3"), "{err}");
    oci.assert_no_leftovers(&id, b.path());
}

#[test]
fn sysctl_is_set_in_the_container_network_namespace_only() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let key = "/proc/sys/net/ipv4/ip_default_ttl";
    let before = fs::read_to_string(key).expect("host ttl");
    let want = if before.trim() == "77" { "78" } else { "77" };
    let mut b = Bundle::busybox(&["cat", key]);
    b.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_default_ttl": want}));
    let out = oci.run_stdout(&id(), b.path());
    assert_eq!(out.trim(), want);
    assert_eq!(
        fs::read_to_string(key).expect("host ttl"),
        before,
        "host changed"
    );
}

#[test]
fn sysctl_not_isolated_by_the_containers_namespaces_is_refused() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let key = "/proc/sys/net/ipv4/ip_default_ttl";
    let before = fs::read_to_string(key).expect("host ttl");
    for (sysctl, drop_ns) in [
        ("net.ipv4.ip_default_ttl", "network"),
        ("vm.swappiness", ""),
    ] {
        let mut b = Bundle::busybox(&["true"]);
        b.edit(|c| {
            c["linux"]["sysctl"] = json!({ sysctl: "77" });
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("ns")
                .retain(|n| n["type"] != drop_ns);
        });
        let id = id();
        let out = oci.run_bundle(&id, b.path());
        assert!(!out.status.success(), "{sysctl} accepted: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(sysctl), "error does not name {sysctl}: {err}");
        oci.assert_no_leftovers(&id, b.path());
    }
    assert_eq!(
        fs::read_to_string(key).expect("host ttl"),
        before,
        "host changed"
    );
}

#[test]
fn mounts_over_proc_are_refused_except_lxcfs_style_files() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&["true"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}));
    });
    let id = id();
    let out = oci.run_bundle(&id, b.path());
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/proc/sys") && err.contains("/proc"), "{err}");
    oci.assert_no_leftovers(&id, b.path());

    // A file over /proc/meminfo, as lxcfs does, is allowed.
    let src = tempfile::Builder::new()
        .prefix("rtf-src-")
        .tempdir()
        .expect("src");
    let meminfo = src.path().join("meminfo");
    fs::write(&meminfo, "MemTotal: 42 kB\n").expect("write");
    let mut b = Bundle::busybox(&["cat", "/proc/meminfo"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/proc/meminfo", "type": "bind",
            "source": meminfo.display().to_string(), "options": ["bind", "ro"]}));
    });
    assert_eq!(
        oci.run_stdout(&rtf_common::id(), b.path()),
        "MemTotal: 42 kB\n"
    );
}
