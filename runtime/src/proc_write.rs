//! Writes into the init's `/proc/PID` entries through the verified procfs
//! handle: uid/gid maps of a new user namespace and
//! `oom_score_adj`, with errors that name the spec field.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::create::open_in_proc;
use crate::error::{Result, RuntimeError};

/// The text of a `uid_map`/`gid_map` file for `maps`.
pub fn format_id_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write `linux.uidMappings` and `linux.gidMappings` for `pid`.
pub fn write_id_maps(proc_fd: &OwnedFd, pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().as_deref())
        .unwrap_or(&[]);
    let gid = linux
        .and_then(|l| l.gid_mappings().as_deref())
        .unwrap_or(&[]);
    if !gid.is_empty() && !nix::unistd::geteuid().is_root() {
        deny_setgroups(proc_fd, pid)?;
    }
    for (file, field, maps) in [
        ("uid_map", "linux.uidMappings", uid),
        ("gid_map", "linux.gidMappings", gid),
    ] {
        let text = format_id_map(maps);
        let fd = open_in_proc(proc_fd, &format!("{pid}/{file}"), OFlag::O_WRONLY)?;
        std::fs::File::from(fd)
            .write_all(text.as_bytes())
            .map_err(|e| {
                RuntimeError::spec(
                    field,
                    format!("write {:?} to /proc/{pid}/{file}: {e}", text.trim_end()),
                )
            })?;
    }
    Ok(())
}

/// Write `deny` to `/proc/PID/setgroups`: the kernel lets a process
/// without CAP_SETGID (a rootless runtime) write a `gid_map` only then, and
/// the container may then not call setgroups(2), as with runc rootless.
fn deny_setgroups(proc_fd: &OwnedFd, pid: i32) -> Result<()> {
    let fd = open_in_proc(proc_fd, &format!("{pid}/setgroups"), OFlag::O_WRONLY)?;
    std::fs::File::from(fd).write_all(b"deny").map_err(|e| {
        RuntimeError::spec(
            "linux.gidMappings",
            format!("write \"deny\" to /proc/{pid}/setgroups (needed to map gids without CAP_SETGID): {e}"),
        )
    })
}

/// Set `process.oomScoreAdj` of the process `who` names under /proc (a pid,
/// or `thread-self`). Going below the current minimum needs
/// CAP_SYS_RESOURCE: that is a clear error naming the field.
pub fn write_oom_score_adj(proc_fd: &OwnedFd, who: &str, adj: i32) -> Result<()> {
    if !(-1000..=1000).contains(&adj) {
        return Err(RuntimeError::spec(
            "process.oomScoreAdj",
            format!("{adj} is outside -1000..1000"),
        ));
    }
    let rel = format!("{who}/oom_score_adj");
    let mut current = String::new();
    let _ = std::fs::File::from(open_in_proc(proc_fd, &rel, OFlag::O_RDONLY)?)
        .read_to_string(&mut current);
    let fd = open_in_proc(proc_fd, &rel, OFlag::O_WRONLY)?;
    match std::fs::File::from(fd).write_all(adj.to_string().as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            Err(RuntimeError::spec(
                "process.oomScoreAdj",
                format!(
                    "cannot lower it to {adj} (the runtime's is {}): that needs CAP_SYS_RESOURCE, which this runtime does not have; use a value >= {}",
                    current.trim(),
                    current.trim()
                ),
            ))
        }
        Err(e) => Err(RuntimeError::spec(
            "process.oomScoreAdj",
            format!("write {adj} to /proc/{rel}: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_text_has_one_line_per_mapping() {
        let maps: Vec<LinuxIdMapping> = serde_json::from_value(serde_json::json!([
            {"containerID": 0, "hostID": 100000, "size": 65536},
            {"containerID": 65536, "hostID": 1000, "size": 1}
        ]))
        .expect("maps");
        assert_eq!(format_id_map(&maps), "0 100000 65536\n65536 1000 1\n");
    }
}
