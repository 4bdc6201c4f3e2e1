//! One simulated cluster of one system, with the measurements the scenarios
//! need: a [`Tracker`] fed by the simulator's event hook, and helpers to crash,
//! join, leave and wait for convergence.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::system::BenchSystem;
use actix_cluster_sim::{derive_seed, node_addr, NetConfig, Sim, SimError, SimEvent};

/// Event bookkeeping for the current measurement.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Nodes that crashed or left: events about them are not false alarms, and
    /// events they publish are ignored.
    pub(crate) dead: HashSet<SocketAddr>,
    /// The member a crash or join trial is about.
    pub(crate) target: Option<SocketAddr>,
    /// Observer -> first `Down` of the target.
    pub(crate) down_by: HashMap<SocketAddr, Duration>,
    /// Observer -> first `Unreachable` (or `Down`, if it came first) of the target.
    pub(crate) unreach_by: HashMap<SocketAddr, Duration>,
    /// Observer -> first `Up` of the target.
    pub(crate) up_by: HashMap<SocketAddr, Duration>,
    /// `Down(failed)` events about live members (observer, subject pairs).
    pub(crate) false_downs: u64,
    /// Distinct live members declared failed by someone.
    pub(crate) false_down_members: HashSet<SocketAddr>,
    /// `Unreachable` events about live members (observer, subject pairs).
    pub(crate) false_unreachable_events: u64,
    /// Known stalls: member -> (pause start, pause end + grace) intervals.
    pub(crate) stalls: HashMap<SocketAddr, Vec<(Duration, Duration)>>,
    /// Of `false_downs`: those about a member raised while it was stalled
    /// (paused, or within the grace after it resumed).
    pub(crate) stalled_downs: u64,
    /// Distinct live members declared failed by someone outside their stalls.
    pub(crate) healthy_down_members: HashSet<SocketAddr>,
    /// Of `false_unreachable_events`: those about a stalled member.
    pub(crate) stalled_unreachable_events: u64,
    /// While counting (the scale mode's cold start): per observer, the
    /// instant of its last view change and how many it made.
    views: Option<HashMap<SocketAddr, (Duration, u64)>>,
}

impl Tracker {
    /// Starts (with an empty count) or stops counting view changes.
    pub(crate) fn count_views(&mut self, on: bool) {
        self.views = on.then(HashMap::new);
    }

    /// The view changes counted so far, one number per observer.
    pub(crate) fn views(&self) -> Vec<u64> {
        self.views
            .as_ref()
            .map_or(Vec::new(), |v| v.values().map(|(_, n)| *n).collect())
    }

