//! Errors of the discovery crate.

use std::path::PathBuf;

/// A configuration value is wrong; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field has a bad value.
    #[error("invalid discovery config field `{field}`: {reason}")]
    Invalid {
        /// The field, e.g. `lease_ttl_secs` or `tls.ca_file`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The TOML text does not parse (the message names the key and line).
    #[error("invalid discovery config TOML: {0}")]
    Toml(String),
    /// The config file cannot be read.
    #[error("cannot read discovery config file {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        reason: String,
    },
}

/// Something went wrong while talking to etcd; children of the
/// [`DiscoveryActor`](crate::DiscoveryActor) fail with it and are restarted
/// with backoff.
///
/// Non-exhaustive: the `testing` feature adds a variant, and a feature must
/// not break a `match` elsewhere in the build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The etcd client reported an error.
    #[error("etcd error: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// An etcd request did not complete in time.
    #[error("etcd request `{0}` timed out")]
    Timeout(&'static str),
    /// The lease is gone (expired or revoked); a new one is granted.
    #[error("lease {0:x} is gone")]
    LeaseLost(i64),
    /// etcd answered something its API rules out (e.g. a transaction whose
    /// compare failed on a missing key, yet read no key).
    #[error("etcd answered unexpectedly: {0}")]
    Unexpected(&'static str),
    /// A stream (keep-alive or watch) ended or was cancelled by etcd.
    #[error("etcd {0}")]
    StreamEnded(String),
    /// A failure injected through `FailChild` (a test hook, only with the
    /// `testing` feature).
    #[cfg(feature = "testing")]
    #[error("failure injected for testing")]
    Injected,
    /// The TLS files could not be read.
    #[error("cannot read TLS file {path}: {reason}")]
    Tls {
        /// The file.
        path: String,
        /// The IO error.
        reason: String,
    },
}
