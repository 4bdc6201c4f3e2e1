//! The downing fault scenarios of issue 9, one seed per call, each checked
//! over the whole run by [`DowningCheck`]. The tests (`tests/downing.rs`)
//! assert on them and the benchmark reports their figures, so both judge the
//! same runs the same way.
//!
//! Every scenario starts from [`cluster`] (lan cores on a 0.5–1.5 ms network,
//! converged and settled), causes its fault, heals, waits for everyone to be
//! `Up` everywhere and returns the checker's report ([`Run`]).
//! [`summarize`] folds the runs of many seeds into a [`Summary`].

use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config, Event};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::sim::check::{DowningCheck, DowningReport};
use crate::sim::core_node::{CoreNode, CoreOpts, Start};
use crate::sim::engine::{derive_seed, Sim};
use crate::sim::net::NetConfig;

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// `n` lan cores (n0 forms, the others join through n0..n2), converged and
/// settled for 2 s. Panics if they do not converge within 30 s.
pub fn cluster(seed: u64, n: usize) -> (Sim<CoreNode>, Vec<SocketAddr>) {
    let net = NetConfig::with_latency(Duration::from_micros(500), Duration::from_millis(1));
    let mut sim = Sim::new(seed, net).expect("valid net config");
    let addrs = sim
        .start_cluster(n, 3, &CoreOpts::with_config(Config::lan()))
        .expect("start");
    let t = sim.run_until_condition(secs(30), |s| s.all_see_up());
    assert!(t.is_some(), "seed {seed}: no convergence");
    sim.run_for(secs(2));
    (sim, addrs)
}

/// The members in a seed-dependent order.
pub fn shuffled(seed: u64, addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut v = addrs.to_vec();
    v.shuffle(&mut SmallRng::seed_from_u64(derive_seed(seed, 0xd0, 0)));
    v
}

/// Everyone but `faulty`.
pub fn others(addrs: &[SocketAddr], faulty: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs
        .iter()
        .copied()
        .filter(|a| !faulty.contains(a))
        .collect()
}

/// Runs until every member is `Up` in every table (at most `within`),
/// sampling, then 3 s more so that a late wrong turn shows.
pub fn recover(check: &mut DowningCheck, sim: &mut Sim<CoreNode>, within: Duration) {
    let deadline = sim.now() + within;
    check.run_until_condition(sim, deadline, |s| s.all_views_up());
    let settle = sim.now() + secs(3);
    check.run_until(sim, settle);
}

/// Lets the fault last `dur`, heals every cut, and ends with [`settle`].
pub fn heal_after(mut check: DowningCheck, mut sim: Sim<CoreNode>, dur: Duration) -> Run {
    let t = sim.now() + dur;
    check.run_until(&mut sim, t);
    sim.heal();
    check.end_faults();
    settle(check, sim)
}

/// Waits (at most 90 s) for everyone to be `Up` everywhere and reads the
/// report.
pub fn settle(mut check: DowningCheck, mut sim: Sim<CoreNode>) -> Run {
    recover(&mut check, &mut sim, secs(90));
    Run {
        report: check.finish(&sim),
        extra: Vec::new(),
    }
}

/// One seed's outcome: the checker's report and extra problems of the
/// scenario.
#[derive(Clone, Debug)]
pub struct Run {
    /// What the checker found.
    pub report: DowningReport,
    /// Problems the scenario itself found.
    pub extra: Vec<String>,
}

// ----- flip-flop ---------------------------------------------------------------

/// 10% of the members (1 of 10) lose all inbound traffic 20 s on, 20 s off,
/// three times; each time the survivors must down it; it fences itself and,
/// once it hears again, rejoins as a new member.
pub fn flip_flop(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let deaf = shuffled(seed, &addrs)[0];
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[deaf]), &Config::lan());
    for _ in 0..3 {
        sim.cut_inbound(deaf, true).expect("known node");
        check.fault(&sim, &[deaf], true);
        let t = sim.now() + secs(20);
        check.run_until(&mut sim, t);
        sim.cut_inbound(deaf, false).expect("known node");
        check.end_faults();
        let t = sim.now() + secs(20);
        check.run_until(&mut sim, t);
    }
    settle(check, sim)
}

// ----- a lossy member ------------------------------------------------------------

/// 1% of 100 members (one) loses 80% of what it sends and receives for 60 s;
/// the survivors must down it.
pub fn lossy_member(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 100);
    let bad = shuffled(seed, &addrs)[0];
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[bad]), &Config::lan());
    sim.set_node_loss(bad, 0.8).expect("known node");
    check.fault(&sim, &[bad], true);
    let t = sim.now() + secs(60);
    check.run_until(&mut sim, t);
    sim.set_node_loss(bad, 0.0).expect("known node");
    check.end_faults();
    settle(check, sim)
}

