//! podman (Debian's, with conmon) drives the built `rcrun-oci` through
//! `--runtime`: run --rm with exit codes, run -d + exec + stop + rm, run -it
//! on a pty, and the runtime's own error reaching the podman user. Each test
//! has its own podman storage, run and tmp dirs and an image imported from a
//! busybox rootfs tarball; podman keeps the runtime's state in rcrun-oci's
//! default root (/run/rcrun-oci), as it does with runc's.

mod oci_engine_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use oci_engine_common::{
    busybox_rootfs_tar, rcrun_oci, require, unmount_under, wait_for_helpers, wait_until, Session,
};
use rcrun_it::bins::is_root;

/// The image every test imports.
const IMAGE: &str = "localhost/rxb-busybox:latest";
/// Where podman's runtime keeps state: rcrun-oci's default `--root`.
const OCI_ROOT: &str = "/run/rcrun-oci";

/// A podman with its own storage, run root and tmp dir, the busybox image
/// imported, and `--runtime` set to the built rcrun-oci. Containers are
/// removed and leftover mounts detached on drop.
struct Podman {
    dir: tempfile::TempDir,
    runtime: PathBuf,
}

impl Podman {
    fn new() -> Self {
        assert!(is_root(), "the podman tests need root");
        require("podman");
        require("conmon");
        let dir = tempfile::Builder::new()
            .prefix("rxb-podman-")
            .tempdir()
            .expect("podman tempdir");
        let p = Podman {
            dir,
            runtime: rcrun_oci(),
        };
        let tar = p.dir.path().join("busybox-rootfs.tar");
        busybox_rootfs_tar(&tar);
        p.ok(&["import", &tar.display().to_string(), IMAGE]);
        p
    }

    /// `podman <isolating global flags> <args>`.
    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--runtime")
            .arg(&self.runtime)
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--network-backend",
                "netavark",
                "--storage-driver",
                "overlay",
            ])
            .args(args);
        c
    }

    /// Run and capture (through files: conmon inherits podman's stdio).
    fn out(&self, args: &[&str]) -> Output {
        output_via_files(&mut self.cmd(args))
    }

    /// Run, assert success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.out(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The podman command line as one shell string (for `script`).
    fn shell_line(&self, args: &[&str]) -> String {
        let c = self.cmd(args);
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.out(&["rm", "--all", "--force", "--time", "0"]);
        // conmon runs `podman container cleanup` when a container exits;
        // it mounts the storage again, so unmount only once it is gone.
        if !wait_for_helpers(self.dir.path(), Duration::from_secs(20)) {
            eprintln!("podman helpers still run on {}", self.dir.path().display());
        }
        unmount_under(self.dir.path());
    }
}

/// `podman run` flags every test uses: no network (no default bridge is
/// made), and rlimits this host can grant (its hard NOFILE is 20000 and
/// root lacks CAP_SYS_RESOURCE, so podman's default 1048576 cannot be set).
const RUN_FLAGS: [&str; 6] = [
    "--network",
    "none",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
];

/// `run <RUN_FLAGS> <extra> IMAGE <cmd>` as an argument list.
fn run_args<'a>(extra: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run"];
    v.extend(RUN_FLAGS);
    v.extend(extra);
    v.push(IMAGE);
    v.extend(cmd);
    v
}

