//! The one error type of this crate: what failed (with the path or value it
//! failed on) and the OS error number when the kernel said no.

use std::fmt;

/// A failed step: `context` names the operation and its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What was being done, e.g. `setns /run/rcrun/netns/abc`.
    pub context: String,
    /// `errno` when a system call failed, `None` for a usage or data error.
    pub errno: Option<i32>,
}

impl Error {
    /// An error from the last system call's `errno`.
    pub fn last_os(context: impl Into<String>) -> Self {
        Error {
            context: context.into(),
            errno: std::io::Error::last_os_error().raw_os_error(),
        }
    }

    /// An error with an explicit errno.
    pub fn os(context: impl Into<String>, errno: i32) -> Self {
        Error {
            context: context.into(),
            errno: Some(errno),
        }
    }

    /// A usage or data error (no errno).
    pub fn msg(context: impl Into<String>) -> Self {
        Error {
            context: context.into(),
            errno: None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno {
            Some(e) => write!(
                f,
                "{}: {}",
                self.context,
                std::io::Error::from_raw_os_error(e)
            ),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for Error {}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_context_and_os_error() {
        let e = Error::os("setns /x", libc::EINVAL);
        assert_eq!(e.to_string(), "setns /x: Invalid argument (os error 22)");
        assert_eq!(Error::msg("bad flag").to_string(), "bad flag");
    }
}
