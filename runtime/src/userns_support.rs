//! Whether this host lets the caller create a user namespace, checked
//! before anything is set up, so that a container asking for one fails with
//! a message naming the host setting that forbids it rather than an errno
//! from deep inside the init (`unshare: ENOSPC`).

use std::path::Path;

use crate::error::{Result, RuntimeError};

/// The sysctls that can forbid new user namespaces, and when they do.
const LIMITS: [(&str, &str, Forbids); 3] = [
    (
        "/proc/sys/user/max_user_namespaces",
        "user.max_user_namespaces",
        Forbids::Everyone,
    ),
    (
        "/proc/sys/kernel/unprivileged_userns_clone",
        "kernel.unprivileged_userns_clone",
        Forbids::Unprivileged,
    ),
    (
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "kernel.apparmor_restrict_unprivileged_userns",
        Forbids::UnprivilegedWhenSet,
    ),
];

/// How a sysctl's value forbids user namespaces.
#[derive(Clone, Copy)]
enum Forbids {
    /// `0` forbids them for everyone.
    Everyone,
    /// `0` forbids them for users without CAP_SYS_ADMIN.
    Unprivileged,
    /// `1` forbids them for users without CAP_SYS_ADMIN (an AppArmor policy).
    UnprivilegedWhenSet,
}

/// Fail with a clear message if a new user namespace is not allowed here
/// for this caller (`privileged`: running as root in the initial user
/// namespace). A sysctl the kernel does not have allows it.
pub fn check(privileged: bool) -> Result<()> {
    check_with(privileged, |p| std::fs::read_to_string(p).ok())
}

fn check_with(privileged: bool, read: impl Fn(&Path) -> Option<String>) -> Result<()> {
    for (path, name, forbids) in LIMITS {
        let Some(value) = read(Path::new(path)) else {
            continue;
        };
        let value = value.trim();
        let why = match forbids {
            Forbids::Everyone if value == "0" => "this host allows no new user namespaces",
            Forbids::Unprivileged if value == "0" && !privileged => {
                "this host allows user namespaces to root only"
            }
            Forbids::UnprivilegedWhenSet if value == "1" && !privileged => {
                "AppArmor restricts user namespaces of unprivileged users on this host"
            }
            _ => continue,
        };
        return Err(RuntimeError::spec(
            "linux.namespaces",
            format!(
                "a user namespace is requested but {why} (sysctl {name} = {value}): \
                 change that setting, or run without a user namespace"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(values: &'static [(&'static str, &'static str)]) -> impl Fn(&Path) -> Option<String> {
        move |p| {
            values
                .iter()
                .find(|(k, _)| Path::new(k) == p)
                .map(|(_, v)| format!("{v}\n"))
        }
    }

    #[test]
    fn a_permissive_or_unknown_host_passes() {
        assert!(check_with(false, host(&[])).is_ok());
        let ok = host(&[
            ("/proc/sys/user/max_user_namespaces", "96365"),
            ("/proc/sys/kernel/unprivileged_userns_clone", "1"),
        ]);
        assert!(check_with(false, ok).is_ok());
    }

    #[test]
    fn the_forbidding_sysctl_is_named() {
        let e = check_with(true, host(&[("/proc/sys/user/max_user_namespaces", "0")]))
            .expect_err("forbidden");
        assert!(
            e.to_string().contains("user.max_user_namespaces = 0"),
            "{e}"
        );
        let clone_off = host(&[("/proc/sys/kernel/unprivileged_userns_clone", "0")]);
        let e = check_with(false, &clone_off).expect_err("forbidden for users");
        assert!(
            e.to_string().contains("kernel.unprivileged_userns_clone"),
            "{e}"
        );
        assert!(check_with(true, &clone_off).is_ok(), "root may");
        let apparmor = host(&[(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1",
        )]);
        assert!(check_with(false, apparmor).is_err());
    }
}
