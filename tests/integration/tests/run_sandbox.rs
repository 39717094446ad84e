//! Sandboxes shared by several containers and networks shared by several
//! sandboxes: a pod whose containers talk over localhost and publish through
//! the pod; containers on one user network resolving each other by name and
//! `--network-alias` (and no longer once removed); 20 parallel `run -d`
//! getting distinct addresses that all answer; the pause processes of all
//! sandboxes sharing one empty mount namespace, withdrawn with the last.

mod run_common;

use std::time::Duration;

use run_common::{free_port, http_get_retry, RunEnv};

#[test]
fn pod_containers_share_localhost_and_the_pods_published_port() {
    let env = RunEnv::new(30);
    let image = env.load_busybox();
    let vol = env.www_volume("pod web\n");
    let port = free_port();
    let publish = format!("{port}:80");
    let pod = env.ok(&[
        "pod",
        "create",
        "--name",
        "web",
        "--network",
        &env.net,
        "-p",
        &publish,
    ]);
    assert_eq!(pod.len(), 64);
    env.run_httpd(&["--pod", "web", "--name", "server", "-v", &vol], &image);
    let out = env.ok(&[
        "run",
        "--rm",
        "--pod",
        "web",
        &image,
        "sh",
        "-c",
        "timeout 5 wget -qO- http://127.0.0.1/ && hostname",
    ]);
    assert_eq!(out, "pod web\nweb");
    assert_eq!(
        http_get_retry("127.0.0.1", port, "/", Duration::from_secs(5)).as_deref(),
        Some("pod web\n")
    );
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["pod", "inspect", "web"])).unwrap();
    assert_eq!(v[0]["Containers"].as_array().unwrap().len(), 1);
    assert_eq!(v[0]["State"], "running");

    // The pod outlives its containers until it is removed.
    env.ok(&["rm", "-f", "server"]);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["pod", "inspect", "web"])).unwrap();
    assert_eq!(v[0]["State"], "running");
    env.ok(&["pod", "rm", "web"]);
    assert_eq!(env.ok(&["pod", "ls"]).lines().count(), 1, "only the header");
    env.finish();
}

#[test]
fn containers_on_a_user_network_resolve_each_other_by_name_and_alias() {
    let env = RunEnv::new(31);
    let image = env.load_busybox();
    let net = env.net.clone();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "alpha",
        "--network",
        &net,
        "--network-alias",
        "db",
        &image,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let alpha_ip = env.ip_of("alpha");
    let out = env.ok(&[
        "run", "--rm", "--name", "beta", "--network", &net, &image, "sh", "-c",
        "ping -c1 -W2 alpha >/dev/null && echo alpha-ok; ping -c1 -W2 db >/dev/null && echo db-ok; \
         timeout 5 wget -qO- http://db/hostname",
    ]);
    let hostname = env.inspect("alpha")["Config"]["Hostname"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(out, format!("alpha-ok\ndb-ok\n{hostname}"));

    // alpha's hosts file learns about a new peer, and forgets it when it goes.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "gamma",
        "--network",
        &net,
        &image,
        "sleep",
        "60",
    ]);
    let gamma_ip = env.ip_of("gamma");
    let hosts = env.ok(&[
        "run",
        "--rm",
        "--network",
        "container:alpha",
        &image,
        "cat",
        "/etc/hosts",
    ]);
    assert!(hosts.contains(&format!("{gamma_ip}\tgamma")), "{hosts}");
    env.ok(&["rm", "-f", "gamma"]);
    let hosts = env.ok(&[
        "run",
        "--rm",
        "--network",
        "container:alpha",
        &image,
        "cat",
        "/etc/hosts",
    ]);
    assert!(
        !hosts.contains("gamma"),
        "removed container still resolves: {hosts}"
    );
    assert!(hosts.contains(&alpha_ip), "{hosts}");
    let out = env.try_rcrun(&[
        "run",
        "--rm",
        "--network",
        &net,
        &image,
        "ping",
        "-c1",
        "-W1",
        "gamma",
    ]);
    assert!(!out.status.success(), "gamma must not resolve any more");
    env.finish();
}

