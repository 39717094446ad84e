//! Mount options of a config.json `mounts` entry, split the way the kernel
//! wants them: `MS_*` flags for `mount(2)`, propagation changes, recursive
//! mount attributes (`rro`, `rnosuid`, ...) for `mount_setattr(2)`, and the
//! filesystem data string (`mode=755,size=65536k`) — the same table runc uses.

use libc::c_ulong;

use super::sys::{
    MountAttr, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME,
};

/// `MS_NOSYMFOLLOW` (Linux 5.10); not in every libc.
const MS_NOSYMFOLLOW: c_ulong = 256;

/// What one option word means.
#[derive(Debug, Clone, Copy)]
enum Opt {
    /// Set an `MS_*` flag.
    Set(c_ulong),
    /// Clear an `MS_*` flag.
    Clear(c_ulong),
    /// Change propagation (`MS_PRIVATE`, ... possibly `| MS_REC`).
    Prop(c_ulong),
    /// Set a mount attribute on the whole tree.
    RecSet(u64),
    /// Clear a mount attribute on the whole tree.
    RecClr(u64),
    /// Set the atime mode on the whole tree.
    RecAtime(u64),
    /// `bind`.
    Bind,
    /// `rbind`.
    RBind,
    /// Accepted and meaningless (`defaults`).
    Ignore,
    /// `tmpcopyup`: copy the covered directory into the new tmpfs.
    CopyUp,
    /// Known but not implemented by rcrun.
    Unsupported,
}

