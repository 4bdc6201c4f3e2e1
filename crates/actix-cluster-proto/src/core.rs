//! The membership state machine.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tracing::{debug, info, trace, warn};

use crate::awareness::Awareness;
use crate::broadcast::Broadcasts;
use crate::codec::{self, Body, Builder, Message, Record};
use crate::config::Config;
use crate::error::{ConfigError, DecodeError};
use crate::event::Event;
use crate::id::{Incarnation, MemberId};
use crate::limits;
use crate::member::{DownReason, LocalMember, MemberInfo, Status};
use crate::members::{Entry, Table};
use crate::suspicion::Suspicion;

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

const T_PROBE: u8 = 1;
const T_PROBE_TIMEOUT: u8 = 2;
const T_GOSSIP: u8 = 3;
const T_PUSH_PULL: u8 = 4;
const T_JOIN: u8 = 5;
const T_SUSPICION: u8 = 6;
const T_RELAY: u8 = 7;
const T_TOMBSTONE: u8 = 8;
const T_RECONNECT: u8 = 9;
const T_SYNC: u8 = 10;

/// Removed ids are remembered (not gossiped) this many tombstone periods.
const REMEMBER_REMOVED: u32 = 10;

/// Room kept for the message head when deciding whether a record can ever
/// fit a datagram.
const HEAD_ROOM: usize = 400;

/// The probe in flight.
#[derive(Debug)]
struct Probe {
    seq: u32,
    target: MemberId,
    /// When the ping went out, and when the verdict was due.
    sent: Duration,
    due: Duration,
    /// Direct ack deadline (for local health).
    direct_deadline: Duration,
    acked: bool,
    indirect: usize,
    nacks: usize,
}

/// A ping we send on behalf of another member (ping-req).
#[derive(Debug)]
struct Relay {
    origin: SocketAddr,
    seq: u32,
}