// ----- pauses --------------------------------------------------------------------

/// One member of 10 stalls for `pause`. Below `max_pause` (4 s) it must come
/// back with the same id and never be downed; above, it may be downed, and
/// then it must rejoin as a new generation.
pub fn paused(seed: u64, pause: Duration) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let p = shuffled(seed, &addrs)[0];
    let bound = Config::lan().downing.max_pause;
    let healthy = if pause < bound {
        addrs.clone()
    } else {
        others(&addrs, &[p])
    };
    let old = sim.member_id(p).expect("running node");
    let mut check = DowningCheck::new(&sim, &healthy, &Config::lan());
    sim.pause(p, pause).expect("known node");
    // Its own side while it stalls (a paused node is not sampled); once it
    // runs again it is one of the cluster, but the grace period still holds.
    check.fault(&sim, &[p], false);
    let t = sim.now() + pause;
    check.run_until(&mut sim, t);
    check.end_faults();
    let t = sim.now() + secs(15);
    check.run_until(&mut sim, t);
    recover(&mut check, &mut sim, secs(60));
    let mut extra = Vec::new();
    let downed = addrs.iter().any(|&a| {
        sim.core_events_all(a)
            .iter()
            .any(|(_, e)| matches!(e, Event::Down { member, .. } if member.id == old))
    });
    if downed && sim.member_id(p) == Some(old.clone()) {
        extra.push(format!(
            "{old} was downed but did not rejoin as a new member"
        ));
    }
    Run {
        report: check.finish(&sim),
        extra,
    }
}

// ----- an isolated member ----------------------------------------------------------

/// One member of `n` (the leader n0, or one picked by the seed) cut off both
/// ways for 20 s, then healed; the others must down it.
pub fn isolated(seed: u64, n: usize, leader: bool) -> Run {
    let (mut sim, addrs) = cluster(seed, n);
    let x = if leader {
        addrs[0]
    } else {
        shuffled(seed, &addrs)[0]
    };
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[x]), &Config::lan());
    sim.isolate(x).expect("known node");
    check.fault(&sim, &[x], true);
    heal_after(check, sim, secs(20))
}

/// 5 members on the default network, n0 (the leader) isolated for 25 s, then
/// healed. (Seed 3 once showed a rejoined n0 deciding on suspicions it held
/// before its rebirth and downing two healthy members.)
pub fn isolated_then_rejoined(seed: u64) -> Run {
    let mut sim = Sim::new(seed, NetConfig::default()).expect("valid net config");
    let nodes = sim
        .start_cluster(5, 1, &CoreOpts::with_config(Config::lan()))
        .expect("start");
    sim.run_until_condition(secs(10), |s| s.all_see_up());
    let mut check = DowningCheck::new(&sim, &nodes[1..], &Config::lan());
    sim.isolate(nodes[0]).expect("known node");
    check.fault(&sim, &nodes[..1], true);
    heal_after(check, sim, secs(25))
}

// ----- partitions ------------------------------------------------------------------

/// Splits the members (seed-dependent) into a side of `small` and the rest;
/// returns (survivors, minority) by keep-majority (a tie goes to the side with
/// the lowest address).
pub fn split(seed: u64, addrs: &[SocketAddr], small: usize) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let order = shuffled(seed, addrs);
    let (a, b) = order.split_at(small);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    let a_wins = a.len() > b.len() || (a.len() == b.len() && a[0] < b[0]);
    if a_wins {
        (a, b)
    } else {
        (b, a)
    }
}

/// 10 members, a partition of `small` against the rest for `dur`, then a
/// heal; the survivors must down the losing side.
pub fn partition(seed: u64, small: usize, dur: Duration) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let (keep, lose) = split(seed, &addrs, small);
    let mut check = DowningCheck::new(&sim, &keep, &Config::lan());
    sim.partition(&keep, &lose).expect("known nodes");
    check.fault(&sim, &lose, true);
    heal_after(check, sim, dur)
}

