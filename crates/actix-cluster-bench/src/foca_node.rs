//! The foca peer: [`FocaNode`] runs `foca::Foca` (version 2) on the simulated
//! network through the same [`SimNode`] interface as our core.
//!
//! * Identity: [`FocaId`], a gossip address plus a generation; `renew()` bumps
//!   the generation so a member wrongly declared down rejoins as a new member
//!   (foca's auto-rejoin), and the higher generation wins an address conflict.
//! * Codec: foca's own postcard codec.
//! * Runtime: [`FocaQueue`] turns foca's callbacks into [`SimOutput`]s, in order.
//! * Config: `foca::Config::new_lan(cluster_size)` unless the caller passes one.
//! * Events: `MemberUp` -> [`SimEvent::Up`], `MemberDown` -> [`SimEvent::Down`]
//!   with `left: false` (foca does not say whether a member left or failed).
//!   foca publishes no notification when it *suspects* a member; to still measure
//!   "seen unreachable" the adapter can watch members' states in foca's table
//!   after every input ([`Watch`]) and emit [`SimEvent::Unreachable`] /
//!   [`SimEvent::Reachable`] on a change. Suspicions this node raised are counted
//!   from foca's `ProbeFailed` notification (feature `unstable-notifications`).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use foca::{Foca, NoCustomBroadcast, Notification, PostcardCodec, Runtime, State};
use rand010::rngs::SmallRng;
use rand010::SeedableRng;
use serde::{Deserialize, Serialize};

use actix_cluster_sim::{SimEvent, SimNode, SimOutput};

/// A foca member identity: the gossip address and a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FocaId {
    /// The address the member receives datagrams on.
    pub addr: SocketAddr,
    /// Bumped by `renew()` when the member finds itself declared down.
    pub generation: u64,
}

impl foca::Identity for FocaId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(FocaId {
            addr: self.addr,
            generation: self.generation.wrapping_add(1),
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

/// The adapter's timers: foca's own, and the join retry the adapter adds
/// (foca sends one announce per call; a lost announce would leave the node out
/// forever, so like our core's `join_retry_interval` the adapter announces to
/// the seeds again every second while it knows no active member).
#[derive(Clone, Debug)]
pub enum FocaTimer {
    /// A foca timer.
    Foca(foca::Timer<FocaId>),
    /// Announce to the seeds again if still alone.
    JoinRetry,
}

/// How often the adapter re-announces while alone.
pub const JOIN_RETRY: Duration = Duration::from_secs(1);

/// Counters the adapter keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FocaStats {
    /// Datagrams sent.
    pub messages_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Probes that failed (direct and indirect), i.e. suspicions this node raised.
    pub suspicions_raised: u64,
    /// Times foca declared this node itself down and it renewed its identity.
    pub rejoins: u64,
    /// Inputs foca rejected with an error (decode errors, data from ourselves).
    pub errors: u64,
}

/// Which members' suspect state the adapter watches (an O(N) scan of foca's
/// table after every input, so only on when a scenario needs it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Watch nothing (cheapest).
    Nothing,
    /// Watch one address.
    One(SocketAddr),
    /// Watch every member.
    All,
}

/// foca's [`Runtime`]: collects effects into a queue of [`SimOutput`]s.
#[derive(Debug, Default)]
pub struct FocaQueue {
    out: VecDeque<SimOutput<FocaTimer>>,
    stats: FocaStats,
    /// Newest generation seen per address, so a late `MemberDown` of an old
    /// self is not reported over its new self.
    newest: HashMap<SocketAddr, u64>,
    /// Set by foca's `Idle` notification (no active member left).
    idle: bool,
}

impl Runtime<FocaId> for FocaQueue {
    fn notify(&mut self, notification: Notification<'_, FocaId>) {
        match notification {
            Notification::MemberUp(id) => {
                let newest = self.newest.entry(id.addr).or_insert(id.generation);
                *newest = (*newest).max(id.generation);
                self.out.push_back(SimOutput::Event(SimEvent::Up(id.addr)));
            }
            Notification::MemberDown(id) => {
                // Only about the newest process known behind the address.
                let newest = self.newest.get(&id.addr).copied().unwrap_or(0);
                if id.generation >= newest {
                    self.out.push_back(SimOutput::Event(SimEvent::Down {
                        addr: id.addr,
                        left: false,
                    }));
                }
            }
            Notification::Rename(_, new) => {
                let newest = self.newest.entry(new.addr).or_insert(new.generation);
                *newest = (*newest).max(new.generation);
            }
            Notification::ProbeFailed(_, _) => self.stats.suspicions_raised += 1,
            Notification::Rejoin(_) => self.stats.rejoins += 1,
            Notification::Idle => self.idle = true,
            Notification::Active => self.idle = false,
            _ => {}
        }
    }

    fn send_to(&mut self, to: FocaId, data: &[u8]) {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += data.len() as u64;
        self.out.push_back(SimOutput::Send {
            to: to.addr,
            stream: false,
            bytes: data.to_vec(),
        });
    }

