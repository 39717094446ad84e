//! `rcrun-oci kill <id> [SIGNAL]`: signal the container's init (`--all`:
//! every process in its cgroup). Signals by name (`KILL`, `SIGKILL`) or number.

use rcrun_runtime::signal::parse_signal;

use super::GlobalOpts;

/// `kill` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
    /// Signal name or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process of the container, not just its init.
    #[arg(short, long)]
    pub all: bool,
}

/// Run `kill`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    let sig = parse_signal(&a.signal)?;
    rcrun_runtime::kill(&super::store(g)?, &a.id, sig, a.all)?;
    Ok(())
}