/// A 6/4 partition of 10 with churn 10 s in: by seed, a new member joins the
/// survivors or the minority, or a survivor or a minority member leaves.
pub fn partition_with_churn(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let (keep, lose) = split(seed, &addrs, 4);
    let mut check = DowningCheck::new(&sim, &keep, &Config::lan());
    sim.partition(&keep, &lose).expect("known nodes");
    let fault = check.fault(&sim, &lose, true);
    let t = sim.now() + secs(10);
    check.run_until(&mut sim, t);
    let opts = CoreOpts::with_config(Config::lan());
    match seed % 4 {
        0 => {
            let new = sim
                .spawn_next(&opts, Start::Join(keep[..2].to_vec()))
                .expect("spawn");
            sim.partition(&[new], &lose).expect("known nodes");
            // Healthy once it is a member (it joins in well under 5 s).
            let t = sim.now() + secs(5);
            check.run_until(&mut sim, t);
            check.add_healthy(&sim, new);
        }
        1 => {
            let new = sim
                .spawn_next(&opts, Start::Join(lose[..1].to_vec()))
                .expect("spawn");
            sim.partition(&[new], &keep).expect("known nodes");
            check.join_side(&sim, fault, new);
        }
        2 => {
            // Not the oldest: a leaving leader is a different story.
            let l = *keep.last().expect("a side of 6");
            check.remove_healthy(l);
            sim.leave_and_stop(l, Duration::from_millis(500))
                .expect("known node");
        }
        _ => {
            let l = *lose.last().expect("a side of 4");
            sim.leave_and_stop(l, Duration::from_millis(500))
                .expect("known node");
        }
    }
    let left = check.grace() + secs(15);
    heal_after(check, sim, left)
}

// ----- many seeds ------------------------------------------------------------------

/// The runs of one scenario over many seeds, folded.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Summary {
    /// Scenario name.
    pub name: String,
    /// The scenario, when it is one of [`Scenario::ALL`].
    #[cfg_attr(feature = "serde", serde(default))]
    pub scenario: Option<Scenario>,
    /// Seeds run.
    pub seeds: usize,
    /// `Down(Failed)` events about healthy members, over all seeds.
    pub healthy_downs: usize,
    /// Healthy members reborn (a new id), over all seeds.
    pub healthy_reborn: usize,
    /// Samples with two `Up` leaders after the grace period, over all seeds.
    pub split_samples: usize,
    /// Samples where a node's leader was stale (not a violation).
    pub stale_leader_samples: usize,
    /// For every faulty member that must be downed: the time from its fault
    /// until every survivor had it down, sorted (those downed).
    pub downed: Vec<Duration>,
    /// Faulty members never downed by every survivor.
    pub never_downed: usize,
    /// Faulty members downed later than the scenario's bound.
    pub late: usize,
    /// Per seed: the longest time from a fault until every survivor had its
    /// members down (the decision time; seeds where every faulty member was
    /// downed), sorted.
    pub decision: Vec<Duration>,
    /// Per seed: for how long two sides each had an `Up` leader of their own
    /// (any time, the grace period included), sorted.
    pub dual_leader: Vec<Duration>,
    /// Per seed: the last moment two sides each had a leader, measured from
    /// the fault, sorted (seeds where it happened).
    pub dual_leader_until: Vec<Duration>,
    /// Per seed with a dual-leader time: how far its last dual-leader moment
    /// came after the seed's decision time plus `stable_after` (zero when
    /// before), sorted. The goal is all zero.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dual_leader_beyond: Vec<Duration>,
    /// For every member of a fault: the time until it fenced itself or was
    /// reborn, sorted (those that were).
    pub reborn: Vec<Duration>,
    /// Members of a fault that never fenced nor were reborn.
    pub never_reborn: usize,
    /// Every problem found (prefixed by its seed).
    pub problems: Vec<String>,
}

impl Summary {
    /// One line of figures.
    pub fn line(&self) -> String {
        let s = |d: Duration| format!("{:.1}s", d.as_secs_f64());
        let p = |v: &[Duration], q: f64| s(percentile(v, q));
        format!(
            "downing: {} seeds={} healthy_downs={} healthy_reborn={} split_samples={} stale_leader_samples={} \
             downed={} downed_p50={} downed_p99={} downed_max={} never_downed={} late={} \
             decision_p50={} decision_p99={} dual_leader_max={} dual_leader_beyond_max={} \
             reborn_p50={} reborn_p99={} never_reborn={} problems={}",
            self.name,
            self.seeds,
            self.healthy_downs,
            self.healthy_reborn,
            self.split_samples,
            self.stale_leader_samples,
            self.downed.len(),
            p(&self.downed, 0.5),
            p(&self.downed, 0.99),
            s(self.downed.last().copied().unwrap_or_default()),
            self.never_downed,
            self.late,
            p(&self.decision, 0.5),
            p(&self.decision, 0.99),
            s(self.dual_leader.last().copied().unwrap_or_default()),
            s(self.dual_leader_beyond.last().copied().unwrap_or_default()),
            p(&self.reborn, 0.5),
            p(&self.reborn, 0.99),
            self.never_reborn,
            self.problems.len(),
        )
    }
}

