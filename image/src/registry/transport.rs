//! Connecting to a registry with `oci-client`: which scheme and certificate
//! checks to use, which credentials, the first request that surfaces TLS and
//! auth problems, and turning the client's errors into [`RegistryError`]s a
//! person can act on.

use std::path::PathBuf;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::auth_file::{self, Credentials};
use super::error::{RegistryError, Result};
use super::insecure;
use crate::reference::Reference;

/// How to reach registries: TLS policy and where credentials come from.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Verify TLS certificates and refuse plain HTTP (`--tls-verify`, default
    /// true). A registry in the insecure-registries file is treated as false.
    pub tls_verify: bool,
    /// Explicit credentials (`--creds`); otherwise the auth file is consulted.
    pub creds: Option<Credentials>,
    /// The auth file (see [`auth_file::default_path`]).
    pub auth_file: PathBuf,
    /// The insecure-registries file (see [`insecure::config_path`]).
    pub insecure_config: PathBuf,
}

impl RegistryOptions {
    /// Secure defaults for a data root: verify TLS, credentials from the
    /// default auth file, insecure list from `<data_root>/registries.json`.
    pub fn new(data_root: &std::path::Path) -> RegistryOptions {
        RegistryOptions {
            tls_verify: true,
            creds: None,
            auth_file: auth_file::default_path(),
            insecure_config: insecure::config_path(data_root),
        }
    }
}

/// A client connected (pinged and authenticated) to one repository.
pub(crate) struct Session {
    pub client: Client,
    pub oref: oci_client::Reference,
    pub auth: RegistryAuth,
    /// The registry's host[:port], for messages.
    pub registry: String,
    /// Did the registry answer the ping with a bearer-token challenge?
    pub bearer: bool,
    has_creds: bool,
    insecure_config: PathBuf,
}

impl Session {
    /// Connect to `reference`'s registry for `op`: pick the scheme, ping
    /// `/v2/` (fetching a bearer token when the registry asks for one).
    /// With TLS verification off, HTTPS is tried first without certificate
    /// checks, then plain HTTP, as podman does.
    pub async fn connect(
        reference: &Reference,
        opts: &RegistryOptions,
        op: RegistryOperation,
    ) -> Result<Session> {
        let registry = reference.registry.clone();
        let insecure = !opts.tls_verify || insecure::is_insecure(&opts.insecure_config, &registry)?;
        let creds = match &opts.creds {
            Some(c) => Some(c.clone()),
            None => auth_file::lookup(&opts.auth_file, &registry)?,
        };
        let auth = match &creds {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        let oref = to_oci_reference(reference);
        let mut session = Session {
            client: build_client(ClientProtocol::Https, insecure),
            oref,
            auth,
            registry,
            bearer: false,
            has_creds: creds.is_some(),
            insecure_config: opts.insecure_config.clone(),
        };
        let token = match session.ping(op).await {
            Ok(token) => token,
            Err(e) if insecure && is_transport_error(&e) => {
                tracing::debug!(registry = %session.registry, error = %e, "https failed, trying plain http");
                session.client = build_client(ClientProtocol::Http, true);
                session
                    .ping(op)
                    .await
                    .map_err(|e| session.classify(e, "ping /v2/"))?
            }
            Err(e) => return Err(session.classify(e, "ping /v2/")),
        };
        session.bearer = token.is_some();
        Ok(session)
    }

    /// `GET /v2/`, and the token request when the registry sends a bearer
    /// challenge (the token is cached in the client for later requests).
    async fn ping(&self, op: RegistryOperation) -> Result<Option<String>, OciDistributionError> {
        self.client.auth(&self.oref, &self.auth, op).await
    }

    /// The same repository at `digest`.
    pub fn at_digest(&self, digest: &str) -> oci_client::Reference {
        self.oref.clone_with_digest(digest.to_string())
    }

    /// Turn an error of the client into one that says what to do.
    pub fn classify(&self, e: OciDistributionError, what: &str) -> RegistryError {
        let registry = self.registry.clone();
        let auth_error = |target: String| {
            if self.has_creds {
                RegistryError::BadCredentials {
                    registry: registry.clone(),
                    user: match &self.auth {
                        RegistryAuth::Basic(u, _) => u.clone(),
                        _ => String::new(),
                    },
                }
            } else {
                RegistryError::AuthRequired {
                    registry: registry.clone(),
                    target,
                }
            }
        };
        let protocol = |reason: String| RegistryError::Protocol {
            registry: registry.clone(),
            what: what.to_string(),
            reason,
        };
        match e {
            OciDistributionError::RequestError(re) => {
                if let Some(tls) = find_tls_error(&re) {
                    return RegistryError::Tls {
                        registry,
                        reason: tls,
                        config: self.insecure_config.clone(),
                    };
                }
                match re.status().map(|s| s.as_u16()) {
                    Some(401) => {
                        return auth_error(re.url().map_or_else(String::new, |u| u.to_string()))
                    }
                    Some(404) => {
                        return RegistryError::NotFound {
                            registry,
                            target: what.to_string(),
                        }
                    }
                    _ => {}
                }
                if re.is_connect() || re.is_timeout() {
                    return RegistryError::Connect {
                        registry,
                        reason: deepest_cause(&re),
                    };
                }
                protocol(deepest_cause(&re))
            }
            OciDistributionError::UnauthorizedError { url } => auth_error(url),
            OciDistributionError::AuthenticationFailure(reason) => {
                if self.has_creds {
                    auth_error(reason)
                } else {
                    protocol(format!("token request failed: {reason}"))
                }
            }
            OciDistributionError::RegistryError { envelope, url } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    return RegistryError::NotFound {
                        registry,
                        target: what.to_string(),
                    };
                }
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    return auth_error(url);
                }
                protocol(envelope.to_string())
            }
            OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound {
                registry,
                target: what.to_string(),
            },
            OciDistributionError::ServerError { code: 401, url, .. } => auth_error(url),
            other => protocol(other.to_string()),
        }
    }
}

