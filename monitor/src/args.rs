//! Command lines of `rcrun-monitor` and `rcrun-pause` (hand-parsed: the
//! binaries link libc only). Flags take their value as the next argument or
//! after `=`.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::restart::RestartPolicy;

/// `rcrun-monitor` options (see monitor/README.md for the contract).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorArgs {
    /// Container id, passed to the runtime.
    pub id: String,
    /// The OCI runtime executable.
    pub runtime: PathBuf,
    /// Global runtime arguments placed before `create` (e.g. `--root DIR`).
    pub runtime_args: Vec<String>,
    /// The OCI bundle.
    pub bundle: PathBuf,
    /// Directory for `pid`, `exit`, `console.sock`, `attach.sock`.
    pub container_dir: PathBuf,
    /// The k8s-file log.
    pub log_path: PathBuf,
    /// The container has a terminal (`process.terminal`).
    pub tty: bool,
    /// Keep the container's stdin open and serve `attach.sock`.
    pub stdin: bool,
    /// Descriptor that receives `{"pid":N}` or `{"error":"..."}`.
    pub ready_fd: Option<i32>,
    /// Program run after the container exited.
    pub exit_command: Option<String>,
    /// Its arguments.
    pub exit_command_args: Vec<String>,
    /// When to re-create the container after its init exited.
    pub restart: RestartPolicy,
}

/// `rcrun-pause` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PauseArgs {
    /// Network namespace file to join.
    pub netns: PathBuf,
    /// Hostname of the new uts namespace.
    pub hostname: Option<String>,
    /// Also create a pid namespace (the pause process becomes its pid 1).
    pub new_pid: bool,
    /// A mount namespace file (an empty read-only root made by an earlier
    /// pause process) to join instead of making a fresh one.
    pub mntns: Option<PathBuf>,
    /// Descriptor that receives `ok` or `error: <msg>`.
    pub ready_fd: Option<i32>,
    /// Descriptors kept open for the process's life.
    pub keep_fds: Vec<i32>,
}

/// The `--ready-fd` of a command line that failed to parse, so the error
/// can still be reported where the caller waits for it.
pub fn find_ready_fd(args: &[String]) -> Option<i32> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = match a.strip_prefix("--ready-fd") {
            Some("") => it.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(fd) = v.and_then(|v| v.parse::<i32>().ok()).filter(|&n| n > 2) {
            return Some(fd);
        }
    }
    None
}

/// Iterates `--flag value` / `--flag=value` / `--switch` arguments.
struct Flags<I: Iterator<Item = String>> {
    args: I,
}

impl<I: Iterator<Item = String>> Flags<I> {
    /// The next `(flag, inline value)`, or `None` at the end.
    fn next_flag(&mut self) -> Result<Option<(String, Option<String>)>> {
        let Some(a) = self.args.next() else {
            return Ok(None);
        };
        if !a.starts_with("--") {
            return Err(Error::msg(format!("unexpected argument {a:?}")));
        }
        Ok(Some(match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a, None),
        }))
    }

    /// The flag's value: inline, else the next argument.
    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .args
                .next()
                .ok_or_else(|| Error::msg(format!("{flag} needs a value"))),
        }
    }

    /// The flag's value as a descriptor number.
    fn fd(&mut self, flag: &str, inline: Option<String>) -> Result<i32> {
        let v = self.value(flag, inline)?;
        v.parse::<i32>()
            .ok()
            .filter(|&n| n >= 0)
            .ok_or_else(|| Error::msg(format!("{flag}: {v:?} is not a descriptor number")))
    }
}

/// A switch must not carry a value.
fn no_value(flag: &str, inline: Option<String>) -> Result<()> {
    match inline {
        Some(v) => Err(Error::msg(format!("{flag} takes no value (got {v:?})"))),
        None => Ok(()),
    }
}

/// A required option that was left out.
fn required<T>(v: Option<T>, flag: &str) -> Result<T> {
    v.ok_or_else(|| Error::msg(format!("{flag} is required")))
}

impl MonitorArgs {
    /// Parse the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut f = Flags {
            args: args.into_iter(),
        };
        let (mut id, mut runtime, mut bundle, mut cdir, mut log) = (None, None, None, None, None);
        let mut m = MonitorArgs::default();
        while let Some((flag, inline)) = f.next_flag()? {
            match flag.as_str() {
                "--id" => id = Some(f.value(&flag, inline)?),
                "--runtime" => runtime = Some(PathBuf::from(f.value(&flag, inline)?)),
                "--runtime-arg" => m.runtime_args.push(f.value(&flag, inline)?),
                "--bundle" => bundle = Some(PathBuf::from(f.value(&flag, inline)?)),
                "--container-dir" => cdir = Some(PathBuf::from(f.value(&flag, inline)?)),
                "--log-path" => log = Some(PathBuf::from(f.value(&flag, inline)?)),
                "--tty" => {
                    no_value(&flag, inline)?;
                    m.tty = true
                }
                "--stdin" => {
                    no_value(&flag, inline)?;
                    m.stdin = true
                }
                "--ready-fd" => m.ready_fd = Some(f.fd(&flag, inline)?),
                "--exit-command" => m.exit_command = Some(f.value(&flag, inline)?),
                "--exit-command-arg" => m.exit_command_args.push(f.value(&flag, inline)?),
                "--restart" => m.restart = RestartPolicy::parse(&f.value(&flag, inline)?)?,
                _ => return Err(Error::msg(format!("unknown option {flag}"))),
            }
        }
        m.id = required(id, "--id")?;
        if m.id.is_empty() {
            return Err(Error::msg("--id must not be empty"));
        }
        m.runtime = required(runtime, "--runtime")?;
        m.bundle = required(bundle, "--bundle")?;
        m.container_dir = required(cdir, "--container-dir")?;
        m.log_path = required(log, "--log-path")?;
        if m.exit_command.is_none() && !m.exit_command_args.is_empty() {
            return Err(Error::msg("--exit-command-arg needs --exit-command"));
        }
        Ok(m)
    }
}

