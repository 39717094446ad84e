//! Device rules on cgroup v2: v2 has no devices files, the kernel asks an
//! eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup.
//! This module assembles that program from the rules (as runc's devicefilter
//! does, without libbpf) and attaches it with the `bpf(2)` syscall.
//!
//! The rule list is first reduced the way the v1 controller treats it: an
//! `a *:* rwm` rule sets the default (allow or deny) and drops the rules
//! before it; of the remaining rules the last one that matches decides.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::devices::{DevKind, DeviceRule, ACC_ALL};
use super::error::CgroupError;

/// One eBPF instruction, as `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

// Opcodes (class | op | source).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K: u8 = 0x54; // dst &= imm
const ALU32_RSH_K: u8 = 0x74; // dst >>= imm
const ALU64_MOV_K: u8 = 0xb7; // dst = imm
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto +off
const JMP_JSET_K: u8 = 0x45; // if dst & imm goto +off
const JMP_EXIT: u8 = 0x95;

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// access_type = (access << 16) | type
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

const R0: u8 = 0;
const R1: u8 = 1; // the context
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

/// The program for `rules` (spec rules followed by the defaults).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let (default_allow, effective) = reduce(rules);
    let mut prog = vec![
        insn(LDX_MEM_W, R_TYPE, R1, 0, 0),
        insn(ALU32_AND_K, R_TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, R_ACCESS, R1, 0, 0),
        insn(ALU32_RSH_K, R_ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, R_MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, R_MINOR, R1, 8, 0),
    ];
    // Last match wins: test the rules from the end.
    for rule in effective.iter().rev() {
        prog.extend(rule_block(rule));
    }
    prog.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(default_allow)));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    prog
}

/// The default verdict and the rules after the last `a *:* rwm`.
fn reduce(rules: &[DeviceRule]) -> (bool, Vec<DeviceRule>) {
    // A new cgroup starts from its parent's set; the root allows everything.
    let mut default_allow = true;
    let mut list = Vec::new();
    for r in rules {
        if r.is_everything() {
            default_allow = r.allow;
            list.clear();
        } else {
            list.push(*r);
        }
    }
    (default_allow, list)
}

/// Tests that jump past the block when the device does not match, then
/// the verdict.
fn rule_block(rule: &DeviceRule) -> Vec<Insn> {
    let mut tests: Vec<(u8, u8, i32)> = Vec::new();
    match rule.kind {
        DevKind::All => {}
        DevKind::Block => tests.push((JMP_JNE_K, R_TYPE, DEV_BLOCK)),
        DevKind::Char => tests.push((JMP_JNE_K, R_TYPE, DEV_CHAR)),
    }
    if rule.access != ACC_ALL {
        // Any requested bit outside the rule's access: not this rule.
        tests.push((JMP_JSET_K, R_ACCESS, i32::from(!rule.access & ACC_ALL)));
    }
    if let Some(m) = rule.major {
        tests.push((JMP_JNE_K, R_MAJOR, m as i32));
    }
    if let Some(m) = rule.minor {
        tests.push((JMP_JNE_K, R_MINOR, m as i32));
    }
    let n = tests.len();
    let mut block: Vec<Insn> = tests
        .into_iter()
        .enumerate()
        // Skip the remaining tests and the two verdict instructions.
        .map(|(i, (code, reg, imm))| insn(code, reg, 0, (n - i - 1 + 2) as i16, imm))
        .collect();
    block.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(rule.allow)));
    block.push(insn(JMP_EXIT, 0, 0, 0, 0));
    block
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly laid out `union bpf_attr` prefix for
    // `cmd`, and we pass its exact size; the kernel zero-extends the rest.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn], dir: &Path) -> Result<OwnedFd, CgroupError> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"rcrun_devcg");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut attr).map_err(|source| CgroupError::DeviceFilter {
        path: dir.to_path_buf(),
        step: "load the eBPF device program",
        source,
    })?;
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Load the program for `rules` and attach it to the cgroup2 directory
/// `dir`. The attachment keeps the program alive; our fd is closed here.
pub fn attach(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let prog = program(rules);
    let prog_fd = load(&prog, dir)?;
    let cgroup = File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..ProgAttachAttr::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|source| CgroupError::DeviceFilter {
        path: dir.to_path_buf(),
        step: "attach the eBPF device program",
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::devices::{rules, ACC_READ};
    use super::*;

    /// Run the program on one device access, as the kernel would.
    fn eval(prog: &[Insn], kind: i32, access: u32, major: u32, minor: u32) -> bool {
        let mut r = [0u64; 11];
        let ctx = [(access << 16) | kind as u32, major, minor];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & i.imm as u32),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JSET_K if r[dst] & (i.imm as i64 as u64) != 0 => pc += i.off as usize,
                JMP_JNE_K | JMP_JSET_K => {}
                JMP_EXIT => return r[0] == 1,
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    fn spec_rules(json: &str) -> Vec<DeviceRule> {
        rules(&serde_json::from_str::<Vec<_>>(json).unwrap()).unwrap()
    }

    const RW: u32 = 2 | 4;

    #[test]
    fn deny_all_with_defaults_allows_only_the_default_nodes() {
        let prog = program(&spec_rules(r#"[{"allow": false, "access": "rwm"}]"#));
        assert!(eval(&prog, DEV_CHAR, RW, 1, 3), "/dev/null");
        assert!(eval(&prog, DEV_CHAR, RW, 136, 7), "/dev/pts/7");
        assert!(eval(&prog, DEV_BLOCK, 1, 8, 0), "mknod of a block device");
        assert!(!eval(&prog, DEV_BLOCK, 2, 8, 0), "read /dev/sda");
        assert!(!eval(&prog, DEV_CHAR, RW, 10, 229), "/dev/fuse");
        assert!(!eval(&prog, DEV_CHAR, RW, 4, 1), "/dev/tty1");
    }

    #[test]
    fn later_rules_override_earlier_ones_and_access_is_checked() {
        let prog = program(&spec_rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 4, "access": "r"},
                {"allow": false, "type": "c", "major": 4, "minor": 1, "access": "rwm"}]"#,
        ));
        assert!(
            eval(&prog, DEV_CHAR, u32::from(ACC_READ), 4, 2),
            "read tty2"
        );
        assert!(!eval(&prog, DEV_CHAR, RW, 4, 2), "write tty2");
        assert!(
            !eval(&prog, DEV_CHAR, u32::from(ACC_READ), 4, 1),
            "tty1 denied later"
        );
    }

    #[test]
    fn no_deny_all_means_default_allow() {
        let prog = program(&spec_rules(
            r#"[{"allow": false, "type": "b", "major": 8, "access": "rwm"}]"#,
        ));
        assert!(!eval(&prog, DEV_BLOCK, RW, 8, 1));
        assert!(eval(&prog, DEV_CHAR, RW, 10, 229));
    }
}
