//! The network back ends a sandbox can use, chosen by [`NetworkMode`]: the
//! built-in bridge driver for `bridge` and user networks, the CNI host for
//! `cni:NAME`. Attach returns the attachment and, for the bridge driver, the
//! sockets holding the published host ports (handed to the pause process).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use rcrun_cni_host::{CniBackend, CniHost, PluginPath};
use rcrun_netapi::{AttachOptions, Attachment, NetworkBackend, SandboxRef};
use rcrun_netdriver::BridgeDriver;

use crate::error::{EngineError, Result};
use crate::options::NetworkMode;

/// The back ends, built once per command.
#[derive(Debug)]
pub struct Networks {
    /// The built-in bridge driver.
    pub bridge: BridgeDriver,
    /// The CNI conf dir.
    pub cni_conf_dir: PathBuf,
    /// The CNI result cache dir.
    pub cni_cache_dir: PathBuf,
}

impl Networks {
    fn cni(&self) -> CniBackend {
        CniBackend::new(
            &self.cni_conf_dir,
            CniHost::new(PluginPath::from_env(), &self.cni_cache_dir),
        )
    }

    /// Check that the network of `mode` exists (creating the default
    /// `bridge` network on first use), before anything is set up.
    pub fn validate(&self, mode: &NetworkMode) -> Result<()> {
        match mode {
            NetworkMode::Bridge(name) => {
                self.bridge.network_or_default(name)?;
                Ok(())
            }
            NetworkMode::Cni(name) => {
                self.cni().network(name).map_err(|e| EngineError::Network {
                    network: format!("cni:{name}"),
                    source: Box::new(e),
                })?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Attach `sandbox` per `mode`. Returns `None` for modes without a
    /// network (none, host, container).
    pub fn attach(
        &self,
        mode: &NetworkMode,
        sandbox: &SandboxRef,
        opts: &AttachOptions,
    ) -> Result<Option<(Attachment, Vec<OwnedFd>)>> {
        match mode {
            NetworkMode::Bridge(name) => {
                let att =
                    NetworkBackend::attach(&self.bridge, name, sandbox, opts).map_err(|e| {
                        EngineError::Network {
                            network: name.clone(),
                            source: e,
                        }
                    })?;
                let fds = self
                    .bridge
                    .take_reservation(name, &sandbox.id)
                    .map(|r| r.into_fds())
                    .unwrap_or_default();
                Ok(Some((att, fds)))
            }
            NetworkMode::Cni(name) => {
                let att =
                    self.cni()
                        .attach(name, sandbox, opts)
                        .map_err(|e| EngineError::Network {
                            network: format!("cni:{name}"),
                            source: e,
                        })?;
                Ok(Some((att, Vec::new())))
            }
            _ => Ok(None),
        }
    }

    /// Detach `sandbox` from the network of `mode` (idempotent).
    pub fn detach(&self, mode: &NetworkMode, sandbox: &SandboxRef) -> Result<()> {
        let r = match mode {
            NetworkMode::Bridge(name) => {
                NetworkBackend::detach(&self.bridge, name, sandbox).map_err(|e| (name.clone(), e))
            }
            NetworkMode::Cni(name) => self
                .cni()
                .detach(name, sandbox)
                .map_err(|e| (format!("cni:{name}"), e)),
            _ => Ok(()),
        };
        r.map_err(|(network, source)| EngineError::Network { network, source })
    }
}
