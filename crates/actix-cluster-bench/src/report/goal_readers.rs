//! How each goal's figure is read from the results: one function per kind
//! of goal, named in the table of `goals.rs`.

use std::fmt::Write as _;

use actix_cluster_sim::downing_scenarios::{Group, Scenario, Summary};

use crate::report::format::{durs3, kbit, s, secs_of, seeds_with_problems};
use crate::report::goal_model::{GoalRow, GoalStatus, Inputs, Reading};
use crate::{Dist, FalseAlarmCondition, FalseAlarmResult, SuiteResults, SystemKind, SystemWorld};

const OURS: SystemKind = SystemKind::Ours;

/// Our p99 of `dist` at the row's N, held to the limit (seconds).
fn p99_at_most(i: &Inputs<'_>, row: &GoalRow, dist: fn(&SystemWorld) -> &Dist) -> Reading {
    let world = i.results.world(OURS, row.n);
    let p99 = world.and_then(|w| dist(w).p99());
    Reading::new(
        s(p99),
        GoalStatus::from(world.is_some(), p99.is_some_and(|v| v <= row.limit)),
    )
}

/// Crash → `Down` everywhere, p99.
pub(crate) fn crash_p99(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    Some(p99_at_most(i, row, |w| &w.world.crash_down))
}

/// Silent host crash → `Down` everywhere, p99.
pub(crate) fn silent_crash_p99(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    Some(p99_at_most(i, row, |w| &w.world.silent_down))
}

/// Join → `Up` everywhere, p99.
pub(crate) fn join_p99(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    Some(p99_at_most(i, row, |w| &w.world.join))
}

/// Our idle traffic at the row's N, kbit/s per member.
pub(crate) fn idle_kbit(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let idle = i
        .results
        .world(OURS, row.n)
        .map(|w| kbit(w.world.idle.bytes_per_member_s));
    Some(Reading::new(
        idle.map_or("—".into(), |v| format!("{v:.2} kbit/s")),
        GoalStatus::from(idle.is_some(), idle.is_some_and(|v| v <= row.limit)),
    ))
}

/// Our false-alarm runs, in condition order.
fn ours_false_alarms(r: &SuiteResults) -> Vec<&FalseAlarmResult> {
    FalseAlarmCondition::ALL
        .iter()
        .filter_map(|c| r.false_alarm(OURS, *c))
        .collect()
}

