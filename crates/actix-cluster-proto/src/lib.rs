//! The actix-cluster membership protocol as a pure state machine.
//!
//! [`Core`] holds one member's view of the cluster. It never touches a socket, a
//! clock or a thread: every input comes with `now` (a [`Duration`](std::time::Duration)
//! since an arbitrary epoch chosen by the caller), and every effect comes out of
//! [`Core::poll_output`] as an [`Output`]: bytes to send, a timer to schedule, or an
//! [`Event`] to publish. The actix layer (`actix-cluster`) and the deterministic
//! simulator (`actix-cluster-sim`) are two drivers of the same core.
//!
//! # Example
//!
//! Two cores, driven by hand: every `Send` is delivered to the core at its
//! address, every `Schedule` fires in virtual time, until each sees the
//! other `Up`.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::Duration;
//! use actix_cluster_proto::{
//!     Channel, Command, Config, Core, LocalMember, MemberId, Output, Status, Timer,
//! };
//!
//! let member = |name: &str, port: u16| LocalMember {
//!     id: MemberId::new(name, ([127, 0, 0, 1], port).into(), 1),
//!     roles: Default::default(),
//!     metadata: Default::default(),
//! };
//! let mut cores = [
//!     Core::new(member("a", 7001), Config::local(), 1)?,
//!     Core::new(member("b", 7002), Config::local(), 2)?,
//! ];
//! let addrs = [cores[0].local_id().addr, cores[1].local_id().addr];
//! let mut now = Duration::ZERO;
//! cores[0].handle_command(now, Command::Form);
//! cores[1].handle_command(now, Command::Join { seeds: vec![addrs[0]] });
//!
//! let mut timers: Vec<(Duration, usize, Timer)> = Vec::new();
//! let mut wire: VecDeque<(usize, usize, Channel, Vec<u8>)> = VecDeque::new();
//! let sees_up = |c: &Core, other: &Core| {
//!     c.member(other.local_id()).map(|m| m.status) == Some(Status::Up)
//! };
//! while !(sees_up(&cores[0], &cores[1]) && sees_up(&cores[1], &cores[0])) {
//!     // Collect every effect.
//!     for (i, core) in cores.iter_mut().enumerate() {
//!         while let Some(out) = core.poll_output() {
//!             match out {
//!                 Output::Send { to, channel, bytes } => {
//!                     let j = addrs.iter().position(|a| *a == to).expect("a known address");
//!                     wire.push_back((i, j, channel, bytes));
//!                 }
//!                 Output::Schedule { after, timer } => timers.push((now + after, i, timer)),
//!                 Output::Event(event) => println!("{i}: {event:?}"),
//!                 // No arbiter here (only the lease-majority strategy asks).
//!                 Output::Arbitrate { round, .. } => core.handle_arbiter(now, round, None),
//!                 Output::CheckArbiter { .. } => {}
//!             }
//!         }
//!     }
//!     // Deliver what is on the wire, else fire the earliest timer.
//!     if let Some((from, to, channel, bytes)) = wire.pop_front() {
//!         match channel {
//!             Channel::Datagram => cores[to].handle_datagram(now, addrs[from], &bytes),
//!             Channel::Stream => cores[to].handle_stream(now, addrs[from], &bytes),
//!         };
//!     } else {
//!         timers.sort_by_key(|(due, _, _)| *due);
//!         let (due, i, timer) = timers.remove(0);
//!         now = due;
//!         cores[i].handle_timer(now, timer);
//!     }
//!     assert!(now < Duration::from_secs(30), "joined within 30 virtual seconds");
//! }
//! assert_eq!(cores[0].leader(), Some(cores[0].local_id().clone()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/PROTOCOL.md` for the algorithm (SWIM with Lifeguard, push-pull
//! anti-entropy, the Akka-style member lifecycle) and its timeouts.

mod awareness;
mod broadcast;
mod codec;
mod config;
mod core;
mod downing_policy;
mod entry;
mod error;
mod event;
mod id;
pub mod limits;
mod member;
mod members;
mod slots;
mod suspicion;

pub use crate::codec::{Key, KeyId, Keyring, KEY_LEN, MAX_KEYS, SEAL_OVERHEAD};
pub use crate::config::Config;
pub use crate::core::{Channel, Command, Core, Output, Received, Stats, Timer};
pub use crate::downing_policy::{
    DowningConfig, DowningStrategy, OnFenced, Picture, Seen, SideVerdict, Strategy,
};
pub use crate::error::{ConfigError, DecodeError, KeyError};
pub use crate::event::Event;
pub use crate::id::{Generation, IdParts, IdPool, Incarnation, MemberId};
pub use crate::member::{DownReason, LocalMember, MemberInfo, Status};

#[cfg(test)]
mod tests;
