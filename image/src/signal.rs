//! Signal names and numbers, for an image's StopSignal.

use crate::error::{ImageError, Result};

const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

/// Parse `SIGQUIT`, `QUIT`, `3` or `SIGRTMIN+3` into (name, number).
pub fn parse_signal(s: &str) -> Result<(String, i32)> {
    let bad = || ImageError::InvalidContent {
        what: "stop signal",
        digest: s.to_string(),
        reason: "not a signal name or number".into(),
    };
    if let Ok(n) = s.parse::<i32>() {
        if !(1..=libc::SIGRTMAX()).contains(&n) {
            return Err(bad());
        }
        let name = SIGNALS
            .iter()
            .find(|(_, v)| *v == n)
            .map_or_else(|| n.to_string(), |(k, _)| k.to_string());
        return Ok((name, n));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    if let Some(off) = name.strip_prefix("SIGRTMIN+") {
        let n = libc::SIGRTMIN() + off.parse::<i32>().map_err(|_| bad())?;
        if n > libc::SIGRTMAX() {
            return Err(bad());
        }
        return Ok((name, n));
    }
    SIGNALS
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(k, v)| (k.to_string(), *v))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_short_name_and_number() {
        assert_eq!(
            parse_signal("TERM").unwrap(),
            ("SIGTERM".into(), libc::SIGTERM)
        );
        assert_eq!(parse_signal("9").unwrap(), ("SIGKILL".into(), 9));
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap().1, libc::SIGRTMIN() + 1);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