/// The `oci-client` form of a reference (its registry is the host to talk to;
/// `docker.io` is resolved to Docker Hub's API host by the client).
pub(crate) fn to_oci_reference(r: &Reference) -> oci_client::Reference {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => {
            oci_client::Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone())
        }
        (Some(t), None) => {
            oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), t.clone())
        }
        (None, None) => oci_client::Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            crate::reference::DEFAULT_TAG.to_string(),
        ),
    }
}

fn build_client(protocol: ClientProtocol, accept_invalid_certificates: bool) -> Client {
    install_crypto_provider();
    Client::new(ClientConfig {
        protocol,
        accept_invalid_certificates,
        // Index entries are chosen by `platform::select`, never by the client.
        platform_resolver: None,
        // One POST and one PUT per blob: every registry takes it, and a
        // pushed blob streams from the store without chunk bookkeeping.
        use_monolithic_push: true,
        connect_timeout: Some(Duration::from_secs(30)),
        read_timeout: Some(Duration::from_secs(300)),
        user_agent: concat!("rcrun/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    })
}

/// rustls needs one process-wide crypto provider; rcrun uses ring (no cmake
/// or C toolchain beyond cc, unlike aws-lc). Installing twice is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Did the request fail before any HTTP answer (TLS, connect)?
fn is_transport_error(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(re) => {
            re.is_connect() || re.is_request() || find_tls_error(re).is_some()
        }
        _ => false,
    }
}

/// The rustls error somewhere in `e`'s cause chain, as text.
fn find_tls_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(t) = find_tls_error(inner) {
                    return Some(t);
                }
            }
        }
        cur = err.source();
    }
    None
}

/// The innermost cause's message (reqwest's own says only "error sending
/// request").
fn deepest_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Run `fut` to completion on a current-thread tokio runtime made for this
/// one command (rcrun keeps no threads of its own around).
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RegistryError::Runtime(e.to_string()))?;
    Ok(rt.block_on(fut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::OciEnvelope;

    fn session(creds: bool) -> Session {
        let r = Reference::parse("127.0.0.1:5000/a/b:t").unwrap();
        Session {
            client: build_client(ClientProtocol::Https, false),
            oref: to_oci_reference(&r),
            auth: if creds {
                RegistryAuth::Basic("bob".into(), "pw".into())
            } else {
                RegistryAuth::Anonymous
            },
            registry: r.registry,
            bearer: false,
            has_creds: creds,
            insecure_config: PathBuf::from("/data/registries.json"),
        }
    }

    fn envelope(code: &str) -> OciDistributionError {
        let json = format!(r#"{{"errors":[{{"code":"{code}","message":"m"}}]}}"#);
        OciDistributionError::RegistryError {
            envelope: serde_json::from_str::<OciEnvelope>(&json).unwrap(),
            url: "http://x/v2/".into(),
        }
    }

    #[test]
    fn unauthorized_means_log_in_without_creds_and_bad_password_with_them() {
        let e = || OciDistributionError::UnauthorizedError { url: "u".into() };
        let anon = session(false).classify(e(), "pull");
        assert!(matches!(anon, RegistryError::AuthRequired { .. }), "{anon}");
        assert!(
            anon.to_string().contains("rcrun login 127.0.0.1:5000"),
            "{anon}"
        );
        let with = session(true).classify(e(), "pull");
        assert!(
            matches!(with, RegistryError::BadCredentials { ref user, .. } if user == "bob"),
            "{with}"
        );
        let denied = session(false).classify(envelope("DENIED"), "pull");
        assert!(
            matches!(denied, RegistryError::AuthRequired { .. }),
            "{denied}"
        );
    }

    #[test]
    fn unknown_manifest_or_blob_is_not_found_and_the_rest_is_protocol() {
        for code in ["MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"] {
            let e = session(false).classify(envelope(code), "a/b:t");
            assert!(matches!(e, RegistryError::NotFound { .. }), "{code}: {e}");
        }
        let e = session(false).classify(envelope("TOOMANYREQUESTS"), "a/b:t");
        assert!(matches!(e, RegistryError::Protocol { .. }), "{e}");
        let e = session(false).classify(
            OciDistributionError::ServerError {
                code: 500,
                url: "u".into(),
                message: "boom".into(),
            },
            "fetch",
        );
        assert!(
            e.to_string().contains("boom") && e.to_string().contains("fetch"),
            "{e}"
        );
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let outer = std::io::Error::other(io);
        let found = find_tls_error(&outer).expect("rustls error in the chain");
        assert!(
            found.contains("UnknownIssuer") || found.contains("issuer"),
            "{found}"
        );
        assert!(find_tls_error(&std::io::Error::other("plain")).is_none());
    }

    #[test]
    fn oci_reference_keeps_registry_repository_tag_and_digest() {
        let d = "sha256:4fc242d58285699eca05db3cc7c7122a2b8e014d9481f323bd9277baacfa0628";
        let r = Reference::parse("127.0.0.1:5000/a/b:v1").unwrap();
        let o = to_oci_reference(&r);
        assert_eq!(o.resolve_registry(), "127.0.0.1:5000");
        assert_eq!(o.repository(), "a/b");
        assert_eq!(o.tag(), Some("v1"));
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        let o = to_oci_reference(&r);
        assert_eq!(o.repository(), "library/busybox");
        assert_eq!(o.digest(), Some(d));
        assert_eq!(o.resolve_registry(), "index.docker.io");
    }
}
