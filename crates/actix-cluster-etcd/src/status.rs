//! [`DiscoveryStatus`], the snapshot of what discovery is doing. It lives
//! below both the discovery actor that fills it and the metrics that publish
//! it, so neither imports the other.

use std::net::SocketAddr;

use serde::Serialize;

/// A snapshot of what discovery is doing, for readiness probes and dashboards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiscoveryStatus {
    /// The last etcd request succeeded.
    pub etcd_reachable: bool,
    /// This member's registration is in etcd (as far as we know).
    pub registered: bool,
    /// The lease holding the registration.
    pub lease_id: Option<i64>,
    /// The last etcd revision the watcher saw.
    pub last_revision: Option<i64>,
    /// Seed addresses from etcd (members `Up`, oldest first, without us).
    pub seeds: Vec<SocketAddr>,
    /// Registrations seen under the cluster's prefix (including ours).
    pub registered_members: usize,
    /// Keys under the cluster's prefix that are not ours and are ignored
    /// (no lease, not a member id, a registration naming another member, an
    /// unknown key), as `"<key>: <reason>"`; at most 64 are listed.
    pub ignored_keys: Vec<String>,
    /// This node won the formation and formed the cluster.
    pub formed: bool,
    /// This member is `Up` in the cluster.
    pub member_up: bool,
    /// This member left: the lease was revoked.
    pub deregistered: bool,
    /// Total child restarts.
    pub restarts: u32,
    /// Restarts of the [`LeaseKeeper`](crate::LeaseKeeper).
    pub lease_keeper_restarts: u32,
    /// Restarts of the [`SeedWatcher`](crate::SeedWatcher).
    pub seed_watcher_restarts: u32,
    /// Times the watcher found its revision compacted and listed again.
    pub compacted_relists: u32,
    /// Keep-alive answers that renewed the lease.
    pub lease_renewals: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}
