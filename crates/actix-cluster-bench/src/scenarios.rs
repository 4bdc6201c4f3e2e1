//! The scenarios, each one job that builds its own world from a seed.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::stats::Dist;
use crate::system::BenchSystem;
use crate::world::{Traffic, World};
use crate::{FalseAlarmCondition, Perf, SuiteConfig};
use actix_cluster_sim::{derive_seed, GilbertElliott, Loss, NetConfig, SimError};

/// Results of the per-size world: cold start, cost, crash and join trials,
/// partition, in that order on one cluster.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorldResult {
    /// Cluster size.
    pub n: usize,
    /// Cold start of all N at once until everyone sees everyone Up.
    pub cold_start: Option<Duration>,
    /// When the cold start missed its limit: when the cluster converged after
    /// all (the other scenarios start only then), if it did within the warm-up
    /// limit.
    pub warmed_up: Option<Duration>,
    /// Idle traffic in steady state (after the configured warm-up).
    pub idle: Traffic,
    /// Idle traffic over [`EARLY_IDLE`] starting 5 s after convergence, while
    /// the cold start's queued gossip still drains (the earlier measurement).
    #[serde(default)]
    pub idle_after_cold_start: Traffic,
    /// Traffic under churn (one join and one leave per second).
    pub churn: Traffic,
    /// Crash -> every live member published Down.
    pub crash_down: Dist,
    /// Crash -> every live member published Unreachable (or Down first).
    pub crash_unreachable: Dist,
    /// Silent host crash (no connection refused: the host is gone) -> every
    /// live member published Down.
    #[serde(default)]
    pub silent_down: Dist,
    /// Join through one member -> every member published its Up.
    pub join: Dist,
    /// Two halves cut for the configured time, healed -> everyone sees everyone Up.
    pub partition_heal: Option<Duration>,
    /// False `Down(failed)` events about live members seen during the whole run
    /// (churn and trials included; partitions excluded).
    pub false_downs: u64,
}

/// Limits per scenario (virtual time).
fn cold_limit(n: usize) -> Duration {
    if n >= 1000 {
        Duration::from_secs(180)
    } else {
        Duration::from_secs(90)
    }
}
/// The idle window right after the cold start (kept for comparison with the
/// steady-state figure).
pub const EARLY_IDLE: Duration = Duration::from_secs(20);
/// How much longer to wait for convergence before the other scenarios.
const WARM_UP_LIMIT: Duration = Duration::from_secs(600);
const CRASH_LIMIT: Duration = Duration::from_secs(90);
const JOIN_LIMIT: Duration = Duration::from_secs(60);
const HEAL_LIMIT: Duration = Duration::from_secs(180);

pub(crate) fn run_world<S: BenchSystem>(
    sys: S,
    n: usize,
    cfg: &SuiteConfig,
) -> Result<(WorldResult, Perf), SimError> {
    let kind = sys.kind();
    let seed = derive_seed(cfg.seed, 0x3001, n as u64);
    let mut w = World::new(sys, seed, NetConfig::default(), n)?;
    w.cold_start(n)?;
    let cold_start = w.converge(cold_limit(n));
    // The other scenarios need a converged cluster: keep waiting if the cold
    // start did not get there within its limit.
    let warmed_up = match cold_start {
        Some(t) => Some(t),
        None => w.converge(WARM_UP_LIMIT).map(|t| t + cold_limit(n)),
    };
    let idle_after_cold_start = early_idle(&mut w, cfg);

    // Idle cost (also the throughput figure).
    w.sim.reset_stats();
    let members = w.sim.live().len() as f64;
    let (ms0, wall0) = (w.member_seconds, w.wall);
    w.run_for(cfg.idle);
    let idle = w.traffic(cfg.idle.as_secs_f64(), members);
    let perf = Perf {
        kind,
        n,
        member_seconds: w.member_seconds - ms0,
        wall: w.wall - wall0,
    };
    let churn = churn(&mut w, cfg, members)?;
    let (downs, unreach, joins) = trials(&mut w, cfg.trials_for(n))?;
    let silent_down = silent_trials(&mut w, cfg.trials_for(n).div_ceil(2))?;
    let false_downs = w.tr.borrow().false_downs;

    // Partition in two halves, heal.
    let live = w.sim.live();
    let (a, b) = live.split_at(live.len() / 2);
    w.sim.partition(a, b)?;
    w.run_for(cfg.partition);
    w.sim.heal();
    let partition_heal = w.converge(HEAL_LIMIT);

    Ok((
        WorldResult {
            n,
            cold_start,
            warmed_up,
            idle,
            idle_after_cold_start,
            churn,
            crash_down: Dist::from_outcomes(downs),
            crash_unreachable: Dist::from_outcomes(unreach),
            silent_down,
            join: Dist::from_outcomes(joins),
            partition_heal,
            false_downs,
        },
        perf,
    ))
}

