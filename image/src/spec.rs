//! Image config -> what a container runs: command (Entrypoint + Cmd combined
//! as docker does, with `--entrypoint` and run arguments), environment,
//! working dir, user (looked up in the image's rootfs), exposed ports, stop
//! signal and labels. One function for the `rcrun` CLI and the CRI server;
//! [`ProcessConfig::apply_to`] fills an OCI runtime spec's process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{Process, Spec, User};

use crate::error::{ImageError, Result};
use crate::passwd::{resolve_user, resolve_with, ExecUser};
use crate::signal::parse_signal;

/// The PATH a container gets when neither the image nor the user sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the person (or kubelet) asked for on top of the image.
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    /// `--entrypoint`: replaces the image's Entrypoint and drops its Cmd
    /// (docker semantics); `Some(vec![])` clears the entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Run arguments: replace the image's Cmd when non-empty.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries added to (and overriding) the image's Env.
    pub env: Vec<String>,
    /// `--user`, replacing the image's User.
    pub user: Option<String>,
    /// `--workdir`, replacing the image's WorkingDir.
    pub workdir: Option<String>,
}

/// A port the image declares (`80/tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExposedPort {
    /// Port number.
    pub port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub proto: Proto,
}

/// Transport protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// The process a container from this image runs, and the image's metadata
/// the orchestration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessConfig {
    /// argv.
    pub args: Vec<String>,
    /// `KEY=VALUE` environment, image first, overrides applied, PATH and
    /// HOME filled in when missing.
    pub env: Vec<String>,
    /// Working directory (absolute).
    pub cwd: String,
    /// The user as written (`www-data`, `1000:1000`, empty for root).
    pub user_spec: String,
    /// The resolved user.
    pub user: ExecUser,
    /// Declared ports, sorted (for `-P`).
    pub exposed_ports: Vec<ExposedPort>,
    /// Stop signal name (`SIGTERM` unless the image says otherwise).
    pub stop_signal: String,
    /// Stop signal number.
    pub stop_signal_number: i32,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
}

/// Combine `image` and `ov` for a container whose root filesystem is
/// `rootfs` (the mounted overlay, for user lookup). `image_name` names the
/// image in errors.
pub fn process_config(
    image: &ImageConfiguration,
    rootfs: &Path,
    ov: &RunOverrides,
    image_name: &str,
) -> Result<ProcessConfig> {
    let cfg = image.config().clone().unwrap_or_default();
    let user_spec = user_spec(&cfg, ov);
    let user = resolve_user(rootfs, &user_spec)?;
    build(&cfg, ov, image_name, user_spec, user)
}

/// [`process_config`] with passwd and group given as text instead of read
/// from a rootfs (for callers that have no mounted rootfs yet, and tests).
pub fn process_config_with(
    image: &ImageConfiguration,
    passwd: &str,
    group: &str,
    ov: &RunOverrides,
    image_name: &str,
) -> Result<ProcessConfig> {
    let cfg = image.config().clone().unwrap_or_default();
    let user_spec = user_spec(&cfg, ov);
    let user = resolve_with(&user_spec, passwd, group)?;
    build(&cfg, ov, image_name, user_spec, user)
}

/// The user to run as: the override, else the image's, else root (empty).
fn user_spec(cfg: &oci_spec::image::Config, ov: &RunOverrides) -> String {
    ov.user
        .clone()
        .or_else(|| cfg.user().clone())
        .unwrap_or_default()
}

