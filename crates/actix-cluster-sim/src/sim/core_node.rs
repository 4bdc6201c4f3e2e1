//! Our protocol core as a [`SimNode`], and scenario helpers for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{
    Channel, Command, Config, Core, DownReason, Event, Generation, LocalMember, MemberId,
    MemberInfo, Output, Status, Timer,
};

use crate::sim::engine::{node_addr, Sim};
use crate::sim::error::SimError;
use crate::sim::hash::Fnv;
use crate::sim::node::{SimEvent, SimNode, SimOutput};

/// The newest generation a node published an event about, per address. At
/// 10,000 nodes this is 10^8 records in all: the simulator's own addresses
/// (see [`node_addr`]) keep theirs in a vector by node number, one word
/// each (a hash map took about three), any other address (and generation
/// 0, the vector's "none") in a map.
#[derive(Debug, Default)]
struct NewestGen {
    by_node: Vec<Generation>,
    other: HashMap<SocketAddr, Generation>,
}

/// Node numbers past this keep their generations in the map (a stray
/// address must not make every node's vector huge).
const MAX_DENSE: usize = 1 << 16;

/// The node number of one of the simulator's addresses.
fn node_number(addr: SocketAddr) -> Option<usize> {
    match addr {
        SocketAddr::V4(a) if a.port() == node_addr(0).port() => {
            let [ten, hi, mid, lo] = a.ip().octets();
            let i = (usize::from(hi) << 16) | (usize::from(mid) << 8) | usize::from(lo);
            (ten == 10 && i < MAX_DENSE).then_some(i)
        }
        _ => None,
    }
}

impl NewestGen {
    /// Whether `generation` is at least the newest seen at `addr`; if so it
    /// is the newest from now on.
    fn admit(&mut self, addr: SocketAddr, generation: Generation) -> bool {
        let node = node_number(addr);
        let held = node.and_then(|i| self.by_node.get(i).copied().filter(|&g| g != 0));
        let newest = held.max(self.other.get(&addr).copied());
        if newest.is_some_and(|n| generation < n) {
            return false;
        }
        match node {
            Some(i) if generation != 0 => {
                let len = self.by_node.len();
                if i >= len {
                    // By an eighth at least, not by doubling (see
                    // `NewestGen`): one word per node is the point.
                    self.by_node.reserve_exact((i + 1 - len).max(len / 8));
                    self.by_node.resize(i + 1, 0);
                }
                self.by_node[i] = generation;
            }
            _ => {
                self.other.insert(addr, generation);
            }
        }
        true
    }
}

/// Our [`Core`] on the simulated network.
///
/// Besides mapping [`Event`]s to [`SimEvent`]s it keeps (unless turned off with
/// [`CoreNode::set_record_events`]) the full events with their times, so
/// scenarios can tell the generations of a restarted member apart.
///
/// Mapping: `Up` -> [`SimEvent::Up`], `Unreachable`/`Reachable` -> the same,
/// `Down` -> [`SimEvent::Down`] (`left` for [`DownReason::Left`]); `Joined`,
/// `Leaving`, `Removed` and `LeaderChanged` have no neutral counterpart. Events
/// about this node's own address, and events about an older generation than the
/// newest this node has published an event for at that address, are not mapped
/// (they stay in the full log).
#[derive(Debug)]
pub struct CoreNode {
    core: Core,
    config: Config,
    local: LocalMember,
    now: Duration,
    record: bool,
    events: Vec<(Duration, Event)>,
    newest_gen: NewestGen,
    seeds: Vec<SocketAddr>,
}

impl CoreNode {
    /// Builds a node (not in any cluster yet; give it [`Command::Form`] or
    /// [`Command::Join`] through [`CoreNode::command`]).
    pub fn new(
        local: LocalMember,
        config: Config,
        seed: u64,
        now: Duration,
    ) -> Result<CoreNode, SimError> {
        let core = Core::new(local.clone(), config.clone(), seed)
            .map_err(|e| SimError::Core(e.to_string()))?;
        Ok(CoreNode {
            core,
            config,
            local,
            now,
            record: true,
            events: Vec::new(),
            newest_gen: NewestGen::default(),
            seeds: Vec::new(),
        })
    }

