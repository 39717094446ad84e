//! Platforms (`os/arch[/variant]`): parsing `--platform`, the host's own, and
//! choosing a manifest from an image index the way containerd does
//! (architecture aliases normalised, `arm64` means `arm64/v8`, entries for
//! attestations (`unknown/unknown`) never chosen). Used by both registry
//! pulls and archive loads.

use std::fmt;

use oci_spec::image::{Descriptor, ImageIndex};

use crate::error::{ImageError, Result};

/// A platform an image is built for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture, GOARCH spelling (`amd64`, `arm64`).
    pub arch: String,
    /// CPU variant (`v7`, `v8`), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `os/arch[/variant]` (arch aliases such as `x86_64` and `aarch64`
    /// are accepted and normalised).
    pub fn parse(s: &str) -> Result<Platform> {
        let bad = || ImageError::InvalidPlatform {
            value: s.to_string(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let ok = |p: &str| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !parts.iter().all(|p| ok(p)) {
            return Err(bad());
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }

    /// A platform from its parts, normalised.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        let (arch, implied) = normalize_arch(&arch.to_ascii_lowercase());
        let variant = variant
            .filter(|v| !v.is_empty())
            .map(|v| v.to_ascii_lowercase())
            .or(implied);
        Platform {
            os: os.to_ascii_lowercase(),
            arch,
            variant,
        }
    }

    /// The platform of the running host (`linux/amd64` on x86_64).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "arm" => "arm",
            other => other,
        };
        let variant = match arch {
            "arm" => Some("v7"),
            _ => None,
        };
        Platform::new(std::env::consts::OS, arch, variant)
    }

    /// Does an index entry's platform satisfy this one? The OS and
    /// architecture must be equal; a wanted variant must be equal (an entry
    /// without variant counts as the architecture's default variant); no
    /// wanted variant accepts any.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let other = Platform::new(os, arch, variant);
        if other.os != self.os || other.arch != self.arch {
            return false;
        }
        match (&self.variant, &other.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => default_variant(&self.arch) == Some(want.as_str()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image index entry's platform, as read from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPlatform<'a> {
    /// The entry's manifest digest.
    pub digest: &'a str,
    /// `platform.os`.
    pub os: &'a str,
    /// `platform.architecture`.
    pub arch: &'a str,
    /// `platform.variant`.
    pub variant: Option<&'a str>,
}

/// Choose the entry for `want` from an index: the first match, preferring an
/// entry whose variant equals the architecture's default (or has none) when
/// `want` names no variant. Returns the entry's digest.
pub fn select<'a>(want: &Platform, entries: &[EntryPlatform<'a>]) -> Option<&'a str> {
    let candidates: Vec<&EntryPlatform<'a>> = entries
        .iter()
        .filter(|e| e.os != "unknown" && e.arch != "unknown")
        .filter(|e| want.matches(e.os, e.arch, e.variant))
        .collect();
    if want.variant.is_none() {
        let default = default_variant(&want.arch);
        if let Some(e) = candidates.iter().find(|e| {
            let p = Platform::new(e.os, e.arch, e.variant);
            p.variant.is_none() || p.variant.as_deref() == default
        }) {
            return Some(e.digest);
        }
    }
    candidates.first().map(|e| e.digest)
}

/// The platform-declaring entries of an index, owned: (digest, os, arch,
/// variant). `oci_spec` keeps os and arch as enums, so they are rendered.
fn owned_entries(index: &ImageIndex) -> Vec<(String, String, String, Option<String>)> {
    index
        .manifests()
        .iter()
        .filter_map(|d| {
            let p = d.platform().as_ref()?;
            Some((
                d.digest().to_string(),
                p.os().to_string(),
                p.architecture().to_string(),
                p.variant().clone(),
            ))
        })
        .collect()
}

fn borrowed(owned: &[(String, String, String, Option<String>)]) -> Vec<EntryPlatform<'_>> {
    owned
        .iter()
        .map(|(digest, os, arch, variant)| EntryPlatform {
            digest,
            os,
            arch,
            variant: variant.as_deref(),
        })
        .collect()
}

/// Choose the manifest descriptor for `want` from a parsed image index, by
/// the rules of [`select`]. Entries without a platform are never chosen.
pub fn select_in_index<'a>(want: &Platform, index: &'a ImageIndex) -> Option<&'a Descriptor> {
    let owned = owned_entries(index);
    let digest = select(want, &borrowed(&owned))?;
    index
        .manifests()
        .iter()
        .find(|d| d.digest().to_string() == digest)
}

/// The platforms an index offers (attestation entries left out), comma
/// separated, or `none`: for "no image for platform" errors.
pub fn available_in_index(index: &ImageIndex) -> String {
    let owned = owned_entries(index);
    let available: Vec<String> = borrowed(&owned)
        .iter()
        .filter(|e| e.os != "unknown")
        .map(|e| Platform::new(e.os, e.arch, e.variant).to_string())
        .collect();
    if available.is_empty() {
        "none".into()
    } else {
        available.join(", ")
    }
}

