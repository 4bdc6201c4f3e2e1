//! The discrete-event engine: virtual time, one event queue, the network and the
//! node slots.
//!
//! This file holds the [`Sim`] itself, its configuration, its nodes and the
//! run loop. By concern:
//! - `dispatch.rs`: the queued actions and how each reaches its node through
//!   the network model; the outputs a node hands back.
//! - `faults.rs`: crashes, restarts, pauses, partitions, cuts, node loss, leaves.
//! - `observe.rs`: the event log and its hash, views, traffic counters.
//! - `arbiter.rs`: the arbiter model (the etcd downing lease's rule).

mod arbiter;
mod dispatch;
mod faults;
mod observe;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use actix_cluster_proto::IdPool;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use self::arbiter::ArbiterModel;
use self::dispatch::{Action, Queue};
use self::faults::{Cut, NodeSet};
pub use self::observe::{LogEntry, NodeStats, ViewState};
use crate::sim::error::SimError;
use crate::sim::hash::Fnv;
use crate::sim::net::{GeLink, NetConfig};
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

/// Life state of a node slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Running (possibly paused, see [`Sim::is_paused`]).
    Running,
    /// Crashed or stopped: processes nothing, everything sent to it is dropped.
    Crashed,
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
    queue: Queue<Action<N::Timer>>,
    slots: Vec<Slot<N>>,
    index: HashMap<SocketAddr, u32>,
    net: NetConfig,
    cuts: Vec<Cut>,
    link_latency: HashMap<(u32, u32), Duration>,
    link_loss: HashMap<(u32, u32), f64>,
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
    arbiter: ArbiterModel,
    /// The ids the simulated cores share (each member held once).
    id_pool: IdPool,
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
            queue: Queue::default(),
            slots: Vec::new(),
            index: HashMap::new(),
            net,
            cuts: Vec::new(),
            link_latency: HashMap::new(),
            link_loss: HashMap::new(),
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
            arbiter: ArbiterModel::new(),
            id_pool: IdPool::new(),
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

    /// The ids the simulated cores share (see [`IdPool`]).
    pub(crate) fn id_pool(&self) -> IdPool {
        self.id_pool.clone()
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
        self.queue.next_at()
    }

    /// Processes the next queued action; false if the queue is empty.
    pub fn step(&mut self) -> bool {
        match self.queue.pop() {
            Some((at, action)) => {
                self.now = self.now.max(at);
                self.process(action);
                true
            }
            None => false,
        }
    }

    /// Processes every action due at or before `t`, then sets the clock to `t`
    /// (if later than now).
    pub fn run_until(&mut self, t: Duration) {
        while self.queue.next_at().is_some_and(|at| at <= t) {
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
        while let Some(at) = self.queue.next_at().filter(|&at| at <= deadline) {
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

    fn push(&mut self, at: Duration, action: Action<N::Timer>) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(at, seq, action);
    }
}