    /// Keep (default) or stop keeping the full event log. At 1000 nodes the log
    /// takes hundreds of megabytes; benchmarks turn it off.
    pub fn set_record_events(&mut self, record: bool) {
        self.record = record;
        if !record {
            self.events = Vec::new();
        }
    }

    /// Hands a command to the core. Through a [`Sim`] use [`Sim::command`] so the
    /// outputs are carried out at once.
    pub fn command(&mut self, now: Duration, command: Command) {
        self.now = now;
        if let Command::Join { seeds } = &command {
            self.seeds.clone_from(seeds);
        }
        self.core.handle_command(now, command);
    }

    /// The core.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Its identity and roles.
    pub fn local(&self) -> &LocalMember {
        &self.local
    }

    /// The seeds of its last join command.
    pub fn seeds(&self) -> &[SocketAddr] {
        &self.seeds
    }

    /// Every event this instance published, with its time.
    pub fn events(&self) -> &[(Duration, Event)] {
        &self.events
    }

    fn map(&mut self, e: &Event) -> Option<SimEvent> {
        let id = match e {
            Event::Joined(m)
            | Event::Up(m)
            | Event::Unreachable(m)
            | Event::Reachable(m)
            | Event::Leaving(m)
            | Event::Down { member: m, .. } => &m.id,
            Event::Removed(id) => id,
            Event::LeaderChanged(_) | Event::SelfChanged { .. } | Event::Updated(_) => return None,
        };
        if id.addr == self.local.id.addr {
            return None;
        }
        if !self.newest_gen.admit(id.addr, id.generation) {
            return None;
        }
        match e {
            Event::Up(m) => Some(SimEvent::Up(m.id.addr)),
            Event::Unreachable(m) => Some(SimEvent::Unreachable(m.id.addr)),
            Event::Reachable(m) => Some(SimEvent::Reachable(m.id.addr)),
            Event::Down { member, reason } => Some(SimEvent::Down {
                addr: member.id.addr,
                left: *reason == DownReason::Left,
            }),
            _ => None,
        }
    }
}

impl SimNode for CoreNode {
    type Timer = Timer;

    fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        self.now = now;
        self.core.handle_datagram(now, from, bytes);
    }

    fn handle_stream(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        self.now = now;
        self.core.handle_stream(now, from, bytes);
    }

    fn handle_timer(&mut self, now: Duration, timer: Timer) {
        self.now = now;
        self.core.handle_timer(now, timer);
    }

    fn poll_output(&mut self) -> Option<SimOutput<Timer>> {
        loop {
            match self.core.poll_output()? {
                Output::Send { to, channel, bytes } => {
                    return Some(SimOutput::Send {
                        to,
                        stream: channel == Channel::Stream,
                        bytes,
                    })
                }
                Output::Schedule { after, timer } => {
                    return Some(SimOutput::Schedule { after, timer })
                }
                Output::Arbitrate { round, side } => {
                    return Some(SimOutput::Arbitrate {
                        round,
                        side: side.iter().map(|m| m.addr).collect(),
                    })
                }
                // The simulated arbiter answers at the ask; the minority's
                // early reachability check is the real drivers' business.
                Output::CheckArbiter { .. } => {}
                Output::Event(e) => {
                    let mapped = self.map(&e);
                    if self.record {
                        self.events.push((self.now, e));
                    }
                    if let Some(m) = mapped {
                        return Some(SimOutput::Event(m));
                    }
                }
            }
        }
    }

    fn handle_arbiter(&mut self, now: Duration, round: u64, won: Option<bool>) {
        self.now = now;
        self.core.handle_arbiter(now, round, won);
    }

    fn handle_refused(&mut self, now: Duration, to: SocketAddr) {
        self.now = now;
        self.core.handle_refused(now, to);
    }

    fn leave(&mut self, now: Duration) {
        self.command(now, Command::Leave);
    }
}

/// How a new core starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// No command: give one later with [`Sim::command`].
    Idle,
    /// Form a new cluster alone.
    Form,
    /// Join through these seeds.
    Join(Vec<SocketAddr>),
}

/// Options for cores started by the [`Sim`] helpers.
#[derive(Clone, Debug)]
pub struct CoreOpts {
    /// Protocol configuration (default: `Config::lan()`).
    pub config: Config,
    /// Roles of every node.
    pub roles: BTreeSet<String>,
    /// Keep each node's full event log (default true; turn off for large runs).
    pub record_events: bool,
}

