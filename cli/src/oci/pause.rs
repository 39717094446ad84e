//! `rcrun-oci pause <id>`: freeze every process of a running container.

use super::GlobalOpts;

/// `pause` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
}

/// Run `pause`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    rcrun_runtime::pause::pause(&super::store(g)?, &a.id)?;
    Ok(())
}
