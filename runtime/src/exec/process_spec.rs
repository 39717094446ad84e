//! The process spec of an `exec`, as runc builds it: either a whole
//! `process.json` (`--process`), or the container's `config.json` process
//! with the command line's overrides (args, env, cwd, user, groups, caps,
//! tty, no_new_privs). Either way, capabilities and rlimits the given spec
//! leaves out are the container's.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, Process};

use crate::error::{Result, RuntimeError};

/// The `exec` command line's changes to the container's process spec.
#[derive(Debug, Clone, Default)]
pub struct ProcessOverrides {
    /// The command and its arguments (required).
    pub args: Vec<String>,
    /// `KEY=VALUE` entries appended to the environment (`-e`).
    pub env: Vec<String>,
    /// Working directory (`--cwd`).
    pub cwd: Option<PathBuf>,
    /// `uid` and optional `gid` (`-u uid[:gid]`).
    pub user: Option<(u32, Option<u32>)>,
    /// Supplementary groups appended (`--additional-gids`).
    pub additional_gids: Vec<u32>,
    /// Capabilities added to bounding, effective and permitted (`--cap`),
    /// and to ambient when the spec has inheritable ones, as runc does.
    pub caps: Vec<String>,
    /// Allocate a terminal (`-t`).
    pub tty: bool,
    /// Set no_new_privs (`--no-new-privs`); `None` keeps the config's.
    pub no_new_privs: Option<bool>,
    /// AppArmor profile (`--apparmor`).
    pub apparmor: Option<String>,
    /// SELinux process label (`--process-label`).
    pub process_label: Option<String>,
}

/// Parse `uid[:gid]` as given to `exec -u` (numeric ids, as runc).
pub fn parse_user(s: &str) -> Result<(u32, Option<u32>)> {
    let bad = || {
        RuntimeError::spec(
            "exec --user",
            format!("{s:?} is not uid[:gid] (numbers, e.g. 1000:1000)"),
        )
    };
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse::<u32>().map_err(|_| bad())?;
    let gid = match g {
        Some(g) => Some(g.parse::<u32>().map_err(|_| bad())?),
        None => None,
    };
    Ok((uid, gid))
}

