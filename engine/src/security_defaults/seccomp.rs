//! docker's default seccomp profile (moby's JSON layout, shipped as
//! `engine/seccomp/default.json`, source named inside) and
//! `--security-opt seccomp=PROFILE`: a profile is evaluated for the
//! container's capabilities, architecture and kernel into `linux.seccomp`.

use std::path::Path;

use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde::Deserialize;
use serde_json::{json, Value};

use super::caps::bounding_caps;
use super::{Result, SecurityError};

/// The default seccomp profile, moby's format (source named inside).
pub const DEFAULT_SECCOMP_PROFILE: &str = include_str!("../../seccomp/default.json");

/// A profile in moby's seccomp JSON format.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// The host's architecture in Go's spelling (what profiles' `arches` use).
pub fn host_go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The running kernel's (major, minor), e.g. (6, 18).
pub fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    parse_kernel(&release)
}

fn parse_kernel(s: &str) -> (u32, u32) {
    let mut it = s
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// What a profile's conditions are evaluated against.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The container's bounding capabilities (`CAP_...`).
    pub caps: &'a [String],
    /// Go-style architecture (`amd64`).
    pub arch: &'a str,
    /// Kernel (major, minor).
    pub kernel: (u32, u32),
}

impl Filter {
    /// Does this `includes` filter admit the target? (All listed caps held,
    /// arch listed, kernel new enough.)
    fn admits(&self, t: &Target<'_>) -> bool {
        self.caps.iter().all(|c| t.caps.contains(c))
            && (self.arches.is_empty() || self.arches.iter().any(|a| a == t.arch))
            && self
                .min_kernel
                .as_deref()
                .is_none_or(|k| t.kernel >= parse_kernel(k))
    }

    /// Does this `excludes` filter reject the target? (Any listed cap held,
    /// or arch listed.)
    fn rejects(&self, t: &Target<'_>) -> bool {
        self.caps.iter().any(|c| t.caps.contains(c)) || self.arches.iter().any(|a| a == t.arch)
    }
}

/// Turn a moby-format profile into the OCI `linux.seccomp` for `target`,
/// as docker does: keep the native architecture (and its sub-architectures),
/// drop rules whose includes/excludes do not match.
pub fn seccomp_from_profile(
    text: &str,
    source_name: &str,
    target: &Target<'_>,
) -> Result<LinuxSeccomp> {
    let perr = |source| SecurityError::Profile {
        source_name: source_name.to_string(),
        source,
    };
    let p: Profile = serde_json::from_str(text).map_err(perr)?;
    let native = go_arch_to_scmp(target.arch);
    let mut arches: Vec<String> = Vec::new();
    for m in &p.arch_map {
        if Some(m.architecture.as_str()) == native {
            arches.push(m.architecture.clone());
            arches.extend(m.sub_architectures.iter().cloned());
        }
    }
    if arches.is_empty() {
        arches = p.architectures.clone();
    }
    let mut syscalls = Vec::new();
    for r in &p.syscalls {
        if !r.includes.admits(target) || r.excludes.rejects(target) {
            continue;
        }
        let mut names = r.names.clone();
        names.extend(r.name.clone());
        let mut s = json!({"names": names, "action": r.action});
        if let Some(e) = r.errno_ret {
            s["errnoRet"] = json!(e);
        }
        if !r.args.is_empty() {
            s["args"] = json!(r.args);
        }
        syscalls.push(s);
    }
    let mut oci = json!({"defaultAction": p.default_action, "syscalls": syscalls});
    if let Some(e) = p.default_errno_ret {
        oci["defaultErrnoRet"] = json!(e);
    }
    if !arches.is_empty() {
        oci["architectures"] = json!(arches);
    }
    serde_json::from_value(oci).map_err(perr)
}

/// libseccomp's name of a Go architecture, as moby's arch map uses.
fn go_arch_to_scmp(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "386" => "SCMP_ARCH_X86",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

/// docker's default profile for `spec`'s bounding capabilities on this host.
pub fn default_seccomp(spec: &Spec) -> Result<LinuxSeccomp> {
    let caps = bounding_caps(spec);
    seccomp_from_profile(
        DEFAULT_SECCOMP_PROFILE,
        "default",
        &Target {
            caps: &caps,
            arch: host_go_arch(),
            kernel: kernel_version(),
        },
    )
}

/// Set `linux.seccomp` to `seccomp` (`None`: unconfined).
pub fn set_seccomp(spec: &mut Spec, seccomp: Option<LinuxSeccomp>) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_seccomp(seccomp);
    spec.set_linux(Some(linux));
}

/// Apply docker's default profile (call after the capabilities are final).
pub fn apply_default_seccomp(spec: &mut Spec) -> Result<()> {
    let s = default_seccomp(spec)?;
    set_seccomp(spec, Some(s));
    Ok(())
}

