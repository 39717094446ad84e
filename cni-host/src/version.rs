//! CNI spec versions: parsing, ordering, and the set this host drives.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::CniError;

/// A CNI spec version (`major.minor.patch`), ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpecVersion {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number.
    pub patch: u32,
}

impl SpecVersion {
    /// `0.3.0`: the oldest version with chained plugins and the rich result.
    pub const V0_3_0: SpecVersion = SpecVersion::new(0, 3, 0);
    /// `0.3.1`.
    pub const V0_3_1: SpecVersion = SpecVersion::new(0, 3, 1);
    /// `0.4.0`: CHECK, and `prevResult` on DEL.
    pub const V0_4_0: SpecVersion = SpecVersion::new(0, 4, 0);
    /// `1.0.0`: `ips[].version` dropped.
    pub const V1_0_0: SpecVersion = SpecVersion::new(1, 0, 0);
    /// `1.1.0`: STATUS, GC, `cniVersions`; the version this host implements.
    pub const V1_1_0: SpecVersion = SpecVersion::new(1, 1, 0);
    /// The spec version this host implements.
    pub const CURRENT: SpecVersion = SpecVersion::V1_1_0;
    /// Every version a network configuration may ask for.
    pub const SUPPORTED: [SpecVersion; 5] = [
        SpecVersion::V0_3_0,
        SpecVersion::V0_3_1,
        SpecVersion::V0_4_0,
        SpecVersion::V1_0_0,
        SpecVersion::V1_1_0,
    ];

    /// A version from its three numbers.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        SpecVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parse `"1.0.0"`; `"0.4"` style short forms are accepted as `.0`.
    pub fn parse(s: &str) -> Result<Self, CniError> {
        let bad = || CniError::InvalidVersion {
            value: s.to_string(),
        };
        let mut parts = s.trim().split('.');
        let mut next = |required: bool| -> Result<u32, CniError> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map_err(|_| bad())
                }
                None if !required => Ok(0),
                _ => Err(bad()),
            }
        };
        let v = SpecVersion::new(next(true)?, next(true)?, next(false)?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }

    /// True when this host can drive a network written for this version.
    pub fn is_supported(self) -> bool {
        SpecVersion::SUPPORTED.contains(&self)
    }

    /// True for 0.3.0, 0.3.1 and 0.4.0, whose results carry `ips[].version`.
    pub fn is_legacy_result(self) -> bool {
        self < SpecVersion::V1_0_0
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for SpecVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpecVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SpecVersion::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Pick the version of a configuration list as libcni does: the highest of
/// `cniVersion` and every `cniVersions` entry that is not newer than
/// [`SpecVersion::CURRENT`].
pub fn negotiate_list_version(
    cni_version: Option<&str>,
    cni_versions: &[String],
) -> Result<Option<SpecVersion>, CniError> {
    let mut best: Option<SpecVersion> = None;
    let mut consider = |s: &str| -> Result<(), CniError> {
        let v = SpecVersion::parse(s)?;
        if v.cmp(&SpecVersion::CURRENT) != Ordering::Greater && best.is_none_or(|b| v > b) {
            best = Some(v);
        }
        Ok(())
    };
    for v in cni_versions {
        consider(v)?;
    }
    if let Some(v) = cni_version {
        if cni_versions.is_empty() {
            return Ok(Some(SpecVersion::parse(v)?));
        }
        consider(v)?;
    }
    Ok(best)
}

/// The answer of a plugin to `VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version of this answer's format.
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// Spec versions the plugin accepts in its configuration.
    #[serde(rename = "supportedVersions", default)]
    pub supported_versions: Vec<String>,
}

impl VersionInfo {
    /// True when the plugin lists `v` among its supported versions.
    pub fn supports(&self, v: SpecVersion) -> bool {
        self.supported_versions
            .iter()
            .any(|s| SpecVersion::parse(s).is_ok_and(|p| p == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert_eq!(SpecVersion::parse("0.3.1").unwrap(), SpecVersion::V0_3_1);
        assert_eq!(SpecVersion::parse("1.0").unwrap(), SpecVersion::V1_0_0);
        assert!(SpecVersion::parse("1.x.0").is_err());
        assert!(SpecVersion::parse("1.0.0.0").is_err());
        assert!(SpecVersion::parse("").is_err());
        assert!(SpecVersion::V0_4_0 < SpecVersion::V1_0_0);
        assert!(SpecVersion::V0_3_1 < SpecVersion::V0_4_0);
        assert!(SpecVersion::parse("0.10.0").unwrap() > SpecVersion::V0_4_0);
    }

    #[test]
    fn cni_versions_picks_highest_not_newer_than_current() {
        let vs = vec!["0.4.0".to_string(), "1.0.0".into(), "9.0.0".into()];
        assert_eq!(
            negotiate_list_version(Some("0.3.1"), &vs).unwrap(),
            Some(SpecVersion::V1_0_0)
        );
        assert_eq!(
            negotiate_list_version(Some("0.3.1"), &[]).unwrap(),
            Some(SpecVersion::V0_3_1)
        );
        assert_eq!(negotiate_list_version(None, &[]).unwrap(), None);
    }

    #[test]
    fn version_info_supports() {
        let vi: VersionInfo = serde_json::from_str(
            r#"{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}"#,
        )
        .unwrap();
        assert!(vi.supports(SpecVersion::V1_0_0));
        assert!(!vi.supports(SpecVersion::V1_1_0));
    }
}