/// Nearest-rank percentile of sorted `v` (zero when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `run` for every seed and folds the reports: every problem the checker
/// or the scenario found, and every faulty member downed later than `bound`.
pub fn summarize(
    name: &str,
    seeds: impl IntoIterator<Item = u64>,
    bound: Option<Duration>,
    run: impl Fn(u64) -> Run,
) -> Summary {
    let mut sum = Summary {
        name: name.to_owned(),
        ..Summary::default()
    };
    for seed in seeds {
        sum.seeds += 1;
        let Run { report: r, extra } = run(seed);
        sum.healthy_downs += r.healthy_downs.len();
        sum.healthy_reborn += r.healthy_reborn.len();
        sum.split_samples += r.split_samples;
        sum.stale_leader_samples += r.stale_leader_samples;
        let mut all_downed = !r.downed_after.is_empty();
        let mut decision = Duration::ZERO;
        for (a, d) in &r.downed_after {
            match d {
                Some(d) => {
                    if bound.is_some_and(|b| *d > b) {
                        sum.late += 1;
                        sum.problems.push(format!(
                            "seed {seed}: {a} downed only after {d:?} (bound {:?})",
                            bound.unwrap_or_default()
                        ));
                    }
                    sum.downed.push(*d);
                    decision = decision.max(*d);
                }
                None => {
                    sum.never_downed += 1;
                    all_downed = false;
                }
            }
        }
        if all_downed {
            sum.decision.push(decision);
        }
        sum.dual_leader.push(r.dual_leader);
        if let Some(until) = r.dual_leader_until {
            sum.dual_leader_until.push(until);
            let allowed = decision + Config::lan().downing.stable_after;
            sum.dual_leader_beyond.push(until.saturating_sub(allowed));
        }
        for (_, f) in &r.reborn_after {
            match f {
                Some(f) => sum.reborn.push(*f),
                None => sum.never_reborn += 1,
            }
        }
        sum.problems.extend(
            r.problems()
                .into_iter()
                .chain(extra)
                .map(|p| format!("seed {seed}: {p}")),
        );
    }
    for v in [
        &mut sum.downed,
        &mut sum.decision,
        &mut sum.dual_leader,
        &mut sum.dual_leader_until,
        &mut sum.dual_leader_beyond,
        &mut sum.reborn,
    ] {
        v.sort();
    }
    sum
}

// ----- the scenarios by name ---------------------------------------------------------

/// What a scenario's faulty side is, for the goals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Group {
    /// A faulty member (it cannot hear, it loses packets, it is cut off):
    /// the others must down it within the bound.
    Faulty,
    /// A pause below the bound: nobody may be downed.
    ShortPause,
    /// A pause beyond the bound: the member may be downed, and then rejoins.
    LongPause,
    /// A partition: exactly one side survives.
    Partition,
}

