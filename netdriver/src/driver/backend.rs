//! [`NetworkBackend`] for the bridge driver: the orchestration-facing trait.

use rcrun_netapi::{AttachOptions, Attachment, BackendError, NetworkBackend, SandboxRef};

use super::BridgeDriver;
use crate::model::Sandbox;

fn sandbox(s: &SandboxRef) -> Sandbox {
    Sandbox {
        id: s.id.clone(),
        netns: s.netns.clone(),
    }
}

impl NetworkBackend for BridgeDriver {
    fn attach(
        &self,
        network: &str,
        sandbox_ref: &SandboxRef,
        opts: &AttachOptions,
    ) -> Result<Attachment, BackendError> {
        Ok(self.attach_sandbox(network, &sandbox(sandbox_ref), opts)?)
    }

    fn detach(&self, network: &str, sandbox_ref: &SandboxRef) -> Result<(), BackendError> {
        Ok(self.detach_sandbox(network, &sandbox_ref.id)?)
    }

    fn check(&self, network: &str, sandbox_ref: &SandboxRef) -> Result<(), BackendError> {
        Ok(self.check_sandbox(network, &sandbox(sandbox_ref))?)
    }
}
