//! Errors of the actix layer.

/// Starting or driving the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Protocol config invalid.
    #[error(transparent)]
    Config(#[from] actix_cluster_proto::ConfigError),
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
}
