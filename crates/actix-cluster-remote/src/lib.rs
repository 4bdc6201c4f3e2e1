//! Remote actors for actix-cluster: the pure parts.
//!
//! - [`RemoteMessage`] (with [`remote_message!`]): a message type that can
//!   cross the network, named by a stable name and a version.
//! - [`RemoteRef`]: a typed reference to an actor on some member, itself
//!   serializable so that it can travel inside messages.
//! - [`envelope`]: the batched frame format the transport seals, with a
//!   bounded decoder where a bad envelope costs that envelope only.
//! - [`payload`]: the payload codec (postcard).
//! - [`Registry`]: the cluster registry's merge rules: each member writes its
//!   own versioned record; listings agree on every member.
//! - [`AskError`]: what an ask can fail with.
//!
//! `docs/REMOTE.md` describes the design these parts serve and the
//! guarantees the transport built on them gives.

pub mod envelope;
mod error;
mod message;
pub mod payload;
mod reference;
mod registry;

pub use crate::error::{AskError, Failure, FailureCode};
pub use crate::message::{RemoteMessage, TypeTag};
pub use crate::reference::{ActorAddr, ActorId, RemoteRef};
pub use crate::registry::{
    Merged, OwnerWire, Registry, RegistryLimits, RegistryRecord, ServiceKey,
};
