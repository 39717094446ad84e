//! Device access rules: `linux.resources.devices` plus the devices every
//! container gets (runc's list), as structured rules that become v1
//! `devices.allow` / `devices.deny` lines or, on cgroup v2, an eBPF device
//! program (the private `devices_bpf` module).

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::error::CgroupError;

/// Which devices a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKind {
    /// Every device (`a`).
    All,
    /// Block devices (`b`).
    Block,
    /// Character devices (`c`, and OCI's `u`).
    Char,
}

/// `m` in a rule's access.
pub const ACC_MKNOD: u8 = 1;
/// `r` in a rule's access.
pub const ACC_READ: u8 = 2;
/// `w` in a rule's access.
pub const ACC_WRITE: u8 = 4;
/// `rwm`.
pub const ACC_ALL: u8 = 7;

/// One device rule; `None` major/minor is the wildcard `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// Device type.
    pub kind: DevKind,
    /// Major number.
    pub major: Option<u32>,
    /// Minor number.
    pub minor: Option<u32>,
    /// Bits of [`ACC_READ`], [`ACC_WRITE`], [`ACC_MKNOD`].
    pub access: u8,
}

impl DeviceRule {
    const fn char_dev(major: u32, minor: Option<u32>, access: u8) -> Self {
        DeviceRule {
            allow: true,
            kind: DevKind::Char,
            major: Some(major),
            minor,
            access,
        }
    }

    /// True for `a *:* rwm`, which resets the whole list.
    pub fn is_everything(&self) -> bool {
        self.kind == DevKind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACC_ALL
    }

    /// The v1 line, e.g. `c 1:3 rwm` or `a *:* rwm`.
    pub fn v1_line(&self) -> String {
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let t = match self.kind {
            DevKind::All => 'a',
            DevKind::Block => 'b',
            DevKind::Char => 'c',
        };
        let mut access = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        format!("{t} {}:{} {access}", num(self.major), num(self.minor))
    }
}

/// The devices runc always allows after the spec's own rules: mknod of
/// anything, the default nodes (null, zero, full, random, urandom, tty,
/// ptmx), pseudo terminals and tun.
pub const DEFAULT_ALLOWED: &[DeviceRule] = &[
    DeviceRule {
        allow: true,
        kind: DevKind::Char,
        major: None,
        minor: None,
        access: ACC_MKNOD,
    },
    DeviceRule {
        allow: true,
        kind: DevKind::Block,
        major: None,
        minor: None,
        access: ACC_MKNOD,
    },
    DeviceRule::char_dev(1, Some(3), ACC_ALL),
    DeviceRule::char_dev(1, Some(5), ACC_ALL),
    DeviceRule::char_dev(1, Some(7), ACC_ALL),
    DeviceRule::char_dev(1, Some(8), ACC_ALL),
    DeviceRule::char_dev(1, Some(9), ACC_ALL),
    DeviceRule::char_dev(5, Some(0), ACC_ALL),
    DeviceRule::char_dev(5, Some(2), ACC_ALL),
    DeviceRule::char_dev(136, None, ACC_ALL),
    DeviceRule::char_dev(10, Some(200), ACC_ALL),
];

