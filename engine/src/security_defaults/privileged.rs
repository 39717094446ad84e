//! `--privileged`: every capability, no seccomp, no masked or read-only
//! paths, the host's devices.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Spec};

use super::caps::{set_caps, ALL_CAPS};
use super::{Result, SecurityError};

/// `--privileged`: every capability, no seccomp filter, no masked or
/// read-only paths, every host device (as docker: all of /dev except pts,
/// shm, mqueue) with an allow-all device cgroup rule, and /sys and cgroups
/// mounted read-write.
pub fn apply_privileged(spec: &mut Spec) -> Result<()> {
    let all: Vec<String> = ALL_CAPS.iter().map(|c| c.to_string()).collect();
    set_caps(spec, &all)?;
    let devices = host_devices(Path::new("/dev"))?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_seccomp(None);
    linux.set_masked_paths(Some(Vec::new()));
    linux.set_readonly_paths(Some(Vec::new()));
    let mut have: Vec<PathBuf> = linux
        .devices()
        .as_ref()
        .map(|d| d.iter().map(|x| x.path().clone()).collect())
        .unwrap_or_default();
    let mut devs = linux.devices().clone().unwrap_or_default();
    for d in devices {
        if !have.contains(d.path()) {
            have.push(d.path().clone());
            devs.push(d);
        }
    }
    linux.set_devices(Some(devs));
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut allow_all = LinuxDeviceCgroup::default();
    allow_all.set_allow(true);
    allow_all.set_access(Some("rwm".to_string()));
    resources.set_devices(Some(vec![allow_all]));
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    if let Some(mounts) = spec.mounts().clone() {
        let mounts = mounts
            .into_iter()
            .map(|mut m| {
                let d = m.destination().clone();
                if d == Path::new("/sys") || d.starts_with("/sys/fs/cgroup") {
                    let opts: Vec<String> = m
                        .options()
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|o| o != "ro")
                        .collect();
                    m.set_options(Some(opts));
                }
                m
            })
            .collect();
        spec.set_mounts(Some(mounts));
    }
    Ok(())
}

/// Character and block devices under `dir` (recursively, skipping pts, shm,
/// mqueue and hidden directories), as OCI device entries.
pub fn host_devices(dir: &Path) -> Result<Vec<LinuxDevice>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|source| SecurityError::HostDevices {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in rd.flatten() {
        let path = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = md.file_type();
        if ft.is_dir() {
            if name.starts_with('.') || ["pts", "shm", "mqueue"].contains(&name.as_ref()) {
                continue;
            }
            out.extend(host_devices(&path)?);
            continue;
        }
        let typ = if ft.is_char_device() {
            LinuxDeviceType::C
        } else if ft.is_block_device() {
            LinuxDeviceType::B
        } else {
            continue;
        };
        // /dev/console is the container's terminal, set up by the runtime.
        if path == Path::new("/dev/console") {
            continue;
        }
        let rdev = md.rdev();
        let mut d = LinuxDevice::default();
        d.set_path(path);
        d.set_typ(typ);
        d.set_major(libc::major(rdev) as i64);
        d.set_minor(libc::minor(rdev) as i64);
        d.set_file_mode(Some(md.mode() & 0o7777));
        d.set_uid(Some(md.uid()));
        d.set_gid(Some(md.gid()));
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security_defaults::caps::bounding_caps;
    use crate::security_defaults::seccomp::apply_default_seccomp;

    #[test]
    fn privileged_grants_everything_and_lifts_restrictions() {
        let mut spec = Spec::default();
        apply_default_seccomp(&mut spec).unwrap();
        apply_privileged(&mut spec).unwrap();
        assert_eq!(bounding_caps(&spec).len(), ALL_CAPS.len());
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_none());
        assert!(linux.masked_paths().as_ref().unwrap().is_empty());
        assert!(linux.readonly_paths().as_ref().unwrap().is_empty());
        let devs = linux.devices().as_ref().unwrap();
        assert!(devs.iter().any(|d| d.path() == Path::new("/dev/null")));
        assert!(!devs.iter().any(|d| d.path().starts_with("/dev/pts")));
        let rules = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert!(rules[0].allow() && rules[0].access().as_deref() == Some("rwm"));
        let sys = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/sys"))
            .unwrap();
        assert!(!sys.options().as_ref().unwrap().contains(&"ro".to_string()));
    }
}
