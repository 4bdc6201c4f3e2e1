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
    /// A push-pull or join-ack with more member records than this node
    /// keeps (`max_members`): refused before any record is decoded.
    #[error("message carries {count} member records; at most {limit} (max_members) are accepted")]
    TooManyRecords {
        /// Records announced.
        count: usize,
        /// `max_members`.
        limit: usize,
    },
    /// Structurally invalid.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A sealed message that did not open: truncated, sealed with a key
    /// that is not installed, tampered with, or this node has no keys.
    #[error("message not authenticated: {0}")]
    Unauthenticated(&'static str),
    /// A plaintext message where only sealed ones are accepted (keys
    /// configured, `verify_incoming` on).
    #[error("plaintext message, but this node accepts only sealed messages")]
    Plaintext,
}

/// A keyring change that was refused; the keyring is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No installed key has this id.
    #[error("no installed key has id {0}")]
    Unknown(crate::codec::KeyId),
    /// The primary key seals; make another key primary before removing it.
    #[error("key {0} is the primary; make another key primary first")]
    Primary(crate::codec::KeyId),
    /// Another installed key has the same id (one chance in 2^32).
    #[error("another installed key has id {0}; generate a new key")]
    IdCollision(crate::codec::KeyId),
    /// The keyring holds its maximum number of keys.
    #[error("the keyring is full ({0} keys); remove one first")]
    Full(usize),
    /// This node has no keyring to change (it runs without keys).
    #[error("this node runs without keys; start it with a keyring")]
    NoKeyring,
}
