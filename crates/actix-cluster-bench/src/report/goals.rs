//! The goals the report is judged against, as one table: what each goal
//! says, the limit it sets and how its figure is read from the results
//! (the readers are in `goal_readers.rs`).

use actix_cluster_proto::Config;

use crate::report::format::{lan_grace, secs_of};
use crate::report::goal_model::{Goal, GoalRow, GoalStatus, Inputs, Reader, Reading};
use crate::report::goal_readers as read;
use crate::{SuiteResults, WallFigures};

/// A row with no size and no override.
const fn row(goal: &'static str, limit: f64, read: Reader) -> GoalRow {
    GoalRow {
        goal,
        unmeasured: None,
        n: 0,
        limit,
        read,
    }
}

/// A row about one cluster size.
const fn at(n: usize, goal: &'static str, limit: f64, read: Reader) -> GoalRow {
    GoalRow {
        n,
        ..row(goal, limit, read)
    }
}

const CRASH: &str = "crash → `MemberDown` everywhere, p99 ≤ {limit} s at N = {n}";
const SILENT: &str =
    "silent host crash (nothing refuses) → `MemberDown` everywhere, p99 ≤ `max_pause` + 2 s = {limit} s at N = {n}";
const JOIN: &str = "join → Up everywhere, p99 ≤ {limit} s at N = {n}";

/// Every goal, in the report's order.
pub(crate) const GOALS: &[GoalRow] = &[
    // Crash detection, with the downing decision on the path.
    at(10, CRASH, 3.0, read::crash_p99),
    at(100, CRASH, 4.0, read::crash_p99),
    at(1000, CRASH, 5.0, read::crash_p99),
    at(10, SILENT, 6.0, read::silent_crash_p99),
    at(100, SILENT, 6.0, read::silent_crash_p99),
    at(1000, SILENT, 6.0, read::silent_crash_p99),
    row(
        "zero false Down in every false-alarm run (of any live member, a stalled one included)",
        0.0,
        read::false_downs,
    ),
    row(
        "≤ {limit} false suspicion per member-hour (every condition)",
        1.0,
        read::suspicion_rate,
    ),
    GoalRow {
        unmeasured: Some("≥ 50× fewer false suspicions than plain SWIM under pauses"),
        ..row(
            "≥ {limit}× fewer false suspicions than plain SWIM under pauses, of healthy members (the goal as Lifeguard means it: `Unreachable` events about members neither paused nor within {stall_grace} s of resuming)",
            50.0,
            read::lifeguard_healthy,
        )
    },
    row(
        "… the same over all suspicions raised (stalled members included; probes of a paused member fail rightly)",
        50.0,
        read::lifeguard_all,
    ),
    at(10, JOIN, 1.0, read::join_p99),
    at(100, JOIN, 2.0, read::join_p99),
    at(1000, JOIN, 3.0, read::join_p99),
    at(
        1000,
        "idle traffic at N = {n} ≤ {limit} kbit/s per member",
        10.0,
        read::idle_kbit,
    ),
    row(
        "detects faster than foca (crash → Down p99, every N)",
        0.0,
        read::faster_than_foca,
    ),
    row(
        "suspicions per member-hour under 20% bursty loss ≤ foca's in the same run",
        0.0,
        read::bursty_suspicions,
    ),
    row(
        "suspicions per member-hour under pauses ≤ foca's in the same run",
        0.0,
        read::pause_suspicions,
    ),
    row(
        "fewer false alarms than foca (every condition)",
        0.0,
        read::fewer_alarms_than_foca,
    ),
    row(
        "0 healthy members downed (or reborn) in every flip-flop, per-node-loss, one-bad-link, isolation and partition run",
        0.0,
        read::healthy_downed,
    ),
    row(
        "0 downs for pauses below the bound (lan: 4 s; pauses of 1 and 3 s; 5 s may down)",
        0.0,
        read::short_pauses,
    ),
    row(
        "partitions (5/5, 6/4, 1/9, 6/4 during churn, 6/4 for 70 s): exactly one side survives in every seed, ≥ {limit} seeds per shape",
        20.0,
        read::one_side_survives,
    ),
    row(
        "partitions: dual-leader time 0 beyond stable_after + the losing side's decision time (the checker's grace: {grace} at N = 10)",
        0.0,
        read::split_samples,
    ),
    row(
        "partitions: dual-leader time 0 beyond stable_after ({stable_after} s) + the surviving side's decision time",
        0.0,
        read::dual_leader_beyond,
    ),
    row(
        "partitions: the losing side fenced within the survivors' decision + {limit} s, p99 (against the decision's p99)",
        2.0,
        read::fenced_in_time,
    ),
    row(
        "partitions: the majority (surviving side) is never reborn",
        0.0,
        read::majority_reborn,
    ),
    row(
        "partitions: decision time (fault → every survivor has the losing side down), p50 / p99 / max",
        0.0,
        read::decision_time,
    ),
    row(
        "faulty member with no inbound traffic (flip-flop) downed within {limit} s of the fault",
        10.0,
        read::flip_flop_downed,
    ),
    row(
        "faulty member with 80% loss (1 of 100) downed within {limit} s of the fault in every seed (≥ 20 seeds)",
        10.0,
        read::lossy_downed,
    ),
    row(
        "quick mode < 1 min wall on this 2-core machine",
        60.0,
        read::wall_quick,
    ),
    row(
        "full suite < 10 min wall on this 2-core machine",
        600.0,
        read::wall_full,
    ),
];

/// The goal's text, its placeholders filled in.
fn text(row: &GoalRow, reading: &Reading) -> String {
    let template = match (row.unmeasured, reading.status) {
        (Some(short), GoalStatus::NotMeasured) => short,
        _ => row.goal,
    };
    let lan = Config::lan();
    template
        .replace("{limit}", &row.limit.to_string())
        .replace("{n}", &row.n.to_string())
        .replace("{grace}", &secs_of(lan_grace()))
        .replace(
            "{stable_after}",
            &lan.downing.stable_after.as_secs_f64().to_string(),
        )
        .replace(
            "{stall_grace}",
            &reading.stall_grace.unwrap_or_default().to_string(),
        )
}

/// Evaluates every goal of the table (`GOALS`) against the results.
pub fn goals(r: &SuiteResults, wall: &WallFigures) -> Vec<Goal> {
    let inputs = Inputs { results: r, wall };
    GOALS
        .iter()
        .filter_map(|row| {
            let reading = (row.read)(&inputs, row)?;
            Some(Goal {
                goal: text(row, &reading),
                figure: reading.figure,
                status: reading.status,
            })
        })
        .collect()
}
