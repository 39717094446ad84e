//! Named volumes used by real containers: `-v NAME:/path` shares data with
//! the volume's directory, and `volume rm` refuses a volume a container
//! uses (unless forced). Subnet number 90 of the `run_common` harness.

mod run_common;

use run_common::{assert_one_line_error, RunEnv};

#[test]
fn volume_in_use_is_refused_until_its_container_is_removed() {
    if !rcrun_it::bins::is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let env = RunEnv::new(90);
    let image = env.load_busybox();
    env.ok(&["volume", "create", "rxdvol"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "rxdvuser",
        "--network",
        "none",
        "-v",
        "rxdvol:/data",
        &image,
        "sh",
        "-c",
        "echo from-container > /data/f; sleep 60",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["volume", "inspect", "rxdvol"])).expect("inspect JSON");
    let file = std::path::PathBuf::from(v[0]["Mountpoint"].as_str().unwrap_or_default()).join("f");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container did not write {}",
            file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "from-container\n"
    );

    let out = env.try_rcrun(&["volume", "rm", "rxdvol"]);
    assert_one_line_error(&out, 125, &["volume rxdvol is in use"]);
    assert!(file.exists(), "a refused rm keeps the data");
    let out = env.try_rcrun(&["volume", "prune", "-f"]);
    assert!(out.status.success());
    assert!(file.exists(), "prune keeps volumes in use");

    env.ok(&["rm", "-f", "rxdvuser"]);
    assert_eq!(env.ok(&["volume", "rm", "rxdvol"]), "rxdvol");
    assert!(!file.exists());
    env.finish();
}