/// The spec's rules, in order, followed by the defaults. Rules for FIFOs
/// (`p`) need no cgroup entry and are skipped.
pub fn rules(spec: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, CgroupError> {
    let mut out = Vec::with_capacity(spec.len() + DEFAULT_ALLOWED.len());
    for r in spec {
        if let Some(rule) = parse(r)? {
            out.push(rule);
        }
    }
    out.extend_from_slice(DEFAULT_ALLOWED);
    Ok(out)
}

/// Allow rules for the nodes of `linux.devices`. Like runc,
/// [`super::CgroupHandle::apply`] does not allow those nodes by itself
/// (engines list them in `linux.resources.devices`); a caller that wants
/// them usable appends these rules first.
pub fn allow_rules_for(devices: &[LinuxDevice]) -> Vec<LinuxDeviceCgroup> {
    devices
        .iter()
        .filter(|d| {
            matches!(
                d.typ(),
                LinuxDeviceType::C | LinuxDeviceType::B | LinuxDeviceType::U
            )
        })
        .map(LinuxDeviceCgroup::from)
        .collect()
}

fn parse(r: &LinuxDeviceCgroup) -> Result<Option<DeviceRule>, CgroupError> {
    let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => DevKind::All,
        LinuxDeviceType::B => DevKind::Block,
        LinuxDeviceType::C | LinuxDeviceType::U => DevKind::Char,
        LinuxDeviceType::P => return Ok(None),
    };
    let num = |n: Option<i64>, what: &str| -> Result<Option<u32>, CgroupError> {
        match n {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| CgroupError::InvalidValue {
                    field: format!("linux.resources.devices.{what}"),
                    value: n.to_string(),
                    reason: "out of range",
                }),
        }
    };
    let text = match r.access().as_deref() {
        None | Some("") => "rwm",
        Some(a) => a,
    };
    let mut access = 0;
    for c in text.chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(CgroupError::InvalidValue {
                    field: "linux.resources.devices.access".into(),
                    value: text.into(),
                    reason: "expected a combination of r, w and m",
                })
            }
        };
    }
    let (major, minor) = if kind == DevKind::All {
        (None, None) // the kernel takes "a" as every device
    } else {
        (num(r.major(), "major")?, num(r.minor(), "minor")?)
    };
    Ok(Some(DeviceRule {
        allow: r.allow(),
        kind,
        major,
        minor,
        access,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> LinuxDeviceCgroup {
        serde_json::from_str(json).unwrap()
    }

    fn lines(rs: &[DeviceRule]) -> Vec<String> {
        rs.iter().map(DeviceRule::v1_line).collect()
    }

    #[test]
    fn deny_all_then_defaults() {
        let rs = rules(&[rule(r#"{"allow": false, "access": "rwm"}"#)]).unwrap();
        assert!(!rs[0].allow && rs[0].is_everything());
        assert_eq!(rs[0].v1_line(), "a *:* rwm");
        assert_eq!(rs.len(), 1 + DEFAULT_ALLOWED.len());
        assert!(rs[1..].iter().all(|r| r.allow));
        let l = lines(&rs);
        assert!(l.contains(&"c 1:3 rwm".to_string()));
        assert!(l.contains(&"c *:* m".to_string()));
        assert!(l.contains(&"c 136:* rwm".to_string()));
    }

    #[test]
    fn typed_rules_with_wildcards() {
        let rs = rules(&[
            rule(r#"{"allow": true, "type": "c", "major": 4, "access": "rw"}"#),
            rule(r#"{"allow": true, "type": "b", "major": 8, "minor": 0}"#),
            rule(r#"{"allow": true, "type": "u", "major": 1, "minor": -1, "access": "r"}"#),
            rule(r#"{"allow": true, "type": "p"}"#),
        ])
        .unwrap();
        assert_eq!(lines(&rs[..3]), ["c 4:* rw", "b 8:0 rwm", "c 1:* r"]);
        assert_eq!(rs.len(), 3 + DEFAULT_ALLOWED.len());
    }

    #[test]
    fn bad_access_is_refused() {
        let err = rules(&[rule(r#"{"allow": true, "access": "rwx"}"#)]).unwrap_err();
        assert!(err.to_string().contains("rwx"));
    }

    #[test]
    fn linux_devices_become_allow_rules() {
        let dev: LinuxDevice = serde_json::from_str(
            r#"{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}"#,
        )
        .unwrap();
        let rs = rules(&allow_rules_for(&[dev])).unwrap();
        assert!(rs[0].allow);
        assert_eq!(rs[0].v1_line(), "c 10:229 rwm");
    }
}
