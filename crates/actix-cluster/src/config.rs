//! Configuration of the `Cluster` actor.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use actix_cluster_proto::{Config as ProtocolConfig, Keyring};

/// How to start a node.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Member name (host name by default in binaries).
    pub name: String,
    /// Local address for the UDP socket and TCP listener (same port). Port 0 picks one.
    pub bind: SocketAddr,
    /// Address others use to reach us; defaults to the bound address.
    pub advertise: Option<SocketAddr>,
    /// Roles of this member.
    pub roles: BTreeSet<String>,
    /// Initial metadata.
    pub metadata: BTreeMap<String, String>,
    /// Protocol tuning; `protocol.cluster_name` is the cluster's name.
    pub protocol: ProtocolConfig,
    /// Events held at most per subscriber that has not taken them yet
    /// (default 1024, at least 1); beyond it a slow subscriber is
    /// resynchronised with a fresh snapshot (see [`crate::Subscribe`]).
    pub subscriber_buffer: usize,
}

impl ClusterConfig {
    /// A node called `name` that binds `bind` (UDP and TCP on the same port; port 0
    /// picks a free one), with no roles, no metadata and the default
    /// ([`ProtocolConfig::lan`]) protocol settings.
    ///
    /// ```
    /// use actix_cluster::{ClusterConfig, ProtocolConfig};
    ///
    /// let config = ClusterConfig::new("node-1", "127.0.0.1:0".parse().unwrap())
    ///     .with_protocol(ProtocolConfig::local())
    ///     .with_role("backend")
    ///     .with_metadata("http", "127.0.0.1:8080");
    /// assert!(config.roles.contains("backend"));
    /// ```
    pub fn new(name: impl Into<String>, bind: SocketAddr) -> Self {
        ClusterConfig {
            name: name.into(),
            bind,
            advertise: None,
            roles: BTreeSet::new(),
            metadata: BTreeMap::new(),
            protocol: ProtocolConfig::default(),
            subscriber_buffer: 1024,
        }
    }

    /// Sets the address others reach this node at. A port of 0 means "the port
    /// actually bound", which is handy with `bind = 0.0.0.0:0` in containers.
    pub fn with_advertise(mut self, advertise: SocketAddr) -> Self {
        self.advertise = Some(advertise);
        self
    }

    /// Adds a role.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.roles.insert(role.into());
        self
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Replaces the protocol settings (cluster name, timeouts, size limits).
    pub fn with_protocol(mut self, protocol: ProtocolConfig) -> Self {
        self.protocol = protocol;
        self
    }

    /// Seals every message with `keyring` (`protocol.keyring`; outgoing
    /// sealed, only sealed messages accepted). See
    /// [`ProtocolConfig::seal_outgoing`] and
    /// [`ProtocolConfig::verify_incoming`] for moving a plaintext cluster to
    /// keys.
    ///
    /// ```
    /// use actix_cluster::{ClusterConfig, Key, Keyring};
    ///
    /// let keyring = Keyring::parse("keys", &Key::from_bytes([7; 32]).to_base64()).unwrap();
    /// let config = ClusterConfig::new("node-1", "127.0.0.1:0".parse().unwrap())
    ///     .with_keyring(keyring);
    /// assert!(config.protocol.keyring.is_some());
    /// ```
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.protocol = self.protocol.with_keyring(keyring);
        self
    }

    /// Sets the cluster name (`protocol.cluster_name`); nodes with different
    /// names ignore each other.
    pub fn with_cluster_name(mut self, cluster_name: impl Into<String>) -> Self {
        self.protocol.cluster_name = cluster_name.into();
        self
    }
}
