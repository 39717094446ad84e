//! `--restart no|on-failure[:N]|always`: when the monitor re-creates the
//! container after its init exited, as docker's restart policies do while
//! the monitor lives.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::sys::ExitStatus;

/// A docker restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Never restart.
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max` times (unlimited if `None`).
    OnFailure {
        /// Restart limit.
        max: Option<u32>,
    },
    /// Restart after every exit.
    Always,
}

impl RestartPolicy {
    /// Parse `no`, `on-failure`, `on-failure:N`, `always` (and docker's
    /// `unless-stopped`, which behaves as `always` here: a stop by the user
    /// is signalled with the `no-restart` file in any case).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::msg(format!("--restart {s:?}: use no, on-failure[:N] or always"));
        match s.split_once(':') {
            None => match s {
                "no" => Ok(RestartPolicy::No),
                "on-failure" => Ok(RestartPolicy::OnFailure { max: None }),
                "always" | "unless-stopped" => Ok(RestartPolicy::Always),
                _ => Err(bad()),
            },
            Some(("on-failure", n)) => n
                .parse::<u32>()
                .map(|n| RestartPolicy::OnFailure { max: Some(n) })
                .map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// Should the container be restarted after exiting with `status`, having
    /// been restarted `restarts` times already?
    pub fn wants_restart(self, status: ExitStatus, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure { max } => {
                status.code() != 0 && max.is_none_or(|m| restarts < m)
            }
        }
    }
}

/// The delay before the `n`-th restart in a row (0-based): 100 ms doubling,
/// at most 10 s, as docker.
pub fn backoff(n: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << n.min(16));
    Duration::from_millis(ms.min(10_000))
}

/// A container that ran at least this long resets the backoff.
pub const BACKOFF_RESET: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("always").unwrap(),
            RestartPolicy::Always
        );
        assert_eq!(
            RestartPolicy::parse("on-failure").unwrap(),
            RestartPolicy::OnFailure { max: None }
        );
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure { max: Some(3) }
        );
        for bad in ["sometimes", "on-failure:x", "always:2", ""] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let p = RestartPolicy::OnFailure { max: Some(2) };
        assert!(p.wants_restart(ExitStatus::Exited(1), 0));
        assert!(p.wants_restart(ExitStatus::Signaled(9), 1));
        assert!(!p.wants_restart(ExitStatus::Exited(1), 2));
        assert!(!p.wants_restart(ExitStatus::Exited(0), 0));
        assert!(RestartPolicy::Always.wants_restart(ExitStatus::Exited(0), 100));
        assert!(!RestartPolicy::No.wants_restart(ExitStatus::Exited(1), 0));
    }

    #[test]
    fn backoff_doubles_up_to_ten_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }
}
