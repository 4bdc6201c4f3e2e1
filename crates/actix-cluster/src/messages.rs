//! Messages: what the `Cluster` actor accepts and what subscribers receive.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::net::SocketAddr;

use actix::prelude::*;
use actix_cluster_proto::{
    DownReason, Event, Key, KeyId, Keyring, MemberId, MemberInfo, Stats as ProtocolStats,
};

use crate::latency::HandlingLatency;

/// Sent to subscribers when a member becomes `Up` (and, on subscribing, once
/// for every member already `Up`).
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct MemberUp(pub MemberInfo);

/// Sent to subscribers when a member is down, with the reason.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct MemberDown {
    /// The member as last seen.
    pub member: MemberInfo,
    /// Failed or left.
    pub reason: DownReason,
}

/// Every membership event, for subscribers that want them all.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct ClusterEvent(pub Event);

/// Subscribe an actor. Any of the recipients may be `None`. The subscriber first
/// receives the current state (a `MemberUp`, or an `Event::Up`, for every member
/// already `Up`), then every later change in order, nothing lost or doubled.
/// An `events` recipient's snapshot goes on, after the `Up`s, with an
/// `Event::Unreachable` for each of them currently suspected and an
/// `Event::LeaderChanged` naming the current leader (when there is one).
/// Recipients whose actor stopped are dropped. Delivery never blocks the
/// cluster, and a slow subscriber never makes it hold more than
/// `ClusterConfig::subscriber_buffer` events for it: each recipient gets one
/// message at a time from its own queue of that size; when the queue is full,
/// further events are dropped (counted in
/// [`ClusterStats::subscriber_events_dropped`]) and, once the subscriber has
/// caught up, it gets a fresh snapshot instead: the difference between what it
/// was told and the current membership (`MemberUp` for members now `Up`,
/// `MemberDown` for members gone since; an `events` recipient also gets their
/// reachability and the current leader). Nothing is told twice, and nothing
/// about a member after its `Down`.
#[derive(Message, Default)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// Receives `MemberUp`.
    pub member_up: Option<Recipient<MemberUp>>,
    /// Receives `MemberDown`.
    pub member_down: Option<Recipient<MemberDown>>,
    /// Receives every event.
    pub events: Option<Recipient<ClusterEvent>>,
}

/// Join a cluster through seed addresses.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct Join(pub Vec<SocketAddr>);

/// Form a new cluster with this node alone.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct Form;

/// Leave gracefully; resolves once the leave has been sent to the others
/// (or after a short bound when nobody answers). Every leave guard
/// ([`AddLeaveGuard`]) has answered before the leave goes out.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct Leave;

/// Sent to every leave guard (see [`AddLeaveGuard`]) before a graceful
/// [`Leave`] goes out; the leave waits for every answer.
#[derive(Clone, Copy, Debug, Message)]
#[rtype(result = "()")]
pub struct BeforeLeave;

/// Registers a leave guard: an actor that must finish something before
/// this member leaves (a cluster singleton hands its instance over). A
/// [`Leave`] first sends [`BeforeLeave`] to every guard and waits for all
/// the answers, without a bound (a guard whose actor stopped counts as
/// answered), and only then leaves; while it waits, this member is still
/// `Up` and reachable. A stopped `System` leaves without asking the guards:
/// it cannot wait.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct AddLeaveGuard(pub Recipient<BeforeLeave>);

/// Replace this member's metadata. Metadata over the limits of
/// `actix_cluster_proto::limits` is refused with [`ClusterError::Config`]
/// (naming the field): nothing is stored or gossiped, and [`GetSelf`] keeps
/// answering the metadata in force.
///
/// [`ClusterError::Config`]: crate::ClusterError::Config
#[derive(Clone, Debug, Message)]
#[rtype(result = "Result<(), crate::ClusterError>")]
pub struct UpdateMetadata(pub BTreeMap<String, String>);

/// Installs a key for opening (rotation, step 1: on every node). Messages
/// sealed with it open here from now on; this node still seals with its
/// primary. Answers the key's id. A node without keys gets a keyring of this
/// key and seals and verifies as its `protocol.seal_outgoing` and
/// `protocol.verify_incoming` say.
#[derive(Clone, Debug, Message)]
#[rtype(result = "Result<KeyId, crate::ClusterError>")]
pub struct InstallKey(pub Key);

/// Makes an installed key the primary, the one that seals (rotation, step 2:
/// on every node once every node has it).
#[derive(Clone, Debug, Message)]
#[rtype(result = "Result<(), crate::ClusterError>")]
pub struct UsePrimary(pub KeyId);

/// Removes an installed key that is not the primary (rotation, step 3: once
/// every node seals with the new key). What it sealed no longer opens here.
#[derive(Clone, Debug, Message)]
#[rtype(result = "Result<(), crate::ClusterError>")]
pub struct RemoveKey(pub KeyId);

/// The ids of the installed keys, the primary first (empty without keys).
#[derive(Clone, Debug, Message)]
#[rtype(result = "Vec<KeyId>")]
pub struct GetKeys;

/// The installed keys themselves (`None` without keys), for a channel sealed
/// with the same keyring that must follow its rotation (the remote actors'
/// transport asks every second). Never log or send them.
#[derive(Clone, Debug, Message)]
#[rtype(result = "Option<Keyring>")]
pub struct GetKeyring;

