//! containerd (Debian's 1.6, its runc shim v2) drives the built `rcrun-oci`
//! as the shim's runc binary (`ctr run --runc-binary`): run --rm with output
//! and exit codes, a detached task with exec, ps, kill and delete, and the
//! runtime's error (from its JSON `--log`) reaching the `ctr` user. Each test
//! starts its own containerd with root, state, sockets and the runtime's
//! `--root` under a tempdir, and stops it (and what it started) on drop.

mod oci_engine_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use oci_engine_common::{
    busybox_rootfs_tar, rcrun_oci, require, unmount_under, wait_for_helpers, wait_until, Session,
};
use rcrun_it::bins::is_root;

/// A containerd of this test's own, with the busybox image imported.
struct Containerd {
    dir: tempfile::TempDir,
    daemon: Option<Child>,
    runtime: PathBuf,
    image: String,
}

impl Containerd {
    fn start() -> Self {
        assert!(is_root(), "the containerd tests need root");
        require("containerd");
        require("ctr");
        require("containerd-shim-runc-v2");
        let dir = tempfile::Builder::new()
            .prefix("rxb-ctd-")
            .tempdir()
            .expect("containerd tempdir");
        let d = dir.path();
        let config = d.join("config.toml");
        std::fs::write(&config, config_toml(d)).expect("write containerd config");
        let log = std::fs::File::create(d.join("containerd.log")).expect("containerd log");
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let mut c = Containerd {
            dir,
            daemon: Some(daemon),
            runtime: rcrun_oci(),
            image: String::new(),
        };
        wait_until(
            "containerd answers on its socket",
            Duration::from_secs(30),
            || c.sock().exists() && c.out(&["version"]).status.success(),
        );
        c.image = c.import_busybox();
        c
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// The runtime's state root the shim passes (`--runc-root`; the shim
    /// appends the namespace).
    fn oci_root(&self) -> PathBuf {
        self.dir.path().join("oci")
    }

    /// `ctr --address SOCK <args>`.
    fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(self.sock()).args(args);
        c
    }

    /// Run `ctr` and capture (through files: shims may inherit stdio).
    fn out(&self, args: &[&str]) -> Output {
        let tmp = tempfile::tempdir().expect("tempdir for output");
        let (o, e) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
        let status = self
            .ctr(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&o).expect("stdout file"))
            .stderr(std::fs::File::create(&e).expect("stderr file"))
            .status()
            .unwrap_or_else(|err| panic!("spawn ctr {args:?}: {err}"));
        Output {
            status,
            stdout: std::fs::read(&o).unwrap_or_default(),
            stderr: std::fs::read(&e).unwrap_or_default(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.out(args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed ({}):\nstdout: {}\nstderr: {}\ncontainerd log tail:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Import an OCI archive of the busybox image; returns its name.
    fn import_busybox(&self) -> String {
        let layout = self.dir.path().join("layout");
        let rootfs_tar = self.dir.path().join("rootfs.tar");
        busybox_rootfs_tar(&rootfs_tar);
        let layer = std::fs::read(&rootfs_tar).expect("read rootfs tar");
        rcrun_it::images::write_oci_layout(
            &layout,
            "latest",
            &[layer],
            serde_json::json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            }),
            rcrun_it::images::host_arch(),
        );
        let archive = self.dir.path().join("busybox-oci.tar");
        std::fs::write(&archive, rcrun_it::images::tar_of_dir(&layout)).expect("write archive");
        let base = "localhost/rxb-busybox";
        self.ok(&[
            "images",
            "import",
            "--base-name",
            base,
            &archive.display().to_string(),
        ]);
        let name = format!("{base}:latest");
        let list = self.ok(&["images", "ls", "--quiet"]);
        assert!(list.lines().any(|l| l == name), "{name} not in {list}");
        name
    }

    /// `ctr run` flags that point the runc shim at rcrun-oci.
    fn run_args<'a>(&'a self, extra: &[&'a str], id: &'a str, cmd: &[&'a str]) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "run".into(),
            "--runc-binary".into(),
            self.runtime.display().to_string(),
            "--runc-root".into(),
            self.oci_root().display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push(self.image.clone());
        v.push(id.to_string());
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    }

    /// `rcrun-oci --root <the shim's root for namespace default> <args>`.
    fn runtime_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.runtime);
        c.arg("--root")
            .arg(self.oci_root().join("default"))
            .args(args);
        c
    }

    /// The status column of `ctr task ls` for `id`, if listed.
    fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ok(&["task", "ls"]);
        out.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.last().unwrap_or(&"").to_string())
        })
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            if self.sock().exists() {
                let tasks = self.out(&["task", "ls", "--quiet"]);
                for id in String::from_utf8_lossy(&tasks.stdout).lines() {
                    let _ = self.out(&["task", "kill", "--signal", "SIGKILL", id]);
                    let _ = self.out(&["task", "delete", "--force", id]);
                }
                let cs = self.out(&["containers", "ls", "--quiet"]);
                for id in String::from_utf8_lossy(&cs.stdout).lines() {
                    let _ = self.out(&["containers", "delete", id]);
                }
            }
            // SAFETY: plain kill(2) of the daemon this guard spawned.
            unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
            let _ = daemon.wait();
        }
        // Shims exit once their task is deleted; they name the state dir.
        if !wait_for_helpers(self.dir.path(), Duration::from_secs(10)) {
            eprintln!(
                "containerd shims still run on {}",
                self.dir.path().display()
            );
        }
        // Containers the shim could not delete (a failed test half-way).
        if let Ok(out) = self.runtime_cmd(&["list", "--quiet"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.runtime_cmd(&["delete", "--force", id]).output();
            }
        }
        unmount_under(self.dir.path());
    }
}