    fn on_event(&mut self, time: Duration, observer: SocketAddr, event: &SimEvent) {
        if let Some(v) = self.views.as_mut() {
            if matches!(event, SimEvent::Up(_) | SimEvent::Down { .. }) {
                // Events at one instant make one new view.
                let e = v.entry(observer).or_insert((time, 0));
                if e.1 == 0 || e.0 != time {
                    *e = (time, e.1 + 1);
                }
            }
        }
        if self.dead.contains(&observer) {
            return;
        }
        let subject = event.addr();
        if Some(subject) == self.target {
            match event {
                SimEvent::Down { .. } => {
                    self.down_by.entry(observer).or_insert(time);
                    self.unreach_by.entry(observer).or_insert(time);
                }
                SimEvent::Unreachable(_) => {
                    self.unreach_by.entry(observer).or_insert(time);
                }
                SimEvent::Up(_) => {
                    self.up_by.entry(observer).or_insert(time);
                }
                SimEvent::Reachable(_) => {}
            }
        }
        if !self.dead.contains(&subject) {
            let stalled = self.is_stalled(subject, time);
            match event {
                SimEvent::Down { left: false, .. } => {
                    self.false_downs += 1;
                    self.false_down_members.insert(subject);
                    if stalled {
                        self.stalled_downs += 1;
                    } else {
                        self.healthy_down_members.insert(subject);
                    }
                }
                SimEvent::Unreachable(_) => {
                    self.false_unreachable_events += 1;
                    if stalled {
                        self.stalled_unreachable_events += 1;
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether `member` was stalled at `time` (inside one of its known pauses
    /// or the grace after it).
    fn is_stalled(&self, member: SocketAddr, time: Duration) -> bool {
        self.stalls
            .get(&member)
            .is_some_and(|v| v.iter().any(|&(a, b)| a <= time && time <= b))
    }

    fn set_target(&mut self, target: Option<SocketAddr>) {
        self.target = target;
        self.down_by.clear();
        self.unreach_by.clear();
        self.up_by.clear();
    }

    pub(crate) fn reset_false_alarms(&mut self) {
        self.false_downs = 0;
        self.false_down_members.clear();
        self.false_unreachable_events = 0;
        self.stalled_downs = 0;
        self.healthy_down_members.clear();
        self.stalled_unreachable_events = 0;
    }
}

/// Outcome of one crash trial (times from the crash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CrashOutcome {
    /// Every live member published `Down`.
    pub(crate) down: Option<Duration>,
    /// Every live member published `Unreachable` (or `Down`, if it came first).
    pub(crate) unreachable: Option<Duration>,
}

/// Traffic per member per second over a measured stretch.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Traffic {
    /// Bytes sent per member per second (datagrams and stream frames).
    pub bytes_per_member_s: f64,
    /// Messages sent per member per second.
    pub msgs_per_member_s: f64,
}

/// One cluster of system `S` on a simulated network.
pub(crate) struct World<S: BenchSystem> {
    pub(crate) sys: S,
    pub(crate) sim: Sim<S::Node>,
    pub(crate) tr: Rc<RefCell<Tracker>>,
    pub(crate) rng: SmallRng,
    /// Expected cluster size (configurations that depend on it).
    pub(crate) n: usize,
    /// The first node (forms the cluster; never crashed by trials).
    pub(crate) first: Option<SocketAddr>,
    /// Most recently joined node (not crashed by the next trial).
    pub(crate) last_joined: Option<SocketAddr>,
    /// Wall time spent in `run_*` and the member-seconds simulated meanwhile.
    pub(crate) wall: Duration,
    pub(crate) member_seconds: f64,
}

/// How often convergence conditions are checked (virtual time).
const CHECK: Duration = Duration::from_millis(50);

impl<S: BenchSystem> World<S> {
    pub(crate) fn new(sys: S, seed: u64, net: NetConfig, n: usize) -> Result<Self, SimError> {
        let mut sim = Sim::new(seed, net)?;
        sim.set_keep_log(false);
        sim.set_check_interval(CHECK);
        let tr = Rc::new(RefCell::new(Tracker::default()));
        let hook_tr = Rc::clone(&tr);
        sim.set_event_hook(move |t, obs, ev| hook_tr.borrow_mut().on_event(t, obs, ev));
        Ok(World {
            sys,
            sim,
            tr,
            rng: SmallRng::seed_from_u64(derive_seed(seed, 0xbe9c, 0)),
            n,
            first: None,
            last_joined: None,
            wall: Duration::ZERO,
            member_seconds: 0.0,
        })
    }

    /// Starts a node at the next free address joining through `seeds`
    /// (forming a cluster when empty).
    pub(crate) fn spawn(&mut self, seeds: &[SocketAddr]) -> Result<SocketAddr, SimError> {
        let addr = node_addr(self.sim.len());
        self.sys.spawn(&mut self.sim, addr, seeds, self.n)?;
        if self.first.is_none() {
            self.first = Some(addr);
        }
        Ok(addr)
    }

    /// Starts `n` nodes at once: the first forms the cluster, the others join
    /// through it.
    pub(crate) fn cold_start(&mut self, n: usize) -> Result<Vec<SocketAddr>, SimError> {
        let mut out = Vec::with_capacity(n);
        let first = self.spawn(&[])?;
        out.push(first);
        for _ in 1..n {
            out.push(self.spawn(&[first])?);
        }
        Ok(out)
    }

    fn timed<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let live = self.sim.live().len() as f64;
        let t0 = self.sim.now();
        let w0 = Instant::now();
        let r = f(self);
        self.wall += w0.elapsed();
        self.member_seconds += live * (self.sim.now() - t0).as_secs_f64();
        r
    }

    pub(crate) fn run_for(&mut self, d: Duration) {
        self.timed(|w| w.sim.run_for(d));
    }

    pub(crate) fn run_until(&mut self, t: Duration) {
        self.timed(|w| w.sim.run_until(t));
    }

    /// Runs until every live node sees every other Up; the time it took.
    pub(crate) fn converge(&mut self, limit: Duration) -> Option<Duration> {
        let t0 = self.sim.now();
        let deadline = t0 + limit;
        self.timed(|w| w.sim.run_until_condition(deadline, |s| s.all_see_up()))
            .map(|t| t - t0)
    }

    fn pick_live(&mut self, exclude: &[Option<SocketAddr>]) -> Option<SocketAddr> {
        let cands: Vec<SocketAddr> = self
            .sim
            .live()
            .into_iter()
            .filter(|a| !exclude.contains(&Some(*a)))
            .collect();
        if cands.is_empty() {
            return None;
        }
        Some(cands[self.rng.gen_range(0..cands.len())])
    }

    /// A random live member other than the first and the last joined.
    pub(crate) fn pick_victim(&mut self) -> Option<SocketAddr> {
        let ex = [self.first, self.last_joined];
        self.pick_live(&ex)
    }

    /// Crashes a random member; measures until every live member published
    /// `Down` (and `Unreachable`) or `limit`.
    pub(crate) fn crash_trial(&mut self, limit: Duration) -> Result<CrashOutcome, SimError> {
        self.crash_trial_of(limit, false)
    }

    /// A crash trial; with `silent` the host goes with the process (it lost
    /// power or its network): the member is cut off before it stops, so
    /// nothing refuses a connection and its packets just vanish. Its address
    /// is never used again, so the cut stays.
    pub(crate) fn crash_trial_of(
        &mut self,
        limit: Duration,
        silent: bool,
    ) -> Result<CrashOutcome, SimError> {
        let target = self
            .pick_victim()
            .ok_or(SimError::Core("no member to crash".into()))?;
        let observers: Vec<SocketAddr> = self
            .sim
            .live()
            .into_iter()
            .filter(|a| *a != target)
            .collect();
        for &o in &observers {
            S::watch(&mut self.sim, o, Some(target));
        }
        {
            let mut tr = self.tr.borrow_mut();
            tr.set_target(Some(target));
            tr.dead.insert(target);
        }
        let t0 = self.sim.now();
        if silent {
            self.sim.isolate(target)?;
        }
        self.sim.crash(target)?;
        let need = observers.len();
        let tr = Rc::clone(&self.tr);
        self.timed(|w| {
            w.sim
                .run_until_condition(t0 + limit, |_| tr.borrow().down_by.len() >= need)
        });
        let out = {
            let tr = self.tr.borrow();
            let all = |m: &HashMap<SocketAddr, Duration>| -> Option<Duration> {
                let mut last = Duration::ZERO;
                for o in &observers {
                    last = last.max(*m.get(o)?);
                }
                Some(last - t0)
            };
            CrashOutcome {
                down: all(&tr.down_by),
                unreachable: all(&tr.unreach_by),
            }
        };
        for &o in &observers {
            S::watch(&mut self.sim, o, None);
        }
        self.tr.borrow_mut().set_target(None);
        Ok(out)
    }

    /// A new member joins through one random live member; measures until every
    /// other live member published its `Up`, or `limit`.
    pub(crate) fn join_trial(&mut self, limit: Duration) -> Result<Option<Duration>, SimError> {
        let observers = self.sim.live();
        let seed = self
            .pick_live(&[])
            .ok_or(SimError::Core("no member to join through".into()))?;
        let addr = node_addr(self.sim.len());
        self.tr.borrow_mut().set_target(Some(addr));
        let t0 = self.sim.now();
        self.spawn(&[seed])?;
        self.last_joined = Some(addr);
        let need = observers.len();
        let tr = Rc::clone(&self.tr);
        self.timed(|w| {
            w.sim
                .run_until_condition(t0 + limit, |_| tr.borrow().up_by.len() >= need)
        });
        let out = {
            let tr = self.tr.borrow();
            let mut last = Some(Duration::ZERO);
            for o in &observers {
                last = match (last, tr.up_by.get(o)) {
                    (Some(l), Some(t)) => Some(l.max(*t - t0)),
                    _ => None,
                };
            }
            last
        };
        self.tr.borrow_mut().set_target(None);
        Ok(out)
    }

    /// A random member (not the first, the last joined nor `keep`) leaves
    /// gracefully and stops a second later.
    pub(crate) fn leave_one(&mut self, keep: SocketAddr) -> Result<(), SimError> {
        let ex = [self.first, self.last_joined, Some(keep)];
        if let Some(a) = self.pick_live(&ex) {
            self.tr.borrow_mut().dead.insert(a);
            self.sim.leave_and_stop(a, Duration::from_secs(1))?;
        }
        Ok(())
    }

    /// Sum of the suspicions-raised counters of live nodes.
    pub(crate) fn suspicions_raised(&self) -> u64 {
        self.sim
            .live()
            .into_iter()
            .filter_map(|a| self.sim.node(a))
            .map(S::suspicions_raised)
            .sum()
    }

    /// Traffic since the last `sim.reset_stats()`, over `secs` and `members`.
    pub(crate) fn traffic(&self, secs: f64, members: f64) -> Traffic {
        let t = self.sim.total_stats();
        let denom = (secs * members).max(1e-9);
        Traffic {
            bytes_per_member_s: t.bytes_sent() as f64 / denom,
            msgs_per_member_s: t.messages_sent() as f64 / denom,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_by_stall_of_their_subject() {
        let (obs, paused, healthy) = (node_addr(0), node_addr(1), node_addr(2));
        let mut tr = Tracker::default();
        tr.stalls.insert(
            paused,
            vec![(Duration::from_secs(10), Duration::from_secs(14))],
        );
        let s = Duration::from_secs;
        // During the stall (and at its grace end): stalled.
        tr.on_event(s(11), obs, &SimEvent::Unreachable(paused));
        tr.on_event(
            s(14),
            obs,
            &SimEvent::Down {
                addr: paused,
                left: false,
            },
        );
        // Before and after: healthy, as is any event about another member.
        tr.on_event(s(9), obs, &SimEvent::Unreachable(paused));
        tr.on_event(
            s(15),
            obs,
            &SimEvent::Down {
                addr: paused,
                left: false,
            },
        );
        tr.on_event(s(11), obs, &SimEvent::Unreachable(healthy));
        assert_eq!(tr.false_unreachable_events, 3);
        assert_eq!(tr.stalled_unreachable_events, 1);
        assert_eq!(tr.false_downs, 2);
        assert_eq!(tr.stalled_downs, 1);
        assert_eq!(tr.healthy_down_members.len(), 1);
        tr.reset_false_alarms();
        assert_eq!(tr.stalled_unreachable_events + tr.stalled_downs, 0);
    }
}
