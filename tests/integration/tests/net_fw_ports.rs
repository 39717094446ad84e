//! Host port reservation with the nftables firewall: a port used by a host
//! process or already published by rcrun is refused with a message naming
//! the port (and the sandbox); a reservation holds its port. Root only; test
//! number 26 owns 10.211.26.0/24 and host ports 28260...

mod net_fw_fixture;

use std::net::{TcpListener, UdpSocket};

use net_fw_fixture::{curl, tcp, Fixture};
use rcrun_netapi::{PortMapping, Protocol};
use rcrun_netdriver::firewall::{reserve_ports_with, FirewallDriver, FirewallError};

#[test]
fn port_in_use_by_host_process_is_refused() {
    let fx = Fixture::new(27);
    let listener = TcpListener::bind(("0.0.0.0", 0)).expect("bind");
    let p = listener.local_addr().expect("addr").port();
    let err = reserve_ports_with(&[tcp(None, p, 80)], &fx.fw).expect_err("port is taken");
    assert_eq!(
        err.to_string(),
        format!(
            "host port {p}/tcp is already in use (by another process); choose another host port"
        )
    );
    // The same number over UDP is free.
    let udp = PortMapping {
        protocol: Protocol::Udp,
        ..tcp(None, p, 80)
    };
    reserve_ports_with(&[udp], &fx.fw).expect("udp port is free");
    fx.finish();
}

#[test]
fn reservation_holds_the_port_while_it_lives() {
    let fx = Fixture::new(28);
    // Fixed ports below the ephemeral range: a port the kernel picked for
    // port 0 may be handed to another test's connection once released, and
    // the bind after `drop` below would then fail for the wrong reason
    // (net_fw_publish covers port 0).
    let (t, u) = (31828, 31829);
    let res = reserve_ports_with(
        &[
            tcp(None, t, 80),
            PortMapping {
                protocol: Protocol::Udp,
                ..tcp(Some("127.0.0.1"), u, 53)
            },
        ],
        &fx.fw,
    )
    .expect("reserve");
    assert_eq!(
        (res.mappings()[0].host_port, res.mappings()[1].host_port),
        (t, u)
    );
    assert!(TcpListener::bind(("0.0.0.0", t)).is_err());
    assert!(TcpListener::bind(("127.0.0.1", t)).is_err());
    assert!(TcpListener::bind(("::", t)).is_err());
    assert!(UdpSocket::bind(("127.0.0.1", u)).is_err());
    // The sockets survive a hand-over (as to the container monitor).
    let res = rcrun_netdriver::firewall::PortReservation::from_fds(res.into_fds()).expect("adopt");
    assert!(TcpListener::bind(("0.0.0.0", t)).is_err());
    drop(res);
    // Free once dropped. A child that another test of this process forks
    // at that moment holds copies of every fd until its exec closes the
    // close-on-exec ones, so give the release a moment.
    let soon = |bind: &dyn Fn() -> bool| {
        (0..40).any(|_| {
            bind() || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                false
            }
        })
    };
    assert!(soon(&|| TcpListener::bind(("0.0.0.0", t)).is_ok()));
    assert!(soon(&|| UdpSocket::bind(("127.0.0.1", u)).is_ok()));
    fx.finish();
}

#[test]
fn port_published_twice_is_refused_naming_the_sandbox() {
    let mut fx = Fixture::new(26);
    let net = fx.bridge(0, false, false);
    fx.setup(&net);
    let a = fx.sandbox(&net, 2, "hello-a");
    let b = fx.sandbox(&net, 3, "hello-b");
    let p = 28260;
    fx.publish(&a, &[tcp(None, p, 80)]);

    // While a's reservation lives: the bind fails, the message names a.
    let err = reserve_ports_with(&[tcp(None, p, 80)], &fx.fw).expect_err("published");
    assert_eq!(
        err.to_string(),
        format!("host port {p}/tcp is already in use (published by sandbox {}); choose another host port", a.id)
    );
    // Even without a held socket (a's monitor died), nft refuses a second
    // element under the same key, atomically, naming a.
    let fb = fx.forward_of(&b, &[tcp(None, p + 1, 80), tcp(None, p, 80)]);
    match fx.fw.setup_port_forward(&fb) {
        Err(FirewallError::PortInUse { port, owner, .. }) => {
            assert_eq!(port, p);
            assert_eq!(owner, format!("published by sandbox {}", a.id));
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }
    // Nothing of b's transaction was applied, a still answers.
    assert_eq!(curl(None, &format!("http://127.0.0.1:{}/", p + 1), 1), None);
    assert_eq!(
        curl(None, &format!("http://127.0.0.1:{p}/"), 3).as_deref(),
        Some("hello-a")
    );
    // Withdrawing b's (never published) ports leaves a's alone.
    fx.fw.teardown_port_forward(&fb).expect("teardown of b");
    assert_eq!(
        curl(None, &format!("http://127.0.0.1:{p}/"), 3).as_deref(),
        Some("hello-a")
    );
    // The same sandbox publishing again is idempotent.
    let fa = fx.forward_of(&a, &[tcp(None, p, 80)]);
    fx.fw.setup_port_forward(&fa).expect("same sandbox again");
    fx.finish();
}
