//! Coexistence with iptables' own `filter FORWARD` chain.
//!
//! A forwarded packet must be accepted by every base chain on the forward
//! hook. When dockerd (or a user) set the iptables FORWARD policy to DROP,
//! rcrun's accept in its own table is not enough, so rcrun inserts ONE rule of
//! its own at the top of that chain — `-m mark --mark M/M -m comment --comment
//! "rcrun table <t>" -j ACCEPT` — matching the mark rcrun's forward chain (which
//! runs earlier, at priority filter - 10) put on the packets it accepted. It
//! does so only where the chain exists and removes it with the last network.
//!
//! * iptables-nft: the chain is visible to nft as `ip filter FORWARD` /
//!   `ip6 filter FORWARD`; the rule is added with `iptables-nft`/`ip6tables-nft`.
//! * iptables-legacy: its tables are invisible to nft; rcrun detects them in
//!   `/proc/net/ip_tables_names` / `ip6_tables_names` and adds the same rule
//!   with `iptables-legacy`/`ip6tables-legacy` (x_tables hooks also run at
//!   priority 0, after rcrun's chain, so the mark is already set).
//!
//! A chain created after the network (dockerd started later) is not patched
//! until `rcrun network reload`.

use std::process::Command;

use super::nft::exec::{list_json, objects, Nft};
use super::FirewallError;

/// One place a FORWARD chain may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Nft4,
    Nft6,
    Legacy4,
    Legacy6,
}

impl Backend {
    fn binary(self) -> &'static str {
        match self {
            Backend::Nft4 => "iptables-nft",
            Backend::Nft6 => "ip6tables-nft",
            Backend::Legacy4 => "iptables-legacy",
            Backend::Legacy6 => "ip6tables-legacy",
        }
    }
}

/// The FORWARD accept rule of one rcrun table.
#[derive(Debug, Clone)]
pub struct ForwardAccept {
    /// How nft is run, to see iptables-nft chains.
    pub nft: Nft,
    /// The mark (and mask) to accept.
    pub mark: u32,
    /// The rcrun table the rule belongs to (goes into its comment).
    pub table: String,
}

impl ForwardAccept {
    fn rule(&self) -> Vec<String> {
        let mark = format!("{:#x}/{:#x}", self.mark, self.mark);
        let comment = format!("rcrun table {}", self.table);
        [
            "FORWARD",
            "-m",
            "mark",
            "--mark",
            &mark,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "ACCEPT",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// The FORWARD chains that exist on this host.
    fn present(&self) -> Result<Vec<Backend>, FirewallError> {
        let mut found = Vec::new();
        if let Some(listing) = list_json(&self.nft, &["list", "chains"])? {
            for c in objects(&listing, "chain") {
                let is = |k: &str, v: &str| c.get(k).and_then(|x| x.as_str()) == Some(v);
                if is("table", "filter") && is("name", "FORWARD") {
                    if is("family", "ip") {
                        found.push(Backend::Nft4);
                    } else if is("family", "ip6") {
                        found.push(Backend::Nft6);
                    }
                }
            }
        }
        for (file, b) in [
            ("/proc/net/ip_tables_names", Backend::Legacy4),
            ("/proc/net/ip6_tables_names", Backend::Legacy6),
        ] {
            let names = std::fs::read_to_string(file).unwrap_or_default();
            if names.lines().any(|l| l.trim() == "filter") {
                found.push(b);
            }
        }
        Ok(found)
    }

    /// Run `bin -w <op> <rule>`; `Ok(None)` when the binary is not installed.
    fn run(&self, b: Backend, op: &str) -> Result<Option<bool>, FirewallError> {
        let mut cmd = Command::new(b.binary());
        cmd.arg("-w").arg(op).args(self.rule());
        let out = match cmd.output() {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    binary = b.binary(),
                    "not installed; FORWARD rule not managed"
                );
                return Ok(None);
            }
            Err(e) => {
                return Err(FirewallError::Spawn {
                    program: b.binary().to_string(),
                    source: e,
                })
            }
        };
        if out.status.success() {
            return Ok(Some(true));
        }
        if op == "-C" {
            // 1: rule absent (or chain absent); anything else is a real failure.
            if out.status.code() == Some(1) {
                return Ok(Some(false));
            }
        }
        Err(FirewallError::Iptables {
            command: format!("{} -w {op} {}", b.binary(), self.rule().join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Insert the rule at the top of every existing FORWARD chain that lacks it.
    pub fn ensure(&self) -> Result<(), FirewallError> {
        for b in self.present()? {
            if self.run(b, "-C")? == Some(false) {
                self.run(b, "-I")?;
            }
        }
        Ok(())
    }

    /// Remove the rule from every FORWARD chain that has it.
    pub fn remove(&self) -> Result<(), FirewallError> {
        for b in self.present()? {
            // At most a few copies can exist (a crash between -C and -I); bound the loop.
            for _ in 0..8 {
                if self.run(b, "-C")? != Some(true) {
                    break;
                }
                self.run(b, "-D")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn rule_names_mark_and_table() {
        let f = ForwardAccept {
            nft: Nft::Binary(PathBuf::from("nft")),
            mark: 0x1000,
            table: "rcrun".into(),
        };
        assert_eq!(
            f.rule().join(" "),
            "FORWARD -m mark --mark 0x1000/0x1000 -m comment --comment rcrun table rcrun -j ACCEPT"
        );
    }
}
