//! The membership state machine.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::Config;
use crate::error::ConfigError;
use crate::event::Event;
use crate::id::MemberId;
use crate::member::{LocalMember, MemberInfo};

/// Which transport a message must travel on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// One UDP datagram (at most `Config::max_datagram_size` bytes).
    Datagram,
    /// One length-prefixed frame over TCP (at most `Config::max_frame_size` bytes).
    Stream,
}

/// A timer the core asked for. Opaque: hand it back to [`Core::handle_timer`] when
/// it fires. Stale timers (superseded by a newer one) are ignored by the core, so
/// drivers never need to cancel anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    pub(crate) kind: u8,
    pub(crate) token: u64,
}

/// An effect for the driver to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` to `to` over `channel`.
    Send {
        /// Destination gossip address.
        to: SocketAddr,
        /// Datagram or stream.
        channel: Channel,
        /// Encoded message.
        bytes: Vec<u8>,
    },
    /// Call [`Core::handle_timer`] with `timer` after `after` has passed.
    Schedule {
        /// Delay from the `now` of the call that produced it.
        after: Duration,
        /// The timer to hand back.
        timer: Timer,
    },
    /// Publish an event to subscribers.
    Event(Event),
}

/// A request from the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Join an existing cluster through these seed addresses (retried every
    /// `join_retry_interval` until one answers). Seeds equal to our own address
    /// are ignored.
    Join {
        /// Seed gossip addresses.
        seeds: Vec<SocketAddr>,
    },
    /// Form a new cluster with this node as its only member (it is `Up` at once).
    Form,
    /// Leave gracefully: tell the others, who publish `Down(Left)` at once.
    Leave,
    /// Replace this member's metadata and gossip the change.
    UpdateMetadata(BTreeMap<String, String>),
}

/// Counters for observability and for the hostile-input tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages sent.
    pub messages_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Messages received and accepted.
    pub messages_received: u64,
    /// Messages rejected because they failed to decode (bad magic, truncated,
    /// malformed, too large).
    pub rejected_malformed: u64,
    /// Messages rejected because they carried another cluster's name.
    pub rejected_wrong_cluster: u64,
    /// Messages rejected because of an unsupported protocol version.
    pub rejected_version: u64,
    /// Suspicions this node raised.
    pub suspicions_raised: u64,
    /// Suspicions of this node that it refuted.
    pub refutations: u64,
}

/// One member's protocol state machine. See the crate docs.
#[derive(Debug)]
pub struct Core {
    _private: (),
}

impl Core {
    /// Creates the core for `local`, validating `config`. `seed` seeds the RNG
    /// (probe order, gossip targets, jitter). The node is not in any cluster
    /// until [`Command::Join`] or [`Command::Form`].
    pub fn new(
        local: LocalMember,
        config: Config,
        seed: u64,
        now: Duration,
    ) -> Result<Core, ConfigError> {
        let _ = (local, config, seed, now);
        todo!()
    }

    /// Handles a received datagram from `from` (the UDP source address).
    /// Invalid input is counted in [`Stats`] and otherwise ignored.
    pub fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        let _ = (now, from, bytes);
        todo!()
    }

    /// Handles one received stream frame from `from` (the peer's TCP address,
    /// which may be an ephemeral port: replies go to the sender id inside).
    pub fn handle_stream(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        let _ = (now, from, bytes);
        todo!()
    }

    /// Handles a timer previously requested through [`Output::Schedule`].
    pub fn handle_timer(&mut self, now: Duration, timer: Timer) {
        let _ = (now, timer);
        todo!()
    }

    /// Handles an application command.
    pub fn handle_command(&mut self, now: Duration, command: Command) {
        let _ = (now, command);
        todo!()
    }

    /// Takes the next pending effect, in order. Drivers loop until `None`
    /// after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<Output> {
        todo!()
    }

    /// This member's id.
    pub fn local_id(&self) -> &MemberId {
        todo!()
    }

    /// Every member known (including this one and tombstones not yet removed),
    /// sorted by id.
    pub fn members(&self) -> Vec<MemberInfo> {
        todo!()
    }

    /// One member's view, if known.
    pub fn member(&self, id: &MemberId) -> Option<MemberInfo> {
        let _ = id;
        todo!()
    }

    /// The oldest `Up` member (the leader for singletons): the same on every node
    /// that has the same view. Age is decided by the order members first became
    /// `Up` as recorded in gossip (an "up number"), ties by id.
    pub fn leader(&self) -> Option<MemberId> {
        todo!()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        todo!()
    }
}