/// Read a `process.json` (`exec --process`).
pub fn load_process(path: &Path) -> Result<Process> {
    let text = std::fs::read(path).map_err(|e| RuntimeError::io(path, e))?;
    let p: Process = serde_json::from_slice(&text).map_err(|e| RuntimeError::InvalidConfig {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    validate(&p)?;
    Ok(p)
}

/// The container's process with the command line's overrides applied.
pub fn with_overrides(base: &Process, o: &ProcessOverrides) -> Result<Process> {
    let mut p = base.clone();
    p.set_args(Some(o.args.clone()));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(a) = &o.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &o.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if !o.caps.is_empty() {
        // An empty set when the config has none (the type's Default is runc's list).
        let mut caps = match p.capabilities() {
            Some(c) => c.clone(),
            None => serde_json::from_value(serde_json::json!({}))
                .map_err(|e| RuntimeError::spec("process.capabilities", e.to_string()))?,
        };
        let add = |set: &mut Option<std::collections::HashSet<Capability>>, c: Capability| {
            set.get_or_insert_with(Default::default).insert(c);
        };
        let has_inheritable = caps.inheritable().is_some();
        for name in &o.caps {
            let c = parse_cap(name)?;
            let (mut b, mut e, mut pm, mut a) = (
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
                caps.ambient().clone(),
            );
            add(&mut b, c);
            add(&mut e, c);
            add(&mut pm, c);
            if has_inheritable {
                add(&mut a, c);
            }
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
            caps.set_ambient(a);
        }
        p.set_capabilities(Some(caps));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    p.set_terminal(Some(o.tty));
    if let Some(nnp) = o.no_new_privs {
        p.set_no_new_privileges(Some(nnp));
    }
    let mut user = p.user().clone();
    if let Some((uid, gid)) = o.user {
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g);
        }
    }
    if !o.additional_gids.is_empty() {
        let mut g = user.additional_gids().clone().unwrap_or_default();
        g.extend(o.additional_gids.iter().copied());
        user.set_additional_gids(Some(g));
    }
    p.set_user(user);
    validate(&p)?;
    Ok(p)
}

/// Fill what a `--process` spec leaves out from the container's process:
/// capabilities and rlimits (runc's `newInitConfig`).
pub fn inherit_defaults(mut p: Process, container: Option<&Process>) -> Process {
    if let Some(c) = container {
        if p.capabilities().is_none() {
            p.set_capabilities(c.capabilities().clone());
        }
        if p.rlimits().as_ref().is_none_or(|r| r.is_empty()) {
            p.set_rlimits(c.rlimits().clone());
        }
    }
    p
}

fn parse_cap(name: &str) -> Result<Capability> {
    let full = if name.starts_with("CAP_") {
        name.to_string()
    } else {
        format!("CAP_{name}")
    };
    serde_json::from_value(serde_json::Value::String(full.clone()))
        .map_err(|_| RuntimeError::spec("exec --cap", format!("unknown capability {name:?}")))
}

fn validate(p: &Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::spec(
            "process.args",
            "empty: give the command to run in the container",
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(RuntimeError::spec(
            "process.cwd",
            format!("{} must be an absolute path", p.cwd().display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Process {
        serde_json::from_value(serde_json::json!({
            "args": ["sleep", "100"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0, "additionalGids": [10]},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        }))
        .expect("process")
    }

    #[test]
    fn overrides_replace_args_and_append_env_and_groups() {
        let o = ProcessOverrides {
            args: vec!["id".into()],
            env: vec!["A=1".into()],
            cwd: Some("/tmp".into()),
            user: Some((1000, Some(100))),
            additional_gids: vec![20],
            caps: vec!["NET_ADMIN".into()],
            tty: true,
            no_new_privs: Some(false),
            ..Default::default()
        };
        let p = with_overrides(&base(), &o).expect("merge");
        assert_eq!(p.args().as_deref(), Some(&["id".to_string()][..]));
        assert_eq!(
            p.env().as_deref(),
            Some(&["PATH=/bin".to_string(), "A=1".to_string()][..])
        );
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[10, 20][..]));
        let caps = p.capabilities().as_ref().expect("caps");
        assert!(caps
            .effective()
            .as_ref()
            .is_some_and(|e| e.contains(&Capability::NetAdmin)));
        // No inheritable set in the config: ambient stays untouched.
        assert!(caps.ambient().is_none());
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.no_new_privileges(), Some(false));
    }

    #[test]
    fn empty_args_and_relative_cwd_are_refused() {
        let e = with_overrides(&base(), &ProcessOverrides::default()).expect_err("no args");
        assert!(e.to_string().contains("process.args"), "{e}");
        let o = ProcessOverrides {
            args: vec!["true".into()],
            cwd: Some("tmp".into()),
            ..Default::default()
        };
        assert!(with_overrides(&base(), &o).is_err());
    }

    #[test]
    fn users_parse_like_runc() {
        assert_eq!(parse_user("1000").expect("uid"), (1000, None));
        assert_eq!(parse_user("1:2").expect("uid:gid"), (1, Some(2)));
        assert!(parse_user("root").is_err());
        assert!(parse_user("1:x").is_err());
    }

    #[test]
    fn process_json_without_caps_gets_the_containers() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}
        }))
        .expect("process");
        let b = base();
        let p = inherit_defaults(p, Some(&b));
        assert_eq!(p.capabilities(), b.capabilities());
        assert_eq!(p.rlimits(), b.rlimits());
    }

    #[test]
    fn unknown_cap_is_refused() {
        assert!(parse_cap("CAP_NOPE").is_err());
        assert_eq!(parse_cap("SYS_ADMIN").expect("cap"), Capability::SysAdmin);
    }
}
