//! Applies the run options' security settings to a spec with
//! [`crate::security_defaults`]: docker's default capability set with
//! `--cap-add`/`--cap-drop`, or everything with `--privileged`; docker's
//! default seccomp profile unless `--security-opt seccomp=unconfined|FILE`
//! or `--privileged`; `--security-opt no-new-privileges[:true|false]`.
//! `apparmor=unconfined` and `label=disable` are accepted as no-ops (rcrun
//! applies no LSM profile); any other `--security-opt` is an error.

use oci_spec::runtime::Spec;
use serde_json::Value;

use crate::error::{EngineError, Result};
use crate::options::RunOptions;
use crate::security_defaults as sd;

/// What `--security-opt` values ask for.
#[derive(Debug, Default, PartialEq, Eq)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp: Option<String>,
}

fn parse_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for o in opts {
        let (k, v) = o
            .split_once('=')
            .or_else(|| o.split_once(':'))
            .unwrap_or((o.as_str(), ""));
        match (k, v) {
            ("no-new-privileges", "" | "true") => out.no_new_privileges = true,
            ("no-new-privileges", "false") => out.no_new_privileges = false,
            ("seccomp", p) if !p.is_empty() => out.seccomp = Some(p.to_string()),
            ("apparmor", "unconfined") | ("label", "disable") => {}
            _ => {
                return Err(EngineError::invalid(
                    "--security-opt",
                    o,
                    "use no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json",
                ))
            }
        }
    }
    Ok(out)
}

/// Names of the capabilities in this process's bounding set (empty when
/// it cannot be read).
fn host_bounding() -> Vec<String> {
    caps::read(None, caps::CapSet::Bounding)
        .map(|set| set.into_iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

fn corrupt(e: serde_json::Error) -> EngineError {
    EngineError::Corrupt {
        path: "config.json".into(),
        source: e,
    }
}

/// Set capabilities, `noNewPrivileges` and `linux.seccomp` on `spec`.
pub fn apply(spec: &mut Value, opts: &RunOptions) -> Result<()> {
    let sec = parse_opts(&opts.security_opt)?;
    let mut s: Spec = serde_json::from_value(spec.clone()).map_err(corrupt)?;
    if opts.privileged {
        sd::apply_privileged(&mut s)?;
        // Every capability this host can grant: root here may lack some.
        let host = host_bounding();
        let caps: Vec<String> = sd::bounding_caps(&s)
            .into_iter()
            .filter(|c| host.is_empty() || host.contains(c))
            .collect();
        sd::set_caps(&mut s, &caps)?;
    } else {
        sd::apply_caps(&mut s, &opts.cap_add, &opts.cap_drop)?;
        match &sec.seccomp {
            Some(p) => sd::apply_seccomp_option(&mut s, p)?,
            None => sd::apply_default_seccomp(&mut s)?,
        }
    }
    let mut v = serde_json::to_value(&s).map_err(corrupt)?;
    v["process"]["noNewPrivileges"] = Value::Bool(sec.no_new_privileges);
    *spec = v;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
            "root": {"path": "/r"},
            "linux": {"maskedPaths": ["/proc/kcore"]},
        })
    }

    #[test]
    fn defaults_give_docker_caps_and_a_seccomp_filter() {
        let mut spec = base();
        apply(&mut spec, &RunOptions::default()).unwrap();
        let caps = spec["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert!(caps.contains(&json!("CAP_CHOWN")));
        assert!(!caps.contains(&json!("CAP_SYS_ADMIN")));
        assert!(spec["linux"]["seccomp"].is_object());
        assert_eq!(spec["process"]["noNewPrivileges"], false);
    }

    #[test]
    fn options_change_caps_seccomp_and_nnp() {
        let mut spec = base();
        let opts = RunOptions {
            cap_add: vec!["NET_ADMIN".into()],
            cap_drop: vec!["chown".into()],
            security_opt: vec!["no-new-privileges".into(), "seccomp=unconfined".into()],
            ..Default::default()
        };
        apply(&mut spec, &opts).unwrap();
        let caps = spec["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert!(caps.contains(&json!("CAP_NET_ADMIN")));
        assert!(!caps.contains(&json!("CAP_CHOWN")));
        assert!(spec["linux"]["seccomp"].is_null());
        assert_eq!(spec["process"]["noNewPrivileges"], true);
        assert!(parse_opts(&["apparmor=foo".into()]).is_err());
        assert!(apply(
            &mut base(),
            &RunOptions {
                cap_add: vec!["NOT_A_CAP".into()],
                ..Default::default()
            }
        )
        .is_err());
    }
}
