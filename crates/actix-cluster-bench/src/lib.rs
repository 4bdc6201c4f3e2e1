//! The benchmark suite: crash detection, false alarms, join convergence,
//! partitions and cost at N = 10, 100 and 1000, for our core (`lan()`), our core
//! with Lifeguard off (plain SWIM) and foca 2, on the same simulated network in
//! virtual time.
//!
//! [`run_suite`] runs every scenario as independent jobs, each building its own
//! simulated cluster from a seed derived from [`SuiteConfig::seed`], on a few
//! worker threads; the figures ([`SuiteResults`]) depend only on the
//! configuration, never on the machine or the thread count. Wall-clock figures
//! (throughput, memory) are kept apart in [`WallFigures`].
//! [`report::write_all`] writes `BENCHMARKS.md`, the SVG plots and the README
//! section. The `bench` binary is the command line.

pub mod foca_node;
pub mod report;
mod scenarios;
mod stats;
pub mod svg;
mod system;
mod world;

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::scenarios::{FalseAlarmResult, SweepPoint, WorldResult, EARLY_IDLE, STALL_GRACE};
pub use crate::stats::Dist;
pub use crate::system::{probe_period, BenchSystem, Foca, Ours, SystemKind};
pub use crate::world::Traffic;

use crate::scenarios::{run_cold, run_false_alarm, run_sweep_point, run_world};
use actix_cluster_sim::downing::{Scenario, Summary};
use actix_cluster_sim::{derive_seed, NetConfig, SimError};

/// The seed the command uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 20_251_126;

/// The three false-alarm conditions.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum FalseAlarmCondition {
    /// 5% uniform datagram loss.
    UniformLoss = 1,
    /// 20% loss in bursts (Gilbert–Elliott, total loss for 500 ms on average
    /// per directed link).
    BurstyLoss = 2,
    /// 5% of the members pause for 1 to 4 s at random times (mean gap 60 s).
    Pauses = 3,
}

impl FalseAlarmCondition {
    /// All three, in table order.
    pub const ALL: [FalseAlarmCondition; 3] = [
        FalseAlarmCondition::UniformLoss,
        FalseAlarmCondition::BurstyLoss,
        FalseAlarmCondition::Pauses,
    ];

    /// Row label.
    pub fn label(self) -> &'static str {
        match self {
            FalseAlarmCondition::UniformLoss => "5% uniform loss",
            FalseAlarmCondition::BurstyLoss => "20% bursty loss",
            FalseAlarmCondition::Pauses => "5% of members pause 1-4 s",
        }
    }
}

/// What to run. [`SuiteConfig::full`] and [`SuiteConfig::quick`] are the two
/// modes of the command; [`SuiteConfig::tiny`] is for tests.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteConfig {
    /// Master seed; every job derives its own from it.
    pub seed: u64,
    /// Mode name for the report ("full", "quick", "tiny").
    pub mode: String,
    /// Systems compared.
    pub systems: Vec<SystemKind>,
    /// Cluster sizes, each with its number of crash (and join) trials and of
    /// extra cold-start trials.
    pub sizes: Vec<SizePlan>,
    /// Idle traffic measured over this long.
    pub idle: Duration,
    /// Virtual time between convergence and the idle window, so the cold
    /// start's queued gossip has drained (idle means steady state).
    #[serde(default = "default_idle_warmup")]
    pub idle_warmup: Duration,
    /// Churn traffic measured over this long.
    pub churn: Duration,
    /// How long the partition lasts.
    pub partition: Duration,
    /// Size of the false-alarm runs.
    pub false_alarm_n: usize,
    /// Length of each false-alarm run.
    pub false_alarm: Duration,
    /// Length of the bursty-loss false-alarm runs: shorter than the others
    /// because plain SWIM thrashes under that loss (every false `Down` makes
    /// the member rejoin with a new generation) and a simulated hour of it
    /// costs minutes of CPU. Rates are per member-hour either way.
    pub false_alarm_bursty: Duration,
    /// Suspicion multipliers of the trade-off sweep (empty: no sweep).
    pub sweep_mults: Vec<u32>,
    /// Size of the sweep's clusters.
    pub sweep_n: usize,
    /// Pause-scenario length per sweep point.
    pub sweep_duration: Duration,
    /// Crash trials per sweep point.
    pub sweep_trials: usize,
    /// The downing scenarios of issue 9 ([`actix_cluster_sim::downing`]) run, each over
    /// seeds `1..=downing_seeds` (the seeds the tests use).
    #[serde(default)]
    pub downing: Vec<Scenario>,
    /// Seeds per downing scenario at N <= 10.
    #[serde(default)]
    pub downing_seeds: u64,
    /// Seeds of the downing scenario at N = 100 (the lossy member; its
    /// refutation storm makes a seed cost seconds of CPU).
    #[serde(default)]
    pub downing_seeds_n100: u64,
}

