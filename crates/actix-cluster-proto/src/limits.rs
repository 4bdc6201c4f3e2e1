//! Size limits on what a member says about itself. The codec enforces the same
//! limits when decoding, so one member cannot make another allocate or gossip
//! without bound.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ConfigError;
use crate::id::MemberId;

/// Longest member name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Most roles per member.
pub const MAX_ROLES: usize = 16;
/// Longest role, in bytes (roles are non-empty).
pub const MAX_ROLE_LEN: usize = 64;
/// Most metadata entries per member.
pub const MAX_METADATA_ENTRIES: usize = 16;
/// Longest metadata key, in bytes (keys are non-empty).
pub const MAX_METADATA_KEY_LEN: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_LEN: usize = 512;
/// Largest sum of the lengths of all metadata keys and values, in bytes.
pub const MAX_METADATA_TOTAL: usize = 1024;

fn bad<T>(field: &'static str, reason: String) -> Result<T, ConfigError> {
    Err(ConfigError { field, reason })
}

/// Checks a member id's name against the limits.
pub fn validate_id(id: &MemberId) -> Result<(), ConfigError> {
    if id.name.is_empty() || id.name.len() > MAX_NAME_LEN {
        return bad(
            "local.id.name",
            format!(
                "{} bytes long; must be 1..={MAX_NAME_LEN} bytes",
                id.name.len()
            ),
        );
    }
    Ok(())
}

/// Checks roles against [`MAX_ROLES`] and [`MAX_ROLE_LEN`].
pub fn validate_roles(roles: &BTreeSet<String>) -> Result<(), ConfigError> {
    if roles.len() > MAX_ROLES {
        return bad(
            "local.roles",
            format!("{} roles; at most {MAX_ROLES}", roles.len()),
        );
    }
    for r in roles {
        if r.is_empty() || r.len() > MAX_ROLE_LEN {
            return bad(
                "local.roles",
                format!("role {r:?} must be 1..={MAX_ROLE_LEN} bytes long"),
            );
        }
    }
    Ok(())
}

/// Checks metadata against the `MAX_METADATA_*` limits.
pub fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return bad(
            "local.metadata",
            format!("{} entries; at most {MAX_METADATA_ENTRIES}", metadata.len()),
        );
    }
    let mut total = 0;
    for (k, v) in metadata {
        if k.is_empty() || k.len() > MAX_METADATA_KEY_LEN {
            return bad(
                "local.metadata",
                format!("key {k:?} must be 1..={MAX_METADATA_KEY_LEN} bytes long"),
            );
        }
        if v.len() > MAX_METADATA_VALUE_LEN {
            return bad(
                "local.metadata",
                format!("value of {k:?} is longer than {MAX_METADATA_VALUE_LEN} bytes"),
            );
        }
        total += k.len() + v.len();
    }
    if total > MAX_METADATA_TOTAL {
        return bad(
            "local.metadata",
            format!("keys and values total {total} bytes; at most {MAX_METADATA_TOTAL}"),
        );
    }
    Ok(())
}
