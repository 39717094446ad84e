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