fn default_idle_warmup() -> Duration {
    Duration::from_secs(5)
}

/// Trials at one cluster size.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SizePlan {
    /// N.
    pub n: usize,
    /// Crash trials (each followed by a join trial) on the one cluster of this size.
    pub trials: usize,
    /// Extra cold-start clusters (besides the one the trials run on).
    pub extra_cold: usize,
}

impl SuiteConfig {
    /// The full suite (under 10 minutes on 2 idle cores; the N = 1000 clusters
    /// of our core dominate, about 4 CPU-minutes each).
    pub fn full(seed: u64) -> SuiteConfig {
        SuiteConfig {
            seed,
            mode: "full".into(),
            systems: SystemKind::ALL.to_vec(),
            sizes: vec![
                SizePlan {
                    n: 10,
                    trials: 100,
                    extra_cold: 19,
                },
                SizePlan {
                    n: 100,
                    trials: 50,
                    extra_cold: 4,
                },
                SizePlan {
                    n: 1000,
                    trials: 5,
                    extra_cold: 0,
                },
            ],
            idle: Duration::from_secs(30),
            idle_warmup: Duration::from_secs(90),
            churn: Duration::from_secs(15),
            partition: Duration::from_secs(30),
            false_alarm_n: 100,
            false_alarm: Duration::from_secs(3600),
            false_alarm_bursty: Duration::from_secs(600),
            // Wide enough that our core's minimum suspicion timeout
            // (m · 2 · 200 ms at N = 100) passes the longest pause (4 s).
            sweep_mults: vec![1, 2, 4, 8, 12, 16, 24],
            sweep_n: 100,
            sweep_duration: Duration::from_secs(600),
            sweep_trials: 10,
            downing: Scenario::ALL.to_vec(),
            downing_seeds: 20,
            downing_seeds_n100: 5,
        }
    }

    /// The quick mode for CI: N = 10 and 100, fewer trials, shorter runs.
    pub fn quick(seed: u64) -> SuiteConfig {
        SuiteConfig {
            mode: "quick".into(),
            sizes: vec![
                SizePlan {
                    n: 10,
                    trials: 20,
                    extra_cold: 4,
                },
                SizePlan {
                    n: 100,
                    trials: 10,
                    extra_cold: 0,
                },
            ],
            churn: Duration::from_secs(20),
            false_alarm: Duration::from_secs(300),
            false_alarm_bursty: Duration::from_secs(120),
            sweep_mults: vec![2, 8, 16],
            sweep_duration: Duration::from_secs(120),
            sweep_trials: 3,
            downing_seeds: 5,
            downing_seeds_n100: 1,
            ..SuiteConfig::full(seed)
        }
    }

    /// A tiny configuration for the determinism test (seconds in debug builds).
    pub fn tiny(seed: u64) -> SuiteConfig {
        SuiteConfig {
            mode: "tiny".into(),
            sizes: vec![SizePlan {
                n: 6,
                trials: 2,
                extra_cold: 1,
            }],
            idle: Duration::from_secs(5),
            idle_warmup: Duration::from_secs(5),
            churn: Duration::from_secs(3),
            partition: Duration::from_secs(10),
            false_alarm_n: 8,
            false_alarm: Duration::from_secs(60),
            false_alarm_bursty: Duration::from_secs(60),
            sweep_mults: vec![2],
            sweep_n: 8,
            sweep_duration: Duration::from_secs(30),
            sweep_trials: 1,
            downing: vec![Scenario::Pause1s],
            downing_seeds: 1,
            downing_seeds_n100: 1,
            ..SuiteConfig::full(seed)
        }
    }

    pub(crate) fn trials_for(&self, n: usize) -> usize {
        self.sizes.iter().find(|s| s.n == n).map_or(0, |s| s.trials)
    }
}