impl PauseArgs {
    /// Parse the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut f = Flags {
            args: args.into_iter(),
        };
        let mut netns = None;
        let mut p = PauseArgs::default();
        while let Some((flag, inline)) = f.next_flag()? {
            match flag.as_str() {
                "--netns" => netns = Some(PathBuf::from(f.value(&flag, inline)?)),
                "--hostname" => p.hostname = Some(f.value(&flag, inline)?),
                "--mntns" => p.mntns = Some(PathBuf::from(f.value(&flag, inline)?)),
                "--new-pid" => {
                    no_value(&flag, inline)?;
                    p.new_pid = true
                }
                "--ready-fd" => p.ready_fd = Some(f.fd(&flag, inline)?),
                "--keep-fd" => p.keep_fds.push(f.fd(&flag, inline)?),
                _ => return Err(Error::msg(format!("unknown option {flag}"))),
            }
        }
        p.netns = required(netns, "--netns")?;
        if let Some(h) = &p.hostname {
            if h.is_empty() || h.len() > 64 {
                return Err(Error::msg(format!(
                    "--hostname {h:?}: must be 1 to 64 bytes"
                )));
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn monitor_full_command_line() {
        let m = MonitorArgs::parse(v(&[
            "--id",
            "c1",
            "--runtime",
            "/bin/rt",
            "--runtime-arg",
            "--root",
            "--runtime-arg=/run/x",
            "--bundle",
            "/b",
            "--container-dir",
            "/c",
            "--log-path",
            "/c/log",
            "--tty",
            "--stdin",
            "--ready-fd",
            "5",
            "--exit-command",
            "/bin/rcrun",
            "--exit-command-arg",
            "cleanup",
            "--exit-command-arg",
            "c1",
            "--restart",
            "on-failure:2",
        ]))
        .unwrap();
        assert_eq!(m.id, "c1");
        assert_eq!(m.runtime, PathBuf::from("/bin/rt"));
        assert_eq!(m.runtime_args, v(&["--root", "/run/x"]));
        assert_eq!(m.bundle, PathBuf::from("/b"));
        assert_eq!(m.container_dir, PathBuf::from("/c"));
        assert_eq!(m.log_path, PathBuf::from("/c/log"));
        assert!(m.tty && m.stdin);
        assert_eq!(m.ready_fd, Some(5));
        assert_eq!(m.exit_command.as_deref(), Some("/bin/rcrun"));
        assert_eq!(m.exit_command_args, v(&["cleanup", "c1"]));
        assert_eq!(m.restart, RestartPolicy::OnFailure { max: Some(2) });
    }

    #[test]
    fn monitor_missing_and_bad_options_are_errors() {
        let e = MonitorArgs::parse(v(&["--id", "c1"])).unwrap_err();
        assert_eq!(e.to_string(), "--runtime is required");
        let e = MonitorArgs::parse(v(&["--bogus"])).unwrap_err();
        assert_eq!(e.to_string(), "unknown option --bogus");
        let e = MonitorArgs::parse(v(&["--ready-fd", "x"])).unwrap_err();
        assert!(e.to_string().contains("not a descriptor"), "{e}");
        let e = MonitorArgs::parse(v(&["--id"])).unwrap_err();
        assert_eq!(e.to_string(), "--id needs a value");
        let e = MonitorArgs::parse(v(&["--tty=1"])).unwrap_err();
        assert!(e.to_string().contains("takes no value"), "{e}");
        let e = MonitorArgs::parse(v(&["stray"])).unwrap_err();
        assert!(e.to_string().contains("unexpected argument"), "{e}");
    }

    #[test]
    fn ready_fd_is_found_in_a_bad_command_line() {
        assert_eq!(find_ready_fd(&v(&["--bogus", "--ready-fd", "5"])), Some(5));
        assert_eq!(find_ready_fd(&v(&["--ready-fd=7", "x"])), Some(7));
        assert_eq!(find_ready_fd(&v(&["--ready-fd", "1"])), None);
        assert_eq!(find_ready_fd(&v(&["--ready-fd"])), None);
    }

    #[test]
    fn pause_command_line() {
        let p = PauseArgs::parse(v(&[
            "--netns",
            "/run/n",
            "--hostname",
            "web",
            "--new-pid",
            "--ready-fd",
            "3",
            "--keep-fd",
            "7",
            "--keep-fd=8",
            "--mntns",
            "/run/m",
        ]))
        .unwrap();
        assert_eq!(p.mntns, Some(PathBuf::from("/run/m")));
        assert_eq!(p.netns, PathBuf::from("/run/n"));
        assert_eq!(p.hostname.as_deref(), Some("web"));
        assert!(p.new_pid);
        assert_eq!(p.ready_fd, Some(3));
        assert_eq!(p.keep_fds, vec![7, 8]);
        assert!(PauseArgs::parse(v(&[])).is_err());
        assert!(PauseArgs::parse(v(&["--netns", "/n", "--hostname", ""])).is_err());
    }
}
