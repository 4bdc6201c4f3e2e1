//! Runs the suite: every scenario as an independent job on a few worker
//! threads, the results folded in a fixed order so they do not depend on the
//! thread count.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_cluster_sim::downing_scenarios::Summary;
use actix_cluster_sim::SimError;

use crate::scenarios::{run_cold, run_false_alarm, run_sweep_point, run_world};
use crate::{
    Dist, FalseAlarmCondition, FalseAlarmResult, Foca, Ours, Perf, SuiteConfig, SuiteResults,
    SweepPoint, SystemKind, SystemWorld, WallFigures, WorldResult,
};

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

pub(crate) fn ours(kind: SystemKind) -> Ours {
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
    let threads = threads.max(1);
    let (outs, job_cpu) = run_jobs(jobs(cfg), threads, start, progress);
    let wall = WallFigures {
        threads,
        job_cpu,
        ..WallFigures::default()
    };
    let (results, mut wall) = fold(cfg, outs, wall)?;
    wall.total = start.elapsed();
    Ok((results, wall))
}

/// What the jobs returned, in job order, and the CPU time they took in all
/// (when the OS tells).
type JobOuts = (Vec<(usize, Result<JobOut, SimError>)>, Option<Duration>);

/// Runs `jobs` on `threads` worker threads, each taking the next job when it
/// is done with one.
fn run_jobs(
    jobs: Vec<Job>,
    threads: usize,
    start: Instant,
    progress: &(dyn Fn(JobDone<'_>) + Sync),
) -> JobOuts {
    let total = jobs.len();
    let queue: Mutex<Vec<(usize, Job)>> = Mutex::new(jobs.into_iter().enumerate().rev().collect());
    let outs: Mutex<Vec<(usize, Result<JobOut, SimError>)>> = Mutex::new(Vec::new());
    let cpu_sum: Mutex<Option<Duration>> = Mutex::new(Some(Duration::ZERO));
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
    (outs, cpu_sum.into_inner().ok().flatten())
}

/// Folds the jobs' outputs, in job order, into the results; the first job
/// that failed fails the suite.
fn fold(
    cfg: &SuiteConfig,
    outs: Vec<(usize, Result<JobOut, SimError>)>,
    mut wall: WallFigures,
) -> Result<(SuiteResults, WallFigures), SimError> {
    let mut worlds: Vec<SystemWorld> = Vec::new();
    let mut colds: Vec<(SystemKind, usize, Option<Duration>)> = Vec::new();
    let mut false_alarms = Vec::new();
    let mut sweep = Vec::new();
    let mut downing: Vec<Summary> = Vec::new();
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
