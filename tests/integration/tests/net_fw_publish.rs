//! Published ports of the nftables firewall, for real: kernel DNAT through
//! the test's own `inet rcrun_t…` table to busybox httpd in sandbox netns,
//! reached from 127.0.0.1, the host's own IPs, an outside netns, and
//! hairpin from sandboxes. Root only. Each test number N owns 10.211.N.0/24
//! and host ports 28000 + 10 N ...

mod net_fw_fixture;

use std::net::{IpAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use net_fw_fixture::{curl, tcp, url, Fixture};
use rcrun_netapi::{PortMapping, Protocol};

fn port(n: u16, k: u16) -> u16 {
    28000 + 10 * n + k
}

#[test]
fn published_port_reachable_from_localhost() {
    let mut fx = Fixture::new(10);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let sb = fx.sandbox(&net, 2, "hello-10");
    let p = port(10, 0);
    fx.publish(&sb, &[tcp(None, p, 80)]);
    assert_eq!(
        curl(None, &format!("http://127.0.0.1:{p}/"), 3).as_deref(),
        Some("hello-10")
    );
    fx.finish();
}

#[test]
fn published_port_reachable_at_host_own_ip() {
    let mut fx = Fixture::new(11);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-11");
    let p = port(11, 0);
    fx.publish(&sb, &[tcp(None, p, 80)]);
    // The host-side address of the outside link, and the bridge gateway: both ours.
    assert_eq!(
        curl(None, &url(out.host_ip4, p), 3).as_deref(),
        Some("hello-11")
    );
    assert_eq!(curl(None, &url(net.gw4, p), 3).as_deref(), Some("hello-11"));
    fx.finish();
}

#[test]
fn published_port_reachable_from_another_host() {
    let mut fx = Fixture::new(12);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-12");
    let p = port(12, 0);
    fx.publish(&sb, &[tcp(None, p, 80)]);
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip4, p), 3).as_deref(),
        Some("hello-12")
    );
    // The container itself is not routable from outside: only the published port.
    assert_eq!(curl(Some(&out.ns), &url(sb.ips[0], 80), 1), None);
    fx.finish();
}

#[test]
fn ip_bound_mapping_answers_only_at_that_ip() {
    let mut fx = Fixture::new(13);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-13");
    let (p_out, p_lo) = (port(13, 0), port(13, 1));
    let host = out.host_ip4.to_string();
    fx.publish(
        &sb,
        &[
            tcp(Some(&host), p_out, 80),
            tcp(Some("127.0.0.1"), p_lo, 80),
        ],
    );

    assert_eq!(
        curl(None, &url(out.host_ip4, p_out), 3).as_deref(),
        Some("hello-13")
    );
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip4, p_out), 3).as_deref(),
        Some("hello-13")
    );
    // Another address of the host (the gateway) and loopback do not answer.
    assert_eq!(curl(None, &url(net.gw4, p_out), 1), None);
    assert_eq!(curl(None, &format!("http://127.0.0.1:{p_out}/"), 1), None);

    assert_eq!(
        curl(None, &format!("http://127.0.0.1:{p_lo}/"), 3).as_deref(),
        Some("hello-13")
    );
    assert_eq!(curl(None, &url(out.host_ip4, p_lo), 1), None);
    assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p_lo), 1), None);
    fx.finish();
}

/// Not a test of its own (hence ignored): the UDP echo server half of
/// `udp_published_port_delivers_datagrams`, which runs this test binary with
/// `--ignored --exact udp_echo_server_helper` and `RNF_UDP_ECHO_PORT` set
/// inside a sandbox netns (busybox has no UDP server).
#[test]
#[ignore = "server half of udp_published_port_delivers_datagrams"]
fn udp_echo_server_helper() {
    let Ok(port) = std::env::var("RNF_UDP_ECHO_PORT") else {
        return;
    };
    let port: u16 = port.parse().expect("RNF_UDP_ECHO_PORT");
    let sock = UdpSocket::bind(("0.0.0.0", port)).expect("bind echo port");
    let mut buf = [0u8; 1500];
    loop {
        let (len, from) = sock.recv_from(&mut buf).expect("recv");
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&buf[..len]);
        let _ = sock.send_to(&reply, from);
    }
}

