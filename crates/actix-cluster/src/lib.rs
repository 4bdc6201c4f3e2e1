//! Cluster membership for Actix actors.
//!
//! Every process runs one [`Cluster`] actor in its actix `System`. The nodes
//! find each other through seed addresses, watch each other with SWIM and
//! Lifeguard (the protocol lives in the `actix-cluster-proto` crate) and tell
//! your actors who is in the cluster: a [`MemberUp`] when a member becomes
//! `Up`, a [`MemberDown`] (with [`DownReason::Failed`] or
//! [`DownReason::Left`]) when it goes, or every [`Event`] through a
//! [`ClusterEvent`] subscription.
//!
//! # Starting a node
//!
//! [`Cluster::start`] binds one UDP socket and one TCP listener on the same
//! port of [`ClusterConfig::bind`] (port 0 picks a free one, [`GetSelf`] tells
//! which) and starts the actor, which [`Cluster::current`] returns from
//! anywhere in the same system. The first node sends itself [`Form`]; the
//! others send [`Join`] with one or more seed addresses. Nodes only talk to
//! nodes with the same `protocol.cluster_name`.
//!
//! # Subscribing
//!
//! An actor subscribes with its recipients. It first receives the current
//! state (a `MemberUp` for every member already `Up`, itself included), then
//! every later change in order, nothing lost or doubled. When the actor stops,
//! its subscription is dropped.
//!
//! ```
//! use actix::prelude::*;
//! use actix_cluster::{
//!     Cluster, ClusterConfig, Form, GetSelf, MemberDown, MemberUp, ProtocolConfig, Subscribe,
//! };
//!
//! /// Prints members coming and going.
//! struct Watcher;
//!
//! impl Actor for Watcher {
//!     type Context = Context<Self>;
//! }
//!
//! impl Handler<MemberUp> for Watcher {
//!     type Result = ();
//!     fn handle(&mut self, MemberUp(member): MemberUp, _: &mut Context<Self>) {
//!         println!("up: {} roles={:?}", member.id, member.roles);
//!         // A one-node cluster: our own MemberUp is all we wait for here.
//!         System::current().stop();
//!     }
//! }
//!
//! impl Handler<MemberDown> for Watcher {
//!     type Result = ();
//!     fn handle(&mut self, down: MemberDown, _: &mut Context<Self>) {
//!         println!("down: {} ({:?})", down.member.id, down.reason);
//!     }
//! }
//!
//! let system = System::new();
//! system.block_on(async {
//!     let config = ClusterConfig::new("node-1", "127.0.0.1:0".parse().unwrap())
//!         .with_protocol(ProtocolConfig::local())
//!         .with_role("backend");
//!     let cluster = Cluster::start(config).await.unwrap();
//!     println!("listening on {}", cluster.send(GetSelf).await.unwrap().bound);
//!
//!     let watcher = Watcher.start();
//!     cluster.do_send(Subscribe {
//!         member_up: Some(watcher.clone().recipient()),
//!         member_down: Some(watcher.recipient()),
//!         events: None,
//!     });
//!     // First node: form a cluster. Others: `cluster.do_send(Join(seeds))`.
//!     cluster.do_send(Form);
//! });
//! system.run().unwrap();
//! ```
//!
//! # Leaving
//!
//! [`Leave`] tells the others, who publish `MemberDown { reason: Left }` at
//! once instead of waiting for failure detection; its answer comes once the
//! leave went out. Stopping the `System` does the same on a best-effort basis.
//! [`Abort`] stops without a word, like a crash (for fault-injection tests).
//!
//! # Keys
//!
//! With [`ClusterConfig::with_keyring`] every datagram and stream frame is
//! sealed (authenticated and encrypted) with the keyring's primary key and
//! opened with any installed key; a node without a key cannot join, read the
//! member list or change anyone's status. Rotate at run time with
//! [`InstallKey`] (everywhere), [`UsePrimary`] (everywhere), [`RemoveKey`]
//! (the old key, everywhere), or by a rolling restart with the new key list.
//! A node without keys logs a warning once, at start.
//!
//! # Queries
//!
//! [`GetMembers`] (status, reachability, roles, metadata of every member),
//! [`GetLeader`] (the oldest `Up` member, the same on every node with the same
//! view), [`GetSelf`], [`GetStats`] (protocol and transport counters, e.g.
//! rejected messages); [`UpdateMetadata`] changes this member's metadata.

mod arbiter;
mod arbitration;
mod cluster;
mod config;
mod counters;
mod deadlines;
mod departure;
mod error;
mod generation;
mod incoming;
mod latency;
mod leadership;
mod messages;
#[cfg(feature = "metrics")]
mod metrics;
mod subscription;
mod transport;
mod writers;

pub use crate::arbiter::{ArbiterFuture, DowningArbiter, ProbeFuture, SetArbiter};
pub use crate::cluster::Cluster;
pub use crate::config::{ClusterConfig, TransportConfig};
pub use crate::error::ClusterError;
pub use crate::latency::HandlingLatency;
pub use crate::messages::{
    Abort, AddLeaveGuard, BeforeLeave, ClusterEvent, ClusterStats, Form, GetKeyring, GetKeys,
    GetLeader, GetLeadership, GetMembers, GetSelf, GetStats, InstallKey, Join, Leadership, Leave,
    MemberDown, MemberUp, RemoveKey, SelfInfo, SetFencingToken, Subscribe, TransportStats,
    UpdateMetadata, UsePrimary,
};
pub use actix_cluster_proto::{
    Config as ProtocolConfig, DownReason, DowningConfig, Event, Generation, Key, KeyError, KeyId,
    Keyring, MemberId, MemberInfo, OnFenced, Stats as ProtocolStats, Status, Strategy, KEY_LEN,
};