fn build(
    cfg: &oci_spec::image::Config,
    ov: &RunOverrides,
    image_name: &str,
    user_spec: String,
    user: ExecUser,
) -> Result<ProcessConfig> {
    // docker: --entrypoint resets the image's Cmd; run args replace Cmd.
    let (entrypoint, default_cmd) = match &ov.entrypoint {
        Some(ep) => (ep.clone(), Vec::new()),
        None => (
            cfg.entrypoint().clone().unwrap_or_default(),
            cfg.cmd().clone().unwrap_or_default(),
        ),
    };
    let cmd = if ov.args.is_empty() {
        default_cmd
    } else {
        ov.args.clone()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(ImageError::NoCommand {
            image: image_name.to_string(),
        });
    }
    let mut env = merge_env(cfg.env().as_deref().unwrap_or(&[]), &ov.env);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let cwd = ov
        .workdir
        .clone()
        .or_else(|| cfg.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(ImageError::InvalidContent {
            what: "working directory",
            digest: cwd,
            reason: "must be an absolute path".into(),
        });
    }
    let mut exposed_ports = Vec::new();
    for p in cfg.exposed_ports().as_deref().unwrap_or(&[]) {
        exposed_ports.push(parse_port(p)?);
    }
    exposed_ports.sort();
    exposed_ports.dedup();
    let stop = cfg
        .stop_signal()
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "SIGTERM".into());
    let (stop_signal, stop_signal_number) = parse_signal(&stop)?;
    let labels = cfg
        .labels()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(ProcessConfig {
        args,
        env,
        cwd,
        user_spec,
        user,
        exposed_ports,
        stop_signal,
        stop_signal_number,
        labels,
    })
}

impl ProcessConfig {
    /// Set the spec's process args, env, cwd and user from this config
    /// (other process fields — capabilities, rlimits, terminal — are kept).
    pub fn apply_to(&self, spec: &mut Spec) {
        let mut p: Process = spec.process().clone().unwrap_or_default();
        p.set_args(Some(self.args.clone()));
        p.set_env(Some(self.env.clone()));
        p.set_cwd(PathBuf::from(&self.cwd));
        let mut u = User::default();
        u.set_uid(self.user.uid);
        u.set_gid(self.user.gid);
        if !self.user.additional_gids.is_empty() {
            u.set_additional_gids(Some(self.user.additional_gids.clone()));
        }
        p.set_user(u);
        spec.set_process(Some(p));
    }
}