const TABLE: &[(&str, Opt)] = &[
    ("async", Opt::Clear(libc::MS_SYNCHRONOUS)),
    ("atime", Opt::Clear(libc::MS_NOATIME)),
    ("bind", Opt::Bind),
    ("defaults", Opt::Ignore),
    ("dev", Opt::Clear(libc::MS_NODEV)),
    ("diratime", Opt::Clear(libc::MS_NODIRATIME)),
    ("dirsync", Opt::Set(libc::MS_DIRSYNC)),
    ("exec", Opt::Clear(libc::MS_NOEXEC)),
    ("iversion", Opt::Set(libc::MS_I_VERSION)),
    ("lazytime", Opt::Set(libc::MS_LAZYTIME)),
    ("loud", Opt::Clear(libc::MS_SILENT)),
    ("mand", Opt::Set(libc::MS_MANDLOCK)),
    ("noatime", Opt::Set(libc::MS_NOATIME)),
    ("nodev", Opt::Set(libc::MS_NODEV)),
    ("nodiratime", Opt::Set(libc::MS_NODIRATIME)),
    ("noexec", Opt::Set(libc::MS_NOEXEC)),
    ("noiversion", Opt::Clear(libc::MS_I_VERSION)),
    ("nolazytime", Opt::Clear(libc::MS_LAZYTIME)),
    ("nomand", Opt::Clear(libc::MS_MANDLOCK)),
    ("norelatime", Opt::Clear(libc::MS_RELATIME)),
    ("nostrictatime", Opt::Clear(libc::MS_STRICTATIME)),
    ("nosuid", Opt::Set(libc::MS_NOSUID)),
    ("nosymfollow", Opt::Set(MS_NOSYMFOLLOW)),
    ("rbind", Opt::RBind),
    ("relatime", Opt::Set(libc::MS_RELATIME)),
    ("ro", Opt::Set(libc::MS_RDONLY)),
    ("rw", Opt::Clear(libc::MS_RDONLY)),
    ("silent", Opt::Set(libc::MS_SILENT)),
    ("strictatime", Opt::Set(libc::MS_STRICTATIME)),
    ("suid", Opt::Clear(libc::MS_NOSUID)),
    ("symfollow", Opt::Clear(MS_NOSYMFOLLOW)),
    ("sync", Opt::Set(libc::MS_SYNCHRONOUS)),
    ("private", Opt::Prop(libc::MS_PRIVATE)),
    ("rprivate", Opt::Prop(libc::MS_PRIVATE | libc::MS_REC)),
    ("shared", Opt::Prop(libc::MS_SHARED)),
    ("rshared", Opt::Prop(libc::MS_SHARED | libc::MS_REC)),
    ("slave", Opt::Prop(libc::MS_SLAVE)),
    ("rslave", Opt::Prop(libc::MS_SLAVE | libc::MS_REC)),
    ("unbindable", Opt::Prop(libc::MS_UNBINDABLE)),
    ("runbindable", Opt::Prop(libc::MS_UNBINDABLE | libc::MS_REC)),
    ("rro", Opt::RecSet(MOUNT_ATTR_RDONLY)),
    ("rrw", Opt::RecClr(MOUNT_ATTR_RDONLY)),
    ("rnosuid", Opt::RecSet(MOUNT_ATTR_NOSUID)),
    ("rsuid", Opt::RecClr(MOUNT_ATTR_NOSUID)),
    ("rnodev", Opt::RecSet(MOUNT_ATTR_NODEV)),
    ("rdev", Opt::RecClr(MOUNT_ATTR_NODEV)),
    ("rnoexec", Opt::RecSet(MOUNT_ATTR_NOEXEC)),
    ("rexec", Opt::RecClr(MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", Opt::RecSet(MOUNT_ATTR_NODIRATIME)),
    ("rdiratime", Opt::RecClr(MOUNT_ATTR_NODIRATIME)),
    ("rnosymfollow", Opt::RecSet(MOUNT_ATTR_NOSYMFOLLOW)),
    ("rsymfollow", Opt::RecClr(MOUNT_ATTR_NOSYMFOLLOW)),
    ("rrelatime", Opt::RecAtime(MOUNT_ATTR_RELATIME)),
    ("rnoatime", Opt::RecAtime(MOUNT_ATTR_NOATIME)),
    ("rstrictatime", Opt::RecAtime(MOUNT_ATTR_STRICTATIME)),
    // Leaving noatime/strictatime goes back to the kernel default, relatime.
    ("ratime", Opt::RecAtime(MOUNT_ATTR_RELATIME)),
    ("rnorelatime", Opt::RecAtime(MOUNT_ATTR_RELATIME)),
    ("rnostrictatime", Opt::RecAtime(MOUNT_ATTR_RELATIME)),
    ("remount", Opt::Unsupported),
    ("tmpcopyup", Opt::CopyUp),
    ("idmap", Opt::Unsupported),
    ("ridmap", Opt::Unsupported),
];

/// Mount options, parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` flags to set (`ro`, `nosuid`, `relatime`, ...).
    pub flags: c_ulong,
    /// `MS_*` flags explicitly cleared (`rw`, `suid`, `exec`, ...).
    pub cleared: c_ulong,
    /// Propagation changes in order (`MS_PRIVATE | MS_REC` for `rprivate`).
    pub propagation: Vec<c_ulong>,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind` was given: submounts come along.
    pub recursive: bool,
    /// Attributes for the whole tree (`rro`, `rnosuid`, ...).
    pub rec_attr: MountAttr,
    /// `tmpcopyup` was given.
    pub copy_up: bool,
    /// Everything else, comma-joined: the filesystem's data string.
    pub data: String,
}

impl MountOptions {
    /// The flags as `mount_setattr` attributes for the top mount of a bind:
    /// set what was set, clear what was explicitly cleared, leave the rest
    /// (so flags locked by a user namespace are kept).
    pub fn bind_attr(&self) -> MountAttr {
        const MAP: &[(c_ulong, u64)] = &[
            (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
            (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
            (libc::MS_NODEV, MOUNT_ATTR_NODEV),
            (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
            (libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
            (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
        ];
        let mut a = MountAttr::default();
        for &(ms, attr) in MAP {
            if self.flags & ms != 0 {
                a.attr_set |= attr;
            } else if self.cleared & ms != 0 {
                a.attr_clr |= attr;
            }
        }
        let atime = if self.flags & libc::MS_NOATIME != 0 {
            Some(MOUNT_ATTR_NOATIME)
        } else if self.flags & libc::MS_STRICTATIME != 0 {
            Some(MOUNT_ATTR_STRICTATIME)
        } else if self.flags & libc::MS_RELATIME != 0 {
            Some(MOUNT_ATTR_RELATIME)
        } else {
            None
        };
        if let Some(mode) = atime {
            a.attr_set |= mode;
            a.attr_clr |= MOUNT_ATTR__ATIME;
        }
        a
    }

    /// True when `ro` was given.
    pub fn readonly(&self) -> bool {
        self.flags & libc::MS_RDONLY != 0
    }
}

/// Parse a mount's `options`. An option rcrun knows but does not implement
/// is returned as the error.
pub fn parse(options: &[String]) -> Result<MountOptions, String> {
    let mut o = MountOptions::default();
    for word in options {
        let found = TABLE.iter().find(|(name, _)| *name == word.as_str());
        match found.map(|&(_, kind)| kind) {
            Some(Opt::Set(f)) => {
                o.flags |= f;
                o.cleared &= !f;
            }
            Some(Opt::Clear(f)) => {
                o.flags &= !f;
                o.cleared |= f;
            }
            Some(Opt::Prop(p)) => o.propagation.push(p),
            Some(Opt::RecSet(a)) => {
                o.rec_attr.attr_set |= a;
                o.rec_attr.attr_clr &= !a;
            }
            Some(Opt::RecClr(a)) => {
                o.rec_attr.attr_clr |= a;
                o.rec_attr.attr_set &= !a;
            }
            Some(Opt::RecAtime(mode)) => {
                o.rec_attr.attr_set = (o.rec_attr.attr_set & !MOUNT_ATTR__ATIME) | mode;
                o.rec_attr.attr_clr |= MOUNT_ATTR__ATIME;
            }
            Some(Opt::Bind) => o.bind = true,
            Some(Opt::RBind) => {
                o.bind = true;
                o.recursive = true;
            }
            Some(Opt::Ignore) => {}
            Some(Opt::CopyUp) => o.copy_up = true,
            Some(Opt::Unsupported) => return Err(word.clone()),
            None => {
                if !o.data.is_empty() {
                    o.data.push(',');
                }
                o.data.push_str(word);
            }
        }
    }
    Ok(o)
}

/// `linux.rootfsPropagation` as `MS_*` flags.
pub fn parse_propagation(value: &str) -> Option<c_ulong> {
    match TABLE.iter().find(|(name, _)| *name == value) {
        Some(&(_, Opt::Prop(p))) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> MountOptions {
        let v: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        parse(&v).expect("parse")
    }

    #[test]
    fn flags_and_data_are_split() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind && o.propagation.is_empty());
    }

    #[test]
    fn devpts_options_keep_unknown_words_as_data() {
        let o = p(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn later_options_win() {
        let o = p(&["ro", "rw", "nosuid", "suid", "noexec"]);
        assert_eq!(o.flags, libc::MS_NOEXEC);
        assert_eq!(o.cleared, libc::MS_RDONLY | libc::MS_NOSUID);
        let o = p(&["rw", "ro"]);
        assert!(o.readonly());
        assert_eq!(o.cleared, 0);
    }

    #[test]
    fn bind_and_rbind() {
        let o = p(&["bind", "ro"]);
        assert!(o.bind && !o.recursive && o.readonly());
        let o = p(&["rbind"]);
        assert!(o.bind && o.recursive);
    }

    #[test]
    fn propagation_words_in_order() {
        let o = p(&["rprivate", "slave", "shared", "runbindable"]);
        assert_eq!(
            o.propagation,
            vec![
                libc::MS_PRIVATE | libc::MS_REC,
                libc::MS_SLAVE,
                libc::MS_SHARED,
                libc::MS_UNBINDABLE | libc::MS_REC
            ]
        );
    }

    #[test]
    fn bind_attr_sets_and_clears() {
        let a = p(&["bind", "ro", "nosuid", "exec", "noatime"]).bind_attr();
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR_NOEXEC | MOUNT_ATTR__ATIME);
        let a = p(&["bind", "relatime"]).bind_attr();
        assert_eq!(a.attr_set, 0);
        assert_eq!(a.attr_clr, MOUNT_ATTR__ATIME);
        assert!(p(&["rbind"]).bind_attr().is_empty());
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(
            o.rec_attr.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.rec_attr.attr_clr, MOUNT_ATTR__ATIME);
        let o = p(&["rro", "rrw"]);
        assert_eq!(o.rec_attr.attr_set, 0);
        assert_eq!(o.rec_attr.attr_clr, MOUNT_ATTR_RDONLY);
        assert_eq!(o.flags, 0);
    }

    #[test]
    fn unsupported_options_are_errors() {
        let v = vec!["bind".to_string(), "idmap".to_string()];
        assert_eq!(parse(&v), Err("idmap".to_string()));
        let v = vec!["ridmap".to_string()];
        assert_eq!(parse(&v), Err("ridmap".to_string()));
        assert!(p(&["tmpcopyup", "mode=755"]).copy_up);
    }

    #[test]
    fn root_propagation_values() {
        assert_eq!(
            parse_propagation("rslave"),
            Some(libc::MS_SLAVE | libc::MS_REC)
        );
        assert_eq!(parse_propagation("private"), Some(libc::MS_PRIVATE));
        assert_eq!(parse_propagation("ro"), None);
        assert_eq!(parse_propagation("bogus"), None);
    }
}
