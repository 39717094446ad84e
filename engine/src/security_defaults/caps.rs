//! docker's default capability set, `--cap-add`/`--cap-drop` (with `ALL`)
//! and the capability sets of an OCI spec.

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Spec};
use serde_json::Value;

use super::{Result, SecurityError};

/// docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability this build knows (what `ALL` and `--privileged` grant).
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN` as `CAP_NET_ADMIN`; `ALL` stays `ALL`.
pub fn normalize_cap(name: &str) -> Result<String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SecurityError::UnknownCapability(name.to_string()))
    }
}

/// The capability set docker computes from its defaults, `--cap-add` and
/// `--cap-drop`: `ALL` in drop empties the base, `ALL` in add grants every
/// capability; then adds are added and drops removed. Sorted, deduplicated.
pub fn effective_caps(add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let add: Vec<String> = add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let mut set: Vec<String> = if add.iter().any(|c| c == "ALL") {
        ALL_CAPS.iter().map(|c| c.to_string()).collect()
    } else if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    set.extend(add.into_iter().filter(|c| c != "ALL"));
    set.retain(|c| !drop.contains(c));
    set.sort();
    set.dedup();
    Ok(set)
}

/// Names to an oci-spec capability set.
fn to_capabilities(names: &[String]) -> Result<Capabilities> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value::<Capability>(Value::String(n.clone()))
                .map_err(|_| SecurityError::UnknownCapability(n.clone()))
        })
        .collect()
}

/// Set the process's bounding, effective and permitted sets to `names`
/// (inheritable and ambient empty, as docker).
pub fn set_caps(spec: &mut Spec, names: &[String]) -> Result<()> {
    let set = to_capabilities(names)?;
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(Some(Capabilities::new()));
    caps.set_ambient(Some(Capabilities::new()));
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_capabilities(Some(caps));
    spec.set_process(Some(process));
    Ok(())
}

/// docker's defaults with `--cap-add`/`--cap-drop` applied.
pub fn apply_caps(spec: &mut Spec, add: &[String], drop: &[String]) -> Result<()> {
    let caps = effective_caps(add, drop)?;
    set_caps(spec, &caps)
}

/// The bounding set of `spec` as names (what seccomp conditions look at).
pub fn bounding_caps(spec: &Spec) -> Vec<String> {
    spec.process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|set| {
            set.iter()
                .filter_map(|c| serde_json::to_value(c).ok())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }
    #[test]
    fn cap_names_are_normalised_and_checked() {
        assert_eq!(normalize_cap("net_admin").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(normalize_cap("CAP_SYS_ADMIN").unwrap(), "CAP_SYS_ADMIN");
        assert_eq!(normalize_cap("all").unwrap(), "ALL");
        let e = normalize_cap("FLY").unwrap_err();
        assert!(e.to_string().contains("unknown capability \"FLY\""), "{e}");
    }

    #[test]
    fn cap_add_and_drop_follow_docker() {
        let d = effective_caps(&[], &[]).unwrap();
        assert_eq!(d.len(), DEFAULT_CAPS.len());
        let c = effective_caps(&s(&["NET_ADMIN"]), &s(&["chown"])).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(
            effective_caps(&s(&["KILL"]), &s(&["ALL"])).unwrap(),
            s(&["CAP_KILL"])
        );
        let all = effective_caps(&s(&["ALL"]), &s(&["SYS_ADMIN"])).unwrap();
        assert_eq!(all.len(), ALL_CAPS.len() - 1);
        assert!(!all.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(effective_caps(&s(&["NOPE"]), &[]).is_err());
    }

    #[test]
    fn every_known_cap_is_an_oci_capability() {
        let all: Vec<String> = ALL_CAPS.iter().map(|c| c.to_string()).collect();
        assert_eq!(to_capabilities(&all).unwrap().len(), ALL_CAPS.len());
    }

    #[test]
    fn apply_caps_sets_three_sets_and_clears_the_others() {
        let mut spec = Spec::default();
        apply_caps(&mut spec, &s(&["NET_ADMIN"]), &[]).unwrap();
        let c = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(c.bounding().as_ref().unwrap().len(), 15);
        assert_eq!(c.effective(), c.bounding());
        assert_eq!(c.permitted(), c.bounding());
        assert!(c.ambient().as_ref().unwrap().is_empty());
        let mut b = bounding_caps(&spec);
        b.sort();
        assert!(b.contains(&"CAP_NET_ADMIN".to_string()));
    }
}