    fn submit_after(&mut self, event: foca::Timer<FocaId>, after: Duration) {
        self.out.push_back(SimOutput::Schedule {
            after,
            timer: FocaTimer::Foca(event),
        });
    }
}

/// One foca member on the simulated network.
pub struct FocaNode {
    foca: Foca<FocaId, PostcardCodec, SmallRng, NoCustomBroadcast>,
    queue: FocaQueue,
    watch: Watch,
    /// Last state seen of watched members (only `Suspect` ones are stored).
    suspected: HashMap<SocketAddr, u64>,
    seeds: Vec<SocketAddr>,
    retrying: bool,
}

impl std::fmt::Debug for FocaNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FocaNode")
            .field("identity", self.foca.identity())
            .field("members", &self.foca.num_members())
            .finish()
    }
}

/// foca's LAN configuration for a cluster of `cluster_size` members.
pub fn lan_config(cluster_size: usize) -> foca::Config {
    let n =
        NonZeroU32::new(cluster_size.clamp(1, u32::MAX as usize) as u32).unwrap_or(NonZeroU32::MIN);
    foca::Config::new_lan(n)
}

/// foca's LAN configuration with the suspicion timeout computed with
/// `suspicion_mult` instead of 4 (`max(1, log10 N) * mult * probe_period`),
/// for the trade-off sweep.
pub fn lan_config_with_suspicion_mult(cluster_size: usize, suspicion_mult: f64) -> foca::Config {
    let mut config = lan_config(cluster_size);
    let secs = f64::max(1.0, (cluster_size.max(1) as f64).log10())
        * suspicion_mult
        * config.probe_period.as_secs_f64();
    config.suspect_to_down_after = Duration::from_secs_f64(secs.max(0.001));
    config
}

impl FocaNode {
    /// A foca member at `addr` with `generation`, seeded RNG, and `config`.
    /// Call [`FocaNode::join`] to join.
    pub fn new(addr: SocketAddr, generation: u64, seed: u64, config: foca::Config) -> FocaNode {
        let id = FocaId { addr, generation };
        FocaNode {
            foca: Foca::new(id, config, SmallRng::seed_from_u64(seed), PostcardCodec),
            queue: FocaQueue::default(),
            watch: Watch::Nothing,
            suspected: HashMap::new(),
            seeds: Vec::new(),
            retrying: false,
        }
    }

    /// Joins through `seeds`: announces to each (foca accepts an announce sent
    /// to any identity with the right address), and again every [`JOIN_RETRY`]
    /// while it knows no active member.
    pub fn join(&mut self, seeds: &[SocketAddr]) {
        let me = self.foca.identity().addr;
        self.seeds = seeds.iter().copied().filter(|s| *s != me).collect();
        self.announce_to_seeds();
    }

    fn announce_to_seeds(&mut self) {
        for seed in self.seeds.clone() {
            let dst = FocaId {
                addr: seed,
                generation: 0,
            };
            if self.foca.announce(dst, &mut self.queue).is_err() {
                self.queue.stats.errors += 1;
            }
        }
        if !self.seeds.is_empty() && !self.retrying {
            self.retrying = true;
            self.queue.out.push_back(SimOutput::Schedule {
                after: JOIN_RETRY,
                timer: FocaTimer::JoinRetry,
            });
        }
    }

    /// Leaves gracefully (foca marks itself down and gossips it).
    pub fn leave(&mut self) {
        // No re-announce after leaving.
        self.seeds.clear();
        if self.foca.leave_cluster(&mut self.queue).is_err() {
            self.queue.stats.errors += 1;
        }
    }

    /// Sets what to watch for suspicion (see [`Watch`]).
    pub fn set_watch(&mut self, watch: Watch) {
        self.watch = watch;
        self.suspected.clear();
    }

    /// Counters.
    pub fn stats(&self) -> &FocaStats {
        &self.queue.stats
    }

    /// Members foca considers active (alive or suspect), without itself.
    pub fn num_members(&self) -> usize {
        self.foca.num_members()
    }

    /// Entries in foca's table, including down members not yet forgotten.
    pub fn table_len(&self) -> usize {
        self.foca.iter_membership_state().len()
    }

    /// This member's current identity.
    pub fn identity(&self) -> FocaId {
        *self.foca.identity()
    }