impl Default for CoreOpts {
    fn default() -> Self {
        CoreOpts {
            config: Config::lan(),
            roles: BTreeSet::new(),
            record_events: true,
        }
    }
}

impl CoreOpts {
    /// Options with this config, no roles, events recorded.
    pub fn with_config(config: Config) -> Self {
        CoreOpts {
            config,
            ..CoreOpts::default()
        }
    }
}

impl Sim<CoreNode> {
    /// A generation for a new instance in slot `slot`: increasing with the
    /// virtual time of the start, unique per slot and restart.
    fn generation(&self, restarts: u32) -> Generation {
        ((self.now().as_micros() as u64 + 1) << 12) | u64::from(restarts & 0xfff)
    }

    fn make_core(
        &self,
        addr: SocketAddr,
        slot: usize,
        restarts: u32,
        opts: &CoreOpts,
        start: &Start,
    ) -> Result<CoreNode, SimError> {
        let name = format!("n{slot}");
        let local = LocalMember {
            id: MemberId::new(name, addr, self.generation(restarts)),
            roles: opts.roles.clone(),
            metadata: BTreeMap::new(),
        };
        let seed = self.node_seed(slot, restarts);
        let mut node = CoreNode::new(local, opts.config.clone(), seed, self.now())?;
        node.core.share_ids(self.id_pool());
        node.set_record_events(opts.record_events);
        match start {
            Start::Idle => {}
            Start::Form => node.command(self.now(), Command::Form),
            Start::Join(seeds) => node.command(
                self.now(),
                Command::Join {
                    seeds: seeds.clone(),
                },
            ),
        }
        Ok(node)
    }

    /// Starts a core at `addr` (named `n<slot>`) now.
    pub fn spawn_core(
        &mut self,
        addr: SocketAddr,
        opts: &CoreOpts,
        start: Start,
    ) -> Result<SocketAddr, SimError> {
        if self.slot_of(addr).is_some() {
            return Err(SimError::DuplicateAddress(addr));
        }
        let node = self.make_core(addr, self.len(), 0, opts, &start)?;
        self.add_node(addr, node)?;
        Ok(addr)
    }

    /// Starts the next slot's core at [`node_addr`]`(slot)`.
    pub fn spawn_next(&mut self, opts: &CoreOpts, start: Start) -> Result<SocketAddr, SimError> {
        self.spawn_core(node_addr(self.len()), opts, start)
    }

    /// The addresses the next `seeds` nodes will get (at least one, at most
    /// `n`): the seeds of a group of `n` nodes about to be spawned.
    fn next_seed_addrs(&self, n: usize, seeds: usize) -> Vec<SocketAddr> {
        let base = self.len();
        let k = seeds.clamp(1, n.max(1));
        (0..k).map(|i| node_addr(base + i)).collect()
    }

