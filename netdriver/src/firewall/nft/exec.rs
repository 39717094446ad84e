//! Running nft commands: scripts as one transaction and JSON listings of
//! what rcrun's table holds, in-process through libnftables when it loads
//! ([`super::libnft`]), else through the `nft` binary (`nft -f -`).

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::libnft;
use super::script::Script;
use crate::firewall::FirewallError;

/// How nft commands are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nft {
    /// Decided at the first command: the library when it loads, else `nft`
    /// from `$PATH` (commands that never touch nftables load nothing).
    Auto,
    /// In-process, through libnftables.so.1.
    Library,
    /// By spawning this `nft` binary.
    Binary(PathBuf),
}

impl Nft {
    /// The library when it loads, else `nft` from `$PATH`.
    pub fn detect() -> Nft {
        if libnft::available() {
            Nft::Library
        } else {
            Nft::Binary(PathBuf::from("nft"))
        }
    }

    fn name(&self) -> String {
        match self {
            Nft::Auto => Nft::detect().name(),
            Nft::Library => "libnftables.so.1".to_string(),
            Nft::Binary(p) => p.display().to_string(),
        }
    }

    /// Run `input` (`-f -` style script) with or without JSON output.
    fn run(&self, input: &str, json: bool) -> Result<libnft::LibOutput, FirewallError> {
        let bin = match self {
            Nft::Auto => return Nft::detect().run(input, json),
            Nft::Library => {
                return libnft::run(input, json).ok_or_else(|| FirewallError::Spawn {
                    program: self.name(),
                    source: std::io::Error::other("libnftables could not run the commands"),
                })
            }
            Nft::Binary(bin) => bin,
        };
        let spawn_err = |source| FirewallError::Spawn {
            program: self.name(),
            source,
        };
        let mut cmd = Command::new(bin);
        if json {
            cmd.arg("-j");
        }
        let mut child = cmd
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        Ok(libnft::LibOutput {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Why a script was refused.
#[derive(Debug)]
pub struct Refused {
    /// The 1-based script line nft points at, if any.
    pub line: Option<usize>,
    /// nft's error output.
    pub stderr: String,
}

impl Refused {
    /// nft said an object (element, table) already exists with other data.
    pub fn exists(&self) -> bool {
        self.stderr.contains("File exists")
    }
    /// nft said a table, chain, set or element does not exist.
    pub fn missing(&self) -> bool {
        self.stderr.contains("No such file or directory")
    }

    /// The typed error for `operation`.
    pub fn into_error(self, script: &Script, operation: &str) -> FirewallError {
        FirewallError::Nft {
            operation: operation.to_string(),
            failed: self.line.and_then(|l| script.describe_line(l)),
            stderr: self.stderr.trim().to_string(),
        }
    }
}

/// Apply `script` as one transaction. `Ok(Err(_))` is a refusal by nft
/// (nothing applied); `Err(_)` means nft could not be run at all.
pub fn apply(nft: &Nft, script: &Script) -> Result<Result<(), Refused>, FirewallError> {
    let out = nft.run(&script.text(), false)?;
    if out.ok {
        return Ok(Ok(()));
    }
    Ok(Err(Refused {
        line: script.locate_error(&out.stderr),
        stderr: out.stderr,
    }))
}

/// `nft -j <args>`: `Ok(None)` when the object does not exist.
pub fn list_json(nft: &Nft, args: &[&str]) -> Result<Option<Value>, FirewallError> {
    let command = args.join(" ");
    let out = nft.run(&format!("{command}\n"), true)?;
    if !out.ok {
        if out.stderr.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(FirewallError::NftOutput {
            command,
            reason: out.stderr.trim().to_string(),
        });
    }
    serde_json::from_str(&out.stdout)
        .map(Some)
        .map_err(|e| FirewallError::NftOutput {
            command,
            reason: e.to_string(),
        })
}

/// The objects of kind `kind` (`map`, `set`, `chain`) in a JSON listing.
pub fn objects<'a>(listing: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    listing
        .get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |o| o.get(kind))
}

/// The string elements of a set object (e.g. the `bridges` ifname set).
pub fn set_strings(set: &Value) -> Vec<String> {
    set.get("elem")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            e.as_str()
                .map(str::to_string)
                .or_else(|| e.pointer("/elem/val")?.as_str().map(str::to_string))
        })
        .collect()
}

