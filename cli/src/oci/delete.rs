//! `rcrun-oci delete <id> [--force]`: remove a stopped (or created)
//! container; `--force` kills a running one first.

use super::GlobalOpts;

/// `delete` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
    /// Kill the container first if it is running; no error if it is gone.
    #[arg(short, long)]
    pub force: bool,
}

/// Run `delete`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    rcrun_runtime::delete(&super::store(g)?, &a.id, a.force)?;
    Ok(())
}
