//! The runs of one scenario over many seeds, folded into a [`Summary`].

use std::time::Duration;

use actix_cluster_proto::Config;

use super::runs::Run;
use super::Scenario;

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
    /// Newcomers sent to a losing side after it had fenced itself, which
    /// therefore never became its members (not counted in `never_reborn`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub never_joined: usize,
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
             reborn_p50={} reborn_p99={} never_reborn={} never_joined={} problems={}",
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
            self.never_joined,
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
        sum.never_joined += r.never_joined.len();
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
