//! `rcrun run -d -p HOST:CTR`: a published port of a detached container
//! answers at 127.0.0.1, at the host's own address and from an "outside"
//! host (a netns routed through the host); an image missing
//! from the store is pulled from a loopback registry; `--network
//! container:ID` shares the sandbox (same interfaces, localhost).

mod run_common;

use std::time::Duration;

use rcrun_it::images;
use rcrun_it::registry::Registry;
use run_common::{free_port, host_ip, http_get, http_get_retry, Outside, RunEnv};

#[test]
fn busybox_httpd_published_port_answers_on_localhost_and_host_ip() {
    let env = RunEnv::new(1);
    let image = env.load_busybox();
    let vol = env.www_volume("rxc busybox httpd\n");
    let port = free_port();
    let publish = format!("{port}:80");
    let id = env.run_httpd(
        &[
            "--name",
            "web",
            "--network",
            &env.net,
            "-p",
            &publish,
            "-v",
            &vol,
        ],
        &image,
    );
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");

    let body = http_get_retry("127.0.0.1", port, "/", Duration::from_secs(5));
    assert_eq!(body.as_deref(), Some("rxc busybox httpd\n"));
    assert_eq!(
        http_get(&host_ip(), port, "/").as_deref(),
        Some("rxc busybox httpd\n")
    );
    let outside = Outside::new(env.n);
    assert_eq!(
        outside.http_get(&outside.host_addr, port).as_deref(),
        Some("rxc busybox httpd\n"),
        "from an outside host"
    );
    let out = env.ok(&["port", "web"]);
    assert_eq!(out, format!("80/tcp -> 0.0.0.0:{port}"));
    let ip = env.ip_of("web");
    assert!(ip.starts_with(&format!("10.230.{}.", env.n)), "{ip}");
    env.finish();
}

#[test]
fn nginx_pulled_from_a_loopback_registry_answers_on_published_port() {
    let reg = Registry::start();
    let layout = tempfile::tempdir().unwrap();
    let img = images::nginx_oci_layout(layout.path());
    reg.skopeo_push(&img.transport(), "rxc/nginx:1", &[]);
    let reference = format!("{}/rxc/nginx:1", reg.host());
    let env = RunEnv::new(2);
    let port = free_port();
    let publish = format!("{port}:80");

    let out = env.try_rcrun(&[
        "run",
        "-d",
        "--tls-verify=false",
        "--name",
        "nginx",
        "--network",
        &env.net,
        "-p",
        &publish,
        &reference,
    ]);
    assert!(out.status.success(), "{}", run_common::stderr(&out));

    let body = http_get_retry("127.0.0.1", port, "/", Duration::from_secs(10));
    assert_eq!(body.as_deref(), Some(images::NGINX_INDEX_HTML));
    assert_eq!(
        http_get(&host_ip(), port, "/").as_deref(),
        Some(images::NGINX_INDEX_HTML)
    );
    // The image's StopSignal (SIGQUIT) stops nginx gracefully.
    env.ok(&["stop", "nginx"]);
    assert_eq!(env.inspect("nginx")["State"]["ExitCode"], 0);
    assert!(
        http_get("127.0.0.1", port, "/").is_none(),
        "port still answers after stop"
    );
    env.finish();
}

#[test]
fn network_container_joins_the_sandbox_and_reaches_localhost() {
    let env = RunEnv::new(3);
    let image = env.load_busybox();
    let vol = env.www_volume("shared sandbox\n");
    env.run_httpd(
        &["--name", "srv", "--network", &env.net, "-v", &vol],
        &image,
    );
    let joined = "container:srv".to_string();
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        &joined,
        &image,
        "sh",
        "-c",
        "timeout 5 wget -qO- http://localhost/ && ip -o -4 addr show eth0 && hostname",
    ]);
    let ip = env.ip_of("srv");
    assert!(out.starts_with("shared sandbox\n"), "{out}");
    assert!(
        out.contains(&format!("inet {ip}/24")),
        "same interface: {out}"
    );
    let srv = env.inspect("srv");
    assert!(
        out.ends_with(srv["Config"]["Hostname"].as_str().unwrap()),
        "{out}"
    );

    // The sandbox outlives its first member while another member runs.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        &joined,
        &image,
        "sleep",
        "60",
    ]);
    env.ok(&["stop", "-t", "1", "srv"]);
    let out = env.ok(&["inspect", "peer"]);
    assert!(
        out.contains(&ip),
        "peer still has the sandbox address: {out}"
    );
    env.ok(&["rm", "-f", "peer"]);
    env.finish();
}

#[test]
fn publish_all_maps_the_images_exposed_ports() {
    let env = RunEnv::new(4);
    let image = env.load_nginx();
    env.ok(&[
        "run",
        "-d",
        "-P",
        "--name",
        "n",
        "--network",
        &env.net,
        &image,
    ]);
    let line = env.ok(&["port", "n", "80"]);
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port output {line:?}"));
    assert!(port > 0);
    let body = http_get_retry("127.0.0.1", port, "/", Duration::from_secs(10));
    assert_eq!(body.as_deref(), Some(images::NGINX_INDEX_HTML));
    env.finish();
}
