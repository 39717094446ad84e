//! User namespaces end to end: a container whose root is host uid/gid
//! 100000 on a rootfs owned by it, and `spec --rootless` run by an
//! unprivileged user (nobody, through setpriv) with its bundle and state
//! root in directories it owns.

mod oci_common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use oci_common::{chmod_755, id, output_via_files, skip, Oci};
use rcrun_it::bins::bin;
use rcrun_it::bundle::{make_busybox_rootfs, Bundle};
use serde_json::json;

/// The first host id of the container's range.
const HOST_BASE: u32 = 100_000;
/// The unprivileged user of the rootless test (`nobody`).
const NOBODY: u32 = 65_534;

/// chown -hR: every entry under `dir`, symlinks themselves.
fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).expect("lchown");
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        let ft = e.file_type().expect("file type");
        if ft.is_dir() {
            chown_tree(&p, uid, gid);
        } else {
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).expect("lchown");
        }
    }
}

#[test]
fn container_root_is_the_mapped_host_id_on_its_own_rootfs() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "id; cat /proc/self/uid_map /proc/self/gid_map; \
         touch /created && mkdir /made && chown 1000:1000 /made && echo wrote;\
         stat -c 'unmapped=%u:%g' /host-owned",
    ]);
    chmod_755(b.path());
    // One file stays owned by host root: inside it is the overflow id.
    std::fs::write(b.rootfs().join("host-owned"), "x").expect("write host-owned");
    chown_tree(&b.rootfs(), HOST_BASE, HOST_BASE);
    std::os::unix::fs::lchown(b.rootfs().join("host-owned"), Some(0), Some(0)).expect("lchown");
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        // chown needs CAP_CHOWN (not among runc's default three).
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set]
                .as_array_mut()
                .expect("caps");
            caps.push(json!("CAP_CHOWN"));
        }
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });

    let out = oci.run_stdout(&id(), b.path());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("uid=0(root) gid=0(root)"), "{out}");
    for l in &lines[1..3] {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f, ["0", "100000", "65536"], "{out}");
    }
    assert_eq!(lines[3], "wrote", "{out}");
    assert_eq!(lines[4], "unmapped=65534:65534", "{out}");

    // What the container made belongs to the mapped host ids.
    let created = std::fs::metadata(b.rootfs().join("created")).expect("created");
    assert_eq!((created.uid(), created.gid()), (HOST_BASE, HOST_BASE));
    let made = std::fs::metadata(b.rootfs().join("made")).expect("made");
    assert_eq!(
        (made.uid(), made.gid()),
        (HOST_BASE + 1000, HOST_BASE + 1000)
    );
}

#[test]
fn spec_rootless_config_runs_as_an_unprivileged_user() {
    if skip() {
        return;
    }
    // A home for nobody: bundle and state root it owns, reachable (0755)
    // from the root-owned tempdir.
    let top = tempfile::Builder::new()
        .prefix("rxb-rootless-")
        .tempdir()
        .expect("tempdir");
    chmod_755(top.path());
    let home = top.path().join("home");
    let bundle = home.join("bundle");
    std::fs::create_dir_all(&bundle).expect("mkdir bundle");
    make_busybox_rootfs(&bundle.join("rootfs"));
    chown_tree(&home, NOBODY, NOBODY);
    let state = home.join("state");

    let as_nobody = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(bin("rcrun-oci"))
        .args(args)
        .current_dir(&bundle);
        output_via_files(&mut c)
    };

    let out = as_nobody(&["spec", "--rootless"]);
    assert!(out.status.success(), "spec --rootless: {out:?}");
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("config.json")).expect("JSON");
    assert_eq!(config["linux"]["uidMappings"][0]["hostID"], NOBODY);
    config["process"]["args"] = json!([
        "sh",
        "-c",
        "echo ok; id -u; cat /proc/self/uid_map; touch /tmp/x && stat -c %u /tmp/x"
    ]);
    // The rootfs is nobody's and written to: not read-only.
    config["root"]["readonly"] = json!(false);
    std::fs::write(&path, config.to_string()).expect("write config.json");

    let root = state.display().to_string();
    let cid = id();
    let out = as_nobody(&["--root", &root, "run", "--bundle", ".", &cid]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rootless run failed ({}): {stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "ok", "{stdout}");
    assert_eq!(lines[1], "0", "{stdout}");
    let map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(map, ["0", "65534", "1"], "{stdout}");
    assert_eq!(lines[3], "0", "{stdout}");
    // Host view: the file is nobody's.
    let x = std::fs::metadata(bundle.join("rootfs/tmp/x")).expect("tmp/x");
    assert_eq!(x.uid(), NOBODY);
    // The foreground run deleted the container.
    let left: Vec<_> = std::fs::read_dir(&state)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| n.to_string_lossy().starts_with('.')),
        "{left:?}"
    );

    // Limits need a cgroup an unprivileged user cannot make: a clear error.
    config["linux"]["resources"] = json!({"pids": {"limit": 10}});
    std::fs::write(&path, config.to_string()).expect("write config.json");
    let out = as_nobody(&["--root", &root, "run", "--bundle", ".", &id()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("unprivileged user cannot set linux.resources"),
        "{stderr}"
    );
}

#[test]
fn a_host_without_user_namespaces_is_named_in_the_error() {
    if skip() {
        return;
    }
    // user.max_user_namespaces is per user namespace: set it to 0 inside
    // a throwaway one (owned by root, so the runtime still reaches its files)
    // and run the rootless config from there.
    let oci = Oci::new();
    let b = Bundle::busybox(&["echo", "ok"]);
    let spec_dir = tempfile::tempdir().expect("tempdir");
    let printed = rcrun_it::bins::run_ok(
        Command::new(bin("rcrun-oci"))
            .args(["spec", "--rootless", "--bundle"])
            .arg(spec_dir.path()),
    );
    assert_eq!(printed, "");
    let mut spec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(spec_dir.path().join("config.json")).expect("config"),
    )
    .expect("JSON");
    spec["root"]["path"] = json!(b.rootfs());
    spec["process"]["args"] = json!(["echo", "ok"]);
    std::fs::write(b.path().join("config.json"), spec.to_string()).expect("write config");
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {} --root {} run --bundle {} {}",
        bin("rcrun-oci").display(),
        oci.root().join("state").display(),
        b.path().display(),
        id()
    );
    let out = output_via_files(Command::new("unshare").args([
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        &script,
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("allows no new user namespaces (sysctl user.max_user_namespaces = 0)"),
        "{stderr}"
    );
}