/// Idle traffic right after the cold start (its queued gossip still
/// draining), then the rest of the warm-up so the idle window that follows
/// is steady state.
fn early_idle<S: BenchSystem>(w: &mut World<S>, cfg: &SuiteConfig) -> Traffic {
    w.run_for(Duration::from_secs(5));
    w.sim.reset_stats();
    let early_members = w.sim.live().len() as f64;
    w.run_for(EARLY_IDLE);
    let idle_after_cold_start = w.traffic(EARLY_IDLE.as_secs_f64(), early_members);
    // Idle is steady state: let the cold start's queued gossip drain first
    // (the warm-up counts from convergence and includes the stretch above).
    w.run_for(
        cfg.idle_warmup
            .saturating_sub(Duration::from_secs(5) + EARLY_IDLE),
    );
    idle_after_cold_start
}

/// Churn traffic: one join and one leave per second, then 10 s to settle.
fn churn<S: BenchSystem>(
    w: &mut World<S>,
    cfg: &SuiteConfig,
    members: f64,
) -> Result<Traffic, SimError> {
    w.sim.reset_stats();
    for _ in 0..cfg.churn.as_secs() {
        let seed = w.sim.live()[w.rng.gen_range(0..w.sim.live().len())];
        let a = w.spawn(&[seed])?;
        w.last_joined = Some(a);
        // Not the seed the newcomer is joining through.
        w.leave_one(seed)?;
        w.run_for(Duration::from_secs(1));
    }
    let churn = w.traffic(cfg.churn.as_secs_f64(), members);
    w.run_for(Duration::from_secs(10));
    Ok(churn)
}

/// The trials' times: crashes seen `Down` everywhere, seen unreachable
/// everywhere, joins seen `Up` everywhere (`None`: not within the limit).
type Trials = (
    Vec<Option<Duration>>,
    Vec<Option<Duration>>,
    Vec<Option<Duration>>,
);

/// Crash and join trials, alternating so the size stays N.
fn trials<S: BenchSystem>(w: &mut World<S>, trials: usize) -> Result<Trials, SimError> {
    let mut downs = Vec::with_capacity(trials);
    let mut unreach = Vec::with_capacity(trials);
    let mut joins = Vec::with_capacity(trials);
    for _ in 0..trials {
        let c = w.crash_trial(CRASH_LIMIT)?;
        downs.push(c.down);
        unreach.push(c.unreachable);
        w.run_for(Duration::from_secs(2));
        joins.push(w.join_trial(JOIN_LIMIT)?);
        w.run_for(Duration::from_secs(3));
    }
    Ok((downs, unreach, joins))
}

/// Silent host crashes (each followed by a join, so N stays): the time
/// until every live member published `Down`.
fn silent_trials<S: BenchSystem>(w: &mut World<S>, trials: usize) -> Result<Dist, SimError> {
    let mut downs = Vec::with_capacity(trials);
    for _ in 0..trials {
        downs.push(w.crash_trial_of(CRASH_LIMIT, true)?.down);
        w.run_for(Duration::from_secs(2));
        w.join_trial(JOIN_LIMIT)?;
        w.run_for(Duration::from_secs(3));
    }
    Ok(Dist::from_outcomes(downs))
}

/// Extra cold-start trials (small N).
pub(crate) fn run_cold<S: BenchSystem>(
    sys: S,
    n: usize,
    trial: usize,
    cfg: &SuiteConfig,
) -> Result<Option<Duration>, SimError> {
    let seed = derive_seed(cfg.seed, 0x3002, (n as u64) << 16 | trial as u64);
    let mut w = World::new(sys, seed, NetConfig::default(), n)?;
    w.cold_start(n)?;
    Ok(w.converge(cold_limit(n)))
}

