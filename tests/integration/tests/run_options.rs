//! `rcrun run` options seen from inside the container: environment (-e,
//! --env-file), -w, -u, --entrypoint, --hostname, --dns, --add-host,
//! --read-only, --tmpfs, named volumes, capabilities (default set,
//! --cap-add/--cap-drop, --privileged), no-new-privileges, the default
//! seccomp filter, --memory/--pids-limit, --init, -i and -t.

mod run_common;

use std::io::Write;
use std::process::Stdio;

use run_common::{stderr, RunEnv};

/// Effective capability mask of the container's process, from /proc.
fn cap_eff(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff line")
        .trim();
    u64::from_str_radix(hex, 16).expect("hex mask")
}

const CAP_CHOWN: u64 = 1 << 0;
const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_SYS_ADMIN: u64 = 1 << 21;

#[test]
fn process_options_reach_the_container() {
    let env = RunEnv::new(50);
    let image = env.load_busybox();
    let envfile = env.scratch("env").join("list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\n").unwrap();
    let envfile = envfile.display().to_string();
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &env.net,
        "-e",
        "A=1",
        "--env-file",
        &envfile,
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--hostname",
        "custom",
        "--dns",
        "192.0.2.53",
        "--add-host",
        "db.example:192.0.2.7",
        "--entrypoint",
        "sh",
        &image,
        "-c",
        "echo $A $FROM_FILE $(pwd) $(id -u) $(hostname); grep nameserver /etc/resolv.conf; \
         grep db.example /etc/hosts",
    ]);
    assert_eq!(
        out,
        "1 yes /tmp 65534 custom\nnameserver 192.0.2.53\n192.0.2.7\tdb.example"
    );
    // --network host: the host's interfaces and hostname.
    let bridge_env = format!("BRIDGE={}", env.bridge);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-e",
        &bridge_env,
        &image,
        "sh",
        "-c",
        "hostname; grep -c \"$BRIDGE:\" /proc/net/dev",
    ]);
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        out,
        format!("{}\n1", host_name.trim()),
        "sees the test's bridge"
    );
    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "80",
        &image,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    env.finish();
}

#[test]
fn filesystem_options_reach_the_container() {
    let env = RunEnv::new(51);
    let image = env.load_busybox();
    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        "--tmpfs",
        "/scratch",
        &image,
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo writable; touch /scratch/y && echo tmpfs-ok",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tmpfs-ok\n",
        "{}",
        stderr(&out)
    );
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "rxcdata:/data",
        &image,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "rxcdata:/data:ro",
        &image,
        "sh",
        "-c",
        "cat /data/f; touch /data/g 2>/dev/null || echo ro",
    ]);
    assert_eq!(out, "kept\nro");
    // --network none: only lo, and it is up.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "ls /sys/class/net; cat /sys/class/net/lo/flags",
    ]);
    // IFF_UP | IFF_LOOPBACK
    assert_eq!(out, "lo\n0x9", "{out}");
    env.finish();
}

#[test]
fn security_options_change_capabilities_and_filters() {
    let env = RunEnv::new(52);
    let image = env.load_busybox();
    let status = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image.as_str(), "cat", "/proc/self/status"]);
        env.ok(&args)
    };
    let default = status(&[]);
    assert_ne!(
        cap_eff(&default) & CAP_CHOWN,
        0,
        "docker's default set has CHOWN"
    );
    assert_eq!(
        cap_eff(&default) & CAP_SYS_ADMIN,
        0,
        "no SYS_ADMIN by default"
    );
    assert!(default.contains("Seccomp:\t2"), "default seccomp filter");

    let changed = status(&["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"]);
    assert_ne!(cap_eff(&changed) & CAP_NET_ADMIN, 0);
    assert_eq!(cap_eff(&changed) & CAP_CHOWN, 0);

    let privileged = status(&["--privileged"]);
    assert_ne!(cap_eff(&privileged) & CAP_SYS_ADMIN, 0);
    assert!(
        privileged.contains("Seccomp:\t0"),
        "no filter when privileged"
    );

    let unconfined = status(&["--security-opt", "seccomp=unconfined"]);
    assert!(unconfined.contains("Seccomp:\t0"));
    let nnp = status(&["--security-opt", "no-new-privileges"]);
    assert!(nnp.contains("NoNewPrivs:\t1"));

    let out = env.try_rcrun(&["run", "--rm", "--cap-add", "NOT_A_CAP", &image, "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("NOT_A_CAP"), "{}", stderr(&out));
    env.finish();
}

#[test]
fn limits_init_and_stdio_options() {
    let env = RunEnv::new(53);
    let image = env.load_busybox();
    let out = env.ok(&[
        "run", "--rm", "--network", "none", "--pids-limit", "5", "--memory", "32m", &image, "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
         cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(out, format!("5\n{}", 32 << 20));
    // A memory hog is killed by the limit.
    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--memory",
        "16m",
        &image,
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));

    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--init",
        &image,
        "ps",
        "-o",
        "pid,args",
    ]);
    let pid1 = out.lines().nth(1).unwrap_or_default();
    assert!(
        pid1.trim_start().starts_with("1 ") && pid1.contains("init"),
        "{out}"
    );

    let mut child = env
        .rcrun()
        .args([
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            &image,
            "tr",
            "a-z",
            "A-Z",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\n");

    // -t: the container's stdio is a pty that rcrun proxies (run under
    // script(1), which gives rcrun a terminal of its own).
    let with_terminal = |run_args: &str| {
        let cmdline = format!(
            "{} --root {} --data-root {} run {run_args}",
            rcrun_it::bins::bin("rcrun").display(),
            env.run_root().display(),
            env.data_root().display()
        );
        std::process::Command::new("script")
            .args(["-qec", &cmdline, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = with_terminal(&format!(
        "--rm -t --network none {image} sh -c 'tty; exit 3'"
    ));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/dev/pts/0"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // What the pty printed is in the container's log too, with what its
    // line discipline echoed (script(1) may pass on a NUL for its stdin's
    // end, shown as ^@), as in docker's log of a -t container.
    let out = with_terminal(&format!(
        "--name tty-logged -t --network none {image} echo through-the-pty"
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let logged = env.ok(&["logs", "tty-logged"]);
    assert!(logged.contains("through-the-pty"), "{logged:?}");
    env.finish();
}