fn output_via_files(cmd: &mut Command) -> Output {
    let dir = tempfile::tempdir().expect("tempdir for output");
    let (o, e) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let status = cmd
        .stdin(std::process::Stdio::null())
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

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The status `rcrun-oci state` reports for `id` (default root).
fn st_status(runtime: &Path, id: &str) -> String {
    let st = rcrun_it::bins::run_ok(Command::new(runtime).args(["state", id]));
    let st: serde_json::Value = serde_json::from_str(&st).expect("state JSON");
    st["status"].as_str().unwrap_or_default().to_string()
}

/// Whether any v1 hierarchy or cgroup2 still has podman's cgroup of `id`.
fn cgroup_left(id: &str) -> Vec<PathBuf> {
    let leaf = format!("libpod_parent/libpod-{id}");
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![base.join(&leaf)];
    if let Ok(rd) = std::fs::read_dir(base) {
        dirs.extend(rd.flatten().map(|e| e.path().join(&leaf)));
    }
    dirs.into_iter().filter(|d| d.exists()).collect()
}

#[test]
fn podman_run_rm_prints_output_and_propagates_exit_codes() {
    let p = Podman::new();
    let cidfile = p.dir.path().join("rm.cid");
    let cid_arg = format!("--cidfile={}", cidfile.display());
    assert_eq!(
        p.ok(&run_args(&["--rm", &cid_arg], &["echo", "hi"])),
        "hi\n"
    );
    let cid = std::fs::read_to_string(&cidfile).expect("cidfile");

    let out = p.out(&run_args(
        &["--rm"],
        &["sh", "-c", "echo to-stderr >&2; exit 3"],
    ));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));

    // podman's default seccomp profile is loaded, but no_new_privs stays
    // off (podman does not ask for it; setuid programs keep working).
    let status = p.ok(&run_args(
        &["--rm"],
        &["grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"],
    ));
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t0"), "{status}");

    // --rm left nothing: no podman container, no runtime state, no cgroup.
    assert_eq!(p.ok(&["ps", "--all", "--quiet"]), "");
    assert!(!Path::new(OCI_ROOT).join(cid.trim()).exists());
    assert_eq!(cgroup_left(cid.trim()), Vec::<PathBuf>::new());
}

#[test]
fn podman_run_detached_exec_stop_and_rm() {
    let p = Podman::new();
    let name = rcrun_it::unique::name("rxb");
    let script = "trap 'echo got-term; exit 0' TERM; echo started; while :; do sleep 0.1; done";
    let id = p
        .ok(&run_args(&["-d", "--name", &name], &["sh", "-c", script]))
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "container id: {id:?}");

    // podman used rcrun-oci: it names it, and the container's state lives
    // in rcrun-oci's root with the pid podman reports.
    let runtime = p.ok(&["inspect", "--format", "{{.OCIRuntime}}", &id]);
    assert_eq!(runtime.trim(), p.runtime.display().to_string());
    let state_file = Path::new(OCI_ROOT).join(&id).join("state.json");
    assert!(state_file.exists(), "{} missing", state_file.display());
    let st = rcrun_it::bins::run_ok(Command::new(&p.runtime).args(["state", &id]));
    let st: serde_json::Value = serde_json::from_str(&st).expect("state JSON");
    assert_eq!(st["status"], "running");
    assert_eq!(st["id"], id.as_str());
    let pid = p.ok(&["inspect", "--format", "{{.State.Pid}}", &id]);
    assert_eq!(st["pid"].to_string(), pid.trim());

    // exec: output, exit code, and it runs beside the container's init.
    assert_eq!(p.ok(&["exec", &id, "echo", "from-exec"]), "from-exec\n");
    let out = p.out(&["exec", &id, "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let cmdline = p.ok(&["exec", &id, "cat", "/proc/1/cmdline"]);
    assert!(
        cmdline.contains("trap"),
        "pid 1 is not the init: {cmdline:?}"
    );

    // pause / unpause go through `rcrun-oci pause` / `resume` (freezer).
    p.ok(&["pause", &id]);
    let status = p.ok(&["inspect", "--format", "{{.State.Status}}", &id]);
    assert_eq!(status.trim(), "paused");
    assert_eq!(st_status(&p.runtime, &id), "paused");
    p.ok(&["unpause", &id]);
    assert_eq!(st_status(&p.runtime, &id), "running");

    // stop sends SIGTERM through `rcrun-oci kill`; the trap exits 0.
    p.ok(&["stop", "--time", "10", &id]);
    let status = p.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(status.trim(), "exited 0");
    let logs = p.ok(&["logs", &id]);
    assert!(
        logs.contains("started") && logs.contains("got-term"),
        "{logs}"
    );

    p.ok(&["rm", &id]);
    assert!(
        !Path::new(OCI_ROOT).join(&id).exists(),
        "runtime state left"
    );
    assert_eq!(cgroup_left(&id), Vec::<PathBuf>::new(), "cgroups left");
}

#[test]
fn podman_kill_and_rm_force_of_a_running_container() {
    let p = Podman::new();
    // pid 1 ignores SIGTERM it has no handler for: `podman kill` (SIGKILL)
    // is what ends it; the exit code is 128 + 9, as with runc.
    let id = p
        .ok(&run_args(&["-d"], &["sleep", "1000"]))
        .trim()
        .to_string();
    p.ok(&["kill", &id]);
    p.ok(&["wait", &id]);
    let status = p.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(status.trim(), "exited 137");
    p.ok(&["rm", &id]);

    // rm --force of a running container goes through kill and delete.
    let id = p
        .ok(&run_args(&["-d"], &["sleep", "1000"]))
        .trim()
        .to_string();
    p.ok(&["rm", "--force", "--time", "0", &id]);
    assert_eq!(p.ok(&["ps", "--all", "--quiet"]), "");
    assert!(
        !Path::new(OCI_ROOT).join(&id).exists(),
        "runtime state left"
    );
    assert_eq!(cgroup_left(&id), Vec::<PathBuf>::new(), "cgroups left");
}

#[test]
fn podman_uidmap_runs_the_container_as_mapped_host_ids() {
    let p = Podman::new();
    let maps = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"];
    let out = p.ok(&run_args(
        &[&["--rm"][..], &maps].concat(),
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map /proc/self/gid_map",
        ],
    ));
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{out}");
    assert_eq!(lines[1], ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[2], ["0", "100000", "65536"], "{out}");

    // Seen from the host, the container's root is uid/gid 100000. The
    // container is `--rm` and ends with `kill`: `podman rm --force` of a
    // running --uidmap container races conmon's cleanup in podman itself
    // (unlinkat userdata/shm: EBUSY, podman#11594; runc shows it as well).
    let id = p
        .ok(&run_args(
            &[&["-d", "--rm"][..], &maps].concat(),
            &["sleep", "1000"],
        ))
        .trim()
        .to_string();
    let pid = p.ok(&["inspect", "--format", "{{.State.Pid}}", &id]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim()))
        .expect("status of the container's init");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("Uid:"), "100000", "{status}");
    assert_eq!(field("Gid:"), "100000", "{status}");
    p.ok(&["kill", &id]);
    wait_until(
        "podman removes the killed --rm container",
        Duration::from_secs(30),
        || p.ok(&["ps", "--all", "--quiet"]).trim().is_empty(),
    );
}

