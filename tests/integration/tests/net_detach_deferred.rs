//! Deferred detach: `rcrun network detach` without `--wait` marks the
//! endpoint and returns; a background `rcrun` finishes the teardown. Nothing
//! may remain once it has, an attach that wants the same host port waits for
//! it, and a killed background teardown is finished by `system gc`.
//! Subnets 10.210.45-47.0/24.

mod net_util;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use net_util::{link_exists, NetEnv};
use rcrun_it::netns::NetnsGuard;
use rcrun_it::{bins::is_root, unique};

const PAUSE_ENV: &str = "RCRUN_NETDRIVER_PAUSE_AT";

/// Wait (at most 20 s) until no endpoint record of `env` remains.
fn wait_for_teardown(env: &NetEnv) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.endpoint_records().is_empty() {
        assert!(
            Instant::now() < deadline,
            "background teardown did not finish: {:?}",
            env.endpoint_records()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Background `rcrun network detach --wait` processes for sandbox `id`.
fn finisher_pids(id: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
        else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        if args.contains(&&b"--wait"[..]) && args.contains(&id.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn deferred_detach_returns_and_the_background_teardown_leaves_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(45);
    env.create_network("rnd-dd1", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-dd1", &ns, "d1", &["-p", "127.0.0.1::8080"]);
    let veth = env.veth("rnd-dd1", "d1");
    assert!(link_exists(&veth));
    env.rcrun_ok(&["network", "detach", "rnd-dd1", "--id", "d1"]);
    wait_for_teardown(&env);
    assert!(!link_exists(&veth), "veth {veth} left behind");
    env.assert_no_endpoints();
    env.finish();
}

#[test]
fn attach_of_a_port_being_released_waits_for_the_teardown() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(46);
    env.create_network("rnd-dd2", &["--subnet", &env.subnet()]);
    let a = NetnsGuard::new(&unique::name("rnd-"));
    let b = NetnsGuard::new(&unique::name("rnd-"));
    let first = env.attach("rnd-dd2", &a, "p1", &["-p", "127.0.0.1::8080"]);
    let port = first["port_mappings"][0]["host_port"]
        .as_u64()
        .expect("resolved host port");
    let first_ip = first["ips"][0]["address"]
        .as_str()
        .expect("first address")
        .to_string();
    // The background teardown stops (holding the endpoint's lock) after
    // removing the veth, before the address and record go.
    detach_paused(&env, "rnd-dd2", "p1", "detach:links");
    let mut finishers = paused_finishers(&env, "rnd-dd2", "p1");

    let spec = format!("127.0.0.1:{port}:8080");
    let netns = b.path().to_string_lossy().into_owned();
    let mut second = env
        .rcrun()
        .args([
            "network", "attach", "rnd-dd2", "--netns", &netns, "--id", "p2",
        ])
        .args(["-p", &spec])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rcrun");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        second.try_wait().expect("try_wait").is_none(),
        "attach did not wait for the teardown holding port {port}"
    );
    finishers.kill();
    let out = second.wait_with_output().expect("wait for attach");
    assert!(
        out.status.success(),
        "attach after the teardown: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("attach JSON");
    assert_eq!(v["port_mappings"][0]["host_port"].as_u64(), Some(port));
    let table = env.nft_table();
    assert!(
        !table.contains(&format!("{first_ip} . ")),
        "the first sandbox's DNAT element is still there:\n{table}"
    );
    assert_eq!(env.endpoint_records().len(), 1, "only p2 is attached");
    env.detach("rnd-dd2", "p2");
    env.assert_no_endpoints();
    env.finish();
}

/// `rcrun network detach` (deferred) whose background half pauses at `step`.
fn detach_paused(env: &NetEnv, network: &str, id: &str, step: &str) {
    let out = env
        .rcrun()
        .args(["network", "detach", network, "--id", id])
        .env(PAUSE_ENV, step)
        .stderr(Stdio::piped())
        .output()
        .expect("run rcrun");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Paused background teardowns; SIGKILLed when dropped (also on a failed
/// assertion, so the test's own cleanup never waits on their locks).
struct Finishers(Vec<i32>);

impl Finishers {
    fn kill(&mut self) {
        for p in self.0.drain(..) {
            // SAFETY: kill(2) of the paused background rcrun this test caused.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
}

impl Drop for Finishers {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The background teardown of `id`, once it has removed the veth.
fn paused_finishers(env: &NetEnv, network: &str, id: &str) -> Finishers {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = finisher_pids(id);
        if !p.is_empty() && !link_exists(&env.veth(network, id)) {
            // Past the veth removal; give it a moment to reach the pause.
            std::thread::sleep(Duration::from_millis(100));
            return Finishers(p);
        }
        assert!(Instant::now() < deadline, "no paused background teardown");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_background_teardown_is_finished_by_gc() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = NetEnv::new(47);
    env.create_network("rnd-dd3", &["--subnet", &env.subnet()]);
    let ns = NetnsGuard::new(&unique::name("rnd-"));
    env.attach("rnd-dd3", &ns, "k9", &["-p", "127.0.0.1::8080"]);
    // The background half inherits the pause point and stops after the links.
    detach_paused(&env, "rnd-dd3", "k9", "detach:links");
    paused_finishers(&env, "rnd-dd3", "k9").kill();
    assert_eq!(env.endpoint_records().len(), 1, "record still detaching");
    env.rcrun_ok(&["system", "gc"]);
    env.assert_no_endpoints();
    env.finish();
}
