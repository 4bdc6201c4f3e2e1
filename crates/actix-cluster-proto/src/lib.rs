//! The actix-cluster membership protocol as a pure state machine.
//!
//! [`Core`] holds one member's view of the cluster. It never touches a socket, a
//! clock or a thread: every input comes with `now` (a [`Duration`](std::time::Duration)
//! since an arbitrary epoch chosen by the caller), and every effect comes out of
//! [`Core::poll_output`] as an [`Output`]: bytes to send, a timer to schedule, or an
//! [`Event`] to publish. The actix layer (`actix-cluster`) and the deterministic
//! simulator (`actix-cluster-sim`) are two drivers of the same core.
//!
//! See `docs/PROTOCOL.md` for the algorithm (SWIM with Lifeguard, push-pull
//! anti-entropy, the Akka-style member lifecycle) and its timeouts.

mod awareness;
mod broadcast;
mod codec;
mod config;
mod core;
mod error;
mod event;
mod id;
pub mod limits;
mod member;
mod members;
mod suspicion;

pub use crate::config::Config;
pub use crate::core::{Channel, Command, Core, Output, Stats, Timer};
pub use crate::error::{ConfigError, DecodeError};
pub use crate::event::Event;
pub use crate::id::{Generation, Incarnation, MemberId};
pub use crate::member::{DownReason, LocalMember, MemberInfo, Status};

#[cfg(test)]
mod tests;
