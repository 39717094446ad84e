//! `rcrun system …`: host-wide maintenance. `gc` reconciles the state on
//! disk with the kernel after crashes: network endpoints whose sandbox netns
//! is gone are torn down (veth, firewall elements, addresses, records).

use anyhow::Result;
use clap::Subcommand;

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
}

/// Run a `system` subcommand.
pub fn run(g: &GlobalOpts, cmd: SystemCmd) -> Result<()> {
    match cmd {
        SystemCmd::Gc { json } => {
            let drv = super::network::driver(g)?;
            let report = drv.gc()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for e in &report.endpoints {
                    println!("removed endpoint {e}");
                }
                for a in &report.addresses {
                    println!("freed address {a}");
                }
            }
            if !report.errors.is_empty() {
                anyhow::bail!("gc incomplete: {}", report.errors.join("; "));
            }
            Ok(())
        }
    }
}
