//! `linux.sysctl`: which keys a container may set (runc's rules: only those
//! its own namespaces isolate) and writing them through a verified procfs.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::procfs::ProcfsHandle;
use super::RootfsError;

/// IPC sysctls isolated by an IPC namespace (plus everything under fs.mqueue).
const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
    "kernel.msg_next_id",
    "kernel.sem_next_id",
    "kernel.shm_next_id",
];

/// `key` as a path below `/proc`: `net.ipv4.ip_forward` -> `sys/net/ipv4/ip_forward`
/// (a key may also use `/` as separator). Empty, `.` and `..` parts are refused.
fn sysctl_path(key: &str) -> Result<String, RootfsError> {
    let bad = |reason| RootfsError::SysctlNotAllowed {
        key: key.to_string(),
        reason,
    };
    if key.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let mut path = String::with_capacity(key.len() + 4);
    path.push_str("sys");
    for part in key.split(['.', '/']) {
        if part.is_empty() || part == ".." {
            return Err(bad("has an empty or '..' component"));
        }
        path.push('/');
        path.push_str(part);
    }
    Ok(path)
}

/// Write every `linux.sysctl` entry (called after pivot_root, in the
/// container's namespaces): `/proc/sys/<key with . -> />` through a verified
/// procfs handle. The error names the key.
pub fn apply_sysctls(sysctl: &HashMap<String, String>) -> Result<(), RootfsError> {
    if sysctl.is_empty() {
        return Ok(());
    }
    let proc = ProcfsHandle::open()?;
    for (key, value) in sysctl {
        let path = sysctl_path(key)?;
        let fd = proc
            .open_file(&path, libc::O_WRONLY)
            .map_err(|source| RootfsError::Sysctl {
                key: key.clone(),
                value: value.clone(),
                source,
            })?;
        let f = std::fs::File::from(fd);
        std::io::Write::write_all(&mut &f, value.as_bytes()).map_err(|e| RootfsError::Sysctl {
            key: key.clone(),
            value: value.clone(),
            source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    }
    Ok(())
}

/// Refuse sysctls the container's namespaces do not isolate, so a spec can
/// never change the host: IPC keys need a new IPC namespace, `net.*` a network
/// namespace other than the runtime's, `kernel.domainname` a UTS namespace
/// (`kernel.hostname` conflicts with the `hostname` field); anything else is
/// global. Call it in the runtime's own process (host namespaces) before
/// creating the container: a joined netns is compared with the caller's.
/// ([`super::prepare_rootfs`] repeats the checks that need no host context.)
pub fn validate_sysctls(spec: &Spec) -> Result<(), RootfsError> {
    check_sysctls(spec, true)
}

/// The checks of [`validate_sysctls`]; with `host_context` false (inside the
/// container, after setns) a joined network namespace is trusted.
pub(crate) fn check_sysctls(spec: &Spec, host_context: bool) -> Result<(), RootfsError> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let Some(sysctl) = linux.sysctl() else {
        return Ok(());
    };
    let ns = linux.namespaces().as_deref().unwrap_or(&[]);
    let find = |t: LinuxNamespaceType| ns.iter().find(|n| n.typ() == t);
    for key in sysctl.keys() {
        let k = key.replace('/', ".");
        let refuse = |reason| RootfsError::SysctlNotAllowed {
            key: key.clone(),
            reason,
        };
        sysctl_path(key)?;
        if IPC_KEYS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            if find(LinuxNamespaceType::Ipc).is_some() {
                continue;
            }
            return Err(refuse("needs its own IPC namespace (not the host's)"));
        }
        if k.starts_with("net.") {
            match find(LinuxNamespaceType::Network) {
                Some(n) => match n.path() {
                    None => continue,
                    Some(p) if !host_context || !same_ns(p, Path::new("/proc/self/ns/net")) => {
                        continue
                    }
                    Some(_) => return Err(refuse("the joined network namespace is the host's")),
                },
                None => return Err(refuse("needs its own network namespace (not the host's)")),
            }
        }
        if find(LinuxNamespaceType::Uts).is_some() {
            match k.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return Err(refuse(
                        "conflicts with the OCI hostname field; set hostname instead",
                    ))
                }
                _ => {}
            }
        }
        return Err(refuse("is not isolated by any namespace of the container"));
    }
    Ok(())
}

/// Both paths name the same namespace (device and inode of the nsfs file).
fn same_ns(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(namespaces: &str, sysctl: &str) -> Spec {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},
                "linux":{{"namespaces":[{namespaces}],"sysctl":{{{sysctl}}}}}}}"#
        );
        serde_json::from_str(&json).expect("spec json")
    }

    #[test]
    fn keys_become_proc_sys_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").expect("ok"),
            "sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/all/rp_filter").expect("ok"),
            "sys/net/ipv4/conf/all/rp_filter"
        );
        assert!(sysctl_path("net..x").is_err());
        assert!(sysctl_path("../../etc").is_err());
        assert!(sysctl_path("").is_err());
    }

    #[test]
    fn net_keys_need_a_network_namespace() {
        let ok = spec(r#"{"type":"network"}"#, r#""net.ipv4.ip_forward":"1""#);
        validate_sysctls(&ok).expect("allowed with netns");
        let host = spec(r#"{"type":"pid"}"#, r#""net.ipv4.ip_forward":"1""#);
        assert!(validate_sysctls(&host).is_err());
        let joined_host = spec(
            r#"{"type":"network","path":"/proc/self/ns/net"}"#,
            r#""net.ipv4.ip_forward":"1""#,
        );
        assert!(validate_sysctls(&joined_host).is_err());
        // Inside the container the joined netns is the caller's own: trusted.
        check_sysctls(&joined_host, false).expect("joined netns inside the container");
    }

    #[test]
    fn ipc_uts_and_global_keys() {
        let ipc = spec(
            r#"{"type":"ipc"}"#,
            r#""kernel.shmmax":"1000","fs.mqueue.msg_max":"20""#,
        );
        validate_sysctls(&ipc).expect("ipc keys with ipc ns");
        let no_ipc = spec(r#"{"type":"uts"}"#, r#""kernel.shmmax":"1000""#);
        assert!(validate_sysctls(&no_ipc).is_err());
        let dom = spec(r#"{"type":"uts"}"#, r#""kernel.domainname":"x""#);
        validate_sysctls(&dom).expect("domainname with uts ns");
        let host = spec(r#"{"type":"uts"}"#, r#""kernel.hostname":"x""#);
        assert!(validate_sysctls(&host).is_err());
        let global = spec(
            r#"{"type":"uts"},{"type":"ipc"},{"type":"network"}"#,
            r#""vm.swappiness":"1""#,
        );
        assert!(validate_sysctls(&global).is_err());
    }

    #[test]
    fn empty_sysctl_is_a_no_op() {
        apply_sysctls(&HashMap::new()).expect("nothing to do");
    }
}
