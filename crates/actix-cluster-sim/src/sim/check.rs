//! A whole-run checker for the downing decision: drives a [`Sim`] of our
//! cores in small steps, samples every node's leader and id, and at the end
//! reads every instance's event log.
//!
//! What it checks (see [`DowningCheck`]): no healthy member is ever declared
//! `Down(Failed)` or reborn; a faulty member is downed by the survivors
//! (measured from the fault); two sides never both have an `Up` leader once
//! the decision had time to happen; at the end everyone is `Up` with one id.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config, DownReason, Event, MemberId, Status};

use crate::sim::core_node::CoreNode;
use crate::sim::engine::Sim;

/// One fault: a set of members cut off (or slowed, or paused) from the rest
/// at `at`, its own side until [`DowningCheck::end_faults`].
#[derive(Clone, Debug)]
struct Fault {
    at: Duration,
    /// The members on the fault's side, with their ids at the fault.
    side: Vec<(SocketAddr, Option<MemberId>)>,
    /// Whether the survivors must down them.
    expect_down: bool,
    /// The healthy members at the fault: the survivors that must down them.
    survivors: Vec<SocketAddr>,
    /// Still in force (its side is checked for a leader).
    active: bool,
    /// Not cut off (a lossy member): once reborn, its new member is one of
    /// the cluster and may name the cluster's leader.
    connected: bool,
}

/// What a [`DowningCheck`] found over a run.
#[derive(Clone, Debug, Default)]
pub struct DowningReport {
    /// `Down(Failed)` events about a healthy member: (time, observer, member).
    pub healthy_downs: Vec<(Duration, SocketAddr, MemberId)>,
    /// Healthy members that became a new member (their id changed).
    pub healthy_reborn: Vec<(Duration, MemberId, MemberId)>,
    /// Samples where two sides each had a node with an `Up` leader, or (outside
    /// every fault's grace period) two live members were each somebody's
    /// leader: (time, the leaders seen).
    pub split_brain: Vec<(Duration, Vec<MemberId>)>,
    /// Number of such samples (`split_brain` keeps the first few).
    pub split_samples: usize,
    /// For how long (sampled) two sides each had a node whose leader was a
    /// different live member, the grace period included: the dual-leader
    /// time. A figure, not a violation (`split_samples` is the violation).
    pub dual_leader: Duration,
    /// The last such moment, measured from the latest fault before it.
    pub dual_leader_until: Option<Duration>,
    /// Samples where a node's leader was not the current id of a live member
    /// (a stale view; not a violation by itself).
    pub stale_leader_samples: usize,
    /// For each member of a fault that must be downed: how long after the
    /// fault every survivor (healthy at the fault and at the end) had it down
    /// (`None`: not by the end of the run).
    pub downed_after: Vec<(SocketAddr, Option<Duration>)>,
    /// For each member of any fault: how long after the fault it fenced
    /// itself or was reborn (`None`: it never did).
    pub reborn_after: Vec<(SocketAddr, Option<Duration>)>,
    /// Newcomers sent to a fault's side that never became one of its
    /// members: no member of the side saw them `Up` before it fenced
    /// itself, so there was nothing of theirs to fence.
    pub never_joined: Vec<SocketAddr>,
    /// What was wrong at the end (not everyone `Up` with one id).
    pub end_problems: Vec<String>,
}

impl DowningReport {
    /// Every violation, one line each (empty when the run was clean). The
    /// downing times are figures, not violations, except a member that was
    /// never downed.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (t, by, m) in self.healthy_downs.iter().take(5) {
            out.push(format!(
                "healthy {m} declared Down(Failed) by {by} at {t:?}"
            ));
        }
        for (t, old, new) in self.healthy_reborn.iter().take(5) {
            out.push(format!("healthy {old} reborn as {new} at {t:?}"));
        }
        if let Some((t, leaders)) = self.split_brain.first() {
            out.push(format!(
                "{} samples with two Up leaders, first at {t:?}: {leaders:?}",
                self.split_samples
            ));
        }
        for (a, d) in &self.downed_after {
            if d.is_none() {
                out.push(format!("faulty {a} never downed by every survivor"));
            }
        }
        out.extend(self.end_problems.iter().cloned());
        out
    }
}

