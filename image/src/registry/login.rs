//! `login` / `logout`: check credentials against a registry, then record or
//! forget them in the auth file.

use std::path::PathBuf;

use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;

use super::auth_file::{self, registry_key, Credentials};
use super::error::{RegistryError, Result};
use super::transport::{block_on, RegistryOptions, Session};
use crate::reference::Reference;

/// Check `creds` against `registry` and store them in `opts.auth_file`;
/// returns the auth file written. A registry that asks for a bearer token
/// checks the credentials at its token service; one that uses HTTP basic
/// auth is asked for its catalog, which needs them.
pub fn login(registry: &str, creds: &Credentials, opts: &RegistryOptions) -> Result<PathBuf> {
    let key = registry_key(registry);
    let probe = Reference {
        registry: key.clone(),
        repository: "library/rcrun-login-check".into(),
        tag: Some("latest".into()),
        digest: None,
    };
    let opts = RegistryOptions {
        creds: Some(creds.clone()),
        ..opts.clone()
    };
    block_on(verify(&probe, &opts))??;
    auth_file::store(&opts.auth_file, &key, creds)?;
    Ok(opts.auth_file.clone())
}

async fn verify(probe: &Reference, opts: &RegistryOptions) -> Result<()> {
    let session = Session::connect(probe, opts, RegistryOperation::Pull).await?;
    if session.bearer {
        // The token service accepted the credentials.
        return Ok(());
    }
    match session
        .client
        .catalog(&session.oref, &session.auth, Some(1), None)
        .await
    {
        Ok(_) => Ok(()),
        Err(e @ OciDistributionError::UnauthorizedError { .. }) => {
            Err(session.classify(e, "check credentials"))
        }
        // A registry without a catalog endpoint (404, 403): the ping passed.
        Err(e) => {
            tracing::debug!(error = %e, "catalog unavailable; credentials not checked further");
            Ok(())
        }
    }
}

/// Forget the credentials of `registry` in the auth file at `auth_file`.
pub fn logout(registry: &str, auth_file: &std::path::Path) -> Result<()> {
    if auth_file::remove(auth_file, registry)? {
        Ok(())
    } else {
        Err(RegistryError::NotLoggedIn {
            registry: registry_key(registry),
            path: auth_file.to_path_buf(),
        })
    }
}

/// Forget every registry's credentials; returns how many there were.
pub fn logout_all(auth_file: &std::path::Path) -> Result<usize> {
    auth_file::remove_all(auth_file)
}
