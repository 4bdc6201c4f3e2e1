//! The discrete-event engine: virtual time, one event queue, the network and the
//! node slots.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::sim::error::SimError;
use crate::sim::hash::Fnv;
use crate::sim::net::{GeLink, Loss, NetConfig};
use crate::sim::node::{SimEvent, SimNode, SimOutput};

/// The gossip address of node slot `i` in helpers and scenario scripts:
/// `10.a.b.c:7946` with `a.b.c` the 24 low bits of `i` (so `n0` is
/// `10.0.0.0:7946`, `n257` is `10.0.1.1:7946`).
pub fn node_addr(i: usize) -> SocketAddr {
    let i = i as u32;
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)),
        7946,
    )
}

/// splitmix64: derives well-spread seeds from one master seed.
pub fn derive_seed(master: u64, a: u64, b: u64) -> u64 {
    let mut z =
        master ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Traffic counters of one node slot (kept across restarts of the slot; see
/// [`Sim::reset_stats`]). Sent counters count every message the node sent,
/// whether or not the network delivered it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Bytes sent in datagrams.
    pub datagram_bytes_sent: u64,
    /// Stream frames sent.
    pub streams_sent: u64,
    /// Bytes sent in stream frames.
    pub stream_bytes_sent: u64,
    /// Datagrams handed to the node.
    pub datagrams_received: u64,
    /// Stream frames handed to the node.
    pub streams_received: u64,
    /// Bytes handed to the node (both kinds).
    pub bytes_received: u64,
    /// Messages from this node lost to the loss model.
    pub dropped_loss: u64,
    /// Messages from this node dropped by a partition or cut.
    pub dropped_cut: u64,
    /// Messages from this node that found no running receiver (crashed,
    /// restarted stream peer, or an address no node has).
    pub dropped_no_receiver: u64,
}

impl NodeStats {
    /// Messages sent (both kinds).
    pub fn messages_sent(&self) -> u64 {
        self.datagrams_sent + self.streams_sent
    }

    /// Bytes sent (both kinds).
    pub fn bytes_sent(&self) -> u64 {
        self.datagram_bytes_sent + self.stream_bytes_sent
    }

    fn add(&mut self, o: &NodeStats) {
        self.datagrams_sent += o.datagrams_sent;
        self.datagram_bytes_sent += o.datagram_bytes_sent;
        self.streams_sent += o.streams_sent;
        self.stream_bytes_sent += o.stream_bytes_sent;
        self.datagrams_received += o.datagrams_received;
        self.streams_received += o.streams_received;
        self.bytes_received += o.bytes_received;
        self.dropped_loss += o.dropped_loss;
        self.dropped_cut += o.dropped_cut;
        self.dropped_no_receiver += o.dropped_no_receiver;
    }
}

/// One entry of the event log: at `time`, node `observer` published `event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Virtual time.
    pub time: Duration,
    /// The node that published the event.
    pub observer: SocketAddr,
    /// The event.
    pub event: SimEvent,
}

/// What one observer currently believes about one subject, from the events it
/// published (see [`Sim::sees`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViewState {
    /// No event about the subject yet.
    Unknown,
    /// Up and reachable.
    Up,
    /// Up but suspected.
    Unreachable,
    /// Declared failed.
    Down,
    /// Left gracefully.
    Left,
}

impl ViewState {
    fn from_u8(v: u8) -> ViewState {
        match v {
            1 => ViewState::Up,
            2 => ViewState::Unreachable,
            3 => ViewState::Down,
            4 => ViewState::Left,
            _ => ViewState::Unknown,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            ViewState::Unknown => 0,
            ViewState::Up => 1,
            ViewState::Unreachable => 2,
            ViewState::Down => 3,
            ViewState::Left => 4,
        }
    }
}

/// Life state of a node slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Running (possibly paused, see [`Sim::is_paused`]).
    Running,
    /// Crashed or stopped: processes nothing, everything sent to it is dropped.
    Crashed,
}

enum Action<T> {
    Deliver {
        to: u32,
        from_idx: u32,
        from: SocketAddr,
        stream: bool,
        /// For streams: the receiver's epoch at send time (a connection does not
        /// survive a restart of its peer).
        to_epoch: u32,
        bytes: Vec<u8>,
    },
    Timer {
        node: u32,
        epoch: u32,
        timer: T,
    },
    Resume {
        node: u32,
        epoch: u32,
    },
    Stop {
        node: u32,
        epoch: u32,
    },
    Arbiter {
        node: u32,
        epoch: u32,
        round: u64,
        won: Option<bool>,
    },
    /// A stream connection from `node` to `to` was refused.
    Refused {
        node: u32,
        epoch: u32,
        to: SocketAddr,
    },
}

