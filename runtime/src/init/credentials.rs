//! `process.user` and `process.capabilities`: drop the bounding set to the
//! spec's (an omitted set is empty), switch uid/gid/groups keeping the
//! permitted caps across setuid, then set effective, inheritable, permitted
//! and ambient exactly as the spec says.

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{Capabilities, Process};

/// Convert an OCI capability set to the caps crate's.
fn to_caps(set: Option<&Capabilities>, field: &str) -> Result<CapsHashSet, String> {
    let mut out = CapsHashSet::new();
    for c in set.into_iter().flatten() {
        let name = format!("CAP_{c}");
        let cap: Capability = name
            .parse()
            .map_err(|_| format!("process.capabilities.{field}: unknown capability {name}"))?;
        out.insert(cap);
    }
    Ok(out)
}

/// The five sets of the spec (empty where omitted).
struct CapSpec {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    inheritable: CapsHashSet,
    permitted: CapsHashSet,
    ambient: CapsHashSet,
}

fn cap_spec(process: &Process) -> Result<CapSpec, String> {
    let c = process.capabilities().as_ref();
    Ok(CapSpec {
        bounding: to_caps(c.and_then(|c| c.bounding().as_ref()), "bounding")?,
        effective: to_caps(c.and_then(|c| c.effective().as_ref()), "effective")?,
        inheritable: to_caps(c.and_then(|c| c.inheritable().as_ref()), "inheritable")?,
        permitted: to_caps(c.and_then(|c| c.permitted().as_ref()), "permitted")?,
        ambient: to_caps(c.and_then(|c| c.ambient().as_ref()), "ambient")?,
    })
}

/// Apply user and capabilities of `process` to the calling process.
pub(crate) fn apply(process: &Process) -> Result<(), String> {
    let want = cap_spec(process)?;
    // Bounding first: dropping needs CAP_SETPCAP, which we still hold.
    let current = caps::read(None, CapSet::Bounding)
        .map_err(|e| format!("read the bounding capability set: {e}"))?;
    for cap in current.difference(&want.bounding) {
        caps::drop(None, CapSet::Bounding, *cap)
            .map_err(|e| format!("process.capabilities.bounding: drop {cap}: {e}"))?;
    }
    // Keep permitted across the uid change.
    set_keepcaps(true)?;
    switch_user(process)?;
    set_keepcaps(false)?;
    caps::set(None, CapSet::Effective, &want.effective)
        .map_err(|e| format!("process.capabilities.effective: {e}"))?;
    caps::set(None, CapSet::Inheritable, &want.inheritable)
        .map_err(|e| format!("process.capabilities.inheritable: {e}"))?;
    if !want.effective.is_subset(&want.permitted) {
        return Err(
            "process.capabilities: effective holds capabilities that permitted lacks".to_string(),
        );
    }
    caps::set(None, CapSet::Permitted, &want.permitted)
        .map_err(|e| format!("process.capabilities.permitted: {e}"))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| format!("clear ambient capabilities: {e}"))?;
    // The kernel only lets a capability be ambient when it is permitted and
    // inheritable. runc's default spec lists ambient caps without
    // inheritable ones; like runc, those are skipped rather than fatal.
    for cap in raisable_ambient(&want) {
        caps::raise(None, CapSet::Ambient, cap)
            .map_err(|e| format!("process.capabilities.ambient: raise {cap}: {e}"))?;
    }
    Ok(())
}

/// The ambient capabilities the kernel accepts: permitted and inheritable.
fn raisable_ambient(want: &CapSpec) -> Vec<Capability> {
    want.ambient
        .iter()
        .filter(|c| want.permitted.contains(c) && want.inheritable.contains(c))
        .copied()
        .collect()
}

fn set_keepcaps(on: bool) -> Result<(), String> {
    // SAFETY: prctl(PR_SET_KEEPCAPS) takes an integer flag.
    let r = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) };
    if r < 0 {
        return Err(format!("prctl(PR_SET_KEEPCAPS): {}", nix::Error::last()));
    }
    Ok(())
}

/// setgroups(additionalGids), setresgid(gid), setresuid(uid).
fn switch_user(process: &Process) -> Result<(), String> {
    let user = process.user();
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // A rootless runtime maps gids only after denying setgroups(2) in the
    // user namespace: then, as runc, leave the (empty) group list alone.
    let denied = groups.is_empty()
        && std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !denied {
        setgroups(&groups).map_err(|e| {
            format!(
                "process.user.additionalGids {:?}: {e}",
                user.additional_gids().as_deref().unwrap_or(&[])
            )
        })?;
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).map_err(|e| format!("process.user.gid {}: {e}", user.gid()))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(|e| format!("process.user.uid {}: {e}", user.uid()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_sets_are_empty_and_names_convert() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "capabilities": {"effective": ["CAP_KILL", "NET_BIND_SERVICE"]}
        }))
        .expect("process");
        let s = cap_spec(&p).expect("caps");
        assert!(s.bounding.is_empty() && s.permitted.is_empty() && s.ambient.is_empty());
        assert!(s.effective.contains(&Capability::CAP_KILL));
        assert!(s.effective.contains(&Capability::CAP_NET_BIND_SERVICE));
    }

    #[test]
    fn ambient_needs_permitted_and_inheritable() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "capabilities": {
                "permitted": ["CAP_KILL", "CAP_CHOWN"],
                "inheritable": ["CAP_KILL"],
                "ambient": ["CAP_KILL", "CAP_CHOWN"]
            }
        }))
        .expect("process");
        let s = cap_spec(&p).expect("caps");
        assert_eq!(raisable_ambient(&s), vec![Capability::CAP_KILL]);
    }
}