#[test]
fn twenty_parallel_runs_get_distinct_addresses_and_all_answer() {
    let env = RunEnv::new(32);
    let image = env.load_busybox();
    let vol = env.www_volume("many\n");
    // Twenty distinct free ports: hold them all while choosing (a port
    // released and picked again would be published twice).
    let holders: Vec<std::net::TcpListener> = (0..20)
        .map(|_| std::net::TcpListener::bind("0.0.0.0:0").unwrap())
        .collect();
    let ports: Vec<u16> = holders
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(holders);
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let env = &env;
                let vol = &vol;
                let image = &image;
                s.spawn(move || {
                    let publish = format!("{port}:80");
                    let name = format!("many{i}");
                    env.run_httpd(
                        &[
                            "--name",
                            &name,
                            "--network",
                            &env.net,
                            "-p",
                            &publish,
                            "-v",
                            vol,
                        ],
                        image,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<String> = ids.iter().map(|id| env.ip_of(id)).collect();
    for (port, ip) in ports.iter().zip(&ips) {
        assert!(ip.starts_with(&format!("10.230.{}.", env.n)), "{ip}");
        assert_eq!(
            http_get_retry("127.0.0.1", *port, "/", Duration::from_secs(5)).as_deref(),
            Some("many\n"),
            "container at {ip} via port {port}"
        );
    }
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 20, "distinct addresses: {ips:?}");
    env.finish();
}

#[test]
fn pause_processes_share_one_empty_mount_namespace_until_the_last_sandbox_goes() {
    use std::os::unix::fs::MetadataExt;
    let env = RunEnv::new(33);
    let image = env.load_busybox();
    let a = env.ok(&["run", "-d", "--network", &env.net, &image, "sleep", "600"]);
    let b = env.ok(&["run", "-d", "--network", &env.net, &image, "sleep", "600"]);
    let pause_of = |id: &str| -> i64 {
        let rec = env
            .run_root()
            .join("sandboxes")
            .join(id)
            .join("sandbox.json");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&rec).expect("sandbox record")).unwrap();
        v["pause_pid"].as_i64().expect("pause_pid")
    };
    let mnt = |pid: i64| {
        std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .expect("mnt ns")
            .display()
            .to_string()
    };
    let published = env.run_root().join("pause-mntns");
    let ino = std::fs::metadata(&published)
        .expect("published namespace")
        .ino();
    let (pa, pb) = (pause_of(&a), pause_of(&b));
    assert_eq!(mnt(pa), format!("mnt:[{ino}]"));
    assert_eq!(mnt(pb), mnt(pa), "both pause processes in one namespace");
    let root: Vec<_> = std::fs::read_dir(format!("/proc/{pb}/root"))
        .expect("pause root")
        .collect();
    assert!(root.is_empty(), "the pause root should be empty: {root:?}");
    // The containers have mount namespaces of their own.
    let init = env.inspect(&a)["State"]["Pid"].as_i64().expect("pid");
    assert_ne!(mnt(init), mnt(pa));
    assert_ne!(
        mnt(init),
        mnt(env.inspect(&b)["State"]["Pid"].as_i64().unwrap())
    );

    // It stays while a sandbox does, and goes with the last one.
    env.ok(&["rm", "-f", &a]);
    assert_eq!(
        std::fs::metadata(&published).expect("still there").ino(),
        ino
    );
    env.ok(&["rm", "-f", &b]);
    assert!(!published.exists(), "withdrawn with the last sandbox");
    // The next sandbox publishes a new one.
    let c = env.ok(&["run", "-d", "--network", &env.net, &image, "sleep", "600"]);
    assert_eq!(
        mnt(pause_of(&c)),
        format!(
            "mnt:[{}]",
            std::fs::metadata(&published).expect("new").ino()
        )
    );
    env.finish();
}
