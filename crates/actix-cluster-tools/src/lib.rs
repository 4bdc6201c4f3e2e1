//! Cluster tools built on the remote actors of `actix-cluster-remote`:
//!
//! - [`singleton`]: one instance of an actor in the cluster, on the oldest
//!   `Up` member (of a role), moved on leave and after a `Down`, never run
//!   twice; a proxy on every member delivers to it wherever it is.
//! - [`topic`]: publish once, every subscriber on every member receives it.
//! - [`router`]: send to one of the actors behind a service key, by round
//!   robin, random or consistent hashing, only to reachable members.
//!
//! `docs/REMOTE.md` states the guarantees.

pub mod router;
pub mod singleton;
pub mod topic;

pub use crate::router::{RouteError, RouteKey, Router, RouterConfig, Routing};
pub use crate::singleton::{ClusterSingleton, SingletonConfig, SingletonHandle, StopSingleton};
pub use crate::topic::{PublishError, Topic, TopicMessage, Topics};
