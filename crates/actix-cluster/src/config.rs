//! Configuration of the `Cluster` actor.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config as ProtocolConfig, Keyring};

use crate::error::ClusterError;

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
    /// Connection slots, queues and timeouts of the TCP transport.
    pub transport: TransportConfig,
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
            transport: TransportConfig::default(),
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

    /// The first setting that cannot work: the protocol settings
    /// ([`ProtocolConfig::validate`]), then the member `name` (not empty), the
    /// `transport` bounds ([`TransportConfig::validate`]), `subscriber_buffer`
    /// (1 to 1048576) and the advertised address (which others must be able
    /// to reach: not the unspecified address). Outside the protocol settings
    /// the error names the field. Called by `Cluster::start` before anything
    /// is bound.
    ///
    /// ```
    /// use actix_cluster::{ClusterConfig, ClusterError};
    ///
    /// let config = ClusterConfig::new("node-1", "0.0.0.0:7946".parse().unwrap());
    /// assert!(matches!(
    ///     config.validate(),
    ///     Err(ClusterError::InvalidConfig { field: "advertise", .. })
    /// ));
    /// let config = config.with_advertise("10.0.0.5:0".parse().unwrap());
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ClusterError> {
        self.protocol.validate()?;
        if self.name.is_empty() {
            return Err(ClusterError::InvalidConfig {
                field: "name",
                reason: "the member name must not be empty".into(),
            });
        }
        self.transport.validate()?;
        if !(1..=1 << 20).contains(&self.subscriber_buffer) {
            return Err(ClusterError::InvalidConfig {
                field: "subscriber_buffer",
                reason: format!("{} is outside 1..=1048576", self.subscriber_buffer),
            });
        }
        let advertised_ip = self.advertise.map_or(self.bind.ip(), |a| a.ip());
        if advertised_ip.is_unspecified() {
            return Err(ClusterError::InvalidConfig {
                field: "advertise",
                reason: format!(
                    "{advertised_ip} cannot be reached by others: with `bind` on the unspecified \
                     address, set `advertise` to this node's reachable address (port 0: the bound port)"
                ),
            });
        }
        Ok(())
    }
}

/// Bounds of the TCP transport (joins, full-state exchange): how many
/// connections, how long each may take, how much is queued. Every field is
/// checked by [`TransportConfig::validate`] (called by `Cluster::start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// Incoming connections open at once (default 64); when every slot is
    /// taken, the one never useful or idle longest makes room.
    pub max_incoming: usize,
    /// Incoming connections open at once from one IP address (default 32:
    /// several members may share a host); when the share is taken, that
    /// address's connection never useful or idle longest makes room.
    pub max_incoming_per_ip: usize,
    /// A new connection must deliver its first complete frame within this
    /// (default 2 s), or it is closed.
    pub first_frame_timeout: Duration,
    /// The rest of a frame must arrive within this once its length is read
    /// (default 5 s).
    pub frame_read_timeout: Duration,
    /// A connection with no frame in either direction for this long is
    /// closed (default 30 s).
    pub idle_timeout: Duration,
    /// An incoming connection busy within this long is never evicted for a
    /// newcomer (default 1 s).
    pub evict_idle: Duration,
    /// Peers with an outgoing writer at once (default 128); the least
    /// recently used makes room.
    pub max_outgoing: usize,
    /// Frames queued towards one peer (default 16); when full, new frames
    /// are dropped and counted.
    pub outgoing_queue: usize,
    /// How long a connection to a peer may take (default 2 s).
    pub connect_timeout: Duration,
    /// How long one frame may take to be written (default 5 s).
    pub write_timeout: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_incoming: 64,
            max_incoming_per_ip: 32,
            first_frame_timeout: Duration::from_secs(2),
            frame_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            evict_idle: Duration::from_secs(1),
            max_outgoing: 128,
            outgoing_queue: 16,
            connect_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
        }
    }
}