    fn after_input(&mut self) {
        match &self.watch {
            Watch::Nothing => {}
            Watch::One(target) => {
                let target = *target;
                let state = self
                    .foca
                    .iter_membership_state()
                    .filter(|m| m.id().addr == target && m.state() != State::Down)
                    .map(|m| (m.state(), m.id().generation))
                    .max_by_key(|(_, g)| *g);
                let suspect = matches!(state, Some((State::Suspect, _)));
                self.update_suspect(target, suspect.then(|| state.map_or(0, |s| s.1)));
            }
            Watch::All => {
                let mut now_suspected: HashMap<SocketAddr, u64> = HashMap::new();
                for m in self.foca.iter_membership_state() {
                    if m.state() == State::Suspect {
                        now_suspected.insert(m.id().addr, m.id().generation);
                    }
                }
                let before: Vec<SocketAddr> = self.suspected.keys().copied().collect();
                for addr in before {
                    if !now_suspected.contains_key(&addr) {
                        self.update_suspect(addr, None);
                    }
                }
                let mut added: Vec<(SocketAddr, u64)> = now_suspected.into_iter().collect();
                added.sort();
                for (addr, gen) in added {
                    self.update_suspect(addr, Some(gen));
                }
            }
        }
    }

    fn update_suspect(&mut self, addr: SocketAddr, suspect_gen: Option<u64>) {
        match (self.suspected.contains_key(&addr), suspect_gen) {
            (false, Some(gen)) => {
                self.suspected.insert(addr, gen);
                self.queue
                    .out
                    .push_back(SimOutput::Event(SimEvent::Unreachable(addr)));
            }
            (true, None) => {
                self.suspected.remove(&addr);
                // Only alive again counts as reachable; down is reported by
                // foca's own MemberDown.
                let alive = self
                    .foca
                    .iter_members()
                    .any(|m| m.id().addr == addr && m.state() == State::Alive);
                if alive {
                    self.queue
                        .out
                        .push_back(SimOutput::Event(SimEvent::Reachable(addr)));
                }
            }
            _ => {}
        }
    }
}

impl SimNode for FocaNode {
    type Timer = FocaTimer;

    fn handle_datagram(&mut self, _now: Duration, _from: SocketAddr, bytes: &[u8]) {
        if self.foca.handle_data(bytes, &mut self.queue).is_err() {
            self.queue.stats.errors += 1;
        }
        if self.queue.idle && !self.retrying && !self.seeds.is_empty() {
            self.announce_to_seeds();
        }
        self.after_input();
    }

    fn handle_stream(&mut self, _now: Duration, _from: SocketAddr, _bytes: &[u8]) {
        // foca has no stream transport; nothing is ever sent to it on one.
        self.queue.stats.errors += 1;
    }

    fn handle_timer(&mut self, _now: Duration, timer: FocaTimer) {
        match timer {
            FocaTimer::Foca(timer) => {
                if self.foca.handle_timer(timer, &mut self.queue).is_err() {
                    self.queue.stats.errors += 1;
                }
            }
            FocaTimer::JoinRetry => {
                self.retrying = false;
                if self.foca.num_members() == 0 {
                    self.announce_to_seeds();
                }
            }
        }
        if self.queue.idle && !self.retrying && !self.seeds.is_empty() {
            self.announce_to_seeds();
        }
        self.after_input();
    }

    fn poll_output(&mut self) -> Option<SimOutput<FocaTimer>> {
        self.queue.out.pop_front()
    }

    fn leave(&mut self, _now: Duration) {
        FocaNode::leave(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_cluster_sim::{node_addr, NetConfig, Sim};
    use foca::Identity;

    #[test]
    fn renewed_identity_is_newer_and_wins() {
        let id = FocaId {
            addr: node_addr(1),
            generation: 7,
        };
        let new = id.renew().expect("renews");
        assert_eq!(new.addr(), id.addr());
        assert!(new.win_addr_conflict(&id));
        assert!(!id.win_addr_conflict(&new));
    }

    #[test]
    fn foca_nodes_join_and_see_a_crash() {
        let mut sim: Sim<FocaNode> = Sim::new(3, NetConfig::default()).expect("sim");
        let addrs: Vec<SocketAddr> = (0..4).map(node_addr).collect();
        for (i, &a) in addrs.iter().enumerate() {
            let mut n = FocaNode::new(a, 1, i as u64, lan_config(4));
            if i > 0 {
                n.join(&addrs[..1]);
            }
            sim.add_node(a, n).expect("add");
        }
        let up = sim.run_until_condition(Duration::from_secs(60), |s| s.all_see_up());
        assert!(up.is_some(), "not converged: {:?}", sim.not_up_pairs());
        for &a in &addrs[..3] {
            sim.with_node(a, |n, _| n.set_watch(Watch::One(addrs[3])))
                .expect("watch");
        }
        sim.crash(addrs[3]).expect("crash");
        let deadline = sim.now() + Duration::from_secs(60);
        let down = sim.run_until_condition(deadline, |s| s.all_see_down(addrs[3]));
        assert!(down.is_some(), "crash not detected");
        // The watch reported the suspicion before the Down.
        assert!(sim
            .log()
            .iter()
            .any(|e| e.event == SimEvent::Unreachable(addrs[3])));
        assert!(addrs[..3].iter().any(|a| sim
            .node(*a)
            .is_some_and(|n| n.stats().suspicions_raised > 0)));
    }
}
