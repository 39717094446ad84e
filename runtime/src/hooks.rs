//! OCI lifecycle hooks: run each `hooks.<kind>` entry with its args and env,
//! the container state JSON on stdin, and its timeout.
//!
//! Where they run (runtime-spec runtime.md): `prestart` and `createRuntime`
//! in the runtime's namespaces once the init is in its namespaces (before
//! the root filesystem is built); `createContainer` by the init in the
//! container's namespaces before pivot_root; `startContainer` by the init
//! after `start`, right before the user process; `poststart` by `start`;
//! `poststop` by `delete`. The first four abort the container on failure,
//! the last two only warn.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::{Hook, Spec};

use crate::process::PidFd;
use crate::record::OciState;

/// The hook lists of the runtime-spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// `prestart` (deprecated; run with createRuntime).
    Prestart,
    /// `createRuntime`.
    CreateRuntime,
    /// `createContainer`.
    CreateContainer,
    /// `startContainer`.
    StartContainer,
    /// `poststart`.
    Poststart,
    /// `poststop`.
    Poststop,
}

impl HookKind {
    /// The config.json name of the list.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }
}

/// The hooks of `kind` in `spec` (empty when none).
pub fn hooks_of(spec: &Spec, kind: HookKind) -> &[Hook] {
    let Some(h) = spec.hooks().as_ref() else {
        return &[];
    };
    #[allow(deprecated)]
    let list = match kind {
        HookKind::Prestart => h.prestart(),
        HookKind::CreateRuntime => h.create_runtime(),
        HookKind::CreateContainer => h.create_container(),
        HookKind::StartContainer => h.start_container(),
        HookKind::Poststart => h.poststart(),
        HookKind::Poststop => h.poststop(),
    };
    list.as_deref().unwrap_or(&[])
}

/// Run the hooks of `kind` in order with `state` on stdin; the first
/// failure is returned as a message naming the hook.
pub fn run(spec: &Spec, kind: HookKind, state: &OciState) -> Result<(), String> {
    let hooks = hooks_of(spec, kind);
    if hooks.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_vec(state).map_err(|e| format!("hooks: state JSON: {e}"))?;
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, &json)
            .map_err(|e| format!("hooks.{}[{i}] {}: {e}", kind.name(), hook.path().display()))?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args().as_ref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state is not an error.
        let _ = stdin.write_all(state);
    }
    if let Some(secs) = hook.timeout() {
        if secs <= 0 {
            return Err(format!("timeout {secs} must be positive"));
        }
        let pidfd = PidFd::open(child.id() as i32, None).map_err(|e| e.to_string())?;
        if !pidfd
            .wait_exit(Some(Duration::from_secs(secs as u64)))
            .map_err(|e| e.to_string())?
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {secs}s"));
        }
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("failed: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Status;

    fn spec_with(hooks: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2", "hooks": hooks}))
            .expect("spec")
    }

    fn state() -> OciState {
        OciState {
            oci_version: "1.2.1".into(),
            id: "rtc-hook".into(),
            pid: 42,
            status: Status::Creating,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            owner: "root".into(),
            annotations: Default::default(),
        }
    }

    #[test]
    fn hook_gets_state_args_and_env() {
        let d = tempfile::tempdir().expect("tempdir");
        let out = d.path().join("out");
        let script = format!("cat > {0}; echo \"$0 $1 $RTC_X\" >> {0}", out.display());
        let s = spec_with(serde_json::json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["rtc-hook", "-c", script, "zero", "first"], "env": ["RTC_X=yes"]}
        ]}));
        run(&s, HookKind::CreateRuntime, &state()).expect("hook runs");
        let text = std::fs::read_to_string(&out).expect("output");
        assert!(text.contains("\"id\":\"rtc-hook\""), "{text}");
        assert!(text.ends_with("zero first yes\n"), "{text}");
    }

    #[test]
    fn failing_and_slow_hooks_are_errors_naming_the_hook() {
        let s = spec_with(serde_json::json!({"poststart": [{"path": "/bin/false"}]}));
        let e = run(&s, HookKind::Poststart, &state()).expect_err("fails");
        assert!(e.contains("hooks.poststart[0] /bin/false"), "{e}");
        let s = spec_with(serde_json::json!({"poststop": [
            {"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}
        ]}));
        let e = run(&s, HookKind::Poststop, &state()).expect_err("times out");
        assert!(e.contains("timed out"), "{e}");
    }
}
