//! The membership state machine: the [`Core`] API, its effects and the
//! plumbing every part shares. The parts, one concern per file:
//!
//! - `receive`: decoding and one handler per message kind;
//! - `merge`: applying gossiped records, refutation, rebirth, and
//!   [`Core::set_down`], the one place a member goes `Down`;
//! - `suspect`: raising and confirming suspicions, the last call, expiry;
//! - `probe`: probe rounds, indirect probes, relays, the one Ping builder;
//! - `gossip`: piggybacking, eager flushes, push-pull and full state;
//! - `catch_up`: the full-state exchanges after a join, and the bound on
//!   full-state answers;
//! - `lifecycle`: the local member's [`Phase`](lifecycle::Phase): start, join,
//!   form, `Up`, leave, metadata, join retries and reconnects;
//! - `decision`: the downing decision on a stable reachability picture, the
//!   one place that decides `Down(Failed)`, fencing when this side loses,
//!   and the arbiter round trip (the policy it applies is in
//!   `crate::downing_policy`);
//! - `flap`: flap memory, the members that keep being suspected afresh
//!   while they refute, and the decision on them;
//! - `leader`: the leader rule ([`Core::leader`]) and the minority
//!   step-down (`in_minority`, `silent`);
//! - `timer`: the timer kinds and the one table of armed timers.

mod arbiter;
mod catch_up;
mod decision;
mod flap;
mod gossip;
mod leader;
mod lifecycle;
mod merge;
mod probe;
mod receive;
mod roll_call;
mod sealing;
mod stats;
mod suspect;
mod timer;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, trace, warn};

use crate::awareness::Awareness;
use crate::broadcast::Broadcasts;
use crate::codec::{self, Sealer};
use crate::config::Config;
use crate::downing_policy::DowningStrategy;
use crate::error::ConfigError;
use crate::event::Event;
use crate::id::{Generation, IdMap, IdPool, MemberId};
use crate::limits;
use crate::member::{DownReason, LocalMember, MemberInfo, Status};
use crate::members::{Entry, Table};

use self::arbiter::Arbitration;
use self::lifecycle::Phase;
use self::probe::{Probe, Relay};
pub use self::receive::Received;
use self::sealing::new_sealer;
pub use self::stats::Stats;
pub use self::timer::Timer;
use self::timer::{TimerKind, Timers};

/// Which transport a message must travel on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// One UDP datagram (at most `Config::max_datagram_size` bytes).
    Datagram,
    /// One length-prefixed frame over TCP (at most `Config::max_frame_size` bytes).
    Stream,
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
    /// Ask the arbiter (etcd) whether this side wins the downing decision
    /// (strategy lease-majority); answer with [`Core::handle_arbiter`] and the
    /// same `round`. Drivers without an arbiter answer `None`.
    Arbitrate {
        /// The request's number.
        round: u64,
        /// The members of this side (the ones this node can reach), this node
        /// first.
        side: Vec<MemberId>,
    },
    /// A minority side (by keep-majority's rule) will ask the arbiter for
    /// `round` once its delay, `within`, is over: check meanwhile that the
    /// arbiter can be reached at all (no decision, a cheap request), and if it
    /// cannot, say so with [`Core::handle_arbiter_unreachable`]: a side that
    /// cannot reach the arbiter cannot win, so it fences itself at once rather
    /// than after the delay and the request's own timeout. Drivers that cannot
    /// tell may ignore it (the request after the delay decides, as without it).
    CheckArbiter {
        /// The request's number.
        round: u64,
        /// The minority's delay: an answer after it comes too late to matter.
        within: Duration,
    },
}