    /// Starts `n` cores now: the first forms the cluster, every other joins through
    /// the first `seeds` nodes (at least one). Returns their addresses, the
    /// first `seeds` of them being the seeds.
    pub fn start_cluster(
        &mut self,
        n: usize,
        seeds: usize,
        opts: &CoreOpts,
    ) -> Result<Vec<SocketAddr>, SimError> {
        let seed_addrs = self.next_seed_addrs(n, seeds);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let start = if i == 0 {
                Start::Form
            } else {
                Start::Join(seed_addrs.clone())
            };
            out.push(self.spawn_next(opts, start)?);
        }
        Ok(out)
    }

    /// Cold start: starts `n` cores at once, all joining through the same list
    /// of the first `seeds` nodes (at least one), seeds included, as processes
    /// started together from one configuration would. The core forms the cluster
    /// on the first seed when nobody answers it (a join whose first seed is the
    /// node itself).
    pub fn cold_start(
        &mut self,
        n: usize,
        seeds: usize,
        opts: &CoreOpts,
    ) -> Result<Vec<SocketAddr>, SimError> {
        let seed_addrs = self.next_seed_addrs(n, seeds);
        (0..n)
            .map(|_| self.spawn_next(opts, Start::Join(seed_addrs.clone())))
            .collect()
    }

    /// Hands a command to the running core at `addr` and carries out its outputs.
    pub fn command(&mut self, addr: SocketAddr, command: Command) -> Result<(), SimError> {
        self.with_node(addr, |n, now| n.command(now, command))
    }

    /// Restarts the core at `addr` as a new process (a new generation, a new RNG
    /// seed, same config and roles) that joins through `seeds`.
    pub fn restart_core(
        &mut self,
        addr: SocketAddr,
        seeds: Vec<SocketAddr>,
    ) -> Result<(), SimError> {
        let slot = self.slot_of(addr).ok_or(SimError::UnknownNode(addr))?;
        let old = self.node(addr).ok_or(SimError::UnknownNode(addr))?;
        let opts = CoreOpts {
            config: old.config().clone(),
            roles: old.local().roles.clone(),
            record_events: old.record,
        };
        let restarts = self.restarts(addr) + 1;
        let node = self.make_core(addr, slot, restarts, &opts, &Start::Join(seeds))?;
        self.restart(addr, node)
    }

    /// The core at `addr` (the current instance, also after a crash).
    pub fn core(&self, addr: SocketAddr) -> Option<&Core> {
        self.node(addr).map(CoreNode::core)
    }

    /// The members the core at `addr` knows (empty for an unknown address).
    pub fn view(&self, addr: SocketAddr) -> Vec<MemberInfo> {
        self.core(addr).map(Core::members).unwrap_or_default()
    }

    /// The id of the current instance at `addr`.
    pub fn member_id(&self, addr: SocketAddr) -> Option<MemberId> {
        self.core(addr).map(|c| c.local_id().clone())
    }

    /// The leader the core at `addr` computes now ([`Core::leader`]): `None`
    /// while it is joining (also after fencing itself) or down.
    pub fn leader(&self, addr: SocketAddr) -> Option<MemberId> {
        self.core(addr).and_then(Core::leader)
    }

    /// True if every live core's `members()` has every live core (current
    /// generation) `Up` and reachable. Costs O(N²) member views: for tests.
    pub fn all_views_up(&self) -> bool {
        let live: Vec<MemberId> = self
            .live()
            .into_iter()
            .filter_map(|a| self.member_id(a))
            .collect();
        live.iter().all(|o| {
            let core = self.core(o.addr).expect("live node has a core");
            live.iter().all(|s| {
                core.member(s)
                    .is_some_and(|m| m.status == Status::Up && m.reachable)
            })
        })
    }

    /// Full events of every instance that ever ran at `addr`, oldest instance
    /// first.
    pub fn core_events_all(&self, addr: SocketAddr) -> Vec<(Duration, Event)> {
        let mut out: Vec<(Duration, Event)> = self
            .retired(addr)
            .iter()
            .flat_map(|n| n.events().iter().cloned())
            .collect();
        if let Some(n) = self.node(addr) {
            out.extend(n.events().iter().cloned());
        }
        out
    }

    /// A hash over every instance's full event log (slot order, instance order),
    /// plus [`Sim::log_hash`]. Needs the full logs (see [`CoreOpts::record_events`]).
    pub fn full_log_hash(&self) -> u64 {
        let mut h = Fnv::new();
        h.write_u64(self.log_hash());
        for addr in self.addrs() {
            let instances = self.retired(addr).iter().chain(self.node(addr));
            for n in instances {
                h.write_u64(u64::MAX);
                for (t, e) in n.events() {
                    h.write_u64(t.as_nanos() as u64);
                    h.write(format!("{e:?}").as_bytes());
                }
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetConfig;

    /// The cores of one simulator hold one copy of each member's id: every
    /// core's view of a member points at the same parts.
    #[test]
    fn simulated_cores_share_ids() {
        let mut sim: Sim<CoreNode> = Sim::new(3, NetConfig::default()).unwrap();
        let addrs = sim
            .start_cluster(12, 1, &CoreOpts::with_config(Config::local()))
            .unwrap();
        let up = sim.run_until_condition(Duration::from_secs(30), |s| s.all_see_up());
        assert!(up.is_some());
        assert_eq!(sim.id_pool().len(), 12);
        let parts = |a: SocketAddr| -> Vec<*const actix_cluster_proto::IdParts> {
            let members = sim.node(a).unwrap().core().members();
            members.iter().map(|m| m.id.parts() as *const _).collect()
        };
        let first = parts(addrs[0]);
        assert_eq!(first.len(), 12);
        for &a in &addrs[1..] {
            assert_eq!(parts(a), first, "{a} holds its own copies");
        }
    }
}
