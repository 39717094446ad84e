//! `linux.seccomp`: an OCI seccomp profile compiled by libseccomp into a
//! classic BPF program (default action, architectures, flags, per-syscall
//! rules with argument comparisons) and loaded into the calling thread with
//! seccomp(2). Syscall names this libseccomp does not know are skipped, as
//! runc does; `SCMP_ACT_NOTIFY` (a listener socket) is refused. Loading
//! never sets no_new_privs: that is `process.noNewPrivileges`' job.
//!
//! Compiling a large profile (podman's and docker's default: ~370 syscalls
//! on three architectures) costs libseccomp 2.5 ~20 ms, so compiled
//! programs are cached in the state root ([`cache`]): [`prepare`] in the
//! runtime before it forks, then [`build_filter`] (in the forked init) finds
//! the program ready.

mod cache;

pub use cache::{build_filter_cached, prepare};

use std::io::{Read, Seek, SeekFrom};
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

/// seccomp(2) operation and flags (linux/seccomp.h).
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_TSYNC: u64 = 1;
const SECCOMP_FILTER_FLAG_LOG: u64 = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u64 = 4;
/// Size of one BPF instruction (`struct sock_filter`).
const INSN_LEN: usize = 8;

/// A compiled seccomp filter: a classic BPF program and the seccomp(2)
/// flags to load it with.
#[derive(Clone, PartialEq, Eq)]
pub struct Filter {
    /// The program, `struct sock_filter` instructions in native byte order.
    code: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*`.
    flags: u64,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &(self.code.len() / INSN_LEN))
            .field("flags", &self.flags)
            .finish()
    }
}

impl Filter {
    /// A filter from its parts; `code` must be whole instructions.
    fn from_parts(code: Vec<u8>, flags: u64) -> Result<Self, String> {
        let n = code.len() / INSN_LEN;
        if !code.len().is_multiple_of(INSN_LEN) || n == 0 || n > u16::MAX as usize {
            return Err(format!(
                "linux.seccomp: a BPF program of {} bytes is not 1..65535 instructions",
                code.len()
            ));
        }
        Ok(Filter { code, flags })
    }
}

/// Compile `profile` into a [`Filter`]: the program [`prepare`] made
/// ready in this process for the same profile, else compiled now.
pub fn build_filter(profile: &LinuxSeccomp) -> Result<Filter, String> {
    if let Some(f) = cache::prepared(profile) {
        return Ok(f);
    }
    compile(profile)
}

/// Compile `profile` with libseccomp (no cache).
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, String> {
    let (ctx, flags) = build_context(profile)?;
    let mut memfd = memfd()?;
    ctx.export_bpf(&memfd)
        .map_err(|e| format!("linux.seccomp: export the BPF program: {e}"))?;
    let mut code = Vec::new();
    memfd
        .seek(SeekFrom::Start(0))
        .and_then(|_| memfd.read_to_end(&mut code))
        .map_err(|e| format!("linux.seccomp: read the BPF program back: {e}"))?;
    Filter::from_parts(code, flags)
}

/// An anonymous memory file for libseccomp to write the program into.
fn memfd() -> Result<std::fs::File, String> {
    let fd = nix::sys::memfd::memfd_create(
        c"rcrun-seccomp",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| format!("linux.seccomp: memfd_create: {e}"))?;
    Ok(std::fs::File::from(fd))
}

/// The libseccomp filter for `profile` and the seccomp(2) flags its
/// `flags` ask for.
fn build_context(profile: &LinuxSeccomp) -> Result<(ScmpFilterContext, u64), String> {
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|e| format!("linux.seccomp: create the filter: {e}"))?;
    // libseccomp would set no_new_privs on load by default; runc turns
    // that off too: it belongs to process.noNewPrivileges alone.
    ctx.set_ctl_nnp(false)
        .map_err(|e| format!("linux.seccomp: clear the no_new_privs attribute: {e}"))?;
    let mut flags: u64 = 0;
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
        flags |= match flag {
            F::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            F::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            F::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            // Only meaningful with a notify listener, which is refused.
            F::SeccompFilterFlagWaitKillableRecv => 0,
        };
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
    Ok((ctx, flags))
}

/// Load a compiled filter into the calling thread (with TSYNC: process).
/// Without no_new_privs this needs CAP_SYS_ADMIN.
pub fn load(filter: &Filter) -> Result<(), String> {
    let insns: Vec<libc::sock_filter> = filter
        .code
        .chunks_exact(INSN_LEN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        // Filter::from_parts checked the count fits.
        len: insns.len() as u16,
        filter: insns.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `insns`, which outlives the call; the kernel
    // copies the program and does not keep the pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            filter.flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(format!(
            "linux.seccomp: load the filter: {}",
            nix::Error::last()
        ));
    }
    Ok(())
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
        let f = compile(&p).expect("filter builds");
        assert!(f.code.len() > 10 * INSN_LEN, "{f:?}");
    }

    #[test]
    fn flags_map_to_seccomp_flags() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let f = compile(&p).expect("filter builds");
        assert_eq!(
            f.flags,
            SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
    }

    #[test]
    fn partial_instructions_are_refused() {
        assert!(Filter::from_parts(vec![0; 12], 0).is_err());
        assert!(Filter::from_parts(Vec::new(), 0).is_err());
        assert!(Filter::from_parts(vec![0; 16], 0).is_ok());
    }

    #[test]
    fn notify_is_refused() {
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        let Err(e) = compile(&p) else {
            panic!("SCMP_ACT_NOTIFY must be refused");
        };
        assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
    }
}
