//! Garbage collection (endpoints whose sandbox netns is gone, addresses of
//! vanished owners) and firewall reload from the state on disk.

use serde::Serialize;

use super::endpoint::port_forward;
use super::{network_fw, BridgeDriver};
use crate::error::{NetError, Result};
use crate::ipam::Ipam;
use crate::model::{EndpointState, Network};
use crate::netns;

/// What `gc` cleaned up.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    /// `network/sandbox-id` of endpoints torn down.
    pub endpoints: Vec<String>,
    /// `network/address` of addresses freed without an endpoint record.
    pub addresses: Vec<String>,
    /// Errors met (gc keeps going).
    pub errors: Vec<String>,
}

impl BridgeDriver {
    /// Tear down every endpoint whose netns no longer exists (or whose
    /// attach/detach was interrupted and whose netns is gone) and free the
    /// addresses of vanished owners, on every network.
    pub fn gc(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        for n in self.store.list_networks()? {
            self.collect_network(&n, &mut report)?;
        }
        Ok(report)
    }

    pub(crate) fn collect_network(&self, n: &Network, report: &mut GcReport) -> Result<()> {
        for ep in self.store.list_endpoints(&n.name)? {
            let alive = netns::is_alive(&ep.sandbox.netns);
            if alive && ep.state != EndpointState::Detaching {
                continue;
            }
            // Take the sandbox's lock so a concurrent attach/detach finishes first.
            let _lock = self.store.endpoint_lock(&n.name, &ep.sandbox.id)?;
            let Some(current) = self.store.load_endpoint(&n.name, &ep.sandbox.id)? else {
                continue;
            };
            match self.teardown(n, &current) {
                Ok(()) => {
                    self.store.remove_endpoint_lock(&n.name, &ep.sandbox.id);
                    report
                        .endpoints
                        .push(format!("{}/{}", n.name, ep.sandbox.id));
                }
                Err(e) => report
                    .errors
                    .push(format!("{}/{}: {e}", n.name, ep.sandbox.id)),
            }
        }
        let ipam = Ipam::new(&self.cfg.data_root, &n.name);
        for (ip, owner) in ipam.reclaim(&|o| !netns::is_alive(&o.netns))? {
            report
                .addresses
                .push(format!("{}/{ip} ({})", n.name, owner.id));
        }
        Ok(())
    }

    /// Re-create every rcrun firewall rule from the networks and endpoint
    /// records on disk (after a ruleset flush or a firewalld reload).
    pub fn reload(&self) -> Result<(usize, usize)> {
        let nets = self.store.list_networks()?;
        let mut fws = Vec::new();
        let mut forwards = Vec::new();
        for n in &nets {
            fws.push(network_fw(n));
            for ep in self.store.list_endpoints(&n.name)? {
                if !ep.ports.is_empty() && ep.state != EndpointState::Detaching {
                    forwards.push(port_forward(n, &ep));
                }
            }
        }
        self.fw
            .reload(&fws, &forwards)
            .map_err(|e| NetError::Firewall(e.to_string()))?;
        Ok((fws.len(), forwards.len()))
    }
}
