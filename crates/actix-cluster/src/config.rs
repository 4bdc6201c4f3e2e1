//! Configuration of the `Cluster` actor.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use actix_cluster_proto::Config as ProtocolConfig;

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
}