/// Records a run and checks the downing properties on it.
///
/// Tell it the faults as you cause them ([`DowningCheck::fault`], then
/// [`DowningCheck::end_faults`] when you heal), and run the simulation
/// through [`DowningCheck::run_until`] so that it can sample.
///
/// ```
/// use std::time::Duration;
/// use actix_cluster_proto::Config;
/// use actix_cluster_sim::{CoreOpts, DowningCheck, NetConfig, Sim};
///
/// let mut sim = Sim::new(3, NetConfig::default()).unwrap();
/// let nodes = sim
///     .start_cluster(5, 1, &CoreOpts::with_config(Config::lan()))
///     .unwrap();
/// sim.run_until_condition(Duration::from_secs(10), |s| s.all_see_up());
/// let mut check = DowningCheck::new(&sim, &nodes[..4], &Config::lan());
/// sim.crash(nodes[4]).unwrap();
/// check.fault(&sim, &nodes[4..], true);
/// check.run_until(&mut sim, Duration::from_secs(20));
/// let report = check.finish(&sim);
/// assert!(report.problems().is_empty(), "{:?}", report.problems());
/// let took = report.downed_after[0].1.unwrap();
/// assert!(took < Duration::from_secs(10), "{took:?}");
/// ```
#[derive(Clone, Debug)]
pub struct DowningCheck {
    start: Duration,
    every: Duration,
    grace: Duration,
    healthy: BTreeSet<SocketAddr>,
    ids: HashMap<SocketAddr, MemberId>,
    faults: Vec<Fault>,
    /// Members that joined a side during its fault: their own decision time
    /// starts when they join.
    joined_at: HashMap<SocketAddr, Duration>,
    /// When the last sample was taken.
    last_sample: Duration,
    report: DowningReport,
}

/// How many split-brain samples a report keeps.
const KEEP: usize = 5;

impl DowningCheck {
    /// Starts checking now. `healthy`: the members that must never be downed
    /// or reborn (the others are faulty, minority or paused beyond the bound).
    /// The grace period after a fault, during which two sides may still both
    /// have a leader, is the decision time of the side that loses: its
    /// members must each be suspected (at the slowed probe rate of a side
    /// whose helpers do not answer: up to the longest unconfirmed suspicion
    /// timeout) and then wait out the pause bound: `max_pause +
    /// refutation_spread(N) + suspicion_max_timeout(N) + stable_after + 2 s`
    /// of `config`, with N the live members now.
    pub fn new(sim: &Sim<CoreNode>, healthy: &[SocketAddr], config: &Config) -> Self {
        let d = &config.downing;
        let n = sim.live().len();
        DowningCheck {
            start: sim.now(),
            every: Duration::from_millis(100),
            grace: d.max_pause
                + config.refutation_spread(n)
                + config.suspicion_max_timeout(n)
                + d.stable_after
                + Duration::from_secs(2),
            healthy: healthy.iter().copied().collect(),
            ids: healthy
                .iter()
                .filter_map(|&a| sim.member_id(a).map(|id| (a, id)))
                .collect(),
            faults: Vec::new(),
            joined_at: HashMap::new(),
            last_sample: sim.now(),
            report: DowningReport::default(),
        }
    }

    /// How often to sample (default 100 ms of virtual time).
    pub fn set_interval(&mut self, every: Duration) {
        self.every = every.max(Duration::from_millis(1));
    }

    /// The members of `side` are cut off from the others (or paused, or lossy)
    /// from now on: they form a side of their own until
    /// [`DowningCheck::end_faults`]. With `expect_down` the survivors must down
    /// them (and the time it took is reported). Returns the fault's number.
    pub fn fault(&mut self, sim: &Sim<CoreNode>, side: &[SocketAddr], expect_down: bool) -> usize {
        self.faults.push(Fault {
            at: sim.now(),
            side: side.iter().map(|&a| (a, sim.member_id(a))).collect(),
            expect_down,
            survivors: self.healthy.iter().copied().collect(),
            active: true,
            connected: false,
        });
        self.faults.len() - 1
    }

    /// Like [`DowningCheck::fault`] with `expect_down`, for members that are
    /// not cut off (they lose packets): the survivors must down them, and
    /// once one is reborn its new member belongs to the cluster's side.
    pub fn connected_fault(&mut self, sim: &Sim<CoreNode>, side: &[SocketAddr]) -> usize {
        let k = self.fault(sim, side, true);
        self.faults[k].connected = true;
        k
    }

    /// Adds `addr` (e.g. a member that joined during a partition) to the side
    /// of fault `fault`, not to be downed.
    /// A member that joins a side in the middle of its fault gets the grace
    /// period from now (it has to see the other side itself).
    pub fn join_side(&mut self, sim: &Sim<CoreNode>, fault: usize, addr: SocketAddr) {
        if let Some(f) = self.faults.get_mut(fault) {
            f.side.push((addr, None));
        }
        self.joined_at.insert(addr, sim.now());
    }

    /// Marks a member healthy from now on (e.g. one that joined the survivors).
    pub fn add_healthy(&mut self, sim: &Sim<CoreNode>, addr: SocketAddr) {
        self.healthy.insert(addr);
        if let Some(id) = sim.member_id(addr) {
            self.ids.insert(addr, id);
        }
    }