/// One element of a DNAT map as listed by nft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedElement {
    /// Host address (IP-bound maps) or `None` (wildcard maps).
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Container address.
    pub ctr_ip: IpAddr,
    /// Container port.
    pub ctr_port: u16,
    /// The element comment: the sandbox id.
    pub comment: Option<String>,
}

fn port(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|p| u16::try_from(p).ok())
}

fn addr_port(v: &Value) -> Option<(IpAddr, u16)> {
    let c = v.get("concat")?.as_array()?;
    let ip = c.first()?.as_str()?.parse().ok()?;
    Some((ip, port(c.get(1)?)?))
}

/// Parse the elements of a DNAT map object (`[key, value]` pairs where the key
/// may be wrapped as `{"elem": {"val": key, "comment": ...}}`).
pub fn map_elements(map: &Value) -> Vec<ListedElement> {
    let mut out = Vec::new();
    for pair in map
        .get("elem")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some([key, val]) = pair.as_array().map(Vec::as_slice) else {
            continue;
        };
        let (key, comment) = match key.get("elem") {
            Some(e) => (
                e.get("val").unwrap_or(&Value::Null),
                e.get("comment").and_then(Value::as_str).map(str::to_string),
            ),
            None => (key, None),
        };
        let (host_ip, host_port) = match port(key) {
            Some(p) => (None, p),
            None => match addr_port(key) {
                Some((ip, p)) => (Some(ip), p),
                None => continue,
            },
        };
        let Some((ctr_ip, ctr_port)) = addr_port(val) else {
            continue;
        };
        out.push(ListedElement {
            host_ip,
            host_port,
            ctr_ip,
            ctr_port,
            comment,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_map_elements_with_and_without_comments() {
        let j: Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {}}, {"map": {"family": "inet", "name": "dnat_tcp4", "table": "t",
              "elem": [[{"elem": {"val": {"concat": ["127.0.0.1", 8080]}, "comment": "sb1"}}, {"concat": ["10.211.1.2", 80]}],
                       [{"concat": ["192.0.2.2", 9090]}, {"concat": ["10.211.1.3", 90]}]]}},
              {"map": {"name": "dnat_tcp4_any", "elem": [[{"elem": {"val": 8081, "comment": "sb2"}}, {"concat": ["10.211.1.4", 81]}]]}}]}"#,
        )
        .unwrap();
        let maps: Vec<_> = objects(&j, "map").collect();
        assert_eq!(maps.len(), 2);
        let a = map_elements(maps[0]);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(a[0].host_port, 8080);
        assert_eq!(a[0].comment.as_deref(), Some("sb1"));
        assert_eq!(a[1].comment, None);
        assert_eq!(a[1].ctr_port, 90);
        let b = map_elements(maps[1]);
        assert_eq!(b[0].host_ip, None);
        assert_eq!(b[0].host_port, 8081);
        assert_eq!(b[0].ctr_ip, "10.211.1.4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn parses_set_strings() {
        let j: Value =
            serde_json::from_str(r#"{"set": {"name": "bridges", "elem": ["rnf0", "rnf1"]}}"#)
                .unwrap();
        assert_eq!(set_strings(&j["set"]), vec!["rnf0", "rnf1"]);
        let empty: Value = serde_json::from_str(r#"{"set": {"name": "bridges"}}"#).unwrap();
        assert!(set_strings(&empty["set"]).is_empty());
    }
}