/// Wall-clock cost of a stretch of simulation (machine-dependent, not part of
/// [`SuiteResults`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Perf {
    /// System.
    pub kind: SystemKind,
    /// Cluster size.
    pub n: usize,
    /// Simulated member-seconds.
    pub member_seconds: f64,
    /// Wall time it took.
    pub wall: Duration,
}

impl Perf {
    /// Simulated member-seconds per wall second.
    pub fn rate(&self) -> f64 {
        self.member_seconds / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Figures of one system at one size.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SystemWorld {
    /// System.
    pub kind: SystemKind,
    /// The world's results.
    pub world: WorldResult,
    /// Cold starts: the world's and the extra ones.
    pub cold_start: Dist,
}

/// Every deterministic figure of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteResults {
    /// The configuration it ran with.
    pub config: SuiteConfig,
    /// Per system and size.
    pub worlds: Vec<SystemWorld>,
    /// Per system and condition.
    pub false_alarms: Vec<(SystemKind, FalseAlarmResult)>,
    /// Per system, one point per multiplier.
    pub sweep: Vec<(SystemKind, SweepPoint)>,
    /// The downing scenarios (our core only), in the configuration's order.
    #[serde(default)]
    pub downing: Vec<Summary>,
}

impl SuiteResults {
    /// The world of `kind` at `n`.
    pub fn world(&self, kind: SystemKind, n: usize) -> Option<&SystemWorld> {
        self.worlds
            .iter()
            .find(|w| w.kind == kind && w.world.n == n)
    }

    /// The downing scenario `s`, if it ran.
    pub fn downing(&self, s: Scenario) -> Option<&Summary> {
        self.downing.iter().find(|d| d.scenario == Some(s))
    }

    /// The false-alarm run of `kind` under `c`.
    pub fn false_alarm(
        &self,
        kind: SystemKind,
        c: FalseAlarmCondition,
    ) -> Option<&FalseAlarmResult> {
        self.false_alarms
            .iter()
            .find(|(k, r)| *k == kind && r.condition == c)
            .map(|(_, r)| r)
    }
}

/// Machine-dependent figures.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WallFigures {
    /// Wall time of the whole run.
    pub total: Duration,
    /// Throughput while idle, per system and size, plus the false-alarm runs.
    pub perf: Vec<Perf>,
    /// Memory per known member (bytes), per system, measured in a child process
    /// (see [`memory_probe`]); filled in by the binary.
    pub memory: Vec<MemoryFigure>,
    /// Worker threads used.
    pub threads: usize,
    /// CPU time of all simulation jobs (sum over worker threads), when the OS
    /// tells; divided by the thread count it estimates the wall time on an
    /// otherwise idle machine.
    #[serde(default)]
    pub job_cpu: Option<Duration>,
    /// The source the run was built from (`git describe --always --dirty`),
    /// when known; filled in by the binary.
    #[serde(default)]
    pub source: Option<String>,
}

/// Resident memory of a converged cluster, per known member.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemoryFigure {
    /// System.
    pub kind: SystemKind,
    /// Cluster size.
    pub n: usize,
    /// Resident set growth from building and converging the cluster.
    pub rss_growth_bytes: u64,
    /// Sum over nodes of the members each has in its table.
    pub table_entries: u64,
}

impl MemoryFigure {
    /// Bytes per known member (RSS growth / table entries; includes the per-node
    /// overhead and the simulator's own per-node state, so an upper bound).
    pub fn bytes_per_member(&self) -> f64 {
        self.rss_growth_bytes as f64 / (self.table_entries.max(1) as f64)
    }
}

enum JobOut {
    World(SystemKind, WorldResult, Perf),
    Cold(SystemKind, usize, Option<Duration>),
    FalseAlarm(SystemKind, FalseAlarmResult, Perf),
    Sweep(SystemKind, SweepPoint),
    Downing(Summary),
}

type Job = (String, Box<dyn FnOnce() -> Result<JobOut, SimError> + Send>);

fn sweep_system(kind: SystemKind, mult: u32) -> (Option<Ours>, Option<Foca>) {
    match kind {
        SystemKind::Ours => (Some(Ours::lan().with_suspicion_mult(mult)), None),
        SystemKind::PlainSwim => (Some(Ours::plain().with_suspicion_mult(mult)), None),
        SystemKind::Foca => (
            None,
            Some(Foca {
                suspicion_mult: Some(f64::from(mult)),
            }),
        ),
    }
}

fn ours(kind: SystemKind) -> Ours {
    if kind == SystemKind::PlainSwim {
        Ours::plain()
    } else {
        Ours::lan()
    }
}