/// Result of one false-alarm run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FalseAlarmResult {
    /// The condition.
    pub condition: FalseAlarmCondition,
    /// Cluster size.
    pub n: usize,
    /// Virtual time measured.
    pub duration: Duration,
    /// `Down(failed)` events about live members (observer, subject pairs).
    pub false_down_events: u64,
    /// Distinct live members declared failed.
    pub false_down_members: u64,
    /// Suspicions raised (a node's probe of a live member failed).
    pub suspicions_raised: u64,
    /// `Unreachable` events about live members (observer, subject pairs).
    pub unreachable_events: u64,
    /// Pauses injected.
    pub pauses: u64,
    /// Grace after a pause ends during which events about the paused member
    /// still count as "of a stalled member" ([`STALL_GRACE`]).
    #[serde(default)]
    pub stall_grace: Duration,
    /// Of `unreachable_events`: those about a member while it was paused or
    /// within `stall_grace` after it resumed.
    #[serde(default)]
    pub stalled_unreachable_events: u64,
    /// Of `false_down_events`: those about a member while it was paused or
    /// within `stall_grace` after it resumed.
    #[serde(default)]
    pub stalled_down_events: u64,
    /// Distinct live members declared failed outside their stalls.
    #[serde(default)]
    pub healthy_down_members: u64,
}

/// How long after a pause ends events about the paused member still count as
/// about a stalled member: ten of our probe intervals (200 ms), enough for its
/// refutation to spread by gossip (about log2(N) rounds of 200 ms at N = 100).
pub const STALL_GRACE: Duration = Duration::from_secs(2);

impl FalseAlarmResult {
    /// Member-hours measured.
    pub fn member_hours(&self) -> f64 {
        self.n as f64 * self.duration.as_secs_f64() / 3600.0
    }

    /// Suspicions raised per member-hour.
    pub fn suspicions_per_member_hour(&self) -> f64 {
        self.suspicions_raised as f64 / self.member_hours().max(1e-9)
    }

    /// `Unreachable` events about healthy members (not paused, not within the
    /// grace after a pause).
    pub fn healthy_unreachable_events(&self) -> u64 {
        self.unreachable_events
            .saturating_sub(self.stalled_unreachable_events)
    }

    /// `Down(failed)` events about healthy members (not paused, not within the
    /// grace after a pause).
    pub fn healthy_down_events(&self) -> u64 {
        self.false_down_events
            .saturating_sub(self.stalled_down_events)
    }
}

fn false_alarm_net(condition: FalseAlarmCondition) -> NetConfig {
    let loss = match condition {
        FalseAlarmCondition::UniformLoss => Loss::Uniform(0.05),
        FalseAlarmCondition::BurstyLoss => Loss::Bursty(GilbertElliott::with_average(
            0.2,
            Duration::from_millis(500),
        )),
        FalseAlarmCondition::Pauses => Loss::None,
    };
    NetConfig {
        loss,
        ..NetConfig::default()
    }
}

