//! Errors of the actix layer.

/// Starting or driving the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Protocol config invalid.
    #[error(transparent)]
    Config(#[from] actix_cluster_proto::ConfigError),
    /// A keyring change (`InstallKey`, `UsePrimary`, `RemoveKey`) was
    /// refused; the keyring is unchanged.
    #[error(transparent)]
    Key(#[from] actix_cluster_proto::KeyError),
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// The node configuration (outside the protocol settings) cannot work; the
    /// message names the field. Nothing was bound.
    #[error("invalid cluster config field `{field}`: {reason}")]
    InvalidConfig {
        /// The field, e.g. `advertise`.
        field: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// `Cluster::start` was called outside a running actix `System`.
    #[error("Cluster::start must be called inside a running actix System")]
    NoSystem,
    /// This actix `System` already has a running `Cluster` (one per system);
    /// the existing one is untouched. Use `Cluster::current()` to reach it.
    #[error("this actix System already runs a Cluster (one per System)")]
    AlreadyRunning,
}
