//! etcd discovery for [`actix_cluster`].
//!
//! Nodes register in etcd under a lease, the first node forms the cluster and
//! the others find seed addresses there and join. Three actors do the work:
//!
//! - [`LeaseKeeper`] registers this member under
//!   `<prefix>/<cluster>/members/<member-id>` (a JSON [`Registration`]) bound to
//!   a lease (TTL `lease_ttl_secs`, default 10 s), keeps the lease alive every
//!   TTL/3, registers again when the lease is lost, and revokes it on a graceful
//!   leave so the key vanishes at once.
//! - [`SeedWatcher`] lists the registrations, hands the addresses of members
//!   already `Up` (oldest first, at most `max_seeds`) to the
//!   [`Cluster`](actix_cluster::Cluster) as seeds, and watches the prefix from
//!   the listed revision (never polling; a compacted revision is listed again).
//! - [`DiscoveryActor`] supervises both and restarts a failed child after a
//!   jittered exponential backoff; [`GetStatus`] reports what it is doing.
//!
//! # Forming exactly once
//!
//! Each member marks itself under `<prefix>/<cluster>/up/<member-id>` once it
//! is `Up` (bound to its lease). While no such key and no formation key exist,
//! a starting member runs one transaction: *create
//! `<prefix>/<cluster>/formation` = its member id, bound to its lease, if that
//! key does not exist and no `up/` key exists*. Only one member can win; it
//! sends [`Form`](actix_cluster::Form) and the others join it. Because the
//! transaction also requires that no member is `Up`, a running cluster whose
//! former left can never be formed a second time. If the former dies before
//! anybody joined, its lease expires, the key vanishes and the next member
//! forms.
//!
//! **Cold restart.** When every process is killed and restarted before the old
//! leases expire, the old `up/` keys and formation key are still there: the new
//! processes (new generations, so new members) try to join the old addresses,
//! which do not answer, so no stale registration ever becomes a member. Within
//! one lease TTL the old keys expire, the watchers see the deletions, and the
//! formation transaction runs again: one cluster forms in at most about one
//! TTL.
//!
//! # When etcd is away
//!
//! Children retry with backoff and log a warning naming the endpoints and the
//! next retry; if `fallback_seeds` are configured, the node joins through them
//! meanwhile. A running cluster never depends on etcd: an outage causes no
//! `MemberDown`, and the registration comes back when etcd does.
//!
//! # Logs
//!
//! Every line discovery logs runs in a root span `etcd_discovery` with the
//! member id as `member` (the field name of the `Cluster`'s `cluster` span),
//! also in the children's etcd sessions and the arbiter's calls; after a
//! rebirth it carries the new id. Until the `Cluster` has answered `GetSelf`
//! the span has only the cluster's name (`cluster`).
//!
//! # Features
//!
//! - `testing` (off by default): test hooks that are not part of the normal
//!   API. `FailChild` makes a child fail as if etcd had, to test the
//!   supervision; its failures carry `DiscoveryError::Injected`. The tests
//!   crate enables it.
//!
//! # Example
//!
//! ```no_run
//! use actix_cluster::{Cluster, ClusterConfig};
//! use actix_cluster_etcd::{ClusterDiscovery, DiscoveryConfig, GetStatus};
//!
//! #[actix::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // ETCD_ENDPOINTS=http://10.0.0.1:2379,http://10.0.0.2:2379 CLUSTER_NAME=shop ...
//!     let discovery_config = DiscoveryConfig::from_env()?;
//!     let cluster_config = ClusterConfig::new("node-1", "10.0.0.5:7946".parse()?)
//!         .with_role("backend")
//!         .with_cluster_name(discovery_config.cluster_name.clone());
//!     let cluster = Cluster::start(cluster_config).await?;
//!     let discovery = ClusterDiscovery::start(cluster, discovery_config)?;
//!     let status = discovery.send(GetStatus).await?;
//!     println!("registered: {}", status.registered);
//!     actix_rt::signal::ctrl_c().await?;
//!     Ok(())
//! }
//! ```

mod arbiter;
mod claim;
mod client;
mod config;
mod discovery;
mod error;
mod extension;
mod formation;
mod keys;
mod leadership;
mod lease_keeper;
#[cfg(feature = "metrics")]
mod metrics;
mod seed_watcher;
mod span;
mod status;
mod store;
mod supervision;

pub use crate::arbiter::{EtcdArbiter, Verdict};
pub use crate::config::{DiscoveryConfig, TlsConfig, ENV_VARS};
#[cfg(feature = "testing")]
pub use crate::discovery::FailChild;
pub use crate::discovery::{Deregister, DiscoveryActor, GetStatus, RetryNow};
pub use crate::error::{ConfigError, DiscoveryError};
pub use crate::extension::ClusterDiscovery;
pub use crate::keys::Registration;
pub use crate::leadership::{ClaimError, FencingToken};
pub use crate::lease_keeper::LeaseKeeper;
pub use crate::seed_watcher::SeedWatcher;
pub use crate::status::DiscoveryStatus;
pub use crate::supervision::Child;