/// False `Down` events in every false-alarm run, at most the limit.
pub(crate) fn false_downs(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let fa = ours_false_alarms(i.results);
    let downs: u64 = fa.iter().map(|f| f.false_down_events).sum();
    let figure = fa
        .iter()
        .map(|f| {
            if f.condition == FalseAlarmCondition::Pauses {
                format!(
                    "{}: {} ({} of stalled, {} of healthy members)",
                    f.condition.label(),
                    f.false_down_events,
                    f.stalled_down_events,
                    f.healthy_down_events()
                )
            } else {
                format!("{}: {}", f.condition.label(), f.false_down_events)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let ok = downs as f64 <= row.limit;
    Some(Reading::new(figure, GoalStatus::from(!fa.is_empty(), ok)))
}

/// The worst condition's suspicions per member-hour, at most the limit.
pub(crate) fn suspicion_rate(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let fa = ours_false_alarms(i.results);
    let worst = fa
        .iter()
        .map(|f| f.suspicions_per_member_hour())
        .fold(0.0f64, f64::max);
    let figure = fa
        .iter()
        .map(|f| {
            format!(
                "{}: {:.2}",
                f.condition.label(),
                f.suspicions_per_member_hour()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(Reading::new(
        figure,
        GoalStatus::from(!fa.is_empty(), worst <= row.limit),
    ))
}

/// How many times fewer `b` is than `a` (1 when both are zero).
fn factor(a: u64, b: u64) -> f64 {
    if a == 0 {
        if b == 0 {
            1.0
        } else {
            f64::INFINITY
        }
    } else {
        b as f64 / a as f64
    }
}

/// Our and plain SWIM's pause runs, when both ran.
fn pause_runs(r: &SuiteResults) -> Option<(&FalseAlarmResult, &FalseAlarmResult)> {
    let ours = r.false_alarm(OURS, FalseAlarmCondition::Pauses)?;
    let plain = r.false_alarm(SystemKind::PlainSwim, FalseAlarmCondition::Pauses)?;
    Some((ours, plain))
}

/// Plain SWIM's `Unreachable` events about healthy members over ours under
/// pauses, at least the limit.
pub(crate) fn lifeguard_healthy(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let Some((o, p)) = pause_runs(i.results) else {
        return Some(Reading::new("—", GoalStatus::NotMeasured));
    };
    let (a, b) = (
        o.healthy_unreachable_events(),
        p.healthy_unreachable_events(),
    );
    let f_healthy = factor(a, b);
    let (figure, status) = if a == 0 && b == 0 {
        (
            "0 vs 0 events: neither suspected a healthy member".to_owned(),
            GoalStatus::Undecidable,
        )
    } else {
        (
            format!("{f_healthy:.1}× ({a} vs {b} events)"),
            GoalStatus::from(true, f_healthy >= row.limit),
        )
    };
    Some(Reading {
        figure,
        status,
        stall_grace: Some(o.stall_grace.as_secs_f64()),
    })
}

/// The same factor over all suspicions raised; left out when the pause runs
/// did not both run (the row before says so).
pub(crate) fn lifeguard_all(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let (o, p) = pause_runs(i.results)?;
    let f_all = factor(o.suspicions_raised, p.suspicions_raised);
    Some(Reading::new(
        format!(
            "{f_all:.1}× ({} vs {} raised)",
            o.suspicions_raised, p.suspicions_raised
        ),
        GoalStatus::from(true, f_all >= row.limit),
    ))
}

/// Our crash → `Down` p99 below foca's at every size.
pub(crate) fn faster_than_foca(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    let r = i.results;
    let mut faster = Vec::new();
    let mut all_faster = true;
    for plan in &r.config.sizes {
        let o = r.world(OURS, plan.n).and_then(|w| w.world.crash_down.p99());
        let f = r
            .world(SystemKind::Foca, plan.n)
            .and_then(|w| w.world.crash_down.p99());
        faster.push(format!("N={}: {} vs {}", plan.n, s(o), s(f)));
        all_faster &= match (o, f) {
            (Some(o), Some(f)) => o < f,
            (Some(_), None) => true,
            _ => false,
        };
    }
    Some(Reading::new(
        faster.join("; "),
        GoalStatus::from(!r.worlds.is_empty(), all_faster),
    ))
}

/// No more false `Down`s and suspicions than foca under every condition.
pub(crate) fn fewer_alarms_than_foca(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    let r = i.results;
    let mut fewer = Vec::new();
    let mut all_fewer = true;
    for c in FalseAlarmCondition::ALL {
        if let (Some(o), Some(f)) = (r.false_alarm(OURS, c), r.false_alarm(SystemKind::Foca, c)) {
            fewer.push(format!(
                "{}: Down {} vs {}, suspicions {:.2} vs {:.2}/member-h",
                c.label(),
                o.false_down_events,
                f.false_down_events,
                o.suspicions_per_member_hour(),
                f.suspicions_per_member_hour()
            ));
            all_fewer &= o.false_down_events <= f.false_down_events
                && o.suspicions_raised <= f.suspicions_raised;
        }
    }
    Some(Reading::new(
        fewer.join("; "),
        GoalStatus::from(!fewer.is_empty(), all_fewer),
    ))
}

/// The wall time of a quick run; left out of other modes' reports.
pub(crate) fn wall_quick(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    (i.results.config.mode == "quick").then(|| wall_time(i, row))
}

/// The wall time of a full (or tiny) run; left out of a quick run's report.
pub(crate) fn wall_full(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    (i.results.config.mode != "quick").then(|| wall_time(i, row))
}

/// The run's wall time, below the limit; a tiny run is not judged.
fn wall_time(i: &Inputs<'_>, row: &GoalRow) -> Reading {
    let wall = i.wall;
    let secs = wall.total.as_secs_f64();
    let mut figure = format!("{secs:.0} s on {} threads", wall.threads);
    if let Some(cpu) = wall.job_cpu {
        let _ = write!(
            figure,
            " ({:.0} CPU-s of simulation jobs, ≈ {:.0} s on {} idle cores)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() / wall.threads.max(1) as f64,
            wall.threads
        );
    }
    Reading::new(
        figure,
        GoalStatus::from(i.results.config.mode != "tiny", secs < row.limit),
    )
}

// ----- the downing scenarios ------------------------------------------------------

/// The downing scenarios of `group` that ran.
fn ran(r: &SuiteResults, group: Group) -> Vec<&Summary> {
    r.downing
        .iter()
        .filter(|d| d.scenario.is_some_and(|s| s.group() == group))
        .collect()
}

/// Healthy members downed or reborn in `d`.
fn healthy(d: &Summary) -> usize {
    d.healthy_downs + d.healthy_reborn
}

/// `name: figure` for every scenario of `v`.
fn list(v: &[&Summary], f: &dyn Fn(&Summary) -> String) -> String {
    v.iter()
        .map(|d| format!("{}: {}", d.name, f(d)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Healthy members downed or reborn in the faulty-member and partition runs.
pub(crate) fn healthy_downed(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let mut runs = ran(i.results, Group::Faulty);
    runs.extend(ran(i.results, Group::BadLink));
    runs.extend(ran(i.results, Group::Partition));
    let figure = list(&runs, &|d| {
        format!("{} downed, {} reborn", d.healthy_downs, d.healthy_reborn)
    });
    let ok = runs.iter().all(|d| healthy(d) as f64 <= row.limit);
    Some(Reading::new(figure, GoalStatus::from(!runs.is_empty(), ok)))
}

/// Downs in the pauses below the bound (and, for the record, what the pauses
/// beyond it did).
pub(crate) fn short_pauses(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let short = ran(i.results, Group::ShortPause);
    let long = ran(i.results, Group::LongPause);
    let mut figure = list(&short, &|d| {
        format!("{} downs in {} seeds", d.healthy_downs, d.seeds)
    });
    for d in &long {
        let _ = write!(
            figure,
            "; (beyond the bound) {}: downed and rejoined in {} of {} seeds",
            d.name,
            d.reborn.len(),
            d.seeds
        );
    }
    let ok = short
        .iter()
        .all(|d| healthy(d) as f64 <= row.limit && d.problems.is_empty());
    Some(Reading::new(
        figure,
        GoalStatus::from(!short.is_empty(), ok),
    ))
}

/// Seeds in which exactly one side survived, of at least the limit's seeds
/// per shape.
pub(crate) fn one_side_survives(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let parts = ran(i.results, Group::Partition);
    let seeds_ok = parts.iter().all(|d| d.seeds as f64 >= row.limit);
    let figure = list(&parts, &|d| {
        format!(
            "{} of {} seeds{}",
            d.seeds - seeds_with_problems(d),
            d.seeds,
            outside_the_rule(d)
        )
    });
    let status = if parts.is_empty() {
        GoalStatus::NotMeasured
    } else if !parts.iter().all(|d| d.problems.is_empty()) {
        GoalStatus::Missed
    } else if seeds_ok {
        GoalStatus::Met
    } else {
        GoalStatus::NotMeasured
    };
    Some(Reading::new(figure, status))
}

/// What a partition row's fencing figures leave out: losing members that
/// never fenced (they left before, or the run ended first) and newcomers
/// that asked a side which had already fenced, so never joined it.
fn outside_the_rule(d: &Summary) -> String {
    let mut parts = Vec::new();
    if d.never_reborn > 0 {
        parts.push(format!(
            "{} losing members neither fenced nor reborn",
            d.never_reborn
        ));
    }
    if d.never_joined > 0 {
        parts.push(format!(
            "{} newcomers never joined the losing side: it had fenced before they asked",
            d.never_joined
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// Samples with two `Up` leaders after the checker's grace.
pub(crate) fn split_samples(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    let parts = ran(i.results, Group::Partition);
    let figure = list(&parts, &|d| {
        format!("{} samples with two Up leaders after it", d.split_samples)
    });
    let ok = parts.iter().all(|d| d.split_samples == 0);
    Some(Reading::new(
        figure,
        GoalStatus::from(!parts.is_empty(), ok),
    ))
}

/// Dual-leader time beyond the survivors' decision + `stable_after`.
pub(crate) fn dual_leader_beyond(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    let parts = ran(i.results, Group::Partition);
    let figure = list(&parts, &|d| {
        format!(
            "dual-leader time p50 / p99 / max {}, last moment beyond the survivors' decision \
             + stable_after by up to {}; the losing side fenced after {} (p50 / p99 / max)",
            durs3(&d.dual_leader),
            secs_of(d.dual_leader_beyond.last().copied().unwrap_or_default()),
            durs3(&d.reborn)
        )
    });
    let ok = parts
        .iter()
        .all(|d| d.dual_leader_beyond.iter().all(|b| b.is_zero()));
    Some(Reading::new(
        figure,
        GoalStatus::from(!parts.is_empty(), ok),
    ))
}

/// Members of the surviving side reborn.
pub(crate) fn majority_reborn(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    let parts = ran(i.results, Group::Partition);
    let figure = list(&parts, &|d| format!("{} reborn", d.healthy_reborn));
    let ok = parts.iter().all(|d| d.healthy_reborn == 0);
    Some(Reading::new(
        figure,
        GoalStatus::from(!parts.is_empty(), ok),
    ))
}

/// The partitions' decision time; met when every losing side was downed in
/// time.
pub(crate) fn decision_time(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    let parts = ran(i.results, Group::Partition);
    let figure = list(&parts, &|d| durs3(&d.decision));
    let ok = parts.iter().all(|d| d.never_downed == 0 && d.late == 0);
    Some(Reading::new(
        figure,
        GoalStatus::from(!parts.is_empty(), ok),
    ))
}

/// The flip-flop member downed each time, within the scenario's bound.
pub(crate) fn flip_flop_downed(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    Some(faulty_downed(i.results, Scenario::FlipFlop))
}

/// The 80%-lossy member downed, within the scenario's bound.
pub(crate) fn lossy_downed(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    Some(faulty_downed(i.results, Scenario::Lossy80))
}

/// Faults of `sc` downed, and how fast (the bound is the scenario's own,
/// judged by the checker as `late`).
fn faulty_downed(r: &SuiteResults, sc: Scenario) -> Reading {
    let d = r.downing(sc);
    let figure = d.map_or("—".into(), |d| {
        let mut f = format!(
            "{} of {} faults downed; p50 / p99 / max {}",
            d.downed.len(),
            d.downed.len() + d.never_downed,
            durs3(&d.downed)
        );
        if sc == Scenario::Lossy80 {
            let _ = write!(f, " in {} seeds", d.seeds);
        }
        f
    });
    Reading::new(
        figure,
        GoalStatus::from(
            d.is_some(),
            d.is_some_and(|d| {
                d.never_downed == 0 && d.late == 0 && (sc != Scenario::Lossy80 || d.seeds >= 20)
            }),
        ),
    )
}

/// Our suspicions per member-hour against foca's in the same run, under
/// `c`.
fn suspicions_vs_foca(i: &Inputs<'_>, c: FalseAlarmCondition) -> Reading {
    let r = i.results;
    match (r.false_alarm(OURS, c), r.false_alarm(SystemKind::Foca, c)) {
        (Some(o), Some(f)) => Reading::new(
            format!(
                "{:.2} vs {:.2} per member-hour ({} vs {} raised)",
                o.suspicions_per_member_hour(),
                f.suspicions_per_member_hour(),
                o.suspicions_raised,
                f.suspicions_raised
            ),
            GoalStatus::from(true, o.suspicions_raised <= f.suspicions_raised),
        ),
        _ => Reading::new("—".to_owned(), GoalStatus::from(false, false)),
    }
}

/// Suspicions under 20% bursty loss, ours ≤ foca's.
pub(crate) fn bursty_suspicions(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    Some(suspicions_vs_foca(i, FalseAlarmCondition::BurstyLoss))
}

/// Suspicions under pauses, ours ≤ foca's.
pub(crate) fn pause_suspicions(i: &Inputs<'_>, _: &GoalRow) -> Option<Reading> {
    Some(suspicions_vs_foca(i, FalseAlarmCondition::Pauses))
}

/// The losing side of every partition fenced (or reborn) within the
/// survivors' decision + the row's limit, p99 against p99.
pub(crate) fn fenced_in_time(i: &Inputs<'_>, row: &GoalRow) -> Option<Reading> {
    let parts = ran(i.results, Group::Partition);
    let p99 = |v: &[std::time::Duration]| {
        actix_cluster_sim::downing_scenarios::percentile(v, 0.99).as_secs_f64()
    };
    let figure = list(&parts, &|d| {
        format!(
            "fenced p99 {:.2} s vs decision p99 {:.2} s{}",
            p99(&d.reborn),
            p99(&d.decision),
            outside_the_rule(d)
        )
    });
    let ok = parts
        .iter()
        .all(|d| d.never_reborn == 0 && p99(&d.reborn) <= p99(&d.decision) + row.limit);
    Some(Reading::new(
        figure,
        GoalStatus::from(!parts.is_empty(), ok),
    ))
}