#[test]
fn podman_run_it_talks_through_a_pty() {
    let p = Podman::new();
    let line = p.shell_line(&run_args(&["-it", "--rm"], &["sh"]));
    let mut s = Session::on_pty(&line);
    s.wait_for("/ # ", Duration::from_secs(30));
    // The typed text does not contain the answer, so finding it proves the
    // shell ran the line; `tty` proves its stdin is a pty.
    s.send("echo out-$((6*7)); tty; stty size\n");
    s.wait_for("out-42", Duration::from_secs(10));
    s.wait_for("/dev/pts/", Duration::from_secs(10));
    s.send("exit 5\n");
    assert_eq!(s.wait(Duration::from_secs(30)), Some(5), "exit code");
}

#[test]
fn podman_exec_it_talks_through_a_pty() {
    let p = Podman::new();
    let id = p
        .ok(&run_args(&["-d"], &["sleep", "1000"]))
        .trim()
        .to_string();
    let line = p.shell_line(&["exec", "-it", &id, "sh"]);
    let mut s = Session::on_pty(&line);
    s.wait_for("/ # ", Duration::from_secs(30));
    s.send("echo exec-$((6*7)); tty; cat /proc/1/comm\n");
    s.wait_for("exec-42", Duration::from_secs(10));
    s.wait_for("/dev/pts/", Duration::from_secs(10));
    s.wait_for("sleep", Duration::from_secs(10));
    s.send("exit 6\n");
    assert_eq!(s.wait(Duration::from_secs(30)), Some(6), "exit code");
    p.ok(&["rm", "--force", "--time", "0", &id]);
}

#[test]
fn podman_shows_the_runtimes_error_for_a_missing_command() {
    let p = Podman::new();
    let out = p.out(&run_args(&["--rm"], &["no-such-command"]));
    let err = String::from_utf8_lossy(&out.stderr);
    // podman recognises runc's wording and exits 127, as `sh` would.
    assert_eq!(out.status.code(), Some(127), "{err}");
    assert!(err.contains("rcrun-oci"), "{err}");
    assert!(
        err.contains(r#"exec: "no-such-command": executable file not found in $PATH"#),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert_eq!(p.ok(&["ps", "--all", "--quiet"]), "");
}
