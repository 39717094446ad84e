//! `rcrun volume create|ls|inspect|rm|prune`: named volumes (docker's
//! `local` driver) under `<data-root>/volumes`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use clap::Subcommand;
use rcrun_engine::records::Records;
use rcrun_engine::volumes::{Volume, VolumeStore};
use rcrun_engine::Paths;

use super::GlobalOpts;

/// Output format of `ls` and `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Columns for people (`ls`) / pretty JSON (`inspect`).
    Table,
    /// JSON.
    Json,
}

/// Manage named volumes.
#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume (a random name when none is given); prints its name.
    Create {
        /// Volume name: 2-255 characters of [a-zA-Z0-9_.-].
        name: Option<String>,
        /// Set a label (KEY=VALUE), repeatable.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// Driver option (KEY=VALUE), recorded; the local driver has none.
        #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
        opts: Vec<String>,
        /// Volume driver; only `local` exists.
        #[arg(short, long, default_value = "local")]
        driver: String,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Only print names.
        #[arg(short, long)]
        quiet: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Show volumes' details as JSON.
    Inspect {
        /// Volume names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Output format (always JSON; accepted for docker compatibility).
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Remove volumes (refused while a container uses one, unless forced).
    #[command(alias = "remove")]
    Rm {
        /// Remove even if a container uses it.
        #[arg(short, long)]
        force: bool,
        /// Volume names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every volume no container uses.
    Prune {
        /// Do not prompt (rcrun never prompts; accepted for docker compatibility).
        #[arg(short, long)]
        force: bool,
    },
}

/// `KEY=VALUE` pairs to a map.
fn pairs(opt: &str, items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => anyhow::bail!("invalid {opt} {kv:?}: use KEY=VALUE"),
        })
        .collect()
}

/// The volume names containers of this root use (from their records).
fn volumes_in_use(g: &GlobalOpts) -> Result<Vec<String>> {
    let records = Records::new(&Paths::new(&g.root, &g.data_root));
    let containers = records
        .list()
        .context("list containers to see which volumes are in use")?;
    Ok(containers
        .iter()
        .flat_map(|c| c.mounts.iter())
        .filter(|m| m.kind == "volume")
        .map(|m| volume_name_of(&m.source))
        .collect())
}

/// A mount source names a volume either by name or by its `_data` path.
fn volume_name_of(source: &str) -> String {
    let p = std::path::Path::new(source);
    if p.ends_with("_data") {
        if let Some(name) = p.parent().and_then(|d| d.file_name()) {
            return name.to_string_lossy().into_owned();
        }
    }
    source.to_string()
}

fn print_table(vols: &[Volume]) {
    println!("{:<8} VOLUME NAME", "DRIVER");
    for v in vols {
        println!("{:<8} {}", v.driver, v.name);
    }
}

/// Run a `volume` subcommand.
pub fn run(g: &GlobalOpts, cmd: VolumeCmd) -> Result<()> {
    let store = VolumeStore::new(&g.data_root);
    match cmd {
        VolumeCmd::Create {
            name,
            labels,
            opts,
            driver,
        } => {
            if driver != "local" {
                anyhow::bail!("unknown volume driver {driver:?}: only \"local\" is supported");
            }
            let v = store.create(
                name.as_deref(),
                pairs("--label", &labels)?,
                pairs("--opt", &opts)?,
            )?;
            println!("{}", v.name);
        }
        VolumeCmd::Ls { quiet, format } => {
            let vols = store.list()?;
            if quiet {
                vols.iter().for_each(|v| println!("{}", v.name));
            } else if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&vols)?);
            } else {
                print_table(&vols);
            }
        }
        VolumeCmd::Inspect { names, format: _ } => {
            let vols = names
                .iter()
                .map(|n| store.inspect(n))
                .collect::<Result<Vec<_>, _>>()?;
            println!("{}", serde_json::to_string_pretty(&vols)?);
        }
        VolumeCmd::Rm { force, names } => {
            let used = volumes_in_use(g)?;
            let mut errors = Vec::new();
            for n in &names {
                match store.remove(n, force, &|v| used.iter().any(|u| u == v)) {
                    Ok(()) => println!("{n}"),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            // Like docker: remove what can be removed, then report the rest
            // on one line.
            if !errors.is_empty() {
                anyhow::bail!("{}", errors.join("; "));
            }
        }
        VolumeCmd::Prune { force: _ } => {
            let used = volumes_in_use(g)?;
            let removed = store.prune(&|v| used.iter().any(|u| u == v))?;
            for n in &removed {
                println!("{n}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_pairs_parse_and_reject_garbage() {
        let m = pairs("--label", &["a=1".into(), "b=".into()]).unwrap();
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some(""));
        let e = pairs("--label", &["novalue".into()]).unwrap_err();
        assert_eq!(e.to_string(), "invalid --label \"novalue\": use KEY=VALUE");
    }

    #[test]
    fn mount_sources_name_their_volume() {
        assert_eq!(volume_name_of("data"), "data");
        assert_eq!(volume_name_of("/var/lib/rcrun/volumes/data/_data"), "data");
    }
}