/// `--security-opt seccomp=PROFILE`: `unconfined` removes the filter, else
/// PROFILE is a file in moby's format, evaluated for `spec`'s capabilities.
pub fn apply_seccomp_option(spec: &mut Spec, profile: &str) -> Result<()> {
    if profile == "unconfined" {
        set_seccomp(spec, None);
        return Ok(());
    }
    let path = Path::new(profile);
    let text = std::fs::read_to_string(path).map_err(|source| SecurityError::ProfileFile {
        path: path.to_path_buf(),
        source,
    })?;
    let caps = bounding_caps(spec);
    let s = seccomp_from_profile(
        &text,
        profile,
        &Target {
            caps: &caps,
            arch: host_go_arch(),
            kernel: kernel_version(),
        },
    )?;
    set_seccomp(spec, Some(s));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security_defaults::caps::DEFAULT_CAPS;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn names(seccomp: &LinuxSeccomp) -> Vec<(String, String)> {
        let v = serde_json::to_value(seccomp).unwrap();
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                let action = r["action"].as_str().unwrap().to_string();
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |n| (n.as_str().unwrap().to_string(), action.clone()))
            })
            .collect()
    }

    fn target(caps: &[String]) -> Target<'_> {
        Target {
            caps,
            arch: "amd64",
            kernel: (6, 1),
        }
    }

    #[test]
    fn default_profile_denies_namespaces_without_sys_admin() {
        let caps = s(&DEFAULT_CAPS);
        let sc = seccomp_from_profile(DEFAULT_SECCOMP_PROFILE, "default", &target(&caps)).unwrap();
        let v = serde_json::to_value(&sc).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let n = names(&sc);
        let allowed = |x: &str| n.iter().any(|(name, a)| name == x && a == "SCMP_ACT_ALLOW");
        for ok in [
            "read",
            "write",
            "execve",
            "chroot",
            "arch_prctl",
            "ptrace",
            "clone",
        ] {
            assert!(allowed(ok), "{ok} should be allowed");
        }
        for denied in [
            "mount",
            "unshare",
            "setns",
            "keyctl",
            "reboot",
            "bpf",
            "init_module",
        ] {
            assert!(!allowed(denied), "{denied} should be denied");
        }
        // clone only without namespace flags; clone3 ENOSYS so libc falls back.
        let clone = v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"] == json!(["clone"]))
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], 2_114_060_288u64);
        assert!(n.contains(&("clone3".to_string(), "SCMP_ACT_ERRNO".to_string())));
    }

    #[test]
    fn capabilities_unlock_their_syscalls() {
        let mut caps = s(&DEFAULT_CAPS);
        caps.push("CAP_SYS_ADMIN".into());
        caps.push("CAP_SYS_BOOT".into());
        let sc = seccomp_from_profile(DEFAULT_SECCOMP_PROFILE, "default", &target(&caps)).unwrap();
        let n = names(&sc);
        for x in ["mount", "unshare", "setns", "clone3", "reboot"] {
            assert!(n.contains(&(x.to_string(), "SCMP_ACT_ALLOW".into())), "{x}");
        }
        // The namespace-flag clone rule is gone with CAP_SYS_ADMIN.
        assert!(!n.contains(&("clone3".to_string(), "SCMP_ACT_ERRNO".into())));
        // Without CAP_SYS_CHROOT chroot is denied.
        let few = s(&["CAP_KILL"]);
        let n = names(
            &seccomp_from_profile(DEFAULT_SECCOMP_PROFILE, "default", &target(&few)).unwrap(),
        );
        assert!(!n.iter().any(|(x, _)| x == "chroot"));
    }

    #[test]
    fn old_kernels_and_other_arches_drop_conditional_rules() {
        let caps = s(&DEFAULT_CAPS);
        let t = Target {
            caps: &caps,
            arch: "arm64",
            kernel: (4, 4),
        };
        let sc = seccomp_from_profile(DEFAULT_SECCOMP_PROFILE, "default", &t).unwrap();
        let n = names(&sc);
        assert!(
            !n.iter().any(|(x, _)| x == "ptrace"),
            "ptrace needs kernel 4.8"
        );
        assert!(!n.iter().any(|(x, _)| x == "arch_prctl"), "amd64 only");
        assert!(n.iter().any(|(x, _)| x == "arm_fadvise64_64"));
        let v = serde_json::to_value(&sc).unwrap();
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
    }

    #[test]
    fn bad_profile_names_its_source() {
        let e = seccomp_from_profile("{", "/tmp/p.json", &target(&[])).unwrap_err();
        assert!(
            e.to_string().starts_with("seccomp profile /tmp/p.json:"),
            "{e}"
        );
    }

    #[test]
    fn unconfined_and_file_profiles() {
        let mut spec = Spec::default();
        apply_default_seccomp(&mut spec).unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
        apply_seccomp_option(&mut spec, "unconfined").unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.json");
        std::fs::write(
            &p,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        )
        .unwrap();
        apply_seccomp_option(&mut spec, p.to_str().unwrap()).unwrap();
        let v = serde_json::to_value(spec.linux().as_ref().unwrap().seccomp()).unwrap();
        assert_eq!(v["syscalls"][0]["names"], json!(["mkdir"]));
        let e = apply_seccomp_option(&mut spec, "/nonexistent/p.json").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/p.json"), "{e}");
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("6.18.44-fc-v669\n"), (6, 18));
        assert_eq!(parse_kernel("4.8"), (4, 8));
    }
}