    /// Removes a member from the healthy ones (e.g. before it leaves).
    pub fn remove_healthy(&mut self, addr: SocketAddr) {
        self.healthy.remove(&addr);
        self.ids.remove(&addr);
    }

    /// Every fault is over (healed): sides are one cluster again.
    pub fn end_faults(&mut self) {
        for f in &mut self.faults {
            f.active = false;
        }
    }

    /// The grace period after a fault.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Runs the simulation to `t`, sampling along the way.
    pub fn run_until(&mut self, sim: &mut Sim<CoreNode>, t: Duration) {
        while sim.now() < t {
            sim.run_until((sim.now() + self.every).min(t));
            self.sample(sim);
        }
    }

    /// Runs until `cond` holds (sampling along the way) or `deadline`; the
    /// time it held, as [`Sim::run_until_condition`].
    pub fn run_until_condition(
        &mut self,
        sim: &mut Sim<CoreNode>,
        deadline: Duration,
        mut cond: impl FnMut(&Sim<CoreNode>) -> bool,
    ) -> Option<Duration> {
        loop {
            let step = (sim.now() + self.every).min(deadline);
            let met = sim.run_until_condition(step, &mut cond);
            self.sample(sim);
            if met.is_some() {
                return met;
            }
            if sim.now() >= deadline {
                return None;
            }
        }
    }

    /// The side of `addr` (now the member `id`): 0 for the rest, `k + 1`
    /// for active fault `k`.
    fn side_of(&self, addr: SocketAddr, id: &MemberId) -> usize {
        self.faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.active)
            .find(|(_, f)| {
                f.side
                    .iter()
                    .any(|(a, old)| *a == addr && !(f.connected && old.as_ref() != Some(id)))
            })
            .map_or(0, |(k, _)| k + 1)
    }

    fn sample(&mut self, sim: &Sim<CoreNode>) {
        let now = sim.now();
        let in_grace = self.faults.iter().any(|f| now < f.at + self.grace);
        let decided: Vec<bool> = self
            .faults
            .iter()
            .map(|f| f.active && now >= f.at + self.grace)
            .collect();
        let mut live_leaders: BTreeSet<MemberId> = BTreeSet::new();
        let mut sides_with_leader: BTreeSet<usize> = BTreeSet::new();
        let mut side_leaders: BTreeSet<MemberId> = BTreeSet::new();
        // (side, leader) of every sampled node, grace period or not.
        let mut held: BTreeSet<(usize, MemberId)> = BTreeSet::new();
        for a in sim.live() {
            if sim.is_paused(a) {
                continue;
            }
            if let (Some(id), Some(old)) = (sim.member_id(a), self.ids.get(&a)) {
                if &id != old && self.healthy.contains(&a) {
                    self.report
                        .healthy_reborn
                        .push((now, old.clone(), id.clone()));
                    self.ids.insert(a, id);
                }
            }
            if self
                .joined_at
                .get(&a)
                .is_some_and(|t| now < *t + self.grace)
            {
                continue;
            }
            let Some(l) = sim.leader(a) else {
                continue;
            };
            let current = sim.is_live(l.addr) && sim.member_id(l.addr).as_ref() == Some(&l);
            if !current {
                self.report.stale_leader_samples += 1;
                continue;
            }
            let side = sim.member_id(a).map_or(0, |id| self.side_of(a, &id));
            held.insert((side, l.clone()));
            // Sides count once their fault is past its grace period.
            if side == 0 || decided[side - 1] {
                sides_with_leader.insert(side);
                side_leaders.insert(l.clone());
            }
            live_leaders.insert(l);
        }
        let dual = held
            .iter()
            .any(|(s, l)| held.iter().any(|(s2, l2)| s2 != s && l2 != l));
        if dual {
            self.report.dual_leader += now.saturating_sub(self.last_sample);
            let since = self
                .faults
                .iter()
                .map(|f| f.at)
                .filter(|at| *at <= now)
                .max()
                .unwrap_or(self.start);
            self.report.dual_leader_until = Some(now - since);
        }
        self.last_sample = now;
        let split = sides_with_leader.len() > 1;
        let two = !in_grace && live_leaders.len() > 1;
        if split || two {
            self.report.split_samples += 1;
            if self.report.split_brain.len() < KEEP {
                let leaders = if split { side_leaders } else { live_leaders };
                self.report
                    .split_brain
                    .push((now, leaders.into_iter().collect()));
            }
        }
    }

    /// Reads the event logs and checks the end state.
    pub fn finish(mut self, sim: &Sim<CoreNode>) -> DowningReport {
        let logs: HashMap<SocketAddr, Vec<(Duration, Event)>> = sim
            .addrs()
            .into_iter()
            .map(|a| (a, sim.core_events_all(a)))
            .collect();
        for (&by, events) in &logs {
            for (t, e) in events {
                if let Event::Down {
                    member,
                    reason: DownReason::Failed,
                } = e
                {
                    if *t >= self.start && self.healthy.contains(&member.id.addr) {
                        self.report.healthy_downs.push((*t, by, member.id.clone()));
                    }
                }
                if let Event::SelfChanged { old, new } = e {
                    let reborn = (*t, old.clone(), new.clone());
                    let seen = self.report.healthy_reborn.iter().any(|r| r.1 == *old);
                    if *t >= self.start && self.healthy.contains(&by) && !seen {
                        self.report.healthy_reborn.push(reborn);
                    }
                }
            }
        }
        self.report.healthy_downs.sort();
        for f in &self.faults {
            // Those still healthy and running at the end.
            let survivors: Vec<SocketAddr> = f
                .survivors
                .iter()
                .copied()
                .filter(|a| self.healthy.contains(a) && sim.is_live(*a))
                .collect();
            for (addr, id) in &f.side {
                if id.is_none() && !joined_side(&logs, f, *addr) {
                    self.report.never_joined.push(*addr);
                    continue;
                }
                let fenced = fenced_at(&logs[addr], f.at);
                self.report
                    .reborn_after
                    .push((*addr, fenced.map(|(t, _)| *t - f.at)));
                let (Some(id), true) = (id, f.expect_down) else {
                    continue;
                };
                let downed = survivors
                    .iter()
                    .filter(|&&s| s != *addr)
                    .map(|s| first_down(&logs[s], id, f.at))
                    .try_fold(f.at, |acc, t| t.map(|t| acc.max(t)));
                self.report
                    .downed_after
                    .push((*addr, downed.map(|t| t - f.at)));
            }
        }
        self.report.end_problems = end_problems(sim);
        self.report
    }
}