impl TransportConfig {
    /// The first field that cannot work, named (`transport.<field>`).
    pub fn validate(&self) -> Result<(), ClusterError> {
        let bad = |field: &'static str, reason: String| {
            Err(ClusterError::InvalidConfig { field, reason })
        };
        let counts = [
            ("transport.max_incoming", self.max_incoming, 1, 65_536),
            (
                "transport.max_incoming_per_ip",
                self.max_incoming_per_ip,
                1,
                self.max_incoming,
            ),
            ("transport.max_outgoing", self.max_outgoing, 1, 65_536),
            ("transport.outgoing_queue", self.outgoing_queue, 1, 65_536),
        ];
        for (field, v, lo, hi) in counts {
            if v < lo || v > hi {
                return bad(field, format!("{v} is outside {lo}..={hi}"));
            }
        }
        let durations = [
            ("transport.first_frame_timeout", self.first_frame_timeout),
            ("transport.frame_read_timeout", self.frame_read_timeout),
            ("transport.idle_timeout", self.idle_timeout),
            ("transport.evict_idle", self.evict_idle),
            ("transport.connect_timeout", self.connect_timeout),
            ("transport.write_timeout", self.write_timeout),
        ];
        for (field, d) in durations {
            if d.is_zero() || d > Duration::from_secs(3600) {
                return bad(field, format!("{d:?} is outside (0 s, 1 h]"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field `config.validate()` names.
    fn invalid_field(config: &ClusterConfig) -> &'static str {
        match config.validate() {
            Err(ClusterError::InvalidConfig { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    fn node() -> ClusterConfig {
        ClusterConfig::new("node-1", "127.0.0.1:0".parse().unwrap())
    }

    #[test]
    fn a_default_node_config_is_valid() {
        assert!(node().validate().is_ok());
        let everywhere = ClusterConfig::new("n", "0.0.0.0:0".parse().unwrap())
            .with_advertise("10.0.0.5:0".parse().unwrap());
        assert!(everywhere.validate().is_ok());
    }

    #[test]
    fn node_settings_are_validated_naming_the_field() {
        let mut c = node();
        c.name.clear();
        assert_eq!(invalid_field(&c), "name");

        let mut c = node();
        c.subscriber_buffer = 0;
        assert_eq!(invalid_field(&c), "subscriber_buffer");
        c.subscriber_buffer = (1 << 20) + 1;
        assert_eq!(invalid_field(&c), "subscriber_buffer");
        c.subscriber_buffer = 1 << 20;
        assert!(c.validate().is_ok());

        let c = ClusterConfig::new("n", "0.0.0.0:0".parse().unwrap());
        assert_eq!(invalid_field(&c), "advertise");
        let c = node().with_advertise("[::]:7946".parse().unwrap());
        assert_eq!(invalid_field(&c), "advertise");

        let mut c = node();
        c.transport.max_outgoing = 0;
        assert_eq!(invalid_field(&c), "transport.max_outgoing");
    }

    #[test]
    fn the_first_invalid_setting_is_the_one_reported() {
        // Protocol settings come first, then the fields in declaration order.
        let mut c = ClusterConfig::new("", "0.0.0.0:0".parse().unwrap());
        c.subscriber_buffer = 0;
        assert_eq!(invalid_field(&c), "name");
        c.protocol.max_frame_size = 0;
        assert!(matches!(c.validate(), Err(ClusterError::Config(_))));
    }

    #[test]
    fn transport_bounds_are_validated_naming_the_field() {
        assert!(TransportConfig::default().validate().is_ok());
        let field = |t: TransportConfig| match t.validate() {
            Err(ClusterError::InvalidConfig { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        let d = TransportConfig::default();
        assert_eq!(
            field(TransportConfig {
                max_incoming: 0,
                ..d
            }),
            "transport.max_incoming"
        );
        assert_eq!(
            field(TransportConfig {
                max_incoming_per_ip: 65,
                ..d
            }),
            "transport.max_incoming_per_ip"
        );
        assert_eq!(
            field(TransportConfig {
                first_frame_timeout: Duration::ZERO,
                ..d
            }),
            "transport.first_frame_timeout"
        );
        assert_eq!(
            field(TransportConfig {
                outgoing_queue: 0,
                ..d
            }),
            "transport.outgoing_queue"
        );
    }
}
