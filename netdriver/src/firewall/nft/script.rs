//! An nft script under construction: one command per line, each line
//! remembering what it is for, so an error nft reports at `/dev/stdin:LINE`
//! can name the rule or element that failed.

use crate::firewall::FirewallError;

/// A list of nft commands applied as one transaction by `nft -f -`.
#[derive(Debug, Default, Clone)]
pub struct Script {
    lines: Vec<(String, Option<String>)>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a command.
    pub fn push(&mut self, cmd: impl Into<String>) {
        self.lines.push((cmd.into(), None));
    }

    /// Append a command that, when refused, is reported as `what`.
    pub fn push_for(&mut self, cmd: impl Into<String>, what: impl Into<String>) {
        self.lines.push((cmd.into(), Some(what.into())));
    }

    /// True when the script has no command.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// What line `n` (1-based, as nft counts) is for: its label or the command.
    pub fn describe_line(&self, n: usize) -> Option<String> {
        let (cmd, what) = self.lines.get(n.checked_sub(1)?)?;
        Some(what.clone().unwrap_or_else(|| format!("`{cmd}`")))
    }

    /// The label of line `n` (1-based), when it has one.
    pub fn label(&self, n: usize) -> Option<&str> {
        self.lines.get(n.checked_sub(1)?)?.1.as_deref()
    }

    /// The 1-based line an nft error output points at (`INPUT:LINE:` location).
    pub fn locate_error(&self, stderr: &str) -> Option<usize> {
        error_line(stderr).filter(|n| *n >= 1 && *n <= self.lines.len())
    }

    /// The script text, one command per line.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (cmd, _) in &self.lines {
            s.push_str(cmd);
            s.push('\n');
        }
        s
    }
}

/// The line of the first `INPUT:LINE:COLS: Error:` location in nft's error
/// output (INPUT is `/dev/stdin` for the binary, a file path for the library).
pub fn error_line(stderr: &str) -> Option<usize> {
    stderr.lines().find_map(|l| {
        let (loc, _) = l.split_once(": Error:")?;
        let mut parts = loc.rsplitn(3, ':');
        let _cols = parts.next()?;
        parts.next()?.parse().ok()
    })
}

fn check(
    what: &'static str,
    value: &str,
    max: usize,
    extra: &str,
    reason: &'static str,
) -> Result<(), FirewallError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if ok {
        Ok(())
    } else {
        Err(FirewallError::BadName {
            what,
            value: value.to_string(),
            reason,
        })
    }
}

/// A bridge name usable unquoted inside chain names: 1-15 of `[A-Za-z0-9_.-]`.
pub fn check_bridge(name: &str) -> Result<(), FirewallError> {
    check(
        "bridge name",
        name,
        15,
        "_.-",
        "use 1-15 characters of A-Z a-z 0-9 _ . -",
    )
}

/// A table name: a letter, then letters, digits or `_` (at most 32).
pub fn check_table(name: &str) -> Result<(), FirewallError> {
    check(
        "table name",
        name,
        32,
        "_",
        "use a letter followed by up to 31 of A-Z a-z 0-9 _",
    )?;
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Ok(())
    } else {
        Err(FirewallError::BadName {
            what: "table name",
            value: name.to_string(),
            reason: "use a letter followed by up to 31 of A-Z a-z 0-9 _",
        })
    }
}

/// A sandbox id stored as an element comment: 1-128 of `[A-Za-z0-9_.:@-]`.
pub fn check_sandbox_id(id: &str) -> Result<(), FirewallError> {
    check(
        "sandbox id",
        id,
        128,
        "_.:@-",
        "use 1-128 characters of A-Z a-z 0-9 _ . : @ -",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_finds_first_location() {
        let err =
            "/dev/stdin:3:39-56: Error: Could not process rule: File exists\nadd element ...\n";
        assert_eq!(error_line(err), Some(3));
        assert_eq!(error_line("Error: syntax error"), None);
    }

    #[test]
    fn locate_error_reads_both_error_forms() {
        let mut s = Script::new();
        s.push("add table inet t");
        s.push("add element inet t m { 1 : 10.0.0.1 . 80 }");
        let lib = "/proc/self/fd/7:2:30-45: Error: Could not process rule: File exists\nadd element inet t m { 1 : 10.0.0.1 . 80 }\n";
        assert_eq!(s.locate_error(lib), Some(2));
        assert_eq!(s.locate_error("/dev/stdin:1:1-3: Error: x\n"), Some(1));
        assert_eq!(s.locate_error("/dev/stdin:9:1-3: Error: x\n"), None);
        assert_eq!(s.locate_error("Error: x\nsomething else\n"), None);
    }

    #[test]
    fn describe_line_prefers_label() {
        let mut s = Script::new();
        s.push("add table inet t");
        s.push_for("add element inet t m { 1 : 2 }", "host port 1/tcp");
        assert_eq!(s.describe_line(1).as_deref(), Some("`add table inet t`"));
        assert_eq!(s.describe_line(2).as_deref(), Some("host port 1/tcp"));
        assert_eq!(s.describe_line(3), None);
        assert_eq!(
            s.text(),
            "add table inet t\nadd element inet t m { 1 : 2 }\n"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_bridge("rcrun0").is_ok());
        assert!(check_bridge("br-1.a_b").is_ok());
        assert!(check_bridge("bad name").is_err());
        assert!(check_bridge("waytoolongbridgename").is_err());
        assert!(check_table("rcrun_t1").is_ok());
        assert!(check_table("1rcrun").is_err());
        assert!(check_table("a-b").is_err());
        assert!(check_sandbox_id("abc123:web-1").is_ok());
        assert!(check_sandbox_id("x\" accept").is_err());
    }
}