/// The simulated arbiter, with the rule of `actix-cluster-etcd`'s
/// `EtcdArbiter::acquire`: one key holding the side that won last, until
/// `hold_for` has passed. A request wins when the key is free (or expired) or
/// when the asking side holds a strict majority of the last winners; a win
/// writes the asking side with a fresh expiry. Nodes cut from the arbiter get
/// no verdict, after the request timeout.
#[derive(Debug)]
struct Arbiter {
    holder: Option<(Vec<SocketAddr>, Duration)>,
    cut: HashSet<u32>,
    hold_for: Duration,
    latency: Duration,
    timeout: Duration,
}

struct Entry<T> {
    at: Duration,
    seq: u64,
    action: Action<T>,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, seq) is on top.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Slot<N: SimNode> {
    addr: SocketAddr,
    node: N,
    state: NodeState,
    left: bool,
    epoch: u32,
    paused_until: Option<Duration>,
    inbox: VecDeque<Action<N::Timer>>,
    stats: NodeStats,
    retired: Vec<N>,
    restarts: u32,
    /// Everything sent to this node by another is dropped ([`Sim::cut_inbound`]).
    deaf: bool,
    /// Probability that a message this node sends or receives is lost
    /// ([`Sim::set_node_loss`]).
    loss: f64,
}

/// A set of node slots as a bit set.
#[derive(Clone, Debug, Default)]
struct NodeSet {
    bits: Vec<u64>,
}

impl NodeSet {
    fn insert(&mut self, i: u32) {
        let w = (i / 64) as usize;
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= 1 << (i % 64);
    }

    fn contains(&self, i: u32) -> bool {
        let w = (i / 64) as usize;
        w < self.bits.len() && self.bits[w] & (1 << (i % 64)) != 0
    }
}

/// Traffic from any node in `from` to any node in `to` is dropped.
#[derive(Clone, Debug)]
struct Cut {
    from: NodeSet,
    to: NodeSet,
}

type EventHook = Box<dyn FnMut(Duration, SocketAddr, &SimEvent)>;

/// The simulator: nodes of one protocol (any [`SimNode`]) on a simulated
/// network, in virtual time, deterministic from one seed.
///
/// Everything happens in [`Sim::run_until`] and friends: the earliest scheduled
/// action (a delivery, a timer, the end of a pause) is taken from one priority
/// queue ordered by (time, sequence number), so two runs from the same seed
/// with the same calls are identical.
pub struct Sim<N: SimNode> {
    now: Duration,
    seed: u64,
    rng: SmallRng,
    seq: u64,
    queue: BinaryHeap<Entry<N::Timer>>,
    slots: Vec<Slot<N>>,
    index: HashMap<SocketAddr, u32>,
    net: NetConfig,
    cuts: Vec<Cut>,
    link_latency: HashMap<(u32, u32), Duration>,
    ge_links: HashMap<(u32, u32), GeLink>,
    stream_last: HashMap<(u32, u32), Duration>,
    ephemeral: u32,
    log: Vec<LogEntry>,
    keep_log: bool,
    log_hash: Fnv,
    events_total: u64,
    hook: Option<EventHook>,
    views: Vec<Vec<u8>>,
    out_buf: Vec<SimOutput<N::Timer>>,
    check_interval: Duration,
    processed: u64,
    arbiter: Arbiter,
}

impl<N: SimNode> std::fmt::Debug for Sim<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("seed", &self.seed)
            .field("nodes", &self.slots.len())
            .field("queued", &self.queue.len())
            .field("events", &self.events_total)
            .finish()
    }
}

impl<N: SimNode> Sim<N> {
    /// A simulator at virtual time zero with no nodes.
    pub fn new(seed: u64, net: NetConfig) -> Result<Self, SimError> {
        net.validate()?;
        Ok(Sim {
            now: Duration::ZERO,
            seed,
            rng: SmallRng::seed_from_u64(derive_seed(seed, 0x6e6574, 0)),
            seq: 0,
            queue: BinaryHeap::new(),
            slots: Vec::new(),
            index: HashMap::new(),
            net,
            cuts: Vec::new(),
            link_latency: HashMap::new(),
            ge_links: HashMap::new(),
            stream_last: HashMap::new(),
            ephemeral: 0,
            log: Vec::new(),
            keep_log: true,
            log_hash: Fnv::new(),
            events_total: 0,
            hook: None,
            views: Vec::new(),
            out_buf: Vec::new(),
            check_interval: Duration::from_millis(10),
            processed: 0,
            arbiter: Arbiter {
                holder: None,
                cut: HashSet::new(),
                hold_for: Duration::from_secs(20),
                latency: Duration::from_millis(5),
                timeout: Duration::from_secs(1),
            },
        })
    }

