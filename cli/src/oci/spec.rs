//! `rcrun-oci spec [--bundle DIR]`: write a default config.json (runc's).

use std::path::PathBuf;

use anyhow::{bail, Context};

/// `spec` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

/// Run `spec`.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    let text = serde_json::to_string_pretty(&rcrun_runtime::default_spec::default_spec())?;
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    Ok(())
}