/// Builds a converged cluster of `n`, then measures false alarms for `duration`
/// under `condition`. Returns the world for further trials.
pub(crate) fn false_alarms_in<S: BenchSystem>(
    sys: S,
    n: usize,
    condition: FalseAlarmCondition,
    duration: Duration,
    seed: u64,
) -> Result<(FalseAlarmResult, World<S>), SimError> {
    let mut w = World::new(sys, seed, NetConfig::default(), n)?;
    w.cold_start(n)?;
    w.converge(cold_limit(n));
    w.run_for(Duration::from_secs(10));
    w.sim.set_net(false_alarm_net(condition))?;
    let s0 = w.suspicions_raised();
    w.tr.borrow_mut().reset_false_alarms();
    let t0 = w.sim.now();
    let end = t0 + duration;
    let mut pauses = 0u64;
    if condition == FalseAlarmCondition::Pauses {
        // 5% of the members pause for 1..4 s, each at exponential intervals
        // (mean 60 s) counted from the end of its previous pause, so a
        // member's pauses never overlap (two overlapping ones would make one
        // pause longer than 4 s), independently.
        let mut rng = SmallRng::seed_from_u64(derive_seed(seed, 0x9a05e, 0));
        let live = w.sim.live();
        let k = ((n as f64) * 0.05).round().max(1.0) as usize;
        let mut schedule: Vec<(Duration, usize, Duration)> = Vec::new();
        for (i, _) in live.iter().enumerate().skip(1).take(k) {
            let mut t = t0;
            loop {
                let u: f64 = rng.gen::<f64>();
                t += Duration::from_secs_f64(-(1.0 - u).ln() * 60.0);
                if t >= end {
                    break;
                }
                let d = Duration::from_millis(rng.gen_range(1000..=4000));
                schedule.push((t, i, d));
                t += d;
            }
        }
        schedule.sort();
        {
            let mut tr = w.tr.borrow_mut();
            for &(t, i, d) in &schedule {
                tr.stalls
                    .entry(live[i])
                    .or_default()
                    .push((t, t + d + STALL_GRACE));
            }
        }
        for (t, i, d) in schedule {
            w.run_until(t);
            if w.sim.pause(live[i], d).is_ok() {
                pauses += 1;
            }
        }
    }
    w.run_until(end);
    let s1 = w.suspicions_raised();
    let tr = w.tr.borrow();
    let r = FalseAlarmResult {
        condition,
        n,
        duration,
        false_down_events: tr.false_downs,
        false_down_members: tr.false_down_members.len() as u64,
        suspicions_raised: s1.saturating_sub(s0),
        unreachable_events: tr.false_unreachable_events,
        pauses,
        stall_grace: STALL_GRACE,
        stalled_unreachable_events: tr.stalled_unreachable_events,
        stalled_down_events: tr.stalled_downs,
        healthy_down_members: tr.healthy_down_members.len() as u64,
    };
    drop(tr);
    w.sim.set_net(NetConfig::default())?;
    Ok((r, w))
}

/// One false-alarm run at the suite's size and duration.
pub(crate) fn run_false_alarm<S: BenchSystem>(
    sys: S,
    condition: FalseAlarmCondition,
    cfg: &SuiteConfig,
) -> Result<(FalseAlarmResult, Perf), SimError> {
    let kind = sys.kind();
    let seed = derive_seed(cfg.seed, 0x3003, condition as u64);
    let wall0 = Instant::now();
    let duration = if condition == FalseAlarmCondition::BurstyLoss {
        cfg.false_alarm_bursty
    } else {
        cfg.false_alarm
    };
    let (r, w) = false_alarms_in(sys, cfg.false_alarm_n, condition, duration, seed)?;
    let perf = Perf {
        kind,
        n: cfg.false_alarm_n,
        member_seconds: w.member_seconds,
        wall: wall0.elapsed(),
    };
    Ok((r, perf))
}

/// One point of the suspicion-timeout sweep.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepPoint {
    /// The suspicion multiplier used.
    pub mult: u32,
    /// False alarms under the pause scenario.
    pub pauses: FalseAlarmResult,
    /// Crash -> Down everywhere.
    pub crash_down: Dist,
}

pub(crate) fn run_sweep_point<S: BenchSystem>(
    sys: S,
    mult: u32,
    cfg: &SuiteConfig,
) -> Result<SweepPoint, SimError> {
    let seed = derive_seed(cfg.seed, 0x3004, u64::from(mult));
    let (pauses, mut w) = false_alarms_in(
        sys,
        cfg.sweep_n,
        FalseAlarmCondition::Pauses,
        cfg.sweep_duration,
        seed,
    )?;
    w.run_for(Duration::from_secs(10));
    let mut downs = Vec::new();
    for _ in 0..cfg.sweep_trials {
        downs.push(w.crash_trial(CRASH_LIMIT)?.down);
        w.run_for(Duration::from_secs(2));
        w.join_trial(JOIN_LIMIT)?;
        w.run_for(Duration::from_secs(3));
    }
    Ok(SweepPoint {
        mult,
        pauses,
        crash_down: Dist::from_outcomes(downs),
    })
}
