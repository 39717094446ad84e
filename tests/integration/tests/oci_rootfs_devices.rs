//! Device nodes in the container through `rcrun-oci run`: the default set,
//! `linux.devices`, the /dev links, a read-only /dev, and nodes bound from
//! the host in a user namespace.

mod oci_common;
mod rtf_common;

use oci_common::{chmod_755, skip, Oci};
use rcrun_it::bundle::Bundle;
use rtf_common::*;
use serde_json::json;

#[test]
fn default_devices_and_dev_links_exist() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = Bundle::busybox(&[
        "sh",
        "-c",
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; \
         for l in ptmx fd stdin stdout stderr; do echo /dev/$l $(readlink /dev/$l); done; \
         echo data > /dev/null && echo null-writable",
    ]);
    let out = oci.run_stdout(&id(), b.path());
    for (name, num) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        let want = format!("/dev/{name} character special file {num} 666");
        assert!(out.lines().any(|l| l == want), "want {want:?} in:\n{out}");
    }
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let want = format!("/dev/{link} {target}");
        assert!(out.lines().any(|l| l == want), "want {want:?} in:\n{out}");
    }
    assert!(out.contains("null-writable"), "{out}");
}

#[test]
fn spec_devices_are_created_with_mode_and_owner() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "stat -c '%n %F %t:%T %a %u:%g' /dev/rtf-mem /dev/sub/rtf-loop /dev/rtf-fifo",
    ]);
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/rtf-mem", "type": "c", "major": 1, "minor": 8, "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/sub/rtf-loop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600},
            {"path": "/dev/rtf-fifo", "type": "p", "fileMode": 0o620}
        ]);
    });
    let out = oci.run_stdout(&id(), b.path());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "/dev/rtf-mem character special file 1:8 640 1000:1001"
    );
    assert_eq!(lines[1], "/dev/sub/rtf-loop block special file 7:0 600 0:0");
    assert_eq!(lines[2], "/dev/rtf-fifo fifo 0:0 620 0:0");
}

#[test]
fn readonly_dev_gets_its_devices_before_turning_read_only() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "stat -c '%t:%T' /dev/zero; (touch /dev/rtf) 2>&1; grep ' /dev ' /proc/self/mountinfo",
    ]);
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().expect("mounts") {
            if m["destination"] == "/dev" {
                m["options"] = json!(["nosuid", "strictatime", "mode=755", "size=65536k", "ro"]);
            }
        }
    });
    let out = oci.run_stdout(&id(), b.path());
    assert!(out.starts_with("1:5\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(expect_mount(&out, "/dev").has("ro"), "{out}");
}

#[test]
fn devices_and_mounts_work_in_a_user_namespace() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "stat -c '%n %F %t:%T' /dev/null /dev/urandom; echo x > /dev/null && echo ok; cat /proc/self/mountinfo",
    ]);
    chmod_755(b.path());
    b.edit(|c| into_user_namespace(c, true));
    let out = oci.run_stdout(&id(), b.path());
    assert!(
        out.contains("/dev/null character special file 1:3\n"),
        "{out}"
    );
    assert!(
        out.contains("/dev/urandom character special file 1:9\n"),
        "{out}"
    );
    assert!(out.contains("ok\n"), "{out}");
    // mknod is not allowed in a user namespace: the host's node is bound.
    let null = expect_mount(&out, "/dev/null");
    assert_eq!(null.fstype, "devtmpfs", "{null:?}");
    assert_eq!(expect_mount(&out, "/sys").fstype, "sysfs");
}
