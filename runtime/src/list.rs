//! `list`: the state of every container under the state root.

use crate::error::{Result, RuntimeError};
use crate::record::OciState;
use crate::store::StateStore;

/// States of all containers, by id. Dirs of unfinished creates are skipped.
pub fn list(store: &StateStore) -> Result<Vec<OciState>> {
    let mut out = Vec::new();
    for id in store.ids()? {
        match store.read(&id) {
            Ok(rec) => {
                let status = rec.status(&store.dir(&id));
                out.push(OciState::from_record(&rec, status));
            }
            Err(RuntimeError::NotFound(_)) | Err(RuntimeError::InvalidId(_)) => {}
            // One unreadable record must not hide every other container.
            Err(e @ RuntimeError::CorruptState { .. }) => tracing::warn!("list: skipping {e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