    // ----- configuration -------------------------------------------------------

    /// The master seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A seed for a node's own RNG, derived from the master seed, the slot and
    /// the slot's restart count (so every instance differs, reproducibly).
    pub fn node_seed(&self, slot: usize, instance: u32) -> u64 {
        derive_seed(self.seed, slot as u64 + 1, u64::from(instance))
    }

    /// The network configuration.
    pub fn net(&self) -> &NetConfig {
        &self.net
    }

    /// Replaces the network configuration (e.g. to start or stop loss) from now on.
    pub fn set_net(&mut self, net: NetConfig) -> Result<(), SimError> {
        net.validate()?;
        if net.loss != self.net.loss {
            self.ge_links.clear();
        }
        self.net = net;
        Ok(())
    }

    /// Sets the base one-way latency of the directed link `from -> to`
    /// (jitter is still added).
    pub fn set_link_latency(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        latency: Duration,
    ) -> Result<(), SimError> {
        let (f, t) = (self.idx(from)?, self.idx(to)?);
        self.link_latency.insert((f, t), latency);
        Ok(())
    }

    /// Keep (default) or stop keeping the event log in memory. The log hash,
    /// the views and the hook work either way.
    pub fn set_keep_log(&mut self, keep: bool) {
        self.keep_log = keep;
    }

    /// Calls `hook(time, observer, event)` for every event from now on.
    pub fn set_event_hook(&mut self, hook: impl FnMut(Duration, SocketAddr, &SimEvent) + 'static) {
        self.hook = Some(Box::new(hook));
    }

    /// How often (in virtual time) [`Sim::run_until_condition`] evaluates its
    /// condition; default 10 ms. Zero evaluates it before every action.
    pub fn set_check_interval(&mut self, interval: Duration) {
        self.check_interval = interval;
    }

    // ----- nodes -----------------------------------------------------------------

    /// Adds a running node at `addr`, then carries out the outputs it already has
    /// pending (e.g. from a join command given before adding it).
    pub fn add_node(&mut self, addr: SocketAddr, node: N) -> Result<(), SimError> {
        if self.index.contains_key(&addr) {
            return Err(SimError::DuplicateAddress(addr));
        }
        let i = self.slots.len() as u32;
        self.index.insert(addr, i);
        self.slots.push(Slot {
            addr,
            node,
            state: NodeState::Running,
            left: false,
            epoch: 0,
            paused_until: None,
            inbox: VecDeque::new(),
            stats: NodeStats::default(),
            retired: Vec::new(),
            restarts: 0,
            deaf: false,
            loss: 0.0,
        });
        for row in &mut self.views {
            row.push(0);
        }
        self.views.push(vec![0; self.slots.len()]);
        self.drain(i);
        Ok(())
    }

