//! `state`: the runtime-spec state of one container, its status derived
//! from the kernel at the time of the call.

use crate::error::{Result, RuntimeError};
use crate::record::{OciState, Status, OCI_VERSION};
use crate::store::StateStore;

/// The state of container `id`. A state dir whose `create` is still running
/// (locked, no record yet) is reported as `creating`.
pub fn state(store: &StateStore, id: &str) -> Result<OciState> {
    crate::store::validate_id(id)?;
    match store.read(id) {
        Ok(rec) => {
            let status = rec.status(&store.dir(id));
            Ok(OciState::from_record(&rec, status))
        }
        Err(RuntimeError::NotFound(_)) if store.is_locked(id) => Ok(OciState {
            oci_version: OCI_VERSION.to_string(),
            id: id.to_string(),
            pid: 0,
            status: Status::Creating,
            bundle: Default::default(),
            rootfs: Default::default(),
            created: String::new(),
            owner: String::new(),
            annotations: Default::default(),
        }),
        Err(e) => Err(e),
    }
}
