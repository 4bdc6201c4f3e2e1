//! Remote actors for actix-cluster: actors on one member talking to actors
//! on another.
//!
//! - [`RemoteMessage`] (with [`remote_message!`]): a message type that can
//!   cross the network, named by a stable name and a version.
//! - [`RemoteRef`]: a typed reference to an actor on some member, itself
//!   serializable so that it can travel inside messages.
//! - [`Remote::start`] starts the layer beside a running `Cluster` and gives
//!   a [`RemoteHandle`]: `serve` a local actor, `tell`, `ask` (typed
//!   [`AskError`]s), `register` / `find` / `subscribe` under a
//!   [`ServiceKey`], `watch` for exactly one [`Terminated`].
//! - [`envelope`] and [`payload`]: the batched, sealed frame format and the
//!   payload codec (postcard), both with bounded decoders.
//!
//! `docs/REMOTE.md` states the guarantees (delivery, ordering, partitions,
//! rebirths, key rotation).

mod config;
mod control;
mod crypto;
mod env;
pub mod envelope;
mod error;
mod fast_hash;
mod frame_io;
mod handle;
mod handshake;
mod hello;
mod inbound;
mod message;
#[cfg(feature = "metrics")]
mod metrics;
pub mod payload;
mod reference;
mod registry;
mod remote;
mod session;
mod shared;
mod stats;

/// The metadata key under which a member advertises its remote port.
pub const METADATA_KEY: &str = "remote.port";

pub use crate::config::{RemoteConfig, RemoteConfigError};
pub use crate::control::WatchId;
pub use crate::error::{AskError, Failure, FailureCode};
pub use crate::handle::{Listing, RemoteError, RemoteHandle, TellWait};
pub use crate::message::{RemoteMessage, TypeTag};
pub use crate::reference::{ActorAddr, ActorId, RemoteRef};
pub use crate::registry::{
    Merged, OwnerWire, Registry, RegistryLimits, RegistryRecord, ServiceKey,
};
pub use crate::remote::{GetRemoteStats, GetServices, Remote, Terminated, TerminatedReason};
pub use crate::stats::RemoteStats;

/// The README's example (the crate's crates.io page), run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