/// GOARCH spelling of an architecture, and the variant an alias implies.
fn normalize_arch(arch: &str) -> (String, Option<String>) {
    match arch {
        "x86_64" | "x86-64" => ("amd64".into(), None),
        "aarch64" => ("arm64".into(), None),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" | "i686" => ("386".into(), None),
        other => (other.into(), None),
    }
}

/// The variant an entry without one is taken to be.
fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e<'a>(
        digest: &'a str,
        os: &'a str,
        arch: &'a str,
        variant: Option<&'a str>,
    ) -> EntryPlatform<'a> {
        EntryPlatform {
            digest,
            os,
            arch,
            variant,
        }
    }

    #[test]
    fn parse_accepts_two_or_three_parts_and_normalises_aliases() {
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(Platform::parse("linux/x86_64").unwrap().arch, "amd64");
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().variant.as_deref(),
            Some("v7")
        );
        assert_eq!(
            Platform::parse("Linux/ARM64/V8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
            "",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn host_platform_is_linux_with_goarch_name() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert!(!h.arch.contains('_'), "{h}");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(h.to_string(), "linux/amd64");
        }
    }

    #[test]
    fn arm64_without_variant_matches_v8_and_vice_versa() {
        let want = Platform::parse("linux/arm64/v8").unwrap();
        assert!(want.matches("linux", "arm64", None));
        assert!(want.matches("linux", "arm64", Some("v8")));
        assert!(!want.matches("linux", "arm64", Some("v9")));
        let any = Platform::parse("linux/arm64").unwrap();
        assert!(any.matches("linux", "arm64", Some("v8")));
        assert!(!any.matches("linux", "amd64", None));
        assert!(!any.matches("windows", "arm64", None));
    }

    #[test]
    fn select_picks_the_wanted_platform_and_skips_attestations() {
        let entries = [
            e("sha256:att", "unknown", "unknown", None),
            e("sha256:amd", "linux", "amd64", None),
            e("sha256:armv6", "linux", "arm", Some("v6")),
            e("sha256:armv7", "linux", "arm", Some("v7")),
            e("sha256:arm64", "linux", "arm64", Some("v8")),
        ];
        let p = |s: &str| Platform::parse(s).unwrap();
        assert_eq!(select(&p("linux/amd64"), &entries), Some("sha256:amd"));
        assert_eq!(select(&p("linux/arm64"), &entries), Some("sha256:arm64"));
        assert_eq!(select(&p("linux/arm/v7"), &entries), Some("sha256:armv7"));
        assert_eq!(select(&p("linux/arm"), &entries), Some("sha256:armv6"));
        assert_eq!(select(&p("linux/s390x"), &entries), None);
        assert_eq!(select(&p("unknown/unknown"), &entries), None);
    }

    fn index(manifests: &str) -> ImageIndex {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{manifests}]}}"#
        );
        ImageIndex::from_reader(json.as_bytes()).unwrap()
    }

    fn entry(hex: char, size: u64, platform: &str) -> String {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{}","size":{size}{platform}}}"#,
            hex.to_string().repeat(64)
        )
    }

    #[test]
    fn select_in_index_returns_the_matching_descriptor() {
        let idx = index(
            &[
                entry(
                    'a',
                    1,
                    r#","platform":{"os":"linux","architecture":"arm64","variant":"v8"}"#,
                ),
                entry(
                    'b',
                    2,
                    r#","platform":{"os":"linux","architecture":"amd64"}"#,
                ),
                entry(
                    'c',
                    3,
                    r#","platform":{"os":"unknown","architecture":"unknown"}"#,
                ),
                entry('d', 4, ""),
            ]
            .join(","),
        );
        let p = |s: &str| Platform::parse(s).unwrap();
        assert_eq!(select_in_index(&p("linux/amd64"), &idx).unwrap().size(), 2);
        assert_eq!(
            select_in_index(&p("linux/arm64/v8"), &idx).unwrap().size(),
            1
        );
        assert_eq!(select_in_index(&p("linux/arm64"), &idx).unwrap().size(), 1);
        assert!(select_in_index(&p("linux/s390x"), &idx).is_none());
        assert_eq!(available_in_index(&idx), "linux/arm64/v8, linux/amd64");
        assert_eq!(available_in_index(&index("")), "none");
    }

    #[test]
    fn select_prefers_default_variant_when_none_is_asked() {
        let entries = [
            e("sha256:v9", "linux", "arm64", Some("v9")),
            e("sha256:v8", "linux", "arm64", Some("v8")),
        ];
        assert_eq!(
            select(&Platform::parse("linux/arm64").unwrap(), &entries),
            Some("sha256:v8")
        );
    }
}