/// A request from the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Join an existing cluster through these seed addresses (retried every
    /// `join_retry_interval` until one answers). Seeds equal to our own address
    /// are not contacted; but when our own address is the *first* seed and no
    /// `Up` member has answered after one `join_retry_interval`, this node forms
    /// the cluster (so a whole cluster can start at once from one seed list).
    Join {
        /// Seed gossip addresses.
        seeds: Vec<SocketAddr>,
    },
    /// Form a new cluster with this node as its only member (it is `Up` at once).
    Form,
    /// Leave gracefully: tell the others, who publish `Down(Left)` at once.
    Leave,
    /// Replace this member's metadata and gossip the change. Metadata beyond the
    /// limits of [`crate::limits`] is refused (logged, not applied).
    UpdateMetadata(BTreeMap<String, String>),
}

/// The room the queue of effects keeps once drained (see
/// [`Core::poll_output`]).
const KEPT_OUTPUTS: usize = 64;

/// One member's protocol state machine. See the crate docs.
#[derive(Debug)]
pub struct Core {
    config: Config,
    /// Our id (changes on a rebirth).
    local: MemberId,
    /// Constant message prefix (magic, version, flags, cluster name).
    prefix: Vec<u8>,
    /// Our encoded id, the sender of every message.
    sender: Vec<u8>,
    /// The one source of randomness (probe order, targets, jitter).
    rng: SmallRng,
    /// Every member known.
    table: Table,
    /// Updates waiting to be piggybacked.
    broadcasts: Broadcasts,
    /// Lifeguard local health.
    awareness: Awareness,
    /// Effects waiting for [`Core::poll_output`].
    out: VecDeque<Output>,
    stats: Stats,
    /// Where the local member is in its life.
    phase: Phase,
    /// Join targets from [`Command::Join`] (never our own address).
    seeds: Vec<SocketAddr>,
    /// Extra join targets after a rebirth.
    rejoin: Vec<SocketAddr>,
    /// The leader last published, to publish only changes.
    leader: Option<MemberId>,
    /// This probe round's order, and the next index in it.
    probe_list: Vec<MemberId>,
    probe_idx: usize,
    /// A suspect to probe next, ahead of the round (Lifeguard).
    priority_probe: Option<MemberId>,
    /// The probe in flight.
    probe: Option<Probe>,
    /// Last sequence number used (probes, relays, last calls).
    next_seq: u32,
    /// Pings we sent for others (ping-req), by our sequence number.
    relays: BTreeMap<u32, Relay>,
    /// Armed timers.
    timers: Timers,
    /// Last-call probes of members whose suspicion expired: seq -> member,
    /// and the one current seq of each member.
    last_calls: BTreeMap<u32, MemberId>,
    last_call_seq: IdMap<u32>,
    /// When we last re-queued our own record for a stale suspicion.
    last_reassert: Option<Duration>,
    /// Unknown senders we asked who they are, and when.
    asked: BTreeMap<MemberId, Duration>,
    /// Urgent news (a suspicion, a refutation, a member down) is queued: gossip
    /// it now rather than at the next tick.
    eager: bool,
    last_eager: Option<Duration>,
    /// The `now` of the input being handled.
    now: Duration,
    /// When the reachability picture last changed (see `decision`), and when
    /// the decision timer is due (a much later firing means we stalled).
    picture_since: Duration,
    decide_due: Duration,
    /// A decision waiting for the arbiter, and the last request number.
    arbitration: Option<Arbitration>,
    arbiter_round: u64,
    /// Suspicions of new incarnations, per member (`flap`).
    flaps: flap::Flaps,
    /// When this node last pinged the members it lacked first-hand
    /// evidence of before a decision (see `decision`; the evidence is in
    /// the table).
    roll_call: Option<Duration>,
    roll_calls: u32,
    /// The members this picture's first roll call pinged, when it was a
    /// sample of them (see `decision`).
    roll_call_sample: Option<std::collections::HashSet<MemberId>>,
    /// A custom downing strategy, instead of `config.downing.strategy`.
    strategy: Option<Box<dyn DowningStrategy + Send>>,
    /// When a member last heard from any other member (see
    /// `check_silence`), and when the probe timer last fired.
    last_heard: Duration,
    last_probe_tick: Option<Duration>,
    /// Set when this node fenced itself: when, and the addresses of the side
    /// that won (the only ones it rejoins through for a tombstone period).
    fenced: Option<(Duration, Vec<SocketAddr>)>,
    /// The largest generation seen at our own address above ours (an earlier
    /// life of this address whose clock was ahead, e.g. before the wall clock
    /// stepped back): a rebirth takes a generation above it, so the cluster,
    /// which keeps the newest generation per address, takes us at once.
    above_own: Generation,
    /// The nonces of what we seal (present once this node has keys).
    sealer: Option<Sealer>,
    /// Whether the message being handled was sealed (its sender holds a key).
    authenticated: bool,
    /// Records being merged come from a full state (join ack, push-pull),
    /// and whether that state lacked something we know (see `catch_up`).
    from_state: bool,
    state_behind: bool,
    /// The catch-up after our join, while it lasts.
    catch_up: Option<catch_up::CatchUp>,
    /// Push-pull answers sent lately (see `catch_up`).
    answers: catch_up::Answers,
}