    /// Number of node slots (running or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when there are no node slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Addresses of all slots, in the order they were added.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.slots.iter().map(|s| s.addr).collect()
    }

    /// Address of slot `i` (the order of [`Sim::add_node`]).
    pub fn addr_at(&self, i: usize) -> Option<SocketAddr> {
        self.slots.get(i).map(|s| s.addr)
    }

    /// Slot index of `addr`.
    pub fn slot_of(&self, addr: SocketAddr) -> Option<usize> {
        self.index.get(&addr).map(|&i| i as usize)
    }

    /// The current node at `addr` (also after a crash, for post-mortems).
    pub fn node(&self, addr: SocketAddr) -> Option<&N> {
        self.index.get(&addr).map(|&i| &self.slots[i as usize].node)
    }

    /// Earlier instances of the node at `addr`, replaced by [`Sim::restart`].
    pub fn retired(&self, addr: SocketAddr) -> &[N] {
        match self.index.get(&addr) {
            Some(&i) => &self.slots[i as usize].retired,
            None => &[],
        }
    }

    /// How often the slot at `addr` was restarted.
    pub fn restarts(&self, addr: SocketAddr) -> u32 {
        self.index
            .get(&addr)
            .map_or(0, |&i| self.slots[i as usize].restarts)
    }

    /// Runs `f` on the running node at `addr` at the current time, then carries out
    /// its outputs. Works on a paused node too (as if the application thread
    /// still ran).
    pub fn with_node<R>(
        &mut self,
        addr: SocketAddr,
        f: impl FnOnce(&mut N, Duration) -> R,
    ) -> Result<R, SimError> {
        let i = self.running_idx(addr)?;
        let now = self.now;
        let r = f(&mut self.slots[i as usize].node, now);
        self.drain(i);
        Ok(r)
    }

    /// Life state of the slot at `addr`.
    pub fn state(&self, addr: SocketAddr) -> Option<NodeState> {
        self.index.get(&addr).map(|&i| self.slots[i as usize].state)
    }

    /// True while the node at `addr` is paused.
    pub fn is_paused(&self, addr: SocketAddr) -> bool {
        self.index
            .get(&addr)
            .is_some_and(|&i| self.slots[i as usize].paused_until.is_some())
    }

    /// True if the node is running and has not left.
    pub fn is_live(&self, addr: SocketAddr) -> bool {
        self.index.get(&addr).is_some_and(|&i| {
            let s = &self.slots[i as usize];
            s.state == NodeState::Running && !s.left
        })
    }

    /// Addresses of live nodes (running and not left), in slot order.
    pub fn live(&self) -> Vec<SocketAddr> {
        self.slots
            .iter()
            .filter(|s| s.state == NodeState::Running && !s.left)
            .map(|s| s.addr)
            .collect()
    }

    // ----- faults ----------------------------------------------------------------

    /// Crashes the node: it stops dead, its queued inputs, timers and pause are
    /// dropped, and everything sent to it from now on is dropped.
    pub fn crash(&mut self, addr: SocketAddr) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        self.crash_idx(i);
        Ok(())
    }

    fn crash_idx(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        if s.state == NodeState::Crashed {
            return;
        }
        s.state = NodeState::Crashed;
        s.epoch += 1;
        s.paused_until = None;
        s.inbox.clear();
    }

    /// Replaces the node at `addr` with a new instance (a new process on the same
    /// address, e.g. a core with a new generation), crashing the old one first if
    /// it still runs. The old instance is kept in [`Sim::retired`]. Stream frames
    /// in flight to the old instance are dropped; datagrams in flight reach the
    /// new one.
    pub fn restart(&mut self, addr: SocketAddr, node: N) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        self.crash_idx(i);
        let s = &mut self.slots[i as usize];
        let old = std::mem::replace(&mut s.node, node);
        s.retired.push(old);
        s.state = NodeState::Running;
        s.left = false;
        s.epoch += 1;
        s.restarts += 1;
        self.views[i as usize].iter_mut().for_each(|v| *v = 0);
        self.drain(i);
        Ok(())
    }

    /// Pauses the node for `dur` (a stalled process, a GC pause): it handles
    /// nothing until then; datagrams, frames and timers that arrive meanwhile are
    /// queued and handled in order when it resumes. Pausing a paused node extends
    /// the pause if the new end is later.
    pub fn pause(&mut self, addr: SocketAddr, dur: Duration) -> Result<(), SimError> {
        let i = self.running_idx(addr)?;
        let until = self.now + dur;
        let s = &mut self.slots[i as usize];
        if s.paused_until.is_some_and(|u| u >= until) {
            return Ok(());
        }
        s.paused_until = Some(until);
        let epoch = s.epoch;
        self.push(until, Action::Resume { node: i, epoch });
        Ok(())
    }

    /// Cuts every link between the two sets, both ways.
    pub fn partition(&mut self, a: &[SocketAddr], b: &[SocketAddr]) -> Result<(), SimError> {
        let sa = self.set(a)?;
        let sb = self.set(b)?;
        self.cuts.push(Cut {
            from: sa.clone(),
            to: sb.clone(),
        });
        self.cuts.push(Cut { from: sb, to: sa });
        Ok(())
    }

    /// Cuts the node off from every other node, both ways.
    pub fn isolate(&mut self, addr: SocketAddr) -> Result<(), SimError> {
        let others: Vec<SocketAddr> = self.addrs().into_iter().filter(|&a| a != addr).collect();
        self.partition(&[addr], &others)
    }

    /// Drops everything sent from `from` to `to` (the other direction still works).
    pub fn cut_one_way(&mut self, from: SocketAddr, to: SocketAddr) -> Result<(), SimError> {
        let f = self.set(&[from])?;
        let t = self.set(&[to])?;
        self.cuts.push(Cut { from: f, to: t });
        Ok(())
    }

    /// Drops everything any other node sends to the node at `addr` while
    /// `cut` is true, as one-way cuts into it from everyone would (it still
    /// sends; a node that hears nothing). Also checked on arrival, so
    /// messages in flight are dropped too. [`Sim::heal`] ends it as well.
    pub fn cut_inbound(&mut self, addr: SocketAddr, cut: bool) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        self.slots[i as usize].deaf = cut;
        Ok(())
    }

    /// The node at `addr` loses each message it sends, and each message sent
    /// to it, with probability `p` (a bad NIC or an overloaded host), on top of
    /// the network's loss: a message between two lossy nodes survives both
    /// draws. Applies to datagrams and to stream frames (a lost frame stands
    /// for a connection that failed). `0` ends it; [`Sim::heal`] does not.
    pub fn set_node_loss(&mut self, addr: SocketAddr, p: f64) -> Result<(), SimError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(SimError::bad_field(
                "node loss",
                format!("{p} is not a probability in 0..=1"),
            ));
        }
        let i = self.idx(addr)?;
        self.slots[i as usize].loss = p;
        Ok(())
    }

    /// The node loss of the node at `addr` (see [`Sim::set_node_loss`]).
    pub fn node_loss(&self, addr: SocketAddr) -> f64 {
        self.index
            .get(&addr)
            .map_or(0.0, |&i| self.slots[i as usize].loss)
    }

    /// Removes every partition and cut, inbound cuts included.
    pub fn heal(&mut self) {
        self.cuts.clear();
        for s in &mut self.slots {
            s.deaf = false;
        }
    }

    /// True if traffic from `from` to `to` is currently cut.
    pub fn is_cut(&self, from: SocketAddr, to: SocketAddr) -> bool {
        match (self.index.get(&from), self.index.get(&to)) {
            (Some(&f), Some(&t)) => self.cut_idx(f, t),
            _ => false,
        }
    }

    /// Starts a graceful leave on the node ([`SimNode::leave`]). The node keeps
    /// running (it has to tell the others) but no longer counts as live; stop it
    /// later with [`Sim::crash`] or use [`Sim::leave_and_stop`].
    pub fn leave(&mut self, addr: SocketAddr) -> Result<(), SimError> {
        let i = self.running_idx(addr)?;
        self.slots[i as usize].left = true;
        self.with_node(addr, |n, now| n.leave(now))
    }

    /// [`Sim::leave`], then stops (crashes) the node `linger` later, as a process
    /// that exits after announcing its leave.
    pub fn leave_and_stop(&mut self, addr: SocketAddr, linger: Duration) -> Result<(), SimError> {
        self.leave(addr)?;
        let i = self.idx(addr)?;
        let epoch = self.slots[i as usize].epoch;
        self.push(self.now + linger, Action::Stop { node: i, epoch });
        Ok(())
    }

    // ----- running ---------------------------------------------------------------

    /// Current virtual time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Actions processed so far (deliveries, timers, resumes).
    pub fn actions_processed(&self) -> u64 {
        self.processed
    }

    /// Actions waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Time of the next queued action, if any.
    pub fn next_time(&self) -> Option<Duration> {
        self.queue.peek().map(|e| e.at)
    }

    /// Processes the next queued action; false if the queue is empty.
    pub fn step(&mut self) -> bool {
        match self.queue.pop() {
            Some(e) => {
                self.now = self.now.max(e.at);
                self.process(e.action);
                true
            }
            None => false,
        }
    }

    /// Processes every action due at or before `t`, then sets the clock to `t`
    /// (if later than now).
    pub fn run_until(&mut self, t: Duration) {
        while self.queue.peek().is_some_and(|e| e.at <= t) {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// [`Sim::run_until`] `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until `cond` holds or `deadline` passes. `cond` is evaluated at the
    /// start, then at most every check interval ([`Sim::set_check_interval`])
    /// of virtual time between actions, and once at the end. Returns the virtual
    /// time at which it was seen to hold (the clock stays there), or `None` with the
    /// clock at `deadline`.
    pub fn run_until_condition(
        &mut self,
        deadline: Duration,
        mut cond: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        if cond(self) {
            return Some(self.now);
        }
        let mut next_check = self.now + self.check_interval;
        while let Some(at) = self.queue.peek().map(|e| e.at).filter(|&at| at <= deadline) {
            if at >= next_check {
                if cond(self) {
                    return Some(self.now);
                }
                next_check = at + self.check_interval;
            }
            self.step();
        }
        if cond(self) {
            return Some(self.now);
        }
        self.now = self.now.max(deadline);
        None
    }

    // ----- observations ----------------------------------------------------------

    /// The event log (empty if [`Sim::set_keep_log`] turned it off).
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Events published by `observer`, with their times.
    pub fn events_of(&self, observer: SocketAddr) -> impl Iterator<Item = &LogEntry> + '_ {
        self.log.iter().filter(move |e| e.observer == observer)
    }

    /// Number of events published so far (also when the log is not kept).
    pub fn events_total(&self) -> u64 {
        self.events_total
    }

    /// A hash of the whole event log (time, observer, event), maintained even when
    /// the log is not kept. Equal seeds and calls give equal hashes.
    pub fn log_hash(&self) -> u64 {
        self.log_hash.finish()
    }

    /// What `observer` believes about `subject` according to the events it
    /// published (a restart of `observer` resets its beliefs).
    pub fn sees(&self, observer: SocketAddr, subject: SocketAddr) -> ViewState {
        match (self.index.get(&observer), self.index.get(&subject)) {
            (Some(&o), Some(&s)) => ViewState::from_u8(self.views[o as usize][s as usize]),
            _ => ViewState::Unknown,
        }
    }

    /// True if every live node sees every other live node Up (and reachable).
    pub fn all_see_up(&self) -> bool {
        let live = self.live_idx();
        live.iter().all(|&o| {
            let row = &self.views[o];
            live.iter()
                .all(|&s| s == o || row[s] == ViewState::Up.to_u8())
        })
    }

    /// True if every live node other than `subject` sees `subject` in a state
    /// accepted by `pred`.
    pub fn all_see(&self, subject: SocketAddr, pred: impl Fn(ViewState) -> bool) -> bool {
        let Some(&s) = self.index.get(&subject) else {
            return false;
        };
        self.live_idx()
            .into_iter()
            .filter(|&o| o != s as usize)
            .all(|o| pred(ViewState::from_u8(self.views[o][s as usize])))
    }

    /// True if every live node other than `subject` sees it Down (failed) or Left.
    pub fn all_see_down(&self, subject: SocketAddr) -> bool {
        self.all_see(subject, |v| matches!(v, ViewState::Down | ViewState::Left))
    }

    /// Pairs (observer, subject) of live nodes where the observer does not see the
    /// subject Up, with what it sees instead (for diagnostics).
    pub fn not_up_pairs(&self) -> Vec<(SocketAddr, SocketAddr, ViewState)> {
        let live = self.live_idx();
        let mut out = Vec::new();
        for &o in &live {
            for &s in &live {
                let v = ViewState::from_u8(self.views[o][s]);
                if s != o && v != ViewState::Up {
                    out.push((self.slots[o].addr, self.slots[s].addr, v));
                }
            }
        }
        out
    }

    /// Traffic counters of the slot at `addr`.
    pub fn stats(&self, addr: SocketAddr) -> Option<&NodeStats> {
        self.index
            .get(&addr)
            .map(|&i| &self.slots[i as usize].stats)
    }

    /// Sum of every slot's counters.
    pub fn total_stats(&self) -> NodeStats {
        let mut t = NodeStats::default();
        for s in &self.slots {
            t.add(&s.stats);
        }
        t
    }

    /// Zeroes every slot's counters (e.g. after warm-up, before measuring).
    pub fn reset_stats(&mut self) {
        for s in &mut self.slots {
            s.stats = NodeStats::default();
        }
    }

    // ----- internals -------------------------------------------------------------

    fn idx(&self, addr: SocketAddr) -> Result<u32, SimError> {
        self.index
            .get(&addr)
            .copied()
            .ok_or(SimError::UnknownNode(addr))
    }

    fn running_idx(&self, addr: SocketAddr) -> Result<u32, SimError> {
        let i = self.idx(addr)?;
        if self.slots[i as usize].state != NodeState::Running {
            return Err(SimError::NotRunning(addr));
        }
        Ok(i)
    }

    fn live_idx(&self) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == NodeState::Running && !s.left)
            .map(|(i, _)| i)
            .collect()
    }

    fn set(&self, addrs: &[SocketAddr]) -> Result<NodeSet, SimError> {
        let mut set = NodeSet::default();
        for &a in addrs {
            set.insert(self.idx(a)?);
        }
        Ok(set)
    }

    fn cut_idx(&self, f: u32, t: u32) -> bool {
        (f != t && self.slots[t as usize].deaf)
            || self
                .cuts
                .iter()
                .any(|c| c.from.contains(f) && c.to.contains(t))
    }

    /// Draws the node loss of both ends of `f -> t`.
    fn node_lose(&mut self, f: u32, t: u32) -> bool {
        let (pf, pt) = (self.slots[f as usize].loss, self.slots[t as usize].loss);
        let rng = &mut self.rng;
        let mut draw = |p: f64| p > 0.0 && rng.gen::<f64>() < p;
        draw(pf) || draw(pt)
    }

    fn push(&mut self, at: Duration, action: Action<N::Timer>) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(Entry { at, seq, action });
    }

    fn process(&mut self, action: Action<N::Timer>) {
        self.processed += 1;
        match action {
            Action::Resume { node, epoch } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                match s.paused_until {
                    Some(until) if until <= self.now => {}
                    _ => return, // extended or already resumed
                }
                s.paused_until = None;
                while let Some(a) = self.slots[node as usize].inbox.pop_front() {
                    self.handle(a);
                    if self.slots[node as usize].state != NodeState::Running {
                        break;
                    }
                }
            }
            Action::Stop { node, epoch } => {
                if self.slots[node as usize].epoch == epoch {
                    self.crash_idx(node);
                }
            }
            a @ (Action::Deliver { .. }
            | Action::Timer { .. }
            | Action::Arbiter { .. }
            | Action::Refused { .. }) => {
                let target = match &a {
                    Action::Deliver {
                        to,
                        from_idx,
                        stream,
                        to_epoch,
                        ..
                    } => {
                        let s = &self.slots[*to as usize];
                        let (state, epoch) = (s.state, s.epoch);
                        if self.cut_idx(*from_idx, *to) {
                            self.slots[*from_idx as usize].stats.dropped_cut += 1;
                            return;
                        }
                        if state != NodeState::Running || (*stream && epoch != *to_epoch) {
                            self.slots[*from_idx as usize].stats.dropped_no_receiver += 1;
                            if *stream && state == NodeState::Crashed {
                                // Nothing listens at a crashed process's port
                                // (its host is up): the connection is refused.
                                let (from, to_addr) = (*from_idx, self.slots[*to as usize].addr);
                                let from_epoch = self.slots[from as usize].epoch;
                                let at = self.now + self.latency(from, *to);
                                self.push(
                                    at,
                                    Action::Refused {
                                        node: from,
                                        epoch: from_epoch,
                                        to: to_addr,
                                    },
                                );
                            }
                            return;
                        }
                        *to
                    }
                    Action::Timer { node, .. }
                    | Action::Arbiter { node, .. }
                    | Action::Refused { node, .. } => *node,
                    _ => return,
                };
                let s = &mut self.slots[target as usize];
                if s.paused_until.is_some() && s.state == NodeState::Running {
                    s.inbox.push_back(a);
                } else {
                    self.handle(a);
                }
            }
        }
    }

    /// Hands one delivery or timer to its node (not paused), dropping it if the
    /// node is gone.
    fn handle(&mut self, action: Action<N::Timer>) {
        let now = self.now;
        match action {
            Action::Deliver {
                to,
                from,
                stream,
                bytes,
                ..
            } => {
                // Reachability was checked on arrival (see `process`).
                let s = &mut self.slots[to as usize];
                if s.state != NodeState::Running {
                    return;
                }
                s.stats.bytes_received += bytes.len() as u64;
                if stream {
                    s.stats.streams_received += 1;
                    s.node.handle_stream(now, from, &bytes);
                } else {
                    s.stats.datagrams_received += 1;
                    s.node.handle_datagram(now, from, &bytes);
                }
                self.drain(to);
            }
            Action::Timer { node, epoch, timer } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                s.node.handle_timer(now, timer);
                self.drain(node);
            }
            Action::Arbiter {
                node,
                epoch,
                round,
                won,
            } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                s.node.handle_arbiter(now, round, won);
                self.drain(node);
            }
            Action::Refused { node, epoch, to } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                s.node.handle_refused(now, to);
                self.drain(node);
            }
            Action::Resume { .. } | Action::Stop { .. } => {}
        }
    }

    /// Carries out every pending output of node `i`.
    fn drain(&mut self, i: u32) {
        let mut buf = std::mem::take(&mut self.out_buf);
        let node = &mut self.slots[i as usize].node;
        while let Some(o) = node.poll_output() {
            buf.push(o);
        }
        for o in buf.drain(..) {
            match o {
                SimOutput::Send { to, stream, bytes } => self.send(i, to, stream, bytes),
                SimOutput::Schedule { after, timer } => {
                    let epoch = self.slots[i as usize].epoch;
                    self.push(
                        self.now + after,
                        Action::Timer {
                            node: i,
                            epoch,
                            timer,
                        },
                    );
                }
                SimOutput::Event(ev) => self.record(i, ev),
                SimOutput::Arbitrate { round, side } => self.arbitrate(i, round, &side),
            }
        }
        self.out_buf = buf;
    }

    /// Node `i` asks the arbiter for its side.
    fn arbitrate(&mut self, i: u32, round: u64, side: &[SocketAddr]) {
        let epoch = self.slots[i as usize].epoch;
        let (at, won) = if self.arbiter.cut.contains(&i) {
            (self.now + self.arbiter.timeout, None)
        } else {
            let won = match &self.arbiter.holder {
                Some((winners, until)) if *until > self.now => {
                    let ours = winners.iter().filter(|w| side.contains(w)).count();
                    ours * 2 > winners.len()
                }
                _ => true,
            };
            if won {
                self.arbiter.holder = Some((side.to_vec(), self.now + self.arbiter.hold_for));
            }
            (self.now + self.arbiter.latency, Some(won))
        };
        self.push(
            at,
            Action::Arbiter {
                node: i,
                epoch,
                round,
                won,
            },
        );
    }

    /// Cuts the node at `addr` off from the arbiter (its requests time out),
    /// or reconnects it.
    pub fn cut_from_arbiter(&mut self, addr: SocketAddr, cut: bool) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        if cut {
            self.arbiter.cut.insert(i);
        } else {
            self.arbiter.cut.remove(&i);
        }
        Ok(())
    }

    /// The side that holds the arbiter's key now (its members' addresses), if
    /// any.
    pub fn arbiter_holder(&self) -> Option<&[SocketAddr]> {
        self.arbiter
            .holder
            .as_ref()
            .filter(|(_, until)| *until > self.now)
            .map(|(side, _)| side.as_slice())
    }

    /// The base latency of the link `f -> t` (without jitter).
    fn latency(&self, f: u32, t: u32) -> Duration {
        if self.link_latency.is_empty() {
            self.net.latency
        } else {
            self.link_latency
                .get(&(f, t))
                .copied()
                .unwrap_or(self.net.latency)
        }
    }

    fn send(&mut self, f: u32, to: SocketAddr, stream: bool, bytes: Vec<u8>) {
        let len = bytes.len() as u64;
        {
            let st = &mut self.slots[f as usize].stats;
            if stream {
                st.streams_sent += 1;
                st.stream_bytes_sent += len;
            } else {
                st.datagrams_sent += 1;
                st.datagram_bytes_sent += len;
            }
        }
        let Some(&t) = self.index.get(&to) else {
            self.slots[f as usize].stats.dropped_no_receiver += 1;
            return;
        };
        if self.cut_idx(f, t) {
            self.slots[f as usize].stats.dropped_cut += 1;
            return;
        }
        if (!stream && self.lose(f, t)) || self.node_lose(f, t) {
            self.slots[f as usize].stats.dropped_loss += 1;
            return;
        }
        let base = self.latency(f, t);
        let jitter = if self.net.jitter.is_zero() {
            Duration::ZERO
        } else {
            let j = self.net.jitter.as_nanos() as u64;
            Duration::from_nanos(self.rng.gen_range(0..=j))
        };
        let mut at = self.now + base + jitter;
        let from_addr = self.slots[f as usize].addr;
        let from = if stream {
            let last = self.stream_last.entry((f, t)).or_insert(at);
            at = at.max(*last);
            *last = at;
            if self.net.ephemeral_stream_ports {
                self.ephemeral = self.ephemeral.wrapping_add(1);
                SocketAddr::new(from_addr.ip(), 32768 + (self.ephemeral % 28000) as u16)
            } else {
                from_addr
            }
        } else {
            from_addr
        };
        let to_epoch = self.slots[t as usize].epoch;
        self.push(
            at,
            Action::Deliver {
                to: t,
                from_idx: f,
                from,
                stream,
                to_epoch,
                bytes,
            },
        );
    }

    fn lose(&mut self, f: u32, t: u32) -> bool {
        match &self.net.loss {
            Loss::None => false,
            Loss::Uniform(p) => *p > 0.0 && self.rng.gen::<f64>() < *p,
            Loss::Bursty(ge) => {
                let now = self.now;
                let rng = &mut self.rng;
                let link = self
                    .ge_links
                    .entry((f, t))
                    .or_insert_with(|| GeLink::fresh(ge, rng, now));
                link.lose(ge, rng, now)
            }
        }
    }

    fn record(&mut self, i: u32, event: SimEvent) {
        let observer = self.slots[i as usize].addr;
        if let Some(&s) = self.index.get(&event.addr()) {
            if s != i {
                let cell = &mut self.views[i as usize][s as usize];
                let new = match event {
                    SimEvent::Up(_) | SimEvent::Reachable(_) => ViewState::Up,
                    SimEvent::Unreachable(_) => ViewState::Unreachable,
                    SimEvent::Down { left: false, .. } => ViewState::Down,
                    SimEvent::Down { left: true, .. } => ViewState::Left,
                };
                *cell = new.to_u8();
            }
        }
        self.events_total += 1;
        let h = &mut self.log_hash;
        h.write_u64(self.now.as_nanos() as u64);
        h.write_addr(observer);
        match event {
            SimEvent::Up(a) => {
                h.write_u64(1);
                h.write_addr(a);
            }
            SimEvent::Unreachable(a) => {
                h.write_u64(2);
                h.write_addr(a);
            }
            SimEvent::Reachable(a) => {
                h.write_u64(3);
                h.write_addr(a);
            }
            SimEvent::Down { addr, left } => {
                h.write_u64(4 + u64::from(left));
                h.write_addr(addr);
            }
        }
        if let Some(hook) = self.hook.as_mut() {
            hook(self.now, observer, &event);
        }
        if self.keep_log {
            self.log.push(LogEntry {
                time: self.now,
                observer,
                event,
            });
        }
    }
}