/// containerd's config: everything under `d`, no CRI (it wants CNI and a
/// network), no snapshotters this host lacks, no /opt plugin dir.
fn config_toml(d: &Path) -> String {
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
"#,
        root = d.join("root").display(),
        state = d.join("state").display(),
        sock = d.join("containerd.sock").display(),
    )
}

#[test]
fn ctr_run_rm_prints_output_and_propagates_the_exit_code() {
    let c = Containerd::start();
    let id = rcrun_it::unique::name("rxb");
    let args = c.run_args(&["--rm"], &id, &["echo", "hi"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.ok(&args), "hi\n");

    let id = rcrun_it::unique::name("rxb");
    let args = c.run_args(&["--rm"], &id, &["sh", "-c", "exit 3"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.out(&args);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(c.ok(&["containers", "ls", "--quiet"]), "");
    let left = std::fs::read_dir(c.oci_root().join("default"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "runtime state left behind");
}

#[test]
fn ctr_detached_task_exec_ps_kill_delete() {
    let c = Containerd::start();
    let id = rcrun_it::unique::name("rxb");
    let args = c.run_args(&["--detach"], &id, &["sleep", "1000"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.ok(&args);
    assert_eq!(c.task_status(&id).as_deref(), Some("RUNNING"));

    // The shim drove rcrun-oci: the container is in its state root, with the
    // pid containerd reports.
    let st = rcrun_it::bins::run_ok(&mut c.runtime_cmd(&["state", &id]));
    let st: serde_json::Value = serde_json::from_str(&st).expect("state JSON");
    assert_eq!(st["status"], "running");
    let tasks = c.ok(&["task", "ls"]);
    let pid = st["pid"].to_string();
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with(&id) && l.contains(&pid)),
        "pid {pid} not in:\n{tasks}"
    );

    // exec: output and exit code come back through the shim.
    let out = c.out(&[
        "task",
        "exec",
        "--exec-id",
        "rxbe1",
        &id,
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; echo from-exec; exit 4",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        stdout.contains("sleep") && stdout.contains("from-exec"),
        "{stdout}"
    );

    // pause / resume go through the runtime's freezer verbs.
    c.ok(&["task", "pause", &id]);
    assert_eq!(c.task_status(&id).as_deref(), Some("PAUSED"));
    let st = rcrun_it::bins::run_ok(&mut c.runtime_cmd(&["state", &id]));
    assert!(st.contains(r#""status": "paused""#), "{st}");
    c.ok(&["task", "resume", &id]);
    assert_eq!(c.task_status(&id).as_deref(), Some("RUNNING"));

    // ps goes through `rcrun-oci ps --format json`.
    let ps = c.ok(&["task", "ps", &id]);
    assert!(ps.lines().any(|l| l.starts_with(&pid)), "{ps}");

    c.ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    wait_until("the task stops", Duration::from_secs(10), || {
        c.task_status(&id).as_deref() == Some("STOPPED")
    });
    c.ok(&["task", "delete", &id]);
    c.ok(&["containers", "delete", &id]);
    assert!(
        !c.oci_root().join("default").join(&id).exists(),
        "runtime state left"
    );
    let cg: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("default").join(&id))
        .filter(|p| p.exists())
        .collect();
    assert!(cg.is_empty(), "cgroups left: {cg:?}");
}

#[test]
fn ctr_run_tty_gets_a_pty_through_the_console_socket() {
    let c = Containerd::start();
    let id = rcrun_it::unique::name("rxb");
    let args = c.run_args(&["--rm", "--tty"], &id, &["sh"]);
    let line = std::iter::once("ctr".to_string())
        .chain(["--address".to_string(), c.sock().display().to_string()])
        .chain(args)
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut s = Session::on_pty(&line);
    s.wait_for("/ # ", Duration::from_secs(30));
    s.send("echo tty-$((6*7)); tty\n");
    s.wait_for("tty-42", Duration::from_secs(10));
    s.wait_for("/dev/pts/", Duration::from_secs(10));
    s.send("exit 7\n");
    assert_eq!(s.wait(Duration::from_secs(30)), Some(7), "exit code");
}

#[test]
fn ctr_shows_the_runtimes_error_from_its_json_log() {
    let c = Containerd::start();
    let id = rcrun_it::unique::name("rxb");
    let args = c.run_args(&["--rm"], &id, &["no-such-command"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.out(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    // The shim reads the last error of `--log log.json --log-format json`.
    assert!(
        err.contains(r#"exec: \"no-such-command\": executable file not found in $PATH"#)
            || err.contains(r#"exec: "no-such-command": executable file not found in $PATH"#),
        "{err}"
    );
}
