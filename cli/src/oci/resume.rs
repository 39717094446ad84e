//! `rcrun-oci resume <id>`: thaw a paused container.

use super::GlobalOpts;

/// `resume` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
}

/// Run `resume`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    rcrun_runtime::pause::resume(&super::store(g)?, &a.id)?;
    Ok(())
}
