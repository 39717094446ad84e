//! `User` resolution against the image's own /etc/passwd and /etc/group,
//! read through in-root resolution (a symlinked /etc/passwd in the image
//! cannot make us read a host file). Semantics follow runc/docker:
//! `""` is root; `name` or `uid`, optionally `:group` or `:gid`; a numeric
//! uid unknown to passwd is allowed (gid 0); names must exist.

use std::io::{self, Read};
use std::path::Path;

use crate::error::{ImageError, Result};
use crate::unpack::inroot::Root;

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (from /etc/group membership).
    pub additional_gids: Vec<u32>,
    /// Home directory from passwd (`/` when unknown).
    pub home: String,
}

#[derive(Debug)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolve `user` (image `User` or `--user`) inside `rootfs`.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ExecUser> {
    let passwd = read_in_root(rootfs, "etc/passwd")?;
    let group = read_in_root(rootfs, "etc/group")?;
    resolve_with(
        user,
        passwd.as_deref().unwrap_or(""),
        group.as_deref().unwrap_or(""),
    )
}

/// Resolve against the text of passwd and group files.
pub fn resolve_with(user: &str, passwd: &str, group: &str) -> Result<ExecUser> {
    let err = |reason: String| ImageError::UnknownUser {
        user: user.to_string(),
        reason,
    };
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let (uspec, gspec) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, mut gid, name, home) = if uspec.is_empty() {
        let e = users.iter().find(|e| e.uid == 0);
        (
            0,
            e.map_or(0, |e| e.gid),
            e.map(|e| e.name.clone()),
            e.map_or("/".into(), |e| e.home.clone()),
        )
    } else if let Ok(uid) = uspec.parse::<u32>() {
        let e = users.iter().find(|e| e.uid == uid);
        (
            uid,
            e.map_or(0, |e| e.gid),
            e.map(|e| e.name.clone()),
            e.map_or("/".into(), |e| e.home.clone()),
        )
    } else {
        let e = users
            .iter()
            .find(|e| e.name == uspec)
            .ok_or_else(|| err(format!("no user {uspec:?} in the image's /etc/passwd")))?;
        (e.uid, e.gid, Some(e.name.clone()), e.home.clone())
    };
    let mut additional = Vec::new();
    match gspec {
        Some(g) if !g.is_empty() => {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => groups
                    .iter()
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| err(format!("no group {g:?} in the image's /etc/group")))?,
            };
        }
        _ => {
            if let Some(name) = &name {
                for g in &groups {
                    if g.members.iter().any(|m| m == name)
                        && g.gid != gid
                        && !additional.contains(&g.gid)
                    {
                        additional.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Read `rel` inside `rootfs` with in-root resolution; `None` if missing.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>> {
    let root = Root::open(rootfs).map_err(|e| ImageError::io("open rootfs", rootfs, e))?;
    let comps: Vec<std::ffi::OsString> = rel.split('/').map(Into::into).collect();
    let fd = match root.resolve(&comps, libc::O_RDONLY) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ImageError::io("open", rootfs.join(rel), e)),
    };
    let mut f = std::fs::File::from(fd);
    let mut s = String::new();
    f.read_to_string(&mut s)
        .map_err(|e| ImageError::io("read", rootfs.join(rel), e))?;
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n# comment\nbroken\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:\nadm:x:4:www-data,other\nweb:x:500:www-data\n";

    #[test]
    fn empty_user_is_root_with_roots_home() {
        let u = resolve_with("", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
    }

    #[test]
    fn name_gives_uid_gid_and_supplementary_groups() {
        let u = resolve_with("www-data", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (33, 33));
        assert_eq!(u.additional_gids, vec![4, 500]);
        assert_eq!(u.home, "/var/www");
    }

    #[test]
    fn explicit_group_by_name_or_number() {
        let u = resolve_with("www-data:adm", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (33, 4));
        assert!(u.additional_gids.is_empty());
        let u = resolve_with("33:777", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (33, 777));
    }

    #[test]
    fn unknown_numeric_uid_is_allowed_with_gid_0() {
        let u = resolve_with("1234", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1234, 0, "/"));
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve_with("nobody", PASSWD, GROUP).unwrap_err();
        assert!(e.to_string().contains("nobody"), "{e}");
        assert!(resolve_with("root:nogroup", PASSWD, GROUP).is_err());
    }
}