/// Every downing scenario, with the seeds' bound on the downing time, as the
/// tests and the benchmark run them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Scenario {
    /// [`flip_flop`].
    FlipFlop,
    /// [`lossy_member`].
    Lossy80,
    /// [`paused`] for 1 s.
    Pause1s,
    /// [`paused`] for 3 s.
    Pause3s,
    /// [`paused`] for 5 s.
    Pause5s,
    /// [`isolated`]: one of 10 for 20 s.
    Isolated,
    /// [`isolated`]: the leader of 5 for 20 s.
    IsolatedLeader,
    /// [`isolated_then_rejoined`].
    IsolatedLeaderRejoin,
    /// [`partition`] 5/5 for 30 s.
    Partition5v5,
    /// [`partition`] 6/4 for 30 s.
    Partition6v4,
    /// [`partition`] 1/9 for 30 s.
    Partition1v9,
    /// [`partition`] 6/4 for 70 s (longer than the tombstone period).
    Partition6v4Long,
    /// [`partition_with_churn`].
    PartitionChurn,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 13] = [
        Scenario::FlipFlop,
        Scenario::Lossy80,
        Scenario::Isolated,
        Scenario::IsolatedLeader,
        Scenario::IsolatedLeaderRejoin,
        Scenario::Pause1s,
        Scenario::Pause3s,
        Scenario::Pause5s,
        Scenario::Partition5v5,
        Scenario::Partition6v4,
        Scenario::Partition1v9,
        Scenario::PartitionChurn,
        Scenario::Partition6v4Long,
    ];

    /// Its name (the tests' figures lines, the report's rows).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FlipFlop => "flip-flop",
            Scenario::Lossy80 => "lossy-80%-1-of-100",
            Scenario::Pause1s => "pause-1s",
            Scenario::Pause3s => "pause-3s",
            Scenario::Pause5s => "pause-5s",
            Scenario::Isolated => "isolated-20s",
            Scenario::IsolatedLeader => "isolated-leader-of-5",
            Scenario::IsolatedLeaderRejoin => "isolated-leader-25s-rejoin",
            Scenario::Partition5v5 => "partition-5/5",
            Scenario::Partition6v4 => "partition-6/4",
            Scenario::Partition1v9 => "partition-1/9",
            Scenario::Partition6v4Long => "partition-6/4-70s",
            Scenario::PartitionChurn => "partition-6/4-churn",
        }
    }

    /// What it does, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Scenario::FlipFlop => {
                "1 of 10 loses all inbound traffic, 20 s on / 20 s off, three times"
            }
            Scenario::Lossy80 => "1 of 100 loses 80% of its packets (both ways) for 60 s",
            Scenario::Pause1s => "1 of 10 pauses 1 s",
            Scenario::Pause3s => "1 of 10 pauses 3 s",
            Scenario::Pause5s => {
                "1 of 10 pauses 5 s (beyond the 4 s bound: may be downed, then rejoins)"
            }
            Scenario::Isolated => "1 of 10 cut off both ways for 20 s",
            Scenario::IsolatedLeader => "the leader of 5 cut off both ways for 20 s",
            Scenario::IsolatedLeaderRejoin => {
                "the leader of 5 cut off for 25 s (default network), rejoins after the heal"
            }
            Scenario::Partition5v5 => "10 cut 5/5 for 30 s (the side with the lowest address wins)",
            Scenario::Partition6v4 => "10 cut 6/4 for 30 s",
            Scenario::Partition1v9 => "10 cut 1/9 for 30 s",
            Scenario::Partition6v4Long => {
                "10 cut 6/4 for 70 s (longer than the 60 s tombstone period)"
            }
            Scenario::PartitionChurn => "10 cut 6/4; 10 s in, a member joins or leaves one side",
        }
    }

    /// Its cluster size.
    pub fn n(self) -> usize {
        match self {
            Scenario::Lossy80 => 100,
            Scenario::IsolatedLeader | Scenario::IsolatedLeaderRejoin => 5,
            _ => 10,
        }
    }

    /// What its faulty side is.
    pub fn group(self) -> Group {
        match self {
            Scenario::FlipFlop
            | Scenario::Lossy80
            | Scenario::Isolated
            | Scenario::IsolatedLeader
            | Scenario::IsolatedLeaderRejoin => Group::Faulty,
            Scenario::Pause1s | Scenario::Pause3s => Group::ShortPause,
            Scenario::Pause5s => Group::LongPause,
            Scenario::Partition5v5
            | Scenario::Partition6v4
            | Scenario::Partition1v9
            | Scenario::Partition6v4Long
            | Scenario::PartitionChurn => Group::Partition,
        }
    }

    /// The bound on the time from the fault until every survivor downed the
    /// faulty side (`None`: nothing to down).
    pub fn bound(self) -> Option<Duration> {
        match self.group() {
            Group::Faulty => Some(secs(10)),
            Group::Partition => Some(secs(15)),
            Group::ShortPause | Group::LongPause => None,
        }
    }

    /// One seed of it.
    pub fn run(self, seed: u64) -> Run {
        match self {
            Scenario::FlipFlop => flip_flop(seed),
            Scenario::Lossy80 => lossy_member(seed),
            Scenario::Pause1s => paused(seed, secs(1)),
            Scenario::Pause3s => paused(seed, secs(3)),
            Scenario::Pause5s => paused(seed, secs(5)),
            Scenario::Isolated => isolated(seed, 10, false),
            Scenario::IsolatedLeader => isolated(seed, 5, true),
            Scenario::IsolatedLeaderRejoin => isolated_then_rejoined(seed),
            Scenario::Partition5v5 => partition(seed, 5, secs(30)),
            Scenario::Partition6v4 => partition(seed, 4, secs(30)),
            Scenario::Partition1v9 => partition(seed, 1, secs(30)),
            Scenario::Partition6v4Long => partition(seed, 4, secs(70)),
            Scenario::PartitionChurn => partition_with_churn(seed),
        }
    }

    /// Seeds `1..=seeds` of it, folded by [`summarize`] with its bound.
    pub fn summarize(self, seeds: u64) -> Summary {
        let mut s = summarize(self.name(), 1..=seeds, self.bound(), |seed| self.run(seed));
        s.scenario = Some(self);
        s
    }
}