fn jobs(cfg: &SuiteConfig) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    // Largest first, so the two workers finish together.
    let mut sizes = cfg.sizes.clone();
    sizes.sort_by_key(|s| std::cmp::Reverse(s.n));
    for plan in &sizes {
        for &kind in &cfg.systems {
            let c = cfg.clone();
            let n = plan.n;
            jobs.push((
                format!("world {} N={n}", kind.short()),
                Box::new(move || {
                    let (r, p) = match kind {
                        SystemKind::Foca => run_world(Foca::default(), n, &c)?,
                        k => run_world(ours(k), n, &c)?,
                    };
                    Ok(JobOut::World(kind, r, p))
                }),
            ));
        }
        if plan.n >= 1000 {
            jobs.extend(false_alarm_jobs(cfg));
        }
    }
    if !sizes.iter().any(|s| s.n >= 1000) {
        let fa = false_alarm_jobs(cfg);
        jobs.splice(0..0, fa);
    }
    for &sc in &cfg.downing {
        let seeds = if sc.n() >= 100 {
            cfg.downing_seeds_n100
        } else {
            cfg.downing_seeds
        };
        jobs.push((
            format!("downing {}", sc.name()),
            Box::new(move || Ok(JobOut::Downing(sc.summarize(seeds)))),
        ));
    }
    for &mult in &cfg.sweep_mults {
        for &kind in &cfg.systems {
            let c = cfg.clone();
            jobs.push((
                format!("sweep {} m={mult}", kind.short()),
                Box::new(move || {
                    let p = match sweep_system(kind, mult) {
                        (Some(o), _) => run_sweep_point(o, mult, &c)?,
                        (_, Some(f)) => run_sweep_point(f, mult, &c)?,
                        _ => unreachable!("one of the two"),
                    };
                    Ok(JobOut::Sweep(kind, p))
                }),
            ));
        }
    }
    for plan in &sizes {
        for trial in 0..plan.extra_cold {
            for &kind in &cfg.systems {
                let c = cfg.clone();
                let n = plan.n;
                jobs.push((
                    format!("cold {} N={n} #{trial}", kind.short()),
                    Box::new(move || {
                        let t = match kind {
                            SystemKind::Foca => run_cold(Foca::default(), n, trial, &c)?,
                            k => run_cold(ours(k), n, trial, &c)?,
                        };
                        Ok(JobOut::Cold(kind, n, t))
                    }),
                ));
            }
        }
    }
    jobs
}

fn false_alarm_jobs(cfg: &SuiteConfig) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::new();
    if cfg.false_alarm.is_zero() {
        return jobs;
    }
    for cond in FalseAlarmCondition::ALL {
        for &kind in &cfg.systems {
            let c = cfg.clone();
            jobs.push((
                format!("false alarms {} {cond:?}", kind.short()),
                Box::new(move || {
                    let (r, p) = match kind {
                        SystemKind::Foca => run_false_alarm(Foca::default(), cond, &c)?,
                        k => run_false_alarm(ours(k), cond, &c)?,
                    };
                    Ok(JobOut::FalseAlarm(kind, r, p))
                }),
            ));
        }
    }
    jobs
}

/// Progress of [`run_suite`]: a job finished.
#[derive(Clone, Debug)]
pub struct JobDone<'a> {
    /// Jobs finished so far.
    pub done: usize,
    /// Jobs in all.
    pub total: usize,
    /// What the job was.
    pub label: &'a str,
    /// Its wall time.
    pub took: Duration,
    /// CPU time of the worker thread during the job, if the OS tells
    /// (Linux); on a busy machine a better measure of cost than `took`.
    pub cpu: Option<Duration>,
    /// Wall time since the suite started.
    pub elapsed: Duration,
}

