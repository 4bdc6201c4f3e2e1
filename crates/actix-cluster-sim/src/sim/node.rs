//! The interface between the simulator and one protocol node.

use std::net::SocketAddr;
use std::time::Duration;

/// One protocol node driven by the simulator.
///
/// Nodes are addressed by [`SocketAddr`] (unique per node slot; a restart reuses
/// the address with a new node value, e.g. a new generation). The simulator calls
/// one `handle_*` method, then drains [`SimNode::poll_output`] until `None`, all at
/// the same virtual `now`.
pub trait SimNode {
    /// The timer value the node asks to get back (see [`SimOutput::Schedule`]).
    type Timer: Clone;

    /// A datagram arrived from `from` (the sender's gossip address).
    fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]);

    /// A stream frame arrived from `from`. Depending on
    /// [`NetConfig::ephemeral_stream_ports`](crate::NetConfig::ephemeral_stream_ports)
    /// `from` is the sender's gossip address or the same IP with an ephemeral
    /// port, as a TCP peer address would be.
    fn handle_stream(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]);

    /// A timer requested through [`SimOutput::Schedule`] fired.
    fn handle_timer(&mut self, now: Duration, timer: Self::Timer);

    /// The next pending effect, in order; `None` when there is nothing left.
    fn poll_output(&mut self) -> Option<SimOutput<Self::Timer>>;

    /// The arbiter's answer to [`SimOutput::Arbitrate`] `round`: won, lost, or
    /// `None` when the arbiter could not be reached. The default ignores it,
    /// for protocols without an arbiter.
    fn handle_arbiter(&mut self, now: Duration, round: u64, won: Option<bool>) {
        let _ = (now, round, won);
    }

    /// A stream frame to `to` was refused: the process there is gone (its
    /// host is up). The default ignores it.
    fn handle_refused(&mut self, now: Duration, to: SocketAddr) {
        let _ = (now, to);
    }

    /// Starts a graceful leave (used by [`Sim::leave`](crate::Sim::leave)).
    /// The default does nothing, for protocols that cannot leave gracefully.
    fn leave(&mut self, now: Duration) {
        let _ = now;
    }
}

/// An effect of a [`SimNode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimOutput<T> {
    /// Send `bytes` to `to`: a datagram (subject to loss) or, when `stream` is
    /// true, a stream frame (reliable and ordered per link unless the link is cut).
    Send {
        /// Destination address.
        to: SocketAddr,
        /// Stream (true) or datagram (false).
        stream: bool,
        /// The message.
        bytes: Vec<u8>,
    },
    /// Hand `timer` back through [`SimNode::handle_timer`] after `after`.
    Schedule {
        /// Delay from the current `now`.
        after: Duration,
        /// The timer.
        timer: T,
    },
    /// A protocol-neutral event, for measurements and assertions.
    Event(SimEvent),
    /// Ask the simulated arbiter (an etcd key, see
    /// [`Sim::cut_from_arbiter`](crate::Sim::cut_from_arbiter)) whether the
    /// side `side` wins; answered through [`SimNode::handle_arbiter`].
    Arbitrate {
        /// The request's number, handed back with the answer.
        round: u64,
        /// The addresses of the asking side's members.
        side: Vec<SocketAddr>,
    },
}

/// Protocol-neutral membership events, as one node (the observer) publishes them.
///
/// Events a node publishes about itself are not reported. Adapters report an
/// event about an address only while it concerns the newest incarnation of the
/// process behind that address the observer knows (so a late `Down` of a
/// restarted member's old self does not hide its new self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimEvent {
    /// The member at this address is up (a full member).
    Up(SocketAddr),
    /// The member is suspected (unreachable) but not yet down.
    Unreachable(SocketAddr),
    /// A suspected member is reachable again.
    Reachable(SocketAddr),
    /// The member is down: it left gracefully (`left`) or was declared failed.
    Down {
        /// The member's address.
        addr: SocketAddr,
        /// True for a graceful leave, false for a failure.
        left: bool,
    },
}

impl SimEvent {
    /// The address the event is about.
    pub fn addr(&self) -> SocketAddr {
        match *self {
            SimEvent::Up(a) | SimEvent::Unreachable(a) | SimEvent::Reachable(a) => a,
            SimEvent::Down { addr, .. } => addr,
        }
    }
}
