//! Shared helpers of the `oci_*` tests: an isolated `rcrun-oci` state root
//! that force-deletes its containers on drop, and leak checks (state dir,
//! cgroup dirs, mounts).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rcrun_it::bins::{bin, run};
use serde_json::Value;

/// An `rcrun-oci` with its own `--root`; containers left behind are
/// deleted with `--force` on drop.
pub struct Oci {
    root: tempfile::TempDir,
}

impl Oci {
    /// A fresh state root.
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("rtc-root-")
            .tempdir()
            .expect("state root tempdir");
        Oci { root }
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `rcrun-oci --root ROOT <args>` (not run yet).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("rcrun-oci"));
        c.arg("--root").arg(self.root.path()).args(args);
        c
    }

    /// Run and capture. stdout/stderr go through files, not pipes: a
    /// created container's init inherits them and keeps them open, so
    /// reading a pipe to EOF would wait for the container (as with runc).
    pub fn out(&self, args: &[&str]) -> Output {
        output_via_files(&mut self.cmd(args))
    }

    /// Run, assert success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.out(args);
        assert!(
            out.status.success(),
            "rcrun-oci {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run, assert failure with exit code 1, return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.out(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "rcrun-oci {args:?} should fail with 1:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one-line error expected: {err}"
        );
        err
    }

    /// `state <id>` as JSON.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state JSON")
    }

    /// The `status` of `id`.
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Wait (up to 10 s) until `id` has `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.out(&["state", id]);
            let s = serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .and_then(|v| v["status"].as_str().map(str::to_string))
                .unwrap_or_else(|| "absent".to_string());
            if s == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id} stayed {s}, wanted {status}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `run` a bundle in the foreground; returns its output.
    pub fn run_bundle(&self, id: &str, bundle: &Path) -> Output {
        self.out(&["run", "--bundle", &bundle.display().to_string(), id])
    }

    /// `run` in the foreground, assert exit 0, return stdout.
    pub fn run_stdout(&self, id: &str, bundle: &Path) -> String {
        let out = self.run_bundle(id, bundle);
        assert!(
            out.status.success(),
            "run {id} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Assert nothing of container `id` (bundle `bundle`) is left: no state
    /// dir, no cgroup dir in any hierarchy, no mount of its rootfs.
    pub fn assert_no_leftovers(&self, id: &str, bundle: &Path) {
        assert!(
            !self.root().join(id).exists(),
            "state dir of {id} left behind"
        );
        let cg = cgroup_dirs(id);
        assert!(cg.is_empty(), "cgroup dirs of {id} left behind: {cg:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let b = bundle.display().to_string();
        assert!(
            !mounts.lines().any(|l| l.contains(&b)),
            "a mount under {b} is left behind"
        );
    }
}

/// Run `cmd` with stdout and stderr redirected to temp files; collect them.
pub fn output_via_files(cmd: &mut Command) -> Output {
    let dir = tempfile::tempdir().expect("tempdir for output");
    let (o, e) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let status = cmd
        .stdout(std::fs::File::create(&o).expect("stdout file"))
        .stderr(std::fs::File::create(&e).expect("stderr file"))
        .status()
        .unwrap_or_else(|err| panic!("spawn {cmd:?}: {err}"));
    Output {
        status,
        stdout: std::fs::read(&o).unwrap_or_default(),
        stderr: std::fs::read(&e).unwrap_or_default(),
    }
}

impl Drop for Oci {
    fn drop(&mut self) {
        let out = run(&mut self.cmd(&["list", "-q"]));
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = run(&mut self.cmd(&["delete", "--force", id]));
        }
    }
}

/// Every existing `rcrun-oci/<id>` cgroup directory (the default
/// cgroupsPath) under /sys/fs/cgroup, v1 hierarchies and cgroup2.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let base = Path::new("/sys/fs/cgroup");
    let mut candidates = vec![base.join("rcrun-oci").join(id)];
    if let Ok(rd) = std::fs::read_dir(base) {
        for e in rd.flatten() {
            candidates.push(e.path().join("rcrun-oci").join(id));
        }
    }
    for c in candidates {
        if c.exists() {
            found.push(c);
        }
    }
    found
}

/// A unique container id for this test.
pub fn id() -> String {
    rcrun_it::unique::name("rtc")
}

/// Skip (return true) when not root.
pub fn skip() -> bool {
    if !rcrun_it::bins::is_root() {
        eprintln!("skipping: needs root");
        return true;
    }
    false
}

/// chmod 0755, so a user-namespaced root can reach the bundle's rootfs.
pub fn chmod_755(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod 0755");
}