/// When a member whose log is `log` first fenced itself (or was reborn) at
/// or after `from`.
fn fenced_at(log: &[(Duration, Event)], from: Duration) -> Option<&(Duration, Event)> {
    log.iter()
        .find(|(t, e)| *t >= from && matches!(e, Event::SelfChanged { .. }))
}

/// Whether `addr`, sent to `f`'s side during the fault, became one of its
/// members: another member of the side saw it `Up` before that member fenced
/// itself. A newcomer that asks a side which has already fenced never does.
fn joined_side(
    logs: &HashMap<SocketAddr, Vec<(Duration, Event)>>,
    f: &Fault,
    addr: SocketAddr,
) -> bool {
    f.side.iter().filter(|(a, _)| *a != addr).any(|(a, _)| {
        let log = &logs[a];
        let until = fenced_at(log, f.at).map_or(Duration::MAX, |(t, _)| *t);
        log.iter().any(|(t, e)| {
            *t >= f.at && *t < until && matches!(e, Event::Up(m) if m.id.addr == addr)
        })
    })
}

/// When `log` first has `id`, or a later generation at its address, down at
/// or after `from`.
fn first_down(log: &[(Duration, Event)], id: &MemberId, from: Duration) -> Option<Duration> {
    log.iter()
        .find(|(t, e)| {
            *t >= from
                && matches!(e, Event::Down { member, .. }
                    if member.id.addr == id.addr && member.id.generation >= id.generation)
        })
        .map(|(t, _)| *t)
}

/// Everyone `Up` in everyone's table, and no table with another `Up` id at
/// the address of a live member.
fn end_problems(sim: &Sim<CoreNode>) -> Vec<String> {
    let mut out = Vec::new();
    if !sim.all_views_up() {
        let pairs = sim.not_up_pairs();
        out.push(format!(
            "not all Up at the end: {} pairs, e.g. {:?}",
            pairs.len(),
            pairs.first()
        ));
    }
    let live: HashMap<SocketAddr, MemberId> = sim
        .live()
        .into_iter()
        .filter_map(|a| sim.member_id(a).map(|id| (a, id)))
        .collect();
    for (&o, me) in &live {
        if sim.core(o).map(|c| c.member(me).map(|m| m.status)) != Some(Some(Status::Up)) {
            out.push(format!("{me} is not Up itself at the end"));
        }
        for m in sim.view(o) {
            let stale = live.get(&m.id.addr).is_some_and(|cur| *cur != m.id);
            if stale && m.status == Status::Up {
                out.push(format!(
                    "{o} still has {} Up (current is {})",
                    m.id, live[&m.id.addr]
                ));
            }
        }
    }
    out
}
