//! The shape of rcrun's nftables table and the commands that build it.
//!
//! ```text
//! table inet rcrun
//!   set bridges            ifname                          every rcrun bridge
//!   map fwd_from / fwd_to  ifname : verdict                bridge -> its from_<br> / to_<br> chain
//!   map masq_out           ifname : verdict                iif bridge -> its masq_out_<br> chain (not internal)
//!   map masq_hairpin       ifname : verdict                oif bridge -> its masq_hairpin_<br> chain (not internal)
//!   map dnat_<p><f>        host addr . port : ctr addr . port    ports bound to one host IP
//!   map dnat_<p><f>_any    port : ctr addr . port               ports on every host address
//!                          (<p> = tcp|udp|sctp, <f> = 4|6: 12 maps, one element per published port)
//!   chain accept_mark      mark |= FW_MARK, accept
//!   chain published        12 x "dnat to <map lookup>" (IP-bound map first, then wildcard)
//!   chain raw_prerouting   hook prerouting, raw:   drop non-lo packets to 127.0.0.0/8 and ::1
//!   chain nat_prerouting   hook prerouting, dstnat: fib daddr type local -> published
//!   chain nat_output       hook output, -100:       fib daddr type local -> published
//!   chain nat_postrouting  hook postrouting, srcnat: 127/8 -> bridge masquerade;
//!                          oifname vmap @masq_hairpin; iifname vmap @masq_out
//!   chain forward          hook forward, filter - 10: iifname vmap @fwd_from; oifname vmap @fwd_to
//!   chain from_<br>        same bridge: accept; other rcrun bridge: return (to_<dst> decides);
//!                          elsewhere: accept (internal: drop)
//!   chain to_<br>          established/related or DNAT: accept; anything else: drop
//!   chain masq_out_<br>    from the subnet, leaving by another interface: masquerade
//!   chain masq_hairpin_<br> DNAT-ed, from the subnet, back into the bridge: masquerade
//! ```
//!
//! The hairpin rule is keyed on the output bridge, not the input one: with
//! br_netfilter (bridge-nf-call-iptables=1) a DNAT back into the same bridge is
//! bridged, and the bridge-level postrouting hook has no input interface.
//!
//! Every command here is idempotent (`add` of what exists is a no-op, chains
//! are flushed before they are refilled), so a script can be replayed.

use ipnet::IpNet;

use super::script::Script;
use crate::firewall::NetworkFw;

/// Transport protocols that get DNAT maps.
pub const PROTOS: [&str; 3] = ["tcp", "udp", "sctp"];

/// Names and constants of one rcrun table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Table name (family inet).
    pub table: String,
    /// Mark set on accepted packets (also used as the mask).
    pub mark: u32,
}

/// Map name for `proto`, family 4 or 6, IP-bound (`any` false) or wildcard.
pub fn map_name(proto: &str, family: u8, any: bool) -> String {
    if any {
        format!("dnat_{proto}{family}_any")
    } else {
        format!("dnat_{proto}{family}")
    }
}

impl Layout {
    /// `inet <table>`, the prefix of every object reference.
    pub fn t(&self) -> String {
        format!("inet {}", self.table)
    }

    /// Create the table, its sets, maps and base chains (idempotent).
    pub fn skeleton(&self, s: &mut Script) {
        let t = self.t();
        s.push(format!("add table {t}"));
        s.push(format!("add set {t} bridges {{ type ifname; }}"));
        for m in ["fwd_from", "fwd_to", "masq_out", "masq_hairpin"] {
            s.push(format!("add map {t} {m} {{ type ifname : verdict; }}"));
        }
        for proto in PROTOS {
            for (fam, addr) in [(4u8, "ipv4_addr"), (6u8, "ipv6_addr")] {
                let ip = map_name(proto, fam, false);
                let any = map_name(proto, fam, true);
                s.push(format!(
                    "add map {t} {ip} {{ type {addr} . inet_service : {addr} . inet_service; }}"
                ));
                s.push(format!(
                    "add map {t} {any} {{ type inet_service : {addr} . inet_service; }}"
                ));
            }
        }
        self.regular_chain(s, "accept_mark");
        s.push(format!(
            "add rule {t} accept_mark meta mark set meta mark | {:#x} accept",
            self.mark
        ));
        self.regular_chain(s, "published");
        for proto in PROTOS {
            s.push(format!(
                "add rule {t} published dnat ip to ip daddr . {proto} dport map @{}",
                map_name(proto, 4, false)
            ));
            s.push(format!(
                "add rule {t} published meta nfproto ipv4 dnat ip to {proto} dport map @{}",
                map_name(proto, 4, true)
            ));
            s.push(format!(
                "add rule {t} published dnat ip6 to ip6 daddr . {proto} dport map @{}",
                map_name(proto, 6, false)
            ));
            // ::1 cannot be routed off the host: leave it to the (refusing)
            // reservation socket rather than DNAT into a black hole.
            s.push(format!(
                "add rule {t} published ip6 daddr != ::1 dnat ip6 to {proto} dport map @{}",
                map_name(proto, 6, true)
            ));
        }
        self.base_chain(s, "raw_prerouting", "filter", "prerouting", "raw");
        s.push(format!(
            "add rule {t} raw_prerouting iifname != \"lo\" ip daddr 127.0.0.0/8 drop"
        ));
        s.push(format!(
            "add rule {t} raw_prerouting iifname != \"lo\" ip6 daddr ::1 drop"
        ));
        self.base_chain(s, "nat_prerouting", "nat", "prerouting", "dstnat");
        s.push(format!(
            "add rule {t} nat_prerouting fib daddr type local jump published"
        ));
        self.base_chain(s, "nat_output", "nat", "output", "-100");
        s.push(format!(
            "add rule {t} nat_output fib daddr type local jump published"
        ));
        self.base_chain(s, "nat_postrouting", "nat", "postrouting", "srcnat");
        s.push(format!(
            "add rule {t} nat_postrouting ip saddr 127.0.0.0/8 oifname @bridges masquerade"
        ));
        s.push(format!(
            "add rule {t} nat_postrouting oifname vmap @masq_hairpin"
        ));
        s.push(format!(
            "add rule {t} nat_postrouting iifname vmap @masq_out"
        ));
        self.base_chain(s, "forward", "filter", "forward", "filter - 10");
        s.push(format!("add rule {t} forward iifname vmap @fwd_from"));
        s.push(format!("add rule {t} forward oifname vmap @fwd_to"));
    }

