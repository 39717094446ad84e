//! `linux.seccomp`: an OCI seccomp profile turned into a libseccomp filter
//! (default action, architectures, flags, per-syscall rules with argument
//! comparisons) and loaded into the calling thread. Syscall names this
//! libseccomp does not know are skipped, as runc does; `SCMP_ACT_NOTIFY`
//! (a listener socket) is refused.

use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompFilterFlag as F, LinuxSeccompOperator as Op,
};

/// EPERM, the errno of `SCMP_ACT_ERRNO` / `SCMP_ACT_TRACE` without `errnoRet`.
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

fn action(a: A, errno_ret: Option<u32>, field: &str) -> Result<ScmpAction, String> {
    Ok(match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno_ret.unwrap_or(DEFAULT_ERRNO) as i32),
        A::ScmpActTrace => ScmpAction::Trace(errno_ret.unwrap_or(DEFAULT_ERRNO) as u16),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => {
            return Err(format!(
                "{field}: SCMP_ACT_NOTIFY (seccomp listeners) is not supported"
            ))
        }
    })
}

fn compare(op: Op, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        Op::ScmpCmpNe => ScmpCompareOp::NotEqual,
        Op::ScmpCmpLt => ScmpCompareOp::Less,
        Op::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        Op::ScmpCmpEq => ScmpCompareOp::Equal,
        Op::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        Op::ScmpCmpGt => ScmpCompareOp::Greater,
        Op::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

/// The libseccomp filter for `profile` (not loaded).
pub fn build_filter(profile: &LinuxSeccomp) -> Result<ScmpFilterContext, String> {
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|e| format!("linux.seccomp: create the filter: {e}"))?;
    for arch in profile.architectures().iter().flatten() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let a = ScmpArch::from_str(&name)
            .map_err(|e| format!("linux.seccomp.architectures {name}: {e}"))?;
        ctx.add_arch(a)
            .map_err(|e| format!("linux.seccomp.architectures {name}: {e}"))?;
    }
    for flag in profile.flags().iter().flatten() {
        match flag {
            F::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            F::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            F::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            // Only meaningful with a notify listener, which is refused.
            F::SeccompFilterFlagWaitKillableRecv => continue,
        }
        .map_err(|e| format!("linux.seccomp.flags {flag}: {e}"))?;
    }
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(rule.action(), rule.errno_ret(), &field)?;
        if act == default {
            continue; // libseccomp refuses rules that repeat the default action
        }
        let cmps: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                ScmpArgCompare::new(a.index() as u32, compare(a.op(), a.value_two()), a.value())
            })
            .collect();
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue; // unknown to this libseccomp/arch: skipped like runc
            };
            ctx.add_rule_conditional(act, sc, &cmps)
                .map_err(|e| format!("{field} {name}: {e}"))?;
        }
    }
    Ok(ctx)
}

/// Load a built filter into the calling thread.
pub fn load(filter: &ScmpFilterContext) -> Result<(), String> {
    filter
        .load()
        .map_err(|e| format!("linux.seccomp: load the filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("profile")
    }

    #[test]
    fn builds_a_docker_like_profile() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "rtc_not_a_syscall"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        }));
        build_filter(&p).expect("filter builds");
    }

    #[test]
    fn notify_is_refused() {
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        let Err(e) = build_filter(&p) else {
            panic!("SCMP_ACT_NOTIFY must be refused");
        };
        assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
    }
}
