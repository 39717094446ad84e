//! A named network namespace (`ip netns add`) deleted on drop.

use std::path::PathBuf;
use std::process::Command;

use crate::bins::run_ok;

/// A network namespace made with `ip netns add`, removed when dropped.
#[derive(Debug)]
pub struct NetnsGuard {
    /// The namespace name.
    pub name: String,
}

impl NetnsGuard {
    /// Create `name` with `ip netns add` and bring its `lo` up.
    pub fn new(name: &str) -> Self {
        run_ok(Command::new("ip").args(["netns", "add", name]));
        let g = NetnsGuard {
            name: name.to_string(),
        };
        run_ok(Command::new("ip").args(["-n", name, "link", "set", "lo", "up"]));
        g
    }

    /// Path of the namespace file (`/run/netns/<name>`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// A `Command` that runs `program` inside this namespace (`ip netns exec`).
    pub fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
