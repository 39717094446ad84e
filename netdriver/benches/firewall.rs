//! Timing of the nftables firewall through its real API (not a test; run by
//! `bench/netdriver-fw.sh`, which makes the bridge and the sandbox and
//! removes the table afterwards). Root only.
//!
//! Environment: `RNF_BENCH_TABLE` (nft table to use), `RNF_BENCH_BRIDGE`,
//! `RNF_BENCH_SUBNET` (e.g. 10.211.250.0/24), `RNF_BENCH_CTR` (the sandbox's
//! address), `RNF_BENCH_PORT` (container port to publish), `RNF_BENCH_STAGE`:
//!
//! * `first`: set up the network and publish host port 20001 (mapping #1),
//!   printing both costs; the script then runs iperf3 with one mapping;
//! * `scale`: publish mappings #2 to #10010, printing the cost of #2-#10,
//!   #991-#1000 and #10001-#10010, of `teardown_port_forward`, and of both
//!   through the `nft` binary instead of libnftables; the script then runs
//!   iperf3 again with 10010 mappings in the table.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rcrun_netapi::{PortMapping, Protocol};
use rcrun_netdriver::firewall::{FirewallDriver, NetworkFw, NftFirewall, PortForward};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("{name} is not set: run bench/netdriver-fw.sh");
        std::process::exit(2)
    })
}

fn forward(bridge: &str, ctr: IpAddr, host_port: u16, ctr_port: u16) -> PortForward {
    PortForward {
        network: "bench".into(),
        bridge: bridge.into(),
        sandbox_id: format!("bench-{host_port}"),
        container_ips: vec![ctr],
        mappings: vec![PortMapping {
            host_ip: None,
            host_port,
            container_port: ctr_port,
            protocol: Protocol::Tcp,
        }],
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:>7} us", d.as_micros())
}

fn main() {
    if std::env::var_os("RNF_BENCH_TABLE").is_none() {
        // `cargo test --all-targets` / `cargo bench` without the script.
        println!("firewall bench: not run; use bench/netdriver-fw.sh (root)");
        return;
    }
    let table = env("RNF_BENCH_TABLE");
    let bridge = env("RNF_BENCH_BRIDGE");
    let subnet = env("RNF_BENCH_SUBNET").parse().expect("RNF_BENCH_SUBNET");
    let ctr: IpAddr = env("RNF_BENCH_CTR").parse().expect("RNF_BENCH_CTR");
    let ctr_port: u16 = env("RNF_BENCH_PORT").parse().expect("RNF_BENCH_PORT");

    let fw = NftFirewall::new(&table).expect("table name");
    let bin = fw.clone().with_nft("nft");
    println!("runner: {:?}", fw.runner());
    let net = NetworkFw {
        name: "bench".into(),
        bridge: bridge.clone(),
        subnets: vec![subnet],
        internal: false,
    };
    let stage = env("RNF_BENCH_STAGE");

    let publish = |fw: &NftFirewall, port: u16| {
        timed(|| {
            fw.setup_port_forward(&forward(&bridge, ctr, port, ctr_port))
                .expect("setup_port_forward")
        })
    };
    let withdraw = |fw: &NftFirewall, port: u16| {
        timed(|| {
            fw.teardown_port_forward(&forward(&bridge, ctr, port, ctr_port))
                .expect("teardown_port_forward")
        })
    };

    if stage == "first" {
        let setup = timed(|| fw.setup_network(&net).expect("setup_network"));
        println!("setup_network (first call of the process): {}", us(setup));
        let first = publish(&fw, 20001);
        println!("setup_port_forward, mapping #1:          {}", us(first));
        let again: Vec<_> = (0..10).map(|_| publish(&fw, 20001)).collect();
        println!(
            "setup_port_forward, #1 again (median):   {}",
            us(median(again))
        );
        return;
    }
    // A new process: the first call pays for loading libnftables; time it
    // apart (an idempotent re-publication of #1) so what follows compares
    // warm calls only.
    let cold = publish(&fw, 20001);
    println!("first call of a new process (library load): {}", us(cold));
    let early: Vec<_> = (20002..=20010).map(|p| publish(&fw, p)).collect();
    for p in 20011..=20990 {
        publish(&fw, p);
    }
    let late: Vec<_> = (20991..=21000).map(|p| publish(&fw, p)).collect();
    println!(
        "setup_port_forward, #2-#10 (median):     {}",
        us(median(early))
    );
    println!(
        "setup_port_forward, #991-#1000 (median): {}",
        us(median(late))
    );

    let td: Vec<_> = (20991..=21000)
        .map(|p| {
            let d = withdraw(&fw, p);
            publish(&fw, p);
            d
        })
        .collect();
    println!(
        "teardown_port_forward, 1000 in table:    {}",
        us(median(td))
    );

    for p in 21001..=30000 {
        publish(&fw, p);
    }
    let big: Vec<_> = (30001..=30010).map(|p| publish(&fw, p)).collect();
    println!(
        "setup_port_forward, #10001-#10010:       {}",
        us(median(big))
    );

    let bin_pub: Vec<_> = (40001..=40010).map(|p| publish(&bin, p)).collect();
    let bin_td: Vec<_> = (40001..=40010).map(|p| withdraw(&bin, p)).collect();
    println!(
        "via the nft binary: setup_port_forward   {}",
        us(median(bin_pub))
    );
    println!(
        "via the nft binary: teardown_port_forward {}",
        us(median(bin_td))
    );
}
