//! `rcrun-oci spec [--bundle DIR] [--rootless]`: write a default
//! config.json (runc's; `--rootless`: runc's rootless variant for the
//! calling user).

use std::path::PathBuf;

use anyhow::{bail, Context};

/// `spec` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a config for running as the calling (unprivileged) user: a user
    /// namespace mapping root to it, no network namespace, no cgroup limits.
    #[arg(long)]
    pub rootless: bool,
}

/// Run `spec`.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    let spec = if a.rootless {
        rcrun_runtime::default_spec::rootless_spec_for_caller()
    } else {
        rcrun_runtime::default_spec::default_spec()
    };
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    Ok(())
}