/// Image env then overrides; a later `KEY=` replaces an earlier one in place.
fn merge_env(image: &[String], overrides: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in image.iter().chain(overrides) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match out
            .iter_mut()
            .find(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

/// Parse `80`, `80/tcp`, `53/udp`.
pub fn parse_port(s: &str) -> Result<ExposedPort> {
    let bad = || ImageError::InvalidContent {
        what: "exposed port",
        digest: s.to_string(),
        reason: "expected PORT[/tcp|udp|sctp]".into(),
    };
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "sctp" => Proto::Sctp,
        _ => return Err(bad()),
    };
    let port = port.parse::<u16>().map_err(|_| bad())?;
    Ok(ExposedPort { port, proto })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:\n";

    fn image(config: serde_json::Value) -> ImageConfiguration {
        let v = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": config,
        });
        serde_json::from_value(v).unwrap()
    }

    fn run(img: &ImageConfiguration, ov: RunOverrides) -> Result<ProcessConfig> {
        process_config_with(img, PASSWD, GROUP, &ov, "test")
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_combinations() {
        let both = image(serde_json::json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"]}));
        let cmd_only = image(serde_json::json!({"Cmd": ["sh"]}));
        let ep_only = image(serde_json::json!({"Entrypoint": ["/ep", "-x"]}));
        let none = image(serde_json::json!({}));
        let cases: Vec<(&ImageConfiguration, RunOverrides, Option<Vec<String>>)> = vec![
            (
                &both,
                RunOverrides::default(),
                Some(args(&["/ep", "a", "b"])),
            ),
            (
                &both,
                RunOverrides {
                    args: args(&["c"]),
                    ..Default::default()
                },
                Some(args(&["/ep", "c"])),
            ),
            // --entrypoint drops the image's Cmd.
            (
                &both,
                RunOverrides {
                    entrypoint: Some(args(&["/new"])),
                    ..Default::default()
                },
                Some(args(&["/new"])),
            ),
            (
                &both,
                RunOverrides {
                    entrypoint: Some(args(&["/new"])),
                    args: args(&["x"]),
                    ..Default::default()
                },
                Some(args(&["/new", "x"])),
            ),
            // --entrypoint "" clears it; the run args are the command.
            (
                &both,
                RunOverrides {
                    entrypoint: Some(vec![]),
                    args: args(&["ls"]),
                    ..Default::default()
                },
                Some(args(&["ls"])),
            ),
            (&cmd_only, RunOverrides::default(), Some(args(&["sh"]))),
            (
                &cmd_only,
                RunOverrides {
                    args: args(&["echo", "hi"]),
                    ..Default::default()
                },
                Some(args(&["echo", "hi"])),
            ),
            (
                &ep_only,
                RunOverrides::default(),
                Some(args(&["/ep", "-x"])),
            ),
            (
                &ep_only,
                RunOverrides {
                    args: args(&["y"]),
                    ..Default::default()
                },
                Some(args(&["/ep", "-x", "y"])),
            ),
            (
                &none,
                RunOverrides {
                    args: args(&["true"]),
                    ..Default::default()
                },
                Some(args(&["true"])),
            ),
            (&none, RunOverrides::default(), None),
            (
                &both,
                RunOverrides {
                    entrypoint: Some(vec![]),
                    ..Default::default()
                },
                None,
            ),
        ];
        for (i, (img, ov, want)) in cases.into_iter().enumerate() {
            match (run(img, ov), want) {
                (Ok(pc), Some(w)) => assert_eq!(pc.args, w, "case {i}"),
                (Err(ImageError::NoCommand { .. }), None) => {}
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn env_merges_with_user_env_winning_and_defaults_filled() {
        let img = image(serde_json::json!({"Cmd": ["sh"], "Env": ["A=1", "B=2"]}));
        let pc = run(
            &img,
            RunOverrides {
                env: args(&["B=3", "C=4"]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            pc.env,
            args(&[
                &format!("PATH={DEFAULT_PATH}"),
                "A=1",
                "B=3",
                "C=4",
                "HOME=/root"
            ])
        );
        let img = image(serde_json::json!({"Cmd": ["sh"], "Env": ["PATH=/x", "HOME=/h"]}));
        assert_eq!(
            run(&img, RunOverrides::default()).unwrap().env,
            args(&["PATH=/x", "HOME=/h"])
        );
    }

    #[test]
    fn user_workdir_ports_signal_labels() {
        let img = image(serde_json::json!({
            "Cmd": ["nginx"], "User": "www-data", "WorkingDir": "/srv",
            "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8080": {}},
            "StopSignal": "SIGQUIT", "Labels": {"a": "b"}
        }));
        let pc = run(&img, RunOverrides::default()).unwrap();
        assert_eq!((pc.user.uid, pc.user.gid), (33, 33));
        assert!(pc.env.contains(&"HOME=/var/www".to_string()));
        assert_eq!(pc.cwd, "/srv");
        assert_eq!(
            pc.exposed_ports,
            vec![
                ExposedPort {
                    port: 53,
                    proto: Proto::Udp
                },
                ExposedPort {
                    port: 80,
                    proto: Proto::Tcp
                },
                ExposedPort {
                    port: 8080,
                    proto: Proto::Tcp
                },
            ]
        );
        assert_eq!(
            (pc.stop_signal.as_str(), pc.stop_signal_number),
            ("SIGQUIT", libc::SIGQUIT)
        );
        assert_eq!(pc.labels.get("a").map(String::as_str), Some("b"));
        // Overrides win; unknown names fail naming the user.
        let pc = run(
            &img,
            RunOverrides {
                user: Some("0:33".into()),
                workdir: Some("/tmp".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((pc.user.uid, pc.user.gid, pc.cwd.as_str()), (0, 33, "/tmp"));
        let e = run(
            &img,
            RunOverrides {
                user: Some("ghost".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("ghost"));
        assert!(run(
            &img,
            RunOverrides {
                workdir: Some("rel".into()),
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn apply_to_fills_the_process_of_a_spec() {
        let img = image(serde_json::json!({"Cmd": ["sh"], "User": "www-data"}));
        let pc = run(&img, RunOverrides::default()).unwrap();
        let mut spec = Spec::default();
        pc.apply_to(&mut spec);
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &args(&["sh"]));
        assert_eq!(p.user().uid(), 33);
        assert_eq!(p.cwd(), Path::new("/"));
    }
}
