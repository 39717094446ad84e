//! The spec's rules for network names, container ids and interface names.

use crate::error::CniError;

/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`: the spec's rule for network names and
/// container ids.
fn is_spec_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Check a network name against the spec.
pub fn network_name(name: &str) -> Result<(), CniError> {
    if is_spec_identifier(name) {
        Ok(())
    } else {
        Err(CniError::InvalidArgument {
            what: "network name",
            value: name.to_string(),
            reason: "must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
        })
    }
}

/// Check a container id against the spec.
pub fn container_id(id: &str) -> Result<(), CniError> {
    if is_spec_identifier(id) {
        Ok(())
    } else {
        Err(CniError::InvalidArgument {
            what: "container id",
            value: id.to_string(),
            reason: "must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
        })
    }
}

/// Check an interface name against the spec (and Linux): not empty, not `.`
/// or `..`, under 16 bytes, no `/`, `:` or whitespace.
pub fn interface_name(name: &str) -> Result<(), CniError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name == "." || name == ".." {
        Some("must not be . or ..")
    } else if name.len() > 15 {
        Some("must be shorter than 16 bytes")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        Some("must not contain /, : or whitespace")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(CniError::InvalidArgument {
            what: "interface name",
            value: name.to_string(),
            reason,
        }),
    }
}

/// Check a plugin type: it names an executable inside a CNI_PATH dir, so it
/// must be a plain file name.
pub fn plugin_type(t: &str) -> Result<(), CniError> {
    if t.is_empty() || t == "." || t == ".." || t.contains('/') || t.contains('\0') {
        Err(CniError::InvalidArgument {
            what: "plugin type",
            value: t.to_string(),
            reason: "must be a plain file name",
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names() {
        for ok in ["a", "net1", "my-net_2.x", "0abc"] {
            assert!(network_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "ü"] {
            assert!(network_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interface_names() {
        assert!(interface_name("eth0").is_ok());
        assert!(interface_name("123456789012345").is_ok());
        for bad in ["", ".", "..", "1234567890123456", "a/b", "a:b", "a b"] {
            assert!(interface_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_types() {
        assert!(plugin_type("bridge").is_ok());
        assert!(plugin_type("../bin/sh").is_err());
        assert!(plugin_type("").is_err());
    }
}
