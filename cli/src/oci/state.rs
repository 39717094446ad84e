//! `rcrun-oci state <id>`: print the runtime-spec state JSON.

use super::GlobalOpts;

/// `state` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    pub id: String,
}

/// Run `state`.
pub fn run(g: &GlobalOpts, a: &Args) -> anyhow::Result<()> {
    let st = rcrun_runtime::state(&super::store(g)?, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&st)?);
    Ok(())
}