    /// Add (or refresh) the chains and elements of network `n` (idempotent).
    pub fn network(&self, s: &mut Script, n: &NetworkFw) {
        let t = self.t();
        let br = &n.bridge;
        let net = format!("network {} (bridge {br})", n.name);
        s.push_for(
            format!("add element {t} bridges {{ \"{br}\" }}"),
            net.clone(),
        );

        self.regular_chain(s, &format!("from_{br}"));
        s.push(format!(
            "add rule {t} from_{br} oifname \"{br}\" goto accept_mark"
        ));
        if n.internal {
            s.push(format!("add rule {t} from_{br} drop"));
        } else {
            s.push(format!("add rule {t} from_{br} oifname @bridges return"));
            s.push(format!("add rule {t} from_{br} goto accept_mark"));
        }

        self.regular_chain(s, &format!("to_{br}"));
        if !n.internal {
            s.push(format!(
                "add rule {t} to_{br} ct state established,related goto accept_mark"
            ));
            s.push(format!(
                "add rule {t} to_{br} ct status dnat goto accept_mark"
            ));
        }
        s.push(format!("add rule {t} to_{br} drop"));

        if !n.internal {
            let subnets: Vec<(&str, String)> = n
                .subnets
                .iter()
                .map(|subnet| match subnet {
                    IpNet::V4(v4) => ("ip", v4.trunc().to_string()),
                    IpNet::V6(v6) => ("ip6", v6.trunc().to_string()),
                })
                .collect();
            self.regular_chain(s, &format!("masq_out_{br}"));
            for (fam, cidr) in &subnets {
                s.push(format!(
                    "add rule {t} masq_out_{br} oifname != \"{br}\" {fam} saddr {cidr} masquerade"
                ));
            }
            self.regular_chain(s, &format!("masq_hairpin_{br}"));
            for (fam, cidr) in &subnets {
                s.push(format!(
                    "add rule {t} masq_hairpin_{br} ct status dnat {fam} saddr {cidr} masquerade"
                ));
            }
            s.push_for(
                format!("add element {t} masq_out {{ \"{br}\" : jump masq_out_{br} }}"),
                net.clone(),
            );
            s.push_for(
                format!("add element {t} masq_hairpin {{ \"{br}\" : jump masq_hairpin_{br} }}"),
                net.clone(),
            );
        }
        s.push_for(
            format!("add element {t} fwd_from {{ \"{br}\" : jump from_{br} }}"),
            net.clone(),
        );
        s.push_for(
            format!("add element {t} fwd_to {{ \"{br}\" : jump to_{br} }}"),
            net,
        );
    }

    /// Remove the chains and elements of network `n`; works whether or not
    /// they exist, as long as the table does.
    pub fn network_removal(&self, s: &mut Script, n: &NetworkFw) {
        let t = self.t();
        let br = &n.bridge;
        let chains = [
            ("fwd_from", format!("from_{br}")),
            ("fwd_to", format!("to_{br}")),
            ("masq_out", format!("masq_out_{br}")),
            ("masq_hairpin", format!("masq_hairpin_{br}")),
        ];
        for (_, chain) in &chains {
            s.push(format!("add chain {t} {chain}"));
        }
        for (map, chain) in &chains {
            // add-then-delete: deleting an element that is absent would fail.
            s.push(format!(
                "add element {t} {map} {{ \"{br}\" : jump {chain} }}"
            ));
            s.push(format!("delete element {t} {map} {{ \"{br}\" }}"));
        }
        s.push(format!("add element {t} bridges {{ \"{br}\" }}"));
        s.push(format!("delete element {t} bridges {{ \"{br}\" }}"));
        for (_, chain) in &chains {
            s.push(format!("flush chain {t} {chain}"));
            s.push(format!("delete chain {t} {chain}"));
        }
    }

    /// Remove the whole table, whether or not it exists.
    pub fn table_removal(&self, s: &mut Script) {
        let t = self.t();
        s.push(format!("add table {t}"));
        s.push(format!("delete table {t}"));
    }

    fn regular_chain(&self, s: &mut Script, name: &str) {
        let t = self.t();
        s.push(format!("add chain {t} {name}"));
        s.push(format!("flush chain {t} {name}"));
    }

    fn base_chain(&self, s: &mut Script, name: &str, kind: &str, hook: &str, prio: &str) {
        let t = self.t();
        s.push(format!(
            "add chain {t} {name} {{ type {kind} hook {hook} priority {prio}; policy accept; }}"
        ));
        s.push(format!("flush chain {t} {name}"));
    }
}
