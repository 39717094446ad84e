//! `rcrun-oci start <id>`: let a created container's process run.

use super::GlobalOpts;

/// `start` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
}

/// Run `start`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    rcrun_runtime::start(&super::store(g)?, &a.id)?;
    Ok(())
}