fn udp_roundtrip(to: (IpAddr, u16), payload: &str) -> Option<String> {
    let bind = if to.0.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    let mut buf = [0u8; 1500];
    for _ in 0..10 {
        sock.send_to(payload.as_bytes(), to).ok()?;
        if let Ok((len, _)) = sock.recv_from(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
    }
    None
}

#[test]
fn udp_published_port_delivers_datagrams() {
    let mut fx = Fixture::new(14);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-14");
    let exe = std::env::current_exe().expect("test exe");
    let server = Command::new("ip")
        .args(["netns", "exec", &sb.ns])
        .arg(exe)
        .args([
            "udp_echo_server_helper",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("RNF_UDP_ECHO_PORT", "5353")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn udp echo");
    fx.adopt(server);
    let p = port(14, 0);
    fx.publish(
        &sb,
        &[PortMapping {
            host_ip: None,
            host_port: p,
            container_port: 5353,
            protocol: Protocol::Udp,
        }],
    );
    let lo: IpAddr = "127.0.0.1".parse().expect("lo");
    assert_eq!(udp_roundtrip((lo, p), "a").as_deref(), Some("echo:a"));
    assert_eq!(
        udp_roundtrip((out.host_ip4, p), "b").as_deref(),
        Some("echo:b")
    );
    // TCP on the same number is not published.
    assert_eq!(curl(None, &format!("http://127.0.0.1:{p}/"), 1), None);
    fx.finish();
}

#[test]
fn port_range_published() {
    let mut fx = Fixture::new(15);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let sb = fx.sandbox(&net, 2, "range-80");
    fx.serve(&sb, 81, "range-81");
    fx.serve(&sb, 82, "range-82");
    // `-p 28150-28152:80-82`, expanded one mapping per port as the CLI does.
    let first = port(15, 0);
    let maps: Vec<PortMapping> = (0..3).map(|i| tcp(None, first + i, 80 + i)).collect();
    fx.publish(&sb, &maps);
    for i in 0..3 {
        assert_eq!(
            curl(None, &format!("http://127.0.0.1:{}/", first + i), 3),
            Some(format!("range-{}", 80 + i))
        );
    }
    fx.finish();
}

#[test]
fn random_host_port_published() {
    let mut fx = Fixture::new(16);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let sb = fx.sandbox(&net, 2, "hello-16");
    let resolved = fx.publish(&sb, &[tcp(None, 0, 80)]);
    let p = resolved[0].host_port;
    assert_ne!(p, 0);
    assert_eq!(
        curl(None, &format!("http://127.0.0.1:{p}/"), 3).as_deref(),
        Some("hello-16")
    );
    fx.finish();
}

#[test]
fn hairpin_reaches_self_and_peer() {
    let mut fx = Fixture::new(17);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let out = fx.outside();
    let a = fx.sandbox(&net, 2, "hello-a");
    let b = fx.sandbox(&net, 3, "hello-b");
    let (pa, pb) = (port(17, 0), port(17, 1));
    fx.publish(&a, &[tcp(None, pa, 80)]);
    fx.publish(&b, &[tcp(None, pb, 80)]);
    // From a, through the host's own IP, back to a and over to b.
    assert_eq!(
        curl(Some(&a.ns), &url(out.host_ip4, pa), 3).as_deref(),
        Some("hello-a")
    );
    assert_eq!(
        curl(Some(&a.ns), &url(out.host_ip4, pb), 3).as_deref(),
        Some("hello-b")
    );
    assert_eq!(
        curl(Some(&b.ns), &url(out.host_ip4, pa), 3).as_deref(),
        Some("hello-a")
    );
    fx.finish();
}

#[test]
fn ipv6_published_port_reachable() {
    let mut fx = Fixture::new(18);
    let net = fx.bridge(0, true, false);
    fx.setup(&net);
    let out = fx.outside();
    let sb = fx.sandbox(&net, 2, "hello-18");
    let (p, p6) = (port(18, 0), port(18, 1));
    let host6 = out.host_ip6.to_string();
    fx.publish(&sb, &[tcp(None, p, 80), tcp(Some(&host6), p6, 80)]);
    // Wildcard mapping: both families, from the host and from outside.
    assert_eq!(
        curl(None, &url(out.host_ip6, p), 3).as_deref(),
        Some("hello-18")
    );
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip6, p), 3).as_deref(),
        Some("hello-18")
    );
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip4, p), 3).as_deref(),
        Some("hello-18")
    );
    // Mapping bound to the IPv6 address: there, and not on IPv4.
    assert_eq!(
        curl(Some(&out.ns), &url(out.host_ip6, p6), 3).as_deref(),
        Some("hello-18")
    );
    assert_eq!(curl(Some(&out.ns), &url(out.host_ip4, p6), 1), None);
    // Hairpin over IPv6.
    assert_eq!(
        curl(Some(&sb.ns), &url(out.host_ip6, p), 3).as_deref(),
        Some("hello-18")
    );
    fx.finish();
}
