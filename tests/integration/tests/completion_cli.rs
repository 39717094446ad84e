//! `rcrun completion bash|zsh|fish` and `rcrun completion man DIR`, generated
//! from the clap definitions.

use std::process::Command;

use rcrun_it::bins::{bin, run_ok};

#[test]
fn completion_scripts_mention_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let script = run_ok(Command::new(bin("rcrun")).args(["completion", shell]));
        assert!(script.len() > 1000, "{shell} script is too short");
        for sub in ["run", "volume", "network", "completion"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let bash = run_ok(Command::new(bin("rcrun")).args(["completion", "bash"]));
    assert!(
        bash.contains("complete -F _rcrun"),
        "bash registers its function"
    );
    // The bash script is valid shell.
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("rcrun.bash");
    std::fs::write(&f, &bash).expect("write script");
    run_ok(Command::new("bash").arg("-n").arg(&f));
}

#[test]
fn man_pages_cover_rcrun_and_its_subcommands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listed = run_ok(
        Command::new(bin("rcrun"))
            .arg("completion")
            .arg("man")
            .arg(dir.path()),
    );
    for page in [
        "rcrun.1",
        "rcrun-run.1",
        "rcrun-volume.1",
        "rcrun-volume-create.1",
    ] {
        let p = dir.path().join(page);
        assert!(p.exists(), "{page} missing; written: {listed}");
        assert!(listed.contains(page));
    }
    let top = std::fs::read_to_string(dir.path().join("rcrun.1")).expect("read rcrun.1");
    assert!(
        top.starts_with(".ie") || top.contains(".TH"),
        "roff page: {}",
        &top[..80.min(top.len())]
    );
    assert!(
        top.contains("volume"),
        "rcrun.1 lists the volume subcommand"
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::process::Stdio;
    // A pipe whose read end is already closed: the first write gets EPIPE,
    // as `rcrun ps | head -1` does once head has exited.
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(r);
    for (b, verb) in [("rcrun", "version"), ("rcrun-oci", "features")] {
        let out = Command::new(bin(b))
            .arg(verb)
            .stdout(Stdio::from(w.try_clone().expect("dup write end")))
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(141), "{b} {verb}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{b} {verb}");
    }
}