/// Every known member, sorted by id.
#[derive(Clone, Debug, Message)]
#[rtype(result = "Vec<MemberInfo>")]
pub struct GetMembers;

/// The current leader (oldest `Up` member).
#[derive(Clone, Debug, Message)]
#[rtype(result = "Option<MemberId>")]
pub struct GetLeader;

/// The leader and its fencing token: see [`Leadership`].
#[derive(Clone, Debug, Message)]
#[rtype(result = "Leadership")]
pub struct GetLeadership;

/// Answer to [`GetLeadership`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    /// The leader (oldest `Up` member) in this node's view, as [`GetLeader`].
    pub leader: Option<MemberId>,
    /// When this node is the leader and an arbiter (etcd discovery) granted
    /// it leadership: the fencing token, a number that is larger for every
    /// later leader of the cluster. A singleton passes it with its writes, and
    /// the resource rejects writes with a smaller token than it has seen.
    /// `None` on other nodes, before the grant, and without etcd.
    pub token: Option<i64>,
}

/// From the arbiter integration (etcd discovery) to the `Cluster`: `leader`
/// (this node) holds fencing token `token`. Kept while `leader` stays the
/// leader; forgotten when the leader changes.
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct SetFencingToken {
    /// The member the token was granted to.
    pub leader: MemberId,
    /// The token.
    pub token: i64,
}

/// This node's identity and bound address.
#[derive(Clone, Debug, Message)]
#[rtype(result = "SelfInfo")]
pub struct GetSelf;

/// Answer to [`GetSelf`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfInfo {
    /// This member's id (its `addr` is the advertised address). It changes,
    /// to a higher generation, only if the cluster declared this node failed
    /// while it still ran and it rejoined as a new member.
    pub id: MemberId,
    /// The local address the sockets are bound to (real port when bound to 0).
    pub bound: SocketAddr,
    /// Roles.
    pub roles: BTreeSet<String>,
    /// Current metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Counters of this node: the protocol's and the transport's.
#[derive(Clone, Debug, Message)]
#[rtype(result = "ClusterStats")]
pub struct GetStats;

/// Answer to [`GetStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// The protocol core's counters (messages accepted, rejected by reason, ...).
    pub protocol: ProtocolStats,
    /// The socket layer's counters.
    pub transport: TransportStats,
    /// Live subscriptions (each recipient of a [`Subscribe`] counts once).
    pub subscribers: usize,
    /// Events not queued for a subscriber because it was
    /// `ClusterConfig::subscriber_buffer` events behind (it gets a fresh
    /// snapshot once it catches up).
    pub subscriber_events_dropped: u64,
    /// The protocol core's pending timers (one actix timer is armed, for the
    /// earliest of them).
    pub pending_timers: usize,
    /// How long handling each incoming datagram took, from the handler's
    /// entry to the end of the core's processing and of sending what it
    /// produced (p50, p99, max; since start, or over an interval with
    /// [`HandlingLatency::since`]).
    pub datagram_handling: HandlingLatency,
    /// The same for each incoming stream frame (joins, push-pull: full
    /// state, so larger than datagrams).
    pub frame_handling: HandlingLatency,
}

/// Counters of the UDP/TCP transport. Rejections here happen before the
/// protocol core sees the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams received and handed to the core.
    pub datagrams_received: u64,
    /// Datagrams dropped because they exceeded `max_datagram_size`.
    pub datagrams_oversized: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams that could not be sent (socket buffer full or error).
    pub datagrams_send_failed: u64,
    /// TCP connections accepted.
    pub connections_accepted: u64,
    /// TCP connections refused because too many were open.
    pub connections_rejected: u64,
    /// Stream frames received and handed to the core.
    pub frames_received: u64,
    /// Connections closed because a frame's length prefix exceeded
    /// `max_frame_size`.
    pub frames_oversized: u64,
    /// Connections closed on a read error or timeout in the middle of a frame.
    pub frame_read_errors: u64,
    /// Stream frames written.
    pub frames_sent: u64,
    /// Stream frames dropped: connect failure, write failure, or a full queue
    /// towards a slow peer.
    pub frames_dropped: u64,
    /// Incoming connections closed to make room for a new one (every slot
    /// was taken; the one idle longest, or never useful, goes).
    pub connections_evicted: u64,
    /// Outgoing writers closed to make room for a new peer (every writer
    /// slot was taken; the least recently used one goes).
    pub writers_evicted: u64,
    /// Incoming connections closed because a frame on them was rejected by
    /// the protocol (malformed, another cluster's, or not opened).
    pub connections_closed_rejected: u64,
    /// Bytes of the datagrams counted in `datagrams_received`.
    pub datagram_bytes_received: u64,
    /// Bytes of the datagrams counted in `datagrams_sent`.
    pub datagram_bytes_sent: u64,
    /// Bytes of the frames counted in `frames_received` (without the 4-byte
    /// length prefix).
    pub frame_bytes_received: u64,
    /// Bytes of the frames counted in `frames_sent` (without the 4-byte
    /// length prefix).
    pub frame_bytes_sent: u64,
}

/// Stops the `Cluster` actor at once **without** telling anyone, as if the
/// process had crashed: sockets close, no leave is sent, the others find out
/// through failure detection. Meant for fault-injection tests; applications use
/// [`Leave`] (or just stop the `System`, which leaves gracefully).
#[derive(Clone, Debug, Message)]
#[rtype(result = "()")]
pub struct Abort;
