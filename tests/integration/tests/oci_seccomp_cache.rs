//! Compiled seccomp programs are cached in the state root: the second
//! container with the same profile loads the stored program, which must
//! deny exactly what the first one did; a damaged cache file is a miss, not
//! a wrong filter. Loading a filter never sets no_new_privs by itself.

mod oci_common;

use oci_common::{id, skip, Oci};
use rcrun_it::bundle::Bundle;
use serde_json::json;

/// A bundle whose profile makes mkdir fail with EACCES (13) and that
/// prints the outcome and its NoNewPrivs/Seccomp status lines.
fn bundle(nnp: bool) -> Bundle {
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "mkdir /tmp/d 2>&1 || true; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
    ]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["noNewPrivileges"] = json!(nnp);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ]
        });
    });
    b
}

fn cache_files(oci: &Oci) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(oci.root())
        .expect("state root")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".seccomp-") && n.ends_with(".bpf"))
        })
        .collect()
}

fn assert_denied(out: &str, nnp: bool) {
    assert!(out.contains("Permission denied"), "mkdir not denied: {out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    let want = format!("NoNewPrivs:\t{}", u8::from(nnp));
    assert!(out.contains(&want), "{want} expected: {out}");
}

#[test]
fn the_second_container_loads_the_cached_program() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = bundle(false);
    assert_denied(&oci.run_stdout(&id(), b.path()), false);
    let files = cache_files(&oci);
    assert_eq!(files.len(), 1, "{files:?}");
    let before = std::fs::read(&files[0]).expect("cache file");
    assert_denied(&oci.run_stdout(&id(), b.path()), false);
    assert_eq!(std::fs::read(&files[0]).expect("cache file"), before);

    // no_new_privs only when the process asks for it.
    let b = bundle(true);
    assert_denied(&oci.run_stdout(&id(), b.path()), true);
}

#[test]
fn a_damaged_cache_file_is_recompiled() {
    if skip() {
        return;
    }
    let oci = Oci::new();
    let b = bundle(false);
    assert_denied(&oci.run_stdout(&id(), b.path()), false);
    let files = cache_files(&oci);
    assert_eq!(files.len(), 1, "{files:?}");
    // Flip one bit of the program's last instruction: a wrong filter if it
    // were used.
    let data = std::fs::read(&files[0]).expect("cache file");
    let mut damaged = data.clone();
    let at = damaged.len() - 12;
    damaged[at] ^= 1;
    std::fs::write(&files[0], &damaged).expect("damage");
    assert_denied(&oci.run_stdout(&id(), b.path()), false);
    assert_eq!(std::fs::read(&files[0]).expect("rewritten"), data);
}