impl Core {
    /// Creates the core for `local`, validating `config`. `seed` seeds the RNG
    /// (probe order, gossip targets, jitter). The node is not in any cluster
    /// until [`Command::Join`] or [`Command::Form`].
    pub fn new(local: LocalMember, config: Config, seed: u64) -> Result<Core, ConfigError> {
        config.validate()?;
        limits::validate_id(&local.id)?;
        if local.id.addr.port() == 0 {
            return Err(ConfigError {
                field: "local.id.addr",
                reason: "the advertised address needs a port (not 0)".into(),
            });
        }
        limits::validate_roles(&local.roles)?;
        limits::validate_metadata(&local.metadata)?;
        let mut sender = Vec::new();
        codec::put_id(&mut sender, &local.id);
        let mut me = Entry::new(local.id.clone(), Status::Joining);
        me.set_data(local.roles, local.metadata);
        let mut rng = SmallRng::seed_from_u64(seed);
        let next_seq = rng.gen();
        let max_members = config.max_members;
        let sealer = match config.keyring {
            Some(_) => Some(new_sealer()?),
            None => None,
        };
        Ok(Core {
            sealer,
            authenticated: false,
            prefix: codec::prefix(&config.cluster_name),
            awareness: Awareness::new(config.awareness_max_multiplier, config.lifeguard),
            config,
            local: local.id,
            sender,
            rng,
            table: Table::new(me, max_members),
            broadcasts: Broadcasts::default(),
            out: VecDeque::new(),
            stats: Stats::default(),
            phase: Phase::Idle,
            seeds: Vec::new(),
            rejoin: Vec::new(),
            leader: None,
            probe_list: Vec::new(),
            probe_idx: 0,
            priority_probe: None,
            probe: None,
            next_seq,
            relays: BTreeMap::new(),
            timers: Timers::default(),
            last_calls: BTreeMap::new(),
            last_call_seq: IdMap::default(),
            last_reassert: None,
            asked: BTreeMap::new(),
            eager: false,
            last_eager: None,
            now: Duration::ZERO,
            picture_since: Duration::ZERO,
            decide_due: Duration::ZERO,
            arbitration: None,
            arbiter_round: 0,
            flaps: flap::Flaps::default(),
            roll_call: None,
            roll_calls: 0,
            roll_call_sample: None,
            strategy: None,
            last_heard: Duration::ZERO,
            last_probe_tick: None,
            fenced: None,
            above_own: 0,
            from_state: false,
            state_behind: false,
            catch_up: None,
            answers: catch_up::Answers::default(),
        })
    }

