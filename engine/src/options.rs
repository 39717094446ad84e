//! What `rcrun run` (or another caller) asks for, parsed and validated:
//! [`RunOptions`] is stored in the container record as given, so `inspect`
//! shows it and the restart policy can run the container again.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcrun_netapi::PortMapping;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// How a container is networked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NetworkMode {
    /// A built-in bridge network by name (`bridge` is the default one).
    Bridge(String),
    /// A loopback-only network namespace.
    None,
    /// The host's network namespace.
    Host,
    /// Join another container's sandbox.
    Container(String),
    /// A CNI network from the conf dir.
    Cni(String),
}

impl Default for NetworkMode {
    fn default() -> Self {
        NetworkMode::Bridge("bridge".into())
    }
}

impl FromStr for NetworkMode {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| EngineError::invalid("--network", s, reason);
        Ok(match s {
            "" | "default" | "bridge" => NetworkMode::Bridge("bridge".into()),
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => {
                if let Some(c) = s.strip_prefix("container:") {
                    if c.is_empty() {
                        return Err(bad("name the container: container:<id|name>"));
                    }
                    NetworkMode::Container(c.to_string())
                } else if let Some(c) = s.strip_prefix("cni:") {
                    if c.is_empty() {
                        return Err(bad("name the CNI network: cni:<name>"));
                    }
                    NetworkMode::Cni(c.to_string())
                } else {
                    NetworkMode::Bridge(s.to_string())
                }
            }
        })
    }
}

impl TryFrom<String> for NetworkMode {
    type Error = EngineError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<NetworkMode> for String {
    fn from(m: NetworkMode) -> String {
        m.to_string()
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Bridge(n) => write!(f, "{n}"),
            NetworkMode::None => write!(f, "none"),
            NetworkMode::Host => write!(f, "host"),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
            NetworkMode::Cni(c) => write!(f, "cni:{c}"),
        }
    }
}

/// `--restart`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RestartPolicy {
    /// Never restart.
    #[default]
    No,
    /// Restart after a non-zero exit, at most N times when given.
    OnFailure(Option<u32>),
    /// Restart after every exit (not after `stop`).
    Always,
    /// As `always` (there is no daemon restart to tell them apart).
    UnlessStopped,
}

impl RestartPolicy {
    /// Should a container that exited with `code`, restarted `count` times
    /// already, be started again?
    pub fn should_restart(&self, code: i32, count: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| count < m),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

impl FromStr for RestartPolicy {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            EngineError::invalid(
                "--restart",
                s,
                "use no, on-failure[:MAX], always or unless-stopped",
            )
        };
        Ok(match s {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure(None),
            _ => match s.strip_prefix("on-failure:") {
                Some(n) => RestartPolicy::OnFailure(Some(n.parse().map_err(|_| bad())?)),
                None => return Err(bad()),
            },
        })
    }
}

impl TryFrom<String> for RestartPolicy {
    type Error = EngineError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<RestartPolicy> for String {
    fn from(p: RestartPolicy) -> String {
        match p {
            RestartPolicy::No => "no".into(),
            RestartPolicy::OnFailure(None) => "on-failure".into(),
            RestartPolicy::OnFailure(Some(n)) => format!("on-failure:{n}"),
            RestartPolicy::Always => "always".into(),
            RestartPolicy::UnlessStopped => "unless-stopped".into(),
        }
    }
}

/// Everything `run` accepts, already parsed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOptions {
    /// Image reference or id.
    pub image: String,
    /// Command (replaces the image's Cmd).
    pub command: Vec<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `-d`.
    pub detach: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-p`, parsed.
    pub publish: Vec<PortMapping>,
    /// `-P`.
    pub publish_all: bool,
    /// `-e` and `--env-file` entries, `KEY=VALUE`.
    pub env: Vec<String>,
    /// `-v` specs as given.
    pub volumes: Vec<String>,
    /// `--tmpfs` specs as given.
    pub tmpfs: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--entrypoint` (empty string clears it).
    pub entrypoint: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--dns`.
    pub dns: Vec<IpAddr>,
    /// `--add-host NAME:IP`, parsed.
    pub add_hosts: Vec<(String, IpAddr)>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--security-opt` entries as given.
    pub security_opt: Vec<String>,
    /// `--memory` in bytes.
    pub memory: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--init`.
    pub init: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--ip`.
    pub ip: Option<IpAddr>,
    /// `--network-alias`.
    pub network_aliases: Vec<String>,
    /// `--pod`.
    pub pod: Option<String>,
    /// Pull over plain HTTP / unverified TLS (`--tls-verify=false`).
    pub insecure_registry: bool,
}

/// Parse `--memory` (`512m`, `1g`, `1048576`, `100k`, `1.5g`) into bytes.
pub fn parse_memory(s: &str) -> Result<i64> {
    let bad = || EngineError::invalid("--memory", s, "use a size like 512m or 1g");
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(bad());
    }
    let bytes = (n * mult as f64) as i64;
    if bytes < 6 << 20 {
        return Err(EngineError::invalid(
            "--memory",
            s,
            "the minimum memory limit is 6m",
        ));
    }
    Ok(bytes)
}

/// Parse `--cpus` (`1.5`).
pub fn parse_cpus(s: &str) -> Result<f64> {
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(EngineError::invalid(
            "--cpus",
            s,
            "use a positive number of CPUs like 0.5 or 2",
        )),
    }
}

/// Parse `--add-host NAME:IP` (`NAME=IP` too; IPv6 may be bracketed).
pub fn parse_add_host(s: &str) -> Result<(String, IpAddr)> {
    let bad = || EngineError::invalid("--add-host", s, "use NAME:IP");
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(bad)?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), ip.parse().map_err(|_| bad())?))
}

/// Parse one `--env-file` line list into `KEY=VALUE` entries (comments and
/// blank lines skipped; a bare `KEY` takes the value from `lookup`).
pub fn parse_env_file(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains('=') {
            out.push(line.to_string());
        } else if let Some(v) = lookup(line.trim_end()) {
            out.push(format!("{}={v}", line.trim_end()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_modes_parse_and_print() {
        for s in [
            "bridge",
            "none",
            "host",
            "container:web",
            "cni:mynet",
            "user1",
        ] {
            assert_eq!(s.parse::<NetworkMode>().unwrap().to_string(), s);
        }
        assert!("container:".parse::<NetworkMode>().is_err());
    }

    #[test]
    fn restart_policies() {
        let p: RestartPolicy = "on-failure:2".parse().unwrap();
        assert!(p.should_restart(1, 1));
        assert!(!p.should_restart(1, 2));
        assert!(!p.should_restart(0, 0));
        assert!("always"
            .parse::<RestartPolicy>()
            .unwrap()
            .should_restart(0, 9));
        assert!("sometimes".parse::<RestartPolicy>().is_err());
    }

    #[test]
    fn sizes_and_hosts() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert!(parse_memory("1k").is_err());
        assert!(parse_memory("lots").is_err());
        assert_eq!(
            parse_add_host("db:10.0.0.5").unwrap(),
            ("db".to_string(), "10.0.0.5".parse().unwrap())
        );
        assert!(parse_add_host("db").is_err());
        let env = parse_env_file("# c\nA=1\n\nB\nC\n", &|k| (k == "B").then(|| "2".into()));
        assert_eq!(env, vec!["A=1", "B=2"]);
    }
}
