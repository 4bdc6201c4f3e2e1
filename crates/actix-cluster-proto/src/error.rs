//! Errors of the protocol crate.

/// A configuration value that cannot work. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config field `{field}`: {reason}")]
pub struct ConfigError {
    /// The field, e.g. `probe_timeout`.
    pub field: &'static str,
    /// What is wrong and what to do.
    pub reason: String,
}

/// Bytes that are not a valid message. Decoding never panics and never
/// allocates more than the input's length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Input ended early.
    #[error("message truncated: needed {needed} more bytes")]
    Truncated {
        /// Bytes missing.
        needed: usize,
    },
    /// Not one of ours (bad magic).
    #[error("not an actix-cluster message (bad magic)")]
    BadMagic,
    /// A protocol version this build does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// Another cluster's message.
    #[error("message for cluster {0:?}, not ours")]
    WrongCluster(String),
    /// Larger than the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Size seen.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Structurally invalid.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}
