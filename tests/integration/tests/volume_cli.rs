//! `rcrun volume create|ls|inspect|rm|prune` on an isolated data root.

use std::process::{Command, Output};

use rcrun_it::bins::{bin, run};
use serde_json::Value;

/// `rcrun` with its own state and data roots, removed on drop.
struct Rcrun {
    dir: tempfile::TempDir,
}

impl Rcrun {
    fn new() -> Self {
        Rcrun {
            dir: tempfile::Builder::new()
                .prefix("rxd-vol-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    fn out(&self, args: &[&str]) -> Output {
        let mut c = Command::new(bin("rcrun"));
        c.arg("--root")
            .arg(self.dir.path().join("run"))
            .arg("--data-root")
            .arg(self.dir.path().join("data"))
            .args(args);
        run(&mut c)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            o.status.success(),
            "rcrun {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert_eq!(
            o.status.code(),
            Some(125),
            "rcrun {args:?} should fail with 125"
        );
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
        err
    }

    fn names(&self) -> Vec<String> {
        let v: Value =
            serde_json::from_str(&self.ok(&["volume", "ls", "--format", "json"])).expect("ls JSON");
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x["Name"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

#[test]
fn volume_lifecycle_create_ls_inspect_rm_prune() {
    let r = Rcrun::new();
    assert_eq!(
        r.ok(&["volume", "create", "--label", "team=web", "rxdvol"])
            .trim(),
        "rxdvol"
    );
    let anon = r.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(anon.len(), 64, "anonymous volume name: {anon}");
    let mut want = vec!["rxdvol".to_string(), anon.clone()];
    want.sort();
    assert_eq!(r.names(), want);
    assert!(r
        .ok(&["volume", "ls"])
        .lines()
        .any(|l| l.ends_with(" rxdvol")));
    assert_eq!(r.ok(&["volume", "ls", "-q"]).lines().count(), 2);

    let v: Value =
        serde_json::from_str(&r.ok(&["volume", "inspect", "rxdvol"])).expect("inspect JSON");
    assert_eq!(v[0]["Name"], "rxdvol");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Labels"]["team"], "web");
    let mountpoint = std::path::PathBuf::from(v[0]["Mountpoint"].as_str().expect("Mountpoint"));
    assert_eq!(mountpoint, r.dir.path().join("data/volumes/rxdvol/_data"));
    std::fs::write(mountpoint.join("file"), "kept").expect("write into the volume");
    // Creating it again keeps its data.
    r.ok(&["volume", "create", "rxdvol"]);
    assert!(mountpoint.join("file").exists());

    assert_eq!(r.ok(&["volume", "rm", "rxdvol"]).trim(), "rxdvol");
    assert!(!mountpoint.exists(), "rm removes the data");
    let err = r.fails(&["volume", "inspect", "rxdvol"]);
    assert!(err.contains("no such volume: rxdvol"), "{err}");

    assert_eq!(r.ok(&["volume", "prune", "-f"]).trim(), anon);
    assert!(r.names().is_empty());
}

#[test]
fn volume_bad_input_is_a_one_line_error() {
    let r = Rcrun::new();
    let err = r.fails(&["volume", "create", "../escape"]);
    assert!(err.contains("invalid volume name"), "{err}");
    assert!(!r.dir.path().join("data/escape").exists());
    let err = r.fails(&["volume", "rm", "rxdmissing"]);
    assert!(err.contains("no such volume: rxdmissing"), "{err}");
    let err = r.fails(&["volume", "create", "--label", "nokv", "rxdx"]);
    assert!(err.contains("use KEY=VALUE"), "{err}");
    assert!(r.names().is_empty(), "nothing created by failed commands");
}