/// Runs the suite on `threads` worker threads (at least 1). `progress` is told
/// about every finished job.
pub fn run_suite(
    cfg: &SuiteConfig,
    threads: usize,
    progress: &(dyn Fn(JobDone<'_>) + Sync),
) -> Result<(SuiteResults, WallFigures), SimError> {
    let start = Instant::now();
    let jobs = jobs(cfg);
    let total = jobs.len();
    let queue: Mutex<Vec<(usize, Job)>> = Mutex::new(jobs.into_iter().enumerate().rev().collect());
    let outs: Mutex<Vec<(usize, Result<JobOut, SimError>)>> = Mutex::new(Vec::new());
    let cpu_sum: Mutex<Option<Duration>> = Mutex::new(Some(Duration::ZERO));
    let threads = threads.max(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let job = queue.lock().map(|mut q| q.pop()).ok().flatten();
                let Some((i, (label, job))) = job else { break };
                let t0 = Instant::now();
                let c0 = thread_cpu();
                let r = job();
                let took = t0.elapsed();
                let cpu = thread_cpu().zip(c0).map(|(b, a)| b.saturating_sub(a));
                if let Ok(mut sum) = cpu_sum.lock() {
                    *sum = sum.zip(cpu).map(|(s, c)| s + c);
                }
                if let Ok(mut o) = outs.lock() {
                    o.push((i, r));
                    progress(JobDone {
                        done: o.len(),
                        total,
                        label: &label,
                        took,
                        cpu,
                        elapsed: start.elapsed(),
                    });
                }
            });
        }
    });
    let mut outs = outs.into_inner().unwrap_or_default();
    outs.sort_by_key(|(i, _)| *i);

    let mut worlds: Vec<SystemWorld> = Vec::new();
    let mut colds: Vec<(SystemKind, usize, Option<Duration>)> = Vec::new();
    let mut false_alarms = Vec::new();
    let mut sweep = Vec::new();
    let mut downing = Vec::new();
    let mut wall = WallFigures {
        threads,
        job_cpu: cpu_sum.into_inner().ok().flatten(),
        ..WallFigures::default()
    };
    for (_, out) in outs {
        match out? {
            JobOut::World(kind, world, perf) => {
                wall.perf.push(perf);
                worlds.push(SystemWorld {
                    kind,
                    cold_start: Dist::default(),
                    world,
                });
            }
            JobOut::Cold(kind, n, t) => colds.push((kind, n, t)),
            JobOut::FalseAlarm(kind, r, perf) => {
                wall.perf.push(perf);
                false_alarms.push((kind, r));
            }
            JobOut::Sweep(kind, p) => sweep.push((kind, p)),
            JobOut::Downing(d) => downing.push(d),
        }
    }
    for w in &mut worlds {
        let extra = colds
            .iter()
            .filter(|(k, n, _)| *k == w.kind && *n == w.world.n)
            .map(|(_, _, t)| *t);
        w.cold_start = Dist::from_outcomes(std::iter::once(w.world.cold_start).chain(extra));
    }
    worlds.sort_by_key(|w| (w.world.n, w.kind));
    false_alarms.sort_by_key(|(k, r)| (r.condition, *k));
    sweep.sort_by_key(|(k, p)| (*k, p.mult));
    wall.total = start.elapsed();
    Ok((
        SuiteResults {
            config: cfg.clone(),
            worlds,
            false_alarms,
            sweep,
            downing,
        },
        wall,
    ))
}

/// CPU time (user + system) of the calling thread, from
/// `/proc/thread-self/stat` (Linux; assumes 100 clock ticks per second).
pub fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name in parentheses; utime and stime are the
    // 14th and 15th fields overall.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), if
/// available.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn probe<S: BenchSystem>(sys: S, n: usize, seed: u64) -> Result<MemoryFigure, SimError> {
    let kind = sys.kind();
    let before = rss_bytes().unwrap_or(0);
    let mut w = world::World::new(
        sys,
        derive_seed(seed, 0x3005, n as u64),
        NetConfig::default(),
        n,
    )?;
    w.cold_start(n)?;
    w.converge(Duration::from_secs(180));
    w.run_for(Duration::from_secs(5));
    let after = rss_bytes().unwrap_or(0);
    let table_entries = w
        .sim
        .live()
        .into_iter()
        .filter_map(|a| w.sim.node(a))
        .map(|node| S::table_len(node) as u64)
        .sum();
    Ok(MemoryFigure {
        kind,
        n,
        rss_growth_bytes: after.saturating_sub(before),
        table_entries,
    })
}

/// Builds and converges a cluster of `n` of `kind` and measures how much the
/// resident set grew. Meant to run alone in a fresh process (the binary's
/// `--memory-probe`), so nothing else allocates meanwhile.
pub fn memory_probe(kind: SystemKind, n: usize, seed: u64) -> Result<MemoryFigure, SimError> {
    match kind {
        SystemKind::Foca => probe(Foca::default(), n, seed),
        k => probe(ours(k), n, seed),
    }
}