/// One member's protocol state machine. See the crate docs.
#[derive(Debug)]
pub struct Core {
    config: Config,
    local: MemberId,
    /// Constant message prefix (magic, version, flags, cluster name).
    prefix: Vec<u8>,
    /// Our encoded id.
    sender: Vec<u8>,
    rng: SmallRng,
    table: Table,
    broadcasts: Broadcasts,
    awareness: Awareness,
    out: VecDeque<Output>,
    stats: Stats,
    /// Join or Form was called.
    started: bool,
    /// Left gracefully.
    left: bool,
    seeds: Vec<SocketAddr>,
    /// Our address was the first seed: form alone if nobody answers.
    form_if_alone: bool,
    /// Extra join targets after a rebirth.
    rejoin: Vec<SocketAddr>,
    leader: Option<MemberId>,
    probe_list: Vec<MemberId>,
    probe_idx: usize,
    priority_probe: Option<MemberId>,
    probe: Option<Probe>,
    next_seq: u32,
    relays: BTreeMap<u32, Relay>,
    next_token: u64,
    probe_token: u64,
    gossip_token: u64,
    push_pull_token: u64,
    join_token: u64,
    reconnect_token: u64,
    suspicion_timers: BTreeMap<u64, MemberId>,
    tombstone_timers: BTreeMap<u64, MemberId>,
    /// Last-call probes of members whose suspicion expired: seq -> member.
    last_calls: BTreeMap<u32, MemberId>,
    /// Sender of the message being handled (for direct answers).
    reply_to: Option<SocketAddr>,
    /// When we last re-queued our own record for a stale suspicion.
    last_reassert: Option<Duration>,
    /// Unknown senders we asked who they are, and when.
    asked: BTreeMap<MemberId, Duration>,
    /// Urgent news (a suspicion, a refutation, a member down) is queued: gossip
    /// it now rather than at the next tick.
    eager: bool,
    last_eager: Option<Duration>,
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
        let _ = now;
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
        let mut table = Table::default();
        let mut me = Entry::new(local.id.clone(), Status::Joining);
        me.roles = local.roles;
        me.metadata = local.metadata;
        table.insert(me, true);
        let mut rng = SmallRng::seed_from_u64(seed);
        let next_seq = rng.gen();
        Ok(Core {
            prefix: codec::prefix(&config.cluster_name),
            awareness: Awareness::new(config.awareness_max_multiplier, config.lifeguard),
            config,
            local: local.id,
            sender,
            rng,
            table,
            broadcasts: Broadcasts::default(),
            out: VecDeque::new(),
            stats: Stats::default(),
            started: false,
            left: false,
            seeds: Vec::new(),
            form_if_alone: false,
            rejoin: Vec::new(),
            leader: None,
            probe_list: Vec::new(),
            probe_idx: 0,
            priority_probe: None,
            probe: None,
            next_seq,
            relays: BTreeMap::new(),
            next_token: 0,
            probe_token: 0,
            gossip_token: 0,
            push_pull_token: 0,
            join_token: 0,
            reconnect_token: 0,
            suspicion_timers: BTreeMap::new(),
            tombstone_timers: BTreeMap::new(),
            last_calls: BTreeMap::new(),
            reply_to: None,
            last_reassert: None,
            asked: BTreeMap::new(),
            eager: false,
            last_eager: None,
        })
    }

    /// Handles a received datagram from `from` (the UDP source address).
    /// Invalid input is counted in [`Stats`] and otherwise ignored.
    pub fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        self.receive(now, from, bytes, Channel::Datagram);
    }

    /// Handles one received stream frame from `from` (the peer's TCP address,
    /// which may be an ephemeral port: replies go to the sender id inside).
    pub fn handle_stream(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        self.receive(now, from, bytes, Channel::Stream);
    }

    /// Decodes within the channel's size limit, rejects (and counts) what is
    /// invalid or arrived on the wrong channel, and handles the rest.
    fn receive(&mut self, now: Duration, from: SocketAddr, bytes: &[u8], channel: Channel) {
        let (limit, wrong_channel) = match channel {
            Channel::Datagram => (
                self.config.max_datagram_size,
                "stream-only message in a datagram",
            ),
            Channel::Stream => (
                self.config.max_frame_size,
                "datagram-only message in a stream",
            ),
        };
        match codec::decode(bytes, &self.config.cluster_name, limit) {
            Ok(msg) => {
                let allowed = match channel {
                    Channel::Datagram => msg.body.datagram_ok(),
                    Channel::Stream => msg.body.stream_ok(),
                };
                if allowed {
                    self.stats.messages_received += 1;
                    self.on_message(now, msg);
                } else {
                    self.reject(from, DecodeError::Malformed(wrong_channel));
                }
            }
            Err(e) => self.reject(from, e),
        }
        self.flush_eager(now);
    }

    /// Handles a timer previously requested through [`Output::Schedule`].
    pub fn handle_timer(&mut self, now: Duration, timer: Timer) {
        match timer.kind {
            T_PROBE if timer.token == self.probe_token => self.probe_tick(now),
            T_PROBE_TIMEOUT => self.probe_timeout(now, timer.token as u32),
            T_GOSSIP if timer.token == self.gossip_token => self.gossip_tick(now),
            T_PUSH_PULL if timer.token == self.push_pull_token => self.push_pull_tick(now),
            T_JOIN if timer.token == self.join_token => self.join_tick(now),
            T_RECONNECT if timer.token == self.reconnect_token => self.reconnect_tick(now),
            T_SYNC => self.sync_after_join(now),
            T_SUSPICION => {
                if let Some(id) = self.suspicion_timers.remove(&timer.token) {
                    self.suspicion_expired(now, &id, timer.token);
                }
            }
            T_RELAY => {
                if let Some(r) = self.relays.remove(&(timer.token as u32)) {
                    if self.config.lifeguard {
                        self.send_with_updates(
                            r.origin,
                            Body::Nack {
                                seq: r.seq,
                                updates: vec![],
                            },
                            None,
                        );
                    }
                }
            }
            T_TOMBSTONE => {
                if let Some(id) = self.tombstone_timers.remove(&timer.token) {
                    self.tombstone_expired(now, &id);
                }
            }
            _ => trace!(?timer, "stale timer ignored"),
        }
        self.flush_eager(now);
    }

    /// Handles an application command.
    pub fn handle_command(&mut self, now: Duration, command: Command) {
        match command {
            Command::Join { seeds } => self.join(now, seeds),
            Command::Form => self.form(now),
            Command::Leave => self.leave(now),
            Command::UpdateMetadata(m) => self.update_metadata(m),
        }
        self.flush_eager(now);
    }

    /// Takes the next pending effect, in order. Drivers loop until `None`
    /// after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// This member's id. It changes only if the cluster declared this member
    /// `Down(Failed)` while it was still running: it then rejoins as a new
    /// member with a higher generation (see `docs/PROTOCOL.md`, "Rebirth").
    pub fn local_id(&self) -> &MemberId {
        &self.local
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

    /// The oldest `Up` member (the leader for singletons): the same on every node
    /// that has the same view. Age is decided by the order members first became
    /// `Up` as recorded in gossip (an "up number"), ties by id.
    pub fn leader(&self) -> Option<MemberId> {
        self.table.leader().cloned()
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

    // ------------------------------------------------------------ plumbing

    /// Gossips urgent news at once (at most every gossip_interval / 8).
    fn flush_eager(&mut self, now: Duration) {
        if !self.eager || !self.started {
            return;
        }
        let spacing = self.config.gossip_interval / 8;
        if self.last_eager.is_some_and(|t| now < t + spacing) {
            return;
        }
        self.eager = false;
        self.last_eager = Some(now);
        self.gossip_round();
    }

    fn reject(&mut self, from: SocketAddr, e: DecodeError) {
        match e {
            DecodeError::WrongCluster(_) => self.stats.rejected_wrong_cluster += 1,
            DecodeError::UnsupportedVersion(_) => self.stats.rejected_version += 1,
            _ => self.stats.rejected_malformed += 1,
        }
        debug!(member = %self.local, %from, error = %e, "message rejected");
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn schedule(&mut self, kind: u8, token: u64, after: Duration) {
        self.out.push_back(Output::Schedule {
            after,
            timer: Timer { kind, token },
        });
    }

    fn seq(&mut self) -> u32 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    fn emit(&mut self, e: Event) {
        debug!(member = %self.local, event = ?e, "event");
        self.out.push_back(Output::Event(e));
    }

    fn send(&mut self, to: SocketAddr, channel: Channel, bytes: Vec<u8>) {
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

    /// Sends a datagram with `head`, piggybacking queued updates (and
    /// `first`, an encoded record put before them) within the size limit.
    fn send_with_updates(&mut self, to: SocketAddr, head: Body, first: Option<Vec<u8>>) {
        let mut b = Builder::new(
            &self.prefix,
            &self.sender,
            &head,
            self.config.max_datagram_size,
        );
        if let Some(f) = first {
            b.push(&f);
        }
        self.fill(&mut b, None);
        let bytes = b.finish();
        self.send(to, Channel::Datagram, bytes);
    }

    /// Adds queued updates to `b` while they fit. Records too big for any
    /// datagram go to `oversize` (sent over a stream) when given.
    fn fill(&mut self, b: &mut Builder, mut oversize: Option<&mut Vec<Vec<u8>>>) {
        if self.broadcasts.is_empty() {
            return;
        }
        let limit = self.config.retransmit_limit(self.cluster_size());
        let max = self.config.max_datagram_size;
        let table = &mut self.table;
        let mut misses = 0;
        self.broadcasts.select(limit, |id| {
            let Some(e) = table.get_mut(id) else {
                return Some(false);
            };
            let bytes = e.wire();
            if b.push(bytes) {
                return Some(true);
            }
            if bytes.len() + HEAD_ROOM > max {
                if let Some(o) = oversize.as_deref_mut() {
                    o.push(bytes.to_vec());
                    return Some(true);
                }
                return Some(false);
            }
            misses += 1;
            if misses > 8 || b.room() < 24 {
                None
            } else {
                Some(false)
            }
        });
    }

    fn record_bytes(&mut self, id: &MemberId) -> Option<Vec<u8>> {
        self.table.get_mut(id).map(|e| e.wire().to_vec())
    }

    /// A `Down(Failed)` record for a member we do not keep (superseded or
    /// removed), to tell a zombie it is gone.
    fn down_record(id: &MemberId) -> Vec<u8> {
        codec::record_bytes(&Record {
            id: id.clone(),
            incarnation: 0,
            status: Status::Down(DownReason::Failed),
            suspect: None,
            up_number: 0,
            roles: Default::default(),
            metadata: Default::default(),
        })
    }

    /// If `sender` is a member we consider gone, the record that tells it so.
    fn zombie_news(&mut self, sender: &MemberId) -> Option<Vec<u8>> {
        if sender == &self.local {
            return None;
        }
        if let Some(e) = self.table.get_mut(sender) {
            if !e.is_live() {
                return Some(e.wire().to_vec());
            }
            return None;
        }
        if self.table.is_removed(sender) {
            return Some(Self::down_record(sender));
        }
        match self.table.newest_at(&sender.addr) {
            Some(n) if n.generation > sender.generation => Some(Self::down_record(sender)),
            _ => None,
        }
    }

    fn check_leader(&mut self) {
        let l = self.table.leader().cloned();
        if l != self.leader {
            info!(member = %self.local, leader = ?l, "leader changed");
            self.leader = l.clone();
            self.emit(Event::LeaderChanged(l));
        }
    }

    // ------------------------------------------------------------ commands

    fn start(&mut self, now: Duration) {
        if self.started {
            return;
        }
        let _ = now;
        self.started = true;
        let id = self.local.clone();
        if let Some(e) = self.table.get_mut(&id) {
            e.joined_emitted = true;
            let info = e.info();
            self.emit(Event::Joined(info));
        }
        let t = self.token();
        self.probe_token = t;
        let d = self.jitter(self.config.probe_interval);
        self.schedule(T_PROBE, t, d);
        let t = self.token();
        self.gossip_token = t;
        let d = self.jitter(self.config.gossip_interval);
        self.schedule(T_GOSSIP, t, d);
        let t = self.token();
        self.push_pull_token = t;
        let d = self.jitter(self.config.push_pull_interval);
        self.schedule(T_PUSH_PULL, t, d);
        let t = self.token();
        self.reconnect_token = t;
        let d = self.jitter(self.reconnect_interval());
        self.schedule(T_RECONNECT, t, d);
    }

    fn reconnect_interval(&self) -> Duration {
        self.config.join_retry_interval * 10
    }

    /// A random duration in `(0, d]`.
    fn jitter(&mut self, d: Duration) -> Duration {
        let f: f64 = self.rng.gen_range(0.05..=1.0);
        d.mul_f64(f)
    }

    fn join(&mut self, now: Duration, seeds: Vec<SocketAddr>) {
        if self.left {
            warn!(member = %self.local, "join after leave ignored");
            return;
        }
        let first_is_me = seeds.first() == Some(&self.local.addr);
        self.start(now);
        if first_is_me && self.local_status() == Status::Joining {
            self.form_if_alone = true;
        }
        for s in seeds {
            if s != self.local.addr && !self.seeds.contains(&s) {
                self.seeds.push(s);
            }
        }
        info!(member = %self.local, seeds = ?self.seeds, "joining");
        if self.seeds.is_empty() && self.form_if_alone {
            self.become_up(now);
            return;
        }
        self.send_join_requests();
        let t = self.token();
        self.join_token = t;
        self.schedule(T_JOIN, t, self.config.join_retry_interval);
    }

    fn send_join_requests(&mut self) {
        let rec = self.local_entry().record();
        let msg = Message {
            sender: self.local.clone(),
            body: Body::JoinRequest { record: rec },
        };
        let bytes = codec::encode(&self.prefix, &msg);
        let mut targets = self.seeds.clone();
        for r in &self.rejoin {
            if !targets.contains(r) {
                targets.push(*r);
            }
        }
        for t in targets {
            if t != self.local.addr {
                self.send(t, Channel::Stream, bytes.clone());
            }
        }
    }

    fn form(&mut self, now: Duration) {
        if self.left {
            return;
        }
        self.start(now);
        if self.local_status() == Status::Joining {
            info!(member = %self.local, "forming a new cluster");
            self.become_up(now);
        }
    }

    /// The local member becomes `Up`: incarnation + 1, next up number.
    fn become_up(&mut self, _now: Duration) {
        let id = self.local.clone();
        let upn = self.table.max_up_number + 1;
        let Some(e) = self.table.get_mut(&id) else {
            return;
        };
        if e.status != Status::Joining {
            return;
        }
        e.status = Status::Up;
        e.incarnation += 1;
        e.up_number = upn;
        e.up_emitted = true;
        e.touch();
        let info = e.info();
        self.table.reindex(&id, true, None, true);
        self.form_if_alone = false;
        self.rejoin.clear();
        info!(member = %self.local, up_number = upn, "local member is up");
        self.emit(Event::Up(info));
        self.broadcasts.push(&id);
        self.check_leader();
    }

    fn leave(&mut self, now: Duration) {
        if !self.started || self.left {
            return;
        }
        let id = self.local.clone();
        let Some(e) = self.table.get_mut(&id) else {
            return;
        };
        let was_up = (e.status == Status::Up).then_some(e.up_number);
        e.incarnation += 1;
        e.status = Status::Leaving;
        e.leaving_emitted = true;
        e.touch();
        let info = e.info();
        self.table.reindex(&id, true, was_up, true);
        info!(member = %self.local, "leaving");
        self.emit(Event::Leaving(info));
        self.check_leader();
        self.left = true;
        self.set_down(now, &id, DownReason::Left);
        // Tell everyone directly, twice over (datagrams may be lost), then
        // keep gossiping it while this node still runs.
        let rec = self.record_bytes(&id).unwrap_or_default();
        let targets: Vec<MemberId> = self.table.live().to_vec();
        for round in 0..2 {
            for t in &targets {
                let mut b = Builder::new(
                    &self.prefix,
                    &self.sender,
                    &Body::Gossip { updates: vec![] },
                    self.config.max_datagram_size,
                );
                b.push(&rec);
                if round == 0 {
                    self.fill(&mut b, None);
                }
                let bytes = b.finish();
                self.send(t.addr, Channel::Datagram, bytes);
            }
        }
        self.probe = None;
    }

    fn update_metadata(&mut self, m: BTreeMap<String, String>) {
        if let Err(e) = limits::validate_metadata(&m) {
            warn!(member = %self.local, error = %e, "metadata update refused");
            return;
        }
        if self.left {
            return;
        }
        let id = self.local.clone();
        if let Some(e) = self.table.get_mut(&id) {
            e.metadata = m;
            e.incarnation += 1;
            e.touch();
        }
        self.broadcasts.push(&id);
    }

    // ------------------------------------------------------------ messages

    fn on_message(&mut self, now: Duration, msg: Message) {
        if !self.started {
            trace!(member = %self.local, "message before join/form ignored");
            return;
        }
        let Message { sender, body } = msg;
        self.reply_to = Some(sender.addr);
        let datagram = body.datagram_ok() && !matches!(body, Body::WhoAreYou);
        self.on_body(now, sender.clone(), body);
        self.reply_to = None;
        if datagram && !self.left {
            self.ask_if_unknown(now, &sender);
        }
    }

    /// A datagram came from a member we have never heard of (its news has not
    /// reached us yet, e.g. in a join storm): ask it for its record, at most
    /// once per probe interval per member.
    fn ask_if_unknown(&mut self, now: Duration, sender: &MemberId) {
        if sender == &self.local
            || self.table.contains(sender)
            || self.table.is_removed(sender)
            || sender.addr == self.local.addr
            || self
                .table
                .newest_at(&sender.addr)
                .is_some_and(|n| n.generation > sender.generation)
        {
            return;
        }
        if let Some(t) = self.asked.get(sender) {
            if now < *t + self.config.probe_interval {
                return;
            }
        }
        if self.asked.len() >= 1024 {
            let horizon = now.saturating_sub(self.config.probe_interval);
            self.asked.retain(|_, t| *t > horizon);
            if self.asked.len() >= 1024 {
                return;
            }
        }
        self.asked.insert(sender.clone(), now);
        let msg = Message {
            sender: self.local.clone(),
            body: Body::WhoAreYou,
        };
        let bytes = codec::encode(&self.prefix, &msg);
        trace!(member = %self.local, unknown = %sender, "asking an unknown sender who it is");
        self.send(sender.addr, Channel::Datagram, bytes);
    }

    fn on_body(&mut self, now: Duration, sender: MemberId, body: Body) {
        if self.left {
            // Answer probes and requests with our leave, ignore the rest.
            if matches!(
                body,
                Body::Ping { .. }
                    | Body::PingReq { .. }
                    | Body::JoinRequest { .. }
                    | Body::PushPull { reply: false, .. }
            ) {
                let rec = self.record_bytes(&self.local.clone());
                self.send_with_updates(sender.addr, Body::Gossip { updates: vec![] }, rec);
            }
            return;
        }
        match body {
            Body::Ping {
                seq,
                target_gen,
                target_inc,
                updates,
            } => {
                self.apply_all(now, updates);
                if target_gen != self.local.generation {
                    // Someone probes an older (or other) process at our address:
                    // tell it who lives here now.
                    let me = self.record_bytes(&self.local.clone());
                    self.send_with_updates(sender.addr, Body::Gossip { updates: vec![] }, me);
                    return;
                }
                // A zombie learns it is gone; a prober with old news about
                // us gets our current record first.
                let mut news = self.zombie_news(&sender);
                if news.is_none() && target_inc < self.local_entry().incarnation {
                    let me = self.local.clone();
                    news = self.record_bytes(&me);
                }
                self.send_with_updates(
                    sender.addr,
                    Body::Ack {
                        seq,
                        updates: vec![],
                    },
                    news,
                );
            }
            Body::Ack { seq, updates } => {
                self.apply_all(now, updates);
                self.on_ack(now, seq);
            }
            Body::PingReq {
                seq,
                target,
                updates,
            } => {
                self.apply_all(now, updates);
                if target == self.local {
                    self.send_with_updates(
                        sender.addr,
                        Body::Ack {
                            seq,
                            updates: vec![],
                        },
                        None,
                    );
                    return;
                }
                let rseq = self.seq();
                self.relays.insert(
                    rseq,
                    Relay {
                        origin: sender.addr,
                        seq,
                    },
                );
                let first = self.suspicion_news(&target);
                self.send_with_updates(
                    target.addr,
                    Body::Ping {
                        seq: rseq,
                        target_gen: target.generation,
                        target_inc: self.known_inc(&target),
                        updates: vec![],
                    },
                    first,
                );
                let after = self.awareness.scale(self.config.probe_timeout).mul_f64(0.8);
                self.schedule(T_RELAY, u64::from(rseq), after);
            }
            Body::Nack { seq, updates } => {
                self.apply_all(now, updates);
                if let Some(p) = self.probe.as_mut() {
                    if p.seq == seq {
                        p.nacks += 1;
                    }
                }
            }
            Body::Gossip { updates } => self.apply_all(now, updates),
            Body::WhoAreYou => {
                let me = self.local.clone();
                let rec = self.record_bytes(&me);
                self.send_with_updates(sender.addr, Body::Gossip { updates: vec![] }, rec);
            }
            Body::JoinRequest { record } => {
                let accepted = self.local_status() == Status::Up;
                debug!(member = %self.local, joiner = %record.id, accepted, "join request");
                if record.id != sender {
                    self.stats.rejected_malformed += 1;
                    return;
                }
                let news = self.zombie_news(&sender);
                self.apply_record(now, record);
                let bytes = if accepted {
                    self.full_state(Some(true), news)
                } else {
                    // Not `Up` ourselves (still joining, or leaving): we cannot
                    // let it in, so spare it our (possibly large) state; our
                    // own record is enough for it to know us.
                    let mut buf =
                        codec::start(&self.prefix, &self.sender, codec::full_state_kind(true));
                    buf.push(0);
                    let me = self.local.clone();
                    let mut recs = vec![self.record_bytes(&me).unwrap_or_default()];
                    recs.extend(news);
                    codec::push_varint(&mut buf, recs.len() as u64);
                    for r in recs {
                        buf.extend_from_slice(&r);
                    }
                    buf
                };
                self.send(sender.addr, Channel::Stream, bytes);
            }
            Body::JoinAck { accepted, members } => {
                debug!(member = %self.local, from = %sender, accepted, n = members.len(), "join ack");
                self.apply_all(now, members);
                if accepted && !self.left && self.local_status() == Status::Joining {
                    self.become_up(now);
                    // Updates that spread while we were joining may have
                    // missed us: one full-state exchange shortly after.
                    let d = self.config.gossip_interval * 5;
                    let d = self.jitter(d) + d / 2;
                    self.schedule(T_SYNC, 0, d);
                }
            }
            Body::PushPull { reply, members } => {
                if !reply {
                    let news = self.zombie_news(&sender);
                    let bytes = self.full_state_reply(news);
                    self.send(sender.addr, Channel::Stream, bytes);
                }
                self.apply_all(now, members);
            }
        }
    }

    /// The incarnation we know of `id` (0 if unknown).
    fn known_inc(&self, id: &MemberId) -> Incarnation {
        self.table.get(id).map_or(0, |e| e.incarnation)
    }

    /// If `target` is suspected, its record (so an indirect prober tells it).
    fn suspicion_news(&mut self, target: &MemberId) -> Option<Vec<u8>> {
        if !self.config.lifeguard {
            return None;
        }
        let e = self.table.get_mut(target)?;
        if e.suspicion.is_some() {
            Some(e.wire().to_vec())
        } else {
            None
        }
    }

    /// Our full state as a stream frame (join ack when `join_ack` is
    /// `Some(accepted)`, else push-pull request/reply), bounded by
    /// `max_frame_size`: ourselves first, then live members in random order,
    /// then tombstones; what does not fit is left out.
    fn full_state(&mut self, join_ack: Option<bool>, first: Option<Vec<u8>>) -> Vec<u8> {
        let mut ids: Vec<MemberId> = self.table.live().to_vec();
        ids.shuffle(&mut self.rng);
        let mut down: Vec<MemberId> = self
            .table
            .entries()
            .filter(|e| !e.is_live() && e.id != self.local)
            .map(|e| e.id.clone())
            .collect();
        down.sort();
        let mut records: Vec<u8> = Vec::with_capacity(64 * (ids.len() + down.len() + 2));
        let mut count: u64 = 0;
        let limit = self
            .config
            .max_frame_size
            .saturating_sub(self.prefix.len() + self.sender.len() + 16);
        if let Some(f) = first {
            records.extend_from_slice(&f);
            count += 1;
        }
        let local = self.local.clone();
        for id in std::iter::once(&local).chain(ids.iter()).chain(down.iter()) {
            let Some(e) = self.table.get_mut(id) else {
                continue;
            };
            let w = e.wire();
            if records.len() + w.len() > limit {
                debug!(member = %self.local, "full state truncated to max_frame_size");
                break;
            }
            records.extend_from_slice(w);
            count += 1;
        }
        let (kind, flag) = match join_ack {
            Some(a) => (codec::full_state_kind(true), a),
            None => (codec::full_state_kind(false), false),
        };
        let mut buf = codec::start(&self.prefix, &self.sender, kind);
        // For push-pull the flag is "reply": a join ack never needs one, and
        // a push-pull we initiate is a request; replies are built below.
        buf.push(u8::from(flag));
        codec::push_varint(&mut buf, count);
        buf.extend_from_slice(&records);
        buf
    }

    fn full_state_reply(&mut self, first: Option<Vec<u8>>) -> Vec<u8> {
        let mut b = self.full_state(None, first);
        // The flag byte sits right after prefix, kind and sender.
        let pos = self.prefix.len() + 1 + self.sender.len();
        if let Some(f) = b.get_mut(pos) {
            *f = 1;
        }
        b
    }

    fn on_ack(&mut self, now: Duration, seq: u32) {
        if let Some(p) = self.probe.as_mut() {
            if p.seq == seq {
                if !p.acked {
                    p.acked = true;
                    if now <= p.direct_deadline {
                        self.awareness.apply(-1);
                    }
                }
                return;
            }
        }
        if let Some(id) = self.last_calls.remove(&seq) {
            self.last_call_answered(&id);
            return;
        }
        if let Some(r) = self.relays.remove(&seq) {
            self.send_with_updates(
                r.origin,
                Body::Ack {
                    seq: r.seq,
                    updates: vec![],
                },
                None,
            );
        }
    }

    // ------------------------------------------------------------ merging

    fn apply_all(&mut self, now: Duration, records: Vec<Record>) {
        for r in records {
            self.apply_record(now, r);
        }
    }

    /// Merges one record into the table, publishing the events it implies.
    fn apply_record(&mut self, now: Duration, rec: Record) {
        if rec.id == self.local {
            self.apply_about_self(now, rec);
            return;
        }
        if rec.id.addr == self.local.addr {
            // Another generation at our own address: an earlier life of
            // ours (stale) or a misconfigured twin. Ignore.
            return;
        }
        if self.table.is_removed(&rec.id) {
            return;
        }
        if let Some(newest) = self.table.newest_at(&rec.id.addr).cloned() {
            if newest.generation > rec.id.generation && !self.table.contains(&rec.id) {
                // A stale rumour about an older process at that address.
                return;
            }
            if newest.generation < rec.id.generation {
                // A newer process at that address: the old one is gone.
                self.table.set_newest_at(&rec.id);
                if self.table.get(&newest).is_some_and(Entry::is_live) {
                    info!(member = %self.local, old = %newest, new = %rec.id, "restarted member: old generation down");
                    self.set_down(now, &newest, DownReason::Failed);
                }
            }
        }
        match rec.status {
            Status::Down(reason) => self.apply_down(now, &rec.id, reason),
            _ => {
                let suspect = rec.suspect.clone();
                let (id, inc) = (rec.id.clone(), rec.incarnation);
                self.apply_alive(now, rec);
                if let Some(from) = suspect {
                    self.apply_suspect(now, &id, inc, &from);
                }
            }
        }
    }

    fn apply_about_self(&mut self, now: Duration, rec: Record) {
        let me = self.local_entry();
        let (my_inc, my_status) = (me.incarnation, me.status);
        match rec.status {
            Status::Down(DownReason::Failed) => {
                if matches!(my_status, Status::Down(_) | Status::Leaving) || self.left {
                    return;
                }
                warn!(member = %self.local, "the cluster declared this member down: rejoining as a new generation");
                self.rebirth(now);
            }
            Status::Down(DownReason::Left) => {}
            _ => {
                if matches!(my_status, Status::Down(_)) {
                    return;
                }
                let suspected = rec.suspect.is_some() && rec.incarnation >= my_inc;
                let newer = rec.incarnation > my_inc;
                if suspected || newer {
                    self.refute(rec.incarnation, rec.suspect.as_ref());
                } else if rec.suspect.is_some() {
                    // An old suspicion still travels: whoever sent it missed
                    // our refutation. Answer it directly, and gossip our
                    // record again (at most once per gossip interval).
                    self.reassert(now);
                }
            }
        }
    }

    /// Raise our incarnation above `inc` and tell everyone (and the
    /// suspecter directly).
    fn refute(&mut self, inc: Incarnation, suspecter: Option<&MemberId>) {
        let id = self.local.clone();
        if let Some(e) = self.table.get_mut(&id) {
            e.incarnation = inc.max(e.incarnation).saturating_add(1);
            e.touch();
        }
        self.stats.refutations += 1;
        self.eager = true;
        self.awareness.apply(1);
        debug!(member = %self.local, inc, "refuting suspicion");
        self.broadcasts.push(&id);
        if let Some(s) = suspecter {
            if s != &self.local {
                let me = self.record_bytes(&id);
                self.send_with_updates(s.addr, Body::Gossip { updates: vec![] }, me);
            }
        }
    }

    /// Tells the sender of the current message our current record, and
    /// re-queues it for gossip (rate-limited).
    fn reassert(&mut self, now: Duration) {
        let me = self.local.clone();
        if let Some(to) = self.reply_to {
            let rec = self.record_bytes(&me);
            self.send_with_updates(to, Body::Gossip { updates: vec![] }, rec);
        }
        let due = self
            .last_reassert
            .is_none_or(|t| now >= t + self.config.gossip_interval);
        if due {
            self.last_reassert = Some(now);
            self.broadcasts.push(&me);
        }
    }

    /// The cluster declared us failed while we still run: become a new member
    /// (generation + 1) and join again.
    fn rebirth(&mut self, now: Duration) {
        let old = self.local.clone();
        self.set_down(now, &old, DownReason::Failed);
        let t = self.token();
        self.tombstone_timers.insert(t, old.clone());
        self.schedule(T_TOMBSTONE, t, self.config.tombstone_period);
        let mut new = old.clone();
        new.generation = old.generation.wrapping_add(1);
        let (roles, metadata) = {
            let e = self.local_entry();
            (e.roles.clone(), e.metadata.clone())
        };
        let mut me = Entry::new(new.clone(), Status::Joining);
        me.roles = roles;
        me.metadata = metadata;
        me.joined_emitted = true;
        let info = me.info();
        self.local = new.clone();
        self.sender.clear();
        codec::put_id(&mut self.sender, &new);
        self.table.insert(me, true);
        self.table.set_newest_at(&new);
        self.emit(Event::Joined(info));
        self.probe = None;
        self.rejoin = self
            .table
            .random_live(&mut self.rng, 3, |e| e.status == Status::Up)
            .into_iter()
            .map(|m| m.addr)
            .collect();
        self.broadcasts.push(&new);
        self.send_join_requests();
        let t = self.token();
        self.join_token = t;
        self.schedule(T_JOIN, t, self.config.join_retry_interval);
    }

    fn apply_alive(&mut self, now: Duration, rec: Record) {
        let _ = now;
        let id = rec.id.clone();
        let Some(e) = self.table.get_mut(&id) else {
            // A new member.
            let mut e = Entry::new(id.clone(), rec.status);
            e.incarnation = rec.incarnation;
            e.up_number = rec.up_number;
            e.roles = rec.roles;
            e.metadata = rec.metadata;
            e.joined_emitted = true;
            let info = e.info();
            let status = e.status;
            let has_up = e.up_number > 0 || status == Status::Up;
            e.up_emitted = status != Status::Joining && has_up;
            e.leaving_emitted = status == Status::Leaving;
            self.table.insert(e, false);
            debug!(member = %self.local, new = %id, ?status, "new member");
            self.emit(Event::Joined(info.clone()));
            if status != Status::Joining && has_up {
                self.emit(Event::Up(info.clone()));
            }
            if status == Status::Leaving {
                self.emit(Event::Leaving(info));
            }
            // Into the rest of this probe round at a random place, in O(1):
            // append, then swap with a random not-yet-probed slot.
            let start = self.probe_idx.min(self.probe_list.len());
            self.probe_list.push(id.clone());
            let last = self.probe_list.len() - 1;
            let pos = self.rng.gen_range(start..=last);
            self.probe_list.swap(pos, last);
            self.broadcasts.push(&id);
            self.check_leader();
            return;
        };
        if !e.is_live() {
            return;
        }
        let rank = |s: Status| match s {
            Status::Joining => 0,
            Status::Up => 1,
            _ => 2,
        };
        let newer = rec.incarnation > e.incarnation
            || (rec.incarnation == e.incarnation && rank(rec.status) > rank(e.status));
        if !newer {
            return;
        }
        let was_up = (e.status == Status::Up).then_some(e.up_number);
        let old = e.status;
        if rank(rec.status) > rank(old) {
            e.status = rec.status;
        }
        e.incarnation = rec.incarnation;
        e.roles = rec.roles;
        e.metadata = rec.metadata;
        if e.up_number == 0 || (rec.up_number != 0 && rec.up_number < e.up_number) {
            e.up_number = rec.up_number;
        }
        let mut refuted = false;
        let mut refuted_any = false;
        if e.suspicion
            .as_ref()
            .is_some_and(|s| rec.incarnation > s.incarnation)
        {
            refuted_any = true;
            e.suspicion = None;
            e.suspecter = None;
            refuted = e.unreachable_emitted;
            e.unreachable_emitted = false;
        }
        e.touch();
        let status = e.status;
        let mut events = Vec::new();
        if refuted {
            events.push(Event::Reachable(e.info()));
        }
        if old == Status::Joining && status != Status::Joining && !e.up_emitted && e.up_number > 0 {
            e.up_emitted = true;
            events.push(Event::Up(e.info()));
        }
        if status == Status::Leaving && !e.leaving_emitted {
            e.leaving_emitted = true;
            events.push(Event::Leaving(e.info()));
        }
        self.table.reindex(&id, true, was_up, false);
        if refuted_any {
            self.eager = true;
        }
        for ev in events {
            self.emit(ev);
        }
        self.broadcasts.push(&id);
        self.check_leader();
    }

    /// A suspicion of `id` at `inc` raised or confirmed by `from`.
    fn apply_suspect(&mut self, now: Duration, id: &MemberId, inc: Incarnation, from: &MemberId) {
        let n = self.cluster_size();
        let lifeguard = self.config.lifeguard;
        let k = if lifeguard {
            let k = self.config.suspicion_mult.saturating_sub(2);
            if (n as u32).saturating_sub(2) < k {
                0
            } else {
                k
            }
        } else {
            0
        };
        let min = self.config.suspicion_min_timeout(n);
        let max = if lifeguard {
            self.config.suspicion_max_timeout(n)
        } else {
            min
        };
        let Some(e) = self.table.get_mut(id) else {
            return;
        };
        if !e.is_live() || inc < e.incarnation {
            return;
        }
        if let Some(s) = e.suspicion.as_mut() {
            if s.incarnation == inc {
                if s.confirm(from) {
                    let deadline = s.deadline();
                    let t = self.next_token + 1;
                    self.next_token = t;
                    s.timer = t;
                    e.suspecter = Some(from.clone());
                    e.touch();
                    self.suspicion_timers.retain(|_, m| m != id);
                    self.suspicion_timers.insert(t, id.clone());
                    self.schedule(T_SUSPICION, t, deadline.saturating_sub(now));
                    trace!(member = %self.local, suspect = %id, %from, "suspicion confirmed");
                    self.broadcasts.push(id);
                }
                return;
            }
            if inc < s.incarnation {
                return;
            }
        }
        // A new suspicion (or one at a newer incarnation).
        e.incarnation = inc;
        let mut s = Suspicion::new(inc, from.clone(), now, k, min, max);
        let t = self.next_token + 1;
        self.next_token = t;
        s.timer = t;
        let deadline = s.deadline();
        e.suspicion = Some(s);
        e.suspecter = Some(from.clone());
        e.touch();
        let announce = e.up_emitted && !e.unreachable_emitted;
        if announce {
            e.unreachable_emitted = true;
        }
        let info = e.info();
        self.suspicion_timers.retain(|_, m| m != id);
        self.suspicion_timers.insert(t, id.clone());
        self.schedule(T_SUSPICION, t, deadline.saturating_sub(now));
        debug!(member = %self.local, suspect = %id, %from, inc, "suspect");
        self.eager = true;
        if announce {
            self.emit(Event::Unreachable(info));
        }
        self.broadcasts.push(id);
        // Lifeguard, faster confirmation: about k + 1 members that hear of a
        // suspicion probe the suspect next, so a dead member collects its
        // confirmations within a probe interval or two.
        if lifeguard && from != &self.local && n > 2 {
            let p = (f64::from(k) + 1.0) / (n as f64 - 2.0);
            if self.rng.gen_bool(p.min(1.0)) {
                self.priority_probe = Some(id.clone());
            }
        }
    }

    fn apply_down(&mut self, now: Duration, id: &MemberId, reason: DownReason) {
        if self.table.contains(id) {
            if self.table.get(id).is_some_and(Entry::is_live) {
                self.set_down(now, id, reason);
            }
            return;
        }
        // Unknown: keep a silent tombstone so that stale rumours about it
        // cannot bring it in later.
        let e = Entry::new(id.clone(), Status::Down(reason));
        self.table.insert(e, false);
        let t = self.token();
        self.tombstone_timers.insert(t, id.clone());
        self.schedule(T_TOMBSTONE, t, self.config.tombstone_period);
        self.broadcasts.push(id);
    }

    /// Marks a known member down (terminal), with its events.
    fn set_down(&mut self, _now: Duration, id: &MemberId, reason: DownReason) {
        let local = id == &self.local;
        let Some(e) = self.table.get_mut(id) else {
            return;
        };
        if !e.is_live() {
            return;
        }
        let was_up = (e.status == Status::Up).then_some(e.up_number);
        e.status = Status::Down(reason);
        e.suspicion = None;
        e.suspecter = None;
        e.touch();
        let mut events = Vec::new();
        if e.joined_emitted {
            if reason == DownReason::Left && !e.leaving_emitted {
                e.leaving_emitted = true;
                events.push(Event::Leaving(e.info()));
            }
            events.push(Event::Down {
                member: e.info(),
                reason,
            });
        }
        self.table.reindex(id, true, was_up, local);
        info!(member = %self.local, down = %id, ?reason, "member down");
        self.eager = true;
        for ev in events {
            self.emit(ev);
        }
        self.suspicion_timers.retain(|_, m| m != id);
        if self.probe.as_ref().is_some_and(|p| &p.target == id) {
            self.probe = None;
        }
        if !local {
            let t = self.token();
            self.tombstone_timers.insert(t, id.clone());
            self.schedule(T_TOMBSTONE, t, self.config.tombstone_period);
        }
        self.broadcasts.push(id);
        self.check_leader();
    }

    fn suspicion_expired(&mut self, now: Duration, id: &MemberId, token: u64) {
        let current = self
            .table
            .get(id)
            .and_then(|e| e.suspicion.as_ref())
            .is_some_and(|s| s.timer == token);
        if !current {
            return;
        }
        let last_called = self
            .table
            .get(id)
            .and_then(|e| e.suspicion.as_ref())
            .is_some_and(|s| s.last_call);
        if self.config.lifeguard && !last_called {
            self.last_call(now, id);
            return;
        }
        info!(member = %self.local, suspect = %id, "suspicion timed out: member failed");
        self.set_down(now, id, DownReason::Failed);
    }

    /// Before declaring a suspect failed, probe it once more, directly (with
    /// the suspicion, so that it refutes) and through two helpers; an answer
    /// within one probe timeout withdraws our suspicion. This guards against
    /// a refutation this node missed (bursty loss).
    fn last_call(&mut self, now: Duration, id: &MemberId) {
        let wait = self.awareness.scale(self.config.probe_timeout);
        let t = self.token();
        let Some(s) = self.table.get_mut(id).and_then(|e| e.suspicion.as_mut()) else {
            return;
        };
        s.last_call = true;
        s.timer = t;
        let _ = now;
        self.suspicion_timers.retain(|_, m| m != id);
        self.suspicion_timers.insert(t, id.clone());
        self.schedule(T_SUSPICION, t, wait);
        let seq = self.seq();
        self.last_calls.retain(|_, m| m != id);
        self.last_calls.insert(seq, id.clone());
        let first = self.suspicion_news(id);
        self.send_with_updates(
            id.addr,
            Body::Ping {
                seq,
                target_gen: id.generation,
                target_inc: self.known_inc(id),
                updates: vec![],
            },
            first,
        );
        let target = id.clone();
        let helpers = self.table.random_live(&mut self.rng, 2, |e| {
            e.id != target && e.suspicion.is_none() && e.status != Status::Joining
        });
        for h in helpers {
            self.send_with_updates(
                h.addr,
                Body::PingReq {
                    seq,
                    target: target.clone(),
                    updates: vec![],
                },
                None,
            );
        }
        trace!(member = %self.local, suspect = %id, "last call");
    }

    /// A suspect answered its last call: withdraw our suspicion (its
    /// incarnation is unchanged; gossip at the same incarnation may suspect it
    /// again, with a fresh timer).
    fn last_call_answered(&mut self, id: &MemberId) {
        let Some(e) = self.table.get_mut(id) else {
            return;
        };
        if e.suspicion.is_none() || !e.is_live() {
            return;
        }
        e.suspicion = None;
        e.suspecter = None;
        e.touch();
        let announce = e.unreachable_emitted;
        e.unreachable_emitted = false;
        let info = e.info();
        self.suspicion_timers.retain(|_, m| m != id);
        debug!(member = %self.local, suspect = %id, "answered its last call: suspicion withdrawn");
        if announce {
            self.emit(Event::Reachable(info));
        }
    }

    fn tombstone_expired(&mut self, now: Duration, id: &MemberId) {
        let Some(e) = self.table.get(id) else {
            return;
        };
        if e.is_live() {
            return;
        }
        let announce = e.joined_emitted;
        self.table.remove(
            id,
            now,
            now + self.config.tombstone_period * REMEMBER_REMOVED,
        );
        self.broadcasts.remove(id);
        if announce {
            self.emit(Event::Removed(id.clone()));
        }
    }

    // ------------------------------------------------------------ timers

    fn probe_tick(&mut self, now: Duration) {
        if self.left {
            return;
        }
        let t = self.token();
        self.probe_token = t;
        let interval = self.awareness.scale(self.config.probe_interval);
        self.schedule(T_PROBE, t, interval);
        if let Some(p) = self.probe.take() {
            if !p.acked {
                if self.config.lifeguard && now > p.due + (p.due - p.sent) {
                    // This timer fired far too late: this node (or its
                    // driver) stalled, so the silence proves nothing about
                    // the target. Count it against our own health only.
                    debug!(member = %self.local, target = %p.target, late = ?(now - p.due), "stalled: probe verdict skipped");
                    self.awareness.apply(1);
                } else {
                    self.probe_failed(now, p);
                }
            }
        }
        let target = match self.priority_probe.take() {
            Some(id) if self.table.is_live(&id) => Some(id),
            _ => self.next_probe_target(),
        };
        let Some(target) = target else {
            return;
        };
        let seq = self.seq();
        let first = self.suspicion_news(&target);
        self.send_with_updates(
            target.addr,
            Body::Ping {
                seq,
                target_gen: target.generation,
                target_inc: self.known_inc(&target),
                updates: vec![],
            },
            first,
        );
        let timeout = self.awareness.scale(self.config.probe_timeout);
        self.probe = Some(Probe {
            seq,
            target,
            sent: now,
            due: now + interval,
            direct_deadline: now + timeout,
            acked: false,
            indirect: 0,
            nacks: 0,
        });
        self.schedule(T_PROBE_TIMEOUT, u64::from(seq), timeout);
    }

    fn next_probe_target(&mut self) -> Option<MemberId> {
        for _ in 0..2 {
            while self.probe_idx < self.probe_list.len() {
                let id = &self.probe_list[self.probe_idx];
                self.probe_idx += 1;
                if self.table.is_live(id) {
                    return Some(id.clone());
                }
            }
            // New round: reshuffle the live members.
            self.probe_list = self.table.live().to_vec();
            self.probe_list.shuffle(&mut self.rng);
            self.probe_idx = 0;
        }
        None
    }

    fn probe_timeout(&mut self, _now: Duration, seq: u32) {
        let Some(p) = self.probe.as_ref() else {
            return;
        };
        if p.seq != seq || p.acked {
            return;
        }
        let target = p.target.clone();
        let helpers = self
            .table
            .random_live(&mut self.rng, self.config.indirect_checks, |e| {
                e.id != target && e.suspicion.is_none() && e.status != Status::Joining
            });
        trace!(member = %self.local, %target, helpers = helpers.len(), "direct probe timed out");
        for h in &helpers {
            self.send_with_updates(
                h.addr,
                Body::PingReq {
                    seq,
                    target: target.clone(),
                    updates: vec![],
                },
                None,
            );
        }
        // One more direct try, in case only the first ping was lost.
        let first = self.suspicion_news(&target);
        self.send_with_updates(
            target.addr,
            Body::Ping {
                seq,
                target_gen: target.generation,
                target_inc: self.known_inc(&target),
                updates: vec![],
            },
            first,
        );
        if let Some(p) = self.probe.as_mut() {
            p.indirect = helpers.len();
        }
    }

    fn probe_failed(&mut self, now: Duration, p: Probe) {
        if self.config.lifeguard {
            if p.indirect > 0 {
                let missed = p.indirect.saturating_sub(p.nacks);
                if missed > 0 {
                    self.awareness.apply(missed as i64);
                }
            } else {
                self.awareness.apply(1);
            }
        }
        let Some(e) = self.table.get(&p.target) else {
            return;
        };
        if !e.is_live() {
            return;
        }
        let inc = e.incarnation;
        self.stats.suspicions_raised += 1;
        let me = self.local.clone();
        debug!(member = %self.local, target = %p.target, "probe failed");
        self.apply_suspect(now, &p.target, inc, &me);
        if self.config.lifeguard {
            // Tell the suspect at once so it can refute.
            let rec = self.record_bytes(&p.target);
            self.send_with_updates(p.target.addr, Body::Gossip { updates: vec![] }, rec);
        }
    }

    fn gossip_tick(&mut self, _now: Duration) {
        let t = self.token();
        self.gossip_token = t;
        self.schedule(T_GOSSIP, t, self.config.gossip_interval);
        self.gossip_round();
    }

    /// Sends queued updates to `gossip_nodes` random live members.
    fn gossip_round(&mut self) {
        if self.broadcasts.is_empty() {
            return;
        }
        let targets = self
            .table
            .random_live(&mut self.rng, self.config.gossip_nodes, |_| true);
        for to in targets {
            if self.broadcasts.is_empty() {
                break;
            }
            let mut b = Builder::new(
                &self.prefix,
                &self.sender,
                &Body::Gossip { updates: vec![] },
                self.config.max_datagram_size,
            );
            let mut big = Vec::new();
            self.fill(&mut b, Some(&mut big));
            if b.count() > 0 {
                let bytes = b.finish();
                self.send(to.addr, Channel::Datagram, bytes);
            }
            if !big.is_empty() {
                let mut buf = Builder::new(
                    &self.prefix,
                    &self.sender,
                    &Body::Gossip { updates: vec![] },
                    self.config.max_frame_size,
                );
                for r in &big {
                    buf.push(r);
                }
                let bytes = buf.finish();
                self.send(to.addr, Channel::Stream, bytes);
            }
        }
    }

    fn sync_after_join(&mut self, _now: Duration) {
        if self.left {
            return;
        }
        self.push_full_state_to_one(|e| e.status == Status::Up);
    }

    /// Sends our full state over the stream to one random live member that
    /// `eligible` accepts (its answer is its own full state).
    fn push_full_state_to_one(&mut self, eligible: impl Fn(&Entry) -> bool) {
        let target = self.table.random_live(&mut self.rng, 1, eligible);
        if let Some(to) = target.first() {
            let bytes = self.full_state(None, None);
            self.send(to.addr, Channel::Stream, bytes);
        }
    }

    fn push_pull_tick(&mut self, _now: Duration) {
        if self.left {
            return;
        }
        // Ticks come every push_pull_interval (jittered); each exchanges
        // with probability interval / period(N), so that members exchange
        // once per period(N) on average, follow changes of N at once, and do
        // not all exchange in the same minute after a cold start.
        let t = self.token();
        self.push_pull_token = t;
        let base = self.config.push_pull_interval;
        let d = base.mul_f64(self.rng.gen_range(0.5..1.5));
        self.schedule(T_PUSH_PULL, t, d);
        let period = self.config.push_pull_period(self.cluster_size());
        let p = base.as_secs_f64() / period.as_secs_f64().max(1e-9);
        if p < 1.0 && !self.rng.gen_bool(p) {
            return;
        }
        self.push_full_state_to_one(|_| true);
    }

    fn join_tick(&mut self, now: Duration) {
        if self.left {
            return;
        }
        let t = self.token();
        self.join_token = t;
        self.schedule(T_JOIN, t, self.config.join_retry_interval);
        match self.local_status() {
            Status::Joining => {
                if self.form_if_alone {
                    info!(member = %self.local, "no seed answered: forming the cluster as first seed");
                    self.become_up(now);
                } else {
                    self.send_join_requests();
                }
            }
            Status::Up if self.table.live().is_empty() && !self.seeds.is_empty() => {
                self.send_join_requests();
            }
            _ => {}
        }
    }

    fn reconnect_tick(&mut self, _now: Duration) {
        if self.left {
            return;
        }
        let t = self.token();
        self.reconnect_token = t;
        let d = self.reconnect_interval();
        self.schedule(T_RECONNECT, t, d);
        // Seeds that are not live members (e.g. forgotten during a long
        // partition): ask them in again. Their answer tells us if we were
        // declared down meanwhile (we then rejoin as a new generation).
        if self.local_status() == Status::Up {
            let live: std::collections::HashSet<SocketAddr> =
                self.table.live().iter().map(|m| m.addr).collect();
            let lost: Vec<SocketAddr> = self
                .seeds
                .iter()
                .copied()
                .filter(|a| !live.contains(a))
                .collect();
            if !lost.is_empty() && !live.is_empty() {
                let to = lost[self.rng.gen_range(0..lost.len())];
                let rec = self.local_entry().record();
                let msg = Message {
                    sender: self.local.clone(),
                    body: Body::JoinRequest { record: rec },
                };
                let bytes = codec::encode(&self.prefix, &msg);
                self.send(to, Channel::Stream, bytes);
            }
        }
        // Ping one random failed tombstone: if it answers, a partition healed
        // (the zombie check on either side then starts the merge).
        let mut failed: Vec<MemberId> = self
            .table
            .entries()
            .filter(|e| {
                e.status == Status::Down(DownReason::Failed)
                    && e.id != self.local
                    && e.joined_emitted
            })
            .map(|e| e.id.clone())
            .collect();
        // The table is a HashMap: sort so the seeded pick is deterministic.
        failed.sort();
        if failed.is_empty() {
            return;
        }
        let target = failed[self.rng.gen_range(0..failed.len())].clone();
        let seq = self.seq();
        let rec = self.record_bytes(&target);
        self.send_with_updates(
            target.addr,
            Body::Ping {
                seq,
                target_gen: target.generation,
                target_inc: self.known_inc(&target),
                updates: vec![],
            },
            rec,
        );
    }
}
