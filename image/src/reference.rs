//! Image references, normalised as docker does: `nginx` is
//! `docker.io/library/nginx:latest`; `host:5000/a/b@sha256:…` keeps its
//! registry and digest; a reference may carry both a tag and a digest.

use std::fmt;

use crate::digest::hex_of;
use crate::error::{ImageError, Result};

/// The registry a reference without a domain points at.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host, with port if any (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path (`library/nginx`, `a/b`).
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Manifest digest (`sha256:<hex>`), when pinned.
    pub digest: Option<String>,
}

impl Reference {
    /// Parse and normalise a docker-style reference.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |reason: &str| ImageError::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 4096 {
            return Err(bad("longer than 4096 bytes"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                hex_of(d).map_err(|_| bad("digest must be sha256:<64 lowercase hex digits>"))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(rest[i + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(bad("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if !valid_registry(&registry) {
            return Err(bad(
                "registry must be a host name or address with optional :port",
            ));
        }
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        if repository.is_empty() {
            return Err(bad("missing repository name"));
        }
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        if !repository.split('/').all(valid_path_component) {
            return Err(bad(
                "repository path components must match [a-z0-9]+(([._]|__|-+)[a-z0-9]+)*",
            ));
        }
        if repository.len() > 255 {
            return Err(bad("repository name longer than 255 bytes"));
        }
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The shortest form docker prints (`nginx:latest`, `host:5000/a/b:t`).
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        let Some(rest) = full.strip_prefix("docker.io/") else {
            return full;
        };
        rest.strip_prefix("library/").unwrap_or(rest).to_string()
    }

    /// The form the store names an image by: `registry/repo:tag` when there
    /// is a tag (a pinned digest is checked at pull time, not kept), else
    /// `registry/repo@digest`.
    pub fn store_name(&self) -> String {
        if self.tag.is_some() {
            self.without_digest().to_string()
        } else {
            self.to_string()
        }
    }

    /// The same reference with the digest removed.
    pub fn without_digest(&self) -> Reference {
        Reference {
            digest: None,
            tag: self.tag.clone(),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        // An IPv6 literal in brackets has colons inside.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (r, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[b.len() - 1]) {
        return false;
    }
    // Separators: '.', '_', '__', or one or more '-', always between alnums.
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const DG: &str = "sha256:4fc242d58285699eca05db3cc7c7122a2b8e014d9481f323bd9277baacfa0628";

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, &str)] = &[
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("library/nginx", "docker.io/library/nginx:latest"),
            ("docker.io/nginx", "docker.io/library/nginx:latest"),
            (
                "index.docker.io/library/nginx",
                "docker.io/library/nginx:latest",
            ),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("quay.io/a/b/c:t", "quay.io/a/b/c:t"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag"),
            ("[::1]:5000/a", "[::1]:5000/a:latest"),
            (
                "my-reg.example.com/x_y/z.w--v:T_1.0-rc",
                "my-reg.example.com/x_y/z.w--v:T_1.0-rc",
            ),
        ];
        for (input, want) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *want, "input {input}");
        }
    }

    #[test]
    fn digest_only_has_no_tag() {
        let r = Reference::parse(&format!("host:5000/a/b@{DG}")).unwrap();
        assert_eq!(r.registry, "host:5000");
        assert_eq!(r.repository, "a/b");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(DG));
        assert_eq!(r.to_string(), format!("host:5000/a/b@{DG}"));
    }

    #[test]
    fn tag_and_digest_both_kept() {
        let r = Reference::parse(&format!("busybox:1.36@{DG}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.36"));
        assert_eq!(r.digest.as_deref(), Some(DG));
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox:1.36@{DG}")
        );
        assert_eq!(
            r.without_digest().to_string(),
            "docker.io/library/busybox:1.36"
        );
    }

    #[test]
    fn familiar_form_strips_docker_hub_prefixes() {
        assert_eq!(
            Reference::parse("nginx").unwrap().familiar(),
            "nginx:latest"
        );
        assert_eq!(Reference::parse("u/a:1").unwrap().familiar(), "u/a:1");
        assert_eq!(
            Reference::parse("127.0.0.1:5000/a").unwrap().familiar(),
            "127.0.0.1:5000/a:latest"
        );
    }

    #[test]
    fn invalid_references_are_rejected() {
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-tag",
            "nginx@sha256:abc",
            "nginx@md5:0123",
            "a//b",
            "a/b/",
            "-a",
            "a..b",
            "a___b",
            "host:port/a",
            ":tag",
            "a b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn port_without_path_is_a_tag_not_a_registry() {
        // docker: "host:5000" alone is repository "host" with tag "5000".
        let r = Reference::parse("host:5000").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/host:5000");
    }
}