    /// Handles a received datagram from `from` (the UDP source address).
    /// Invalid input is counted in [`Stats`], otherwise ignored, and
    /// answered [`Received::Rejected`].
    pub fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) -> Received {
        self.now = now;
        let received = self.receive(now, from, bytes, Channel::Datagram);
        self.flush_eager(now);
        received
    }

    /// Handles one received stream frame from `from` (the peer's TCP address,
    /// which may be an ephemeral port: replies go to the sender id inside).
    /// Invalid input is counted in [`Stats`], otherwise ignored, and
    /// answered [`Received::Rejected`].
    pub fn handle_stream(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) -> Received {
        self.now = now;
        let received = self.receive(now, from, bytes, Channel::Stream);
        self.flush_eager(now);
        received
    }

    /// Handles a timer previously requested through [`Output::Schedule`].
    pub fn handle_timer(&mut self, now: Duration, timer: Timer) {
        self.now = now;
        match self.timers.fire(timer) {
            Some(TimerKind::Probe) => self.probe_tick(now),
            Some(TimerKind::ProbeTimeout { seq }) => self.probe_timeout(seq),
            Some(TimerKind::Gossip) => self.gossip_tick(),
            Some(TimerKind::PushPull) => self.push_pull_tick(),
            Some(TimerKind::Join) => self.join_tick(),
            Some(TimerKind::Reconnect) => self.reconnect_tick(),
            Some(TimerKind::Sync) => self.catch_up_tick(),
            Some(TimerKind::Suspicion { id }) => self.suspicion_expired(&id),
            Some(TimerKind::Relay { seq }) => self.relay_expired(seq),
            Some(TimerKind::Tombstone { id }) => self.tombstone_expired(now, &id),
            Some(TimerKind::Decide) => self.decide_tick(now),
            Some(TimerKind::Arbitrate) => self.arbitrate_tick(),
            None => trace!(?timer, "stale timer ignored"),
        }
        self.flush_eager(now);
    }

    /// Handles an application command.
    pub fn handle_command(&mut self, now: Duration, command: Command) {
        self.now = now;
        match command {
            Command::Join { seeds } => self.join(seeds),
            Command::Form => self.form(),
            Command::Leave => self.leave(),
            Command::UpdateMetadata(m) => self.update_metadata(m),
        }
        self.flush_eager(now);
    }

    /// The arbiter's answer to [`Output::Arbitrate`] `round`: `Some(true)` this
    /// side won, `Some(false)` another side holds the decision (this node
    /// fences itself), `None` the arbiter could not be asked (a minority then
    /// fences itself; a majority decides again after `stable_after`). Stale
    /// rounds are ignored.
    pub fn handle_arbiter(&mut self, now: Duration, round: u64, won: Option<bool>) {
        self.now = now;
        self.arbiter_answer(round, won);
        self.flush_eager(now);
    }

    /// The arbiter could not be reached for [`Output::CheckArbiter`] `round`:
    /// if this minority has not asked yet, it cannot win and fences itself now.
    /// Ignored once the request went out (its own answer decides), and for
    /// stale rounds.
    pub fn handle_arbiter_unreachable(&mut self, now: Duration, round: u64) {
        self.now = now;
        self.arbiter_unreachable(round);
        self.flush_eager(now);
    }

    /// A stream frame to `to` could not be delivered because the connection
    /// was refused (ECONNREFUSED: nothing listens on that port of a host that
    /// is up). Drivers report only refusals, never timeouts or unreachable
    /// hosts. A suspected member at `to` is then known dead: the downing
    /// decision does not wait out the pause bound for it.
    pub fn handle_refused(&mut self, now: Duration, to: SocketAddr) {
        self.now = now;
        self.refused(to);
        self.flush_eager(now);
    }

    /// Replaces the downing strategy of `config.downing.strategy` with a
    /// custom rule (see [`DowningStrategy`]).
    pub fn set_downing_strategy(&mut self, strategy: Box<dyn DowningStrategy + Send>) {
        self.strategy = Some(strategy);
    }

    /// Takes the next pending effect, in order. Drivers loop until `None`
    /// after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<Output> {
        let next = self.out.pop_front();
        if next.is_none() && self.out.capacity() > KEPT_OUTPUTS {
            // A full state merged during a cold start queues an event per
            // member; the queue's room would otherwise stay that large for
            // good (at 10,000 members, over 100 bytes per member).
            self.out.shrink_to(KEPT_OUTPUTS);
        }
        next
    }

    /// This member's id. It changes when this member is down while it still
    /// runs (the cluster declared it `Down(Failed)`, or its side lost the
    /// downing decision and it fenced itself) and it rejoins as a new member
    /// with a higher generation; [`Event::SelfChanged`] says so (see
    /// `docs/PROTOCOL.md`, "Rebirth").
    pub fn local_id(&self) -> &MemberId {
        &self.local
    }

    /// Shares ids with the other cores of this process through `pool` (a
    /// simulator's cores: see [`IdPool`]); this core's own id goes into it.
    /// Only memory changes, never behaviour.
    pub fn share_ids(&mut self, pool: IdPool) {
        pool.share(self.local.clone());
        self.table.share_ids(pool);
    }

    /// Every member known (including this one and tombstones not yet removed),
    /// sorted by id.
    pub fn members(&self) -> Vec<MemberInfo> {
        let mut v: Vec<MemberInfo> = self.table.entries().map(Entry::info).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// One member's view, if known.
    pub fn member(&self, id: &MemberId) -> Option<MemberInfo> {
        self.table.get(id).map(Entry::info)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Lifeguard local-health multiplier now in force on probe interval and
    /// timeout (1 = healthy).
    pub fn health_multiplier(&self) -> u32 {
        self.awareness.multiplier()
    }

    /// Updates waiting to be piggybacked.
    pub fn pending_updates(&self) -> usize {
        self.broadcasts.len()
    }

    /// Addresses in the newest-generation index (tests).
    #[cfg(test)]
    pub(crate) fn addresses_known(&self) -> usize {
        self.table.addresses()
    }

    /// Entries `Down(Failed)` by the table's count (tests).
    #[cfg(test)]
    pub(crate) fn failed_known(&self) -> usize {
        self.table.failed()
    }

    /// The kind of a timer this core handed out (tests).
    #[cfg(test)]
    pub(crate) fn timer_name(&self, timer: &Timer) -> Option<&'static str> {
        self.timers.name(timer)
    }

    // ------------------------------------------------------------ plumbing

    /// Asks the driver for a timer of `kind` after `after`.
    fn schedule(&mut self, kind: TimerKind, after: Duration) {
        let timer = self.timers.arm(kind);
        self.out.push_back(Output::Schedule { after, timer });
    }

    /// The next sequence number.
    fn seq(&mut self) -> u32 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    fn emit(&mut self, e: Event) {
        debug!(member = %self.local, event = ?e, "event");
        self.out.push_back(Output::Event(e));
    }

    fn send(&mut self, to: SocketAddr, channel: Channel, bytes: Vec<u8>) {
        let bytes = match (&self.config.keyring, &mut self.sealer) {
            (Some(ring), Some(sealer)) if self.config.seal_outgoing => {
                match sealer.seal(ring, &bytes, self.prefix.len()) {
                    Some(sealed) => sealed,
                    None => {
                        warn!(member = %self.local, "cannot seal (nonce counter exhausted): not sent");
                        return;
                    }
                }
            }
            _ => bytes,
        };
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        self.out.push_back(Output::Send { to, channel, bytes });
    }

    /// Number of live members, this one included.
    fn cluster_size(&self) -> usize {
        self.table.live().len() + 1
    }

    fn local_entry(&self) -> &Entry {
        self.table
            .get(&self.local)
            .expect("the local member is always in the table")
    }

    fn local_status(&self) -> Status {
        self.table
            .get(&self.local)
            .map_or(Status::Down(DownReason::Failed), |e| e.status)
    }

    /// The encoded record of `id`, if known.
    fn record_bytes(&mut self, id: &MemberId) -> Option<Vec<u8>> {
        self.table.encoded(id)
    }

    /// Our own encoded record.
    fn own_record(&mut self) -> Option<Vec<u8>> {
        let me = self.local.clone();
        self.record_bytes(&me)
    }
}
