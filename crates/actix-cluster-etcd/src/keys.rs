//! The key layout in etcd and the registration record.
//!
//! Under `<prefix>/<cluster-name>/`:
//! - `members/<member-id>`: a [`Registration`] (JSON), bound to the member's lease.
//! - `up/<member-id>`: present while that member is `Up` in the cluster (value:
//!   the member id), bound to the same lease. Only these are used as seeds.
//! - `formation`: the id of the member that formed the cluster, bound to its
//!   lease; created only if absent and only while no `up/` key exists.
//! - `downing/lease`: the id of the decider whose side won the last downing
//!   decision, bound to a lease of its own (see [`EtcdArbiter`](crate::EtcdArbiter)).
//! - `leader`: the id of the leader, bound to its lease; its create revision is
//!   the leader's fencing token.
//! - `singleton/<name>`: the id of the member that holds the claim of `name`
//!   (a cluster singleton), bound to its lease; its create revision is the
//!   holder's fencing token (see `claim.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_cluster::SelfInfo;
use serde::{Deserialize, Serialize};

use crate::config::DiscoveryConfig;

/// What a member publishes about itself under `members/<member-id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The member id (`name@addr-gen`).
    pub id: String,
    /// Member name.
    pub name: String,
    /// Gossip address others join through.
    pub address: SocketAddr,
    /// Roles.
    pub roles: BTreeSet<String>,
    /// Metadata at registration time.
    pub metadata: BTreeMap<String, String>,
    /// Version of this crate.
    pub version: String,
    /// Process start (registration creation) time, Unix milliseconds.
    pub started_at_ms: u64,
}

impl Registration {
    /// The record for this node.
    pub fn for_self(info: &SelfInfo) -> Self {
        Registration {
            id: info.id.to_string(),
            name: info.id.name.clone(),
            address: info.id.addr,
            roles: info.roles.clone(),
            metadata: info.metadata.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }
}

/// Key names for one cluster.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) root: String,
}

impl Keys {
    pub(crate) fn new(config: &DiscoveryConfig) -> Self {
        Keys {
            root: config.cluster_prefix(),
        }
    }
    pub(crate) fn members(&self) -> String {
        format!("{}members/", self.root)
    }
    pub(crate) fn member(&self, id: &str) -> String {
        format!("{}members/{id}", self.root)
    }
    pub(crate) fn ups(&self) -> String {
        format!("{}up/", self.root)
    }
    pub(crate) fn up(&self, id: &str) -> String {
        format!("{}up/{id}", self.root)
    }
    pub(crate) fn formation(&self) -> String {
        format!("{}formation", self.root)
    }
    pub(crate) fn downing_lease(&self) -> String {
        format!("{}downing/lease", self.root)
    }
    pub(crate) fn leader(&self) -> String {
        format!("{}leader", self.root)
    }
    /// The application's own keys: discovery neither reads nor warns about
    /// them.
    pub(crate) fn app(&self) -> String {
        format!("{}app/", self.root)
    }
    pub(crate) fn singletons(&self) -> String {
        format!("{}singleton/", self.root)
    }
    pub(crate) fn singleton(&self, name: &str) -> String {
        format!("{}singleton/{name}", self.root)
    }
}

/// The end of a prefix range (etcd's `range_end` for "every key with this prefix").
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}
