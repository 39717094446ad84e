//! `rcrun system …`: host-wide maintenance. `gc` reconciles the state on
//! disk with the kernel after crashes: containers whose monitor died are
//! killed and cleaned up, half-made containers and sandboxes without live
//! members are removed, then network endpoints whose sandbox netns is gone
//! are torn down (veth, firewall elements, addresses, records). `info`
//! shows the roots, helper binaries and counts.

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;

use super::GlobalOpts;

/// Host-wide maintenance.
#[derive(Debug, Subcommand)]
pub enum SystemCmd {
    /// Clean up what crashed or killed commands left behind.
    Gc {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show where rcrun keeps its state and what it runs.
    Info,
}

/// Run a `system` subcommand.
pub fn run(g: &GlobalOpts, cmd: SystemCmd) -> Result<()> {
    let engine = super::engine_cli::engine(g)?;
    match cmd {
        SystemCmd::Gc { json } => {
            let report = engine.gc()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for c in &report.containers {
                    println!("cleaned up container {c}");
                }
                for c in &report.discarded {
                    println!("removed half-made container {c}");
                }
                for s in &report.sandboxes {
                    println!("removed sandbox {s}");
                }
                for s in &report.strays {
                    println!("removed {s}");
                }
                if let Some(n) = &report.network {
                    for e in &n.endpoints {
                        println!("removed endpoint {e}");
                    }
                    for a in &n.addresses {
                        println!("freed address {a}");
                    }
                }
            }
            let mut errors = report.errors.clone();
            if let Some(n) = &report.network {
                errors.extend(n.errors.iter().cloned());
            }
            if !errors.is_empty() {
                anyhow::bail!("gc incomplete: {}", errors.join("; "));
            }
            Ok(())
        }
        SystemCmd::Info => {
            let records = engine.records.list()?;
            let running = records
                .iter()
                .filter(|c| engine.live_status(c).0 == "running")
                .count();
            let images = engine.image_store()?.list()?.len();
            let info = json!({
                "Version": env!("CARGO_PKG_VERSION"),
                "RunRoot": engine.paths.run_root,
                "DataRoot": engine.paths.data_root,
                "Containers": records.len(),
                "ContainersRunning": running,
                "Pods": engine.pods().list()?.len(),
                "Images": images,
                "Networks": engine.nets.bridge.list()?.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
                "CniConfDir": engine.nets.cni_conf_dir,
                "Runtime": engine.bins.oci,
                "Monitor": engine.bins.monitor,
                "Pause": engine.bins.pause,
                "Init": engine.bins.init,
                "Kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
                "CgroupVersion": if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1 (hybrid)" },
            });
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(())
        }
    }
}
