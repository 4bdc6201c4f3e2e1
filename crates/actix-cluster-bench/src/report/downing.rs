//! BENCHMARKS.md: the downing scenarios, one row each.

use std::fmt::Write as _;

use actix_cluster_sim::downing_scenarios::{Group, Scenario};

use crate::report::format::{durs3, lan_grace, secs_of};
use crate::SuiteResults;

/// The downing scenarios: what they are, one row each, the problems the
/// checker found and how the lossy member is downed.
pub(crate) fn downing_section(m: &mut String, r: &SuiteResults) {
    if r.downing.is_empty() {
        return;
    }
    downing_intro(m, r);
    downing_table(m, r);
    downing_problems(m, r);
    lossy_note(m, r);
}

/// What the scenarios do and what each column means.
fn downing_intro(m: &mut String, r: &SuiteResults) {
    let lan = actix_cluster_proto::Config::lan();
    let d = &lan.downing;
    let _ = writeln!(m, "\n## Downing: faults, pauses and partitions\n");
    let _ = writeln!(
        m,
        "Our core only (`lan()`: `stable_after` {} s, pause bound `max_pause` {} s, \
         keep-majority). Each scenario runs seeds 1 to {} ({} for the one at N = 100; the seeds of \
         `crates/actix-cluster-sim/tests/downing.rs`, which asserts on the same runs) on a \
         network of 0.5–1.5 ms one-way latency (the rejoin case: the default network), and \
         `DowningCheck` (`src/sim/check.rs`) reads each whole run: every `Down(Failed)` event \
         about a healthy member, every healthy member that became a new member, the leader of \
         every node every 100 ms, and the end state. \"Downed\" is the time from the fault until \
         every survivor has published `Down` for a faulty member (bound: 10 s for a faulty \
         member, 15 s for a partition's losing side); \"decision\" the same for the whole losing \
         side (per seed); \"dual-leader\" the time two sides each had a node whose leader was a \
         different live member (sampled every 100 ms; the grace period included); \"beyond\" how \
         far the last such moment came after the seed's decision time + `stable_after`; \"two \
         leaders after grace\" the checker's violation count (samples with two `Up` leaders \
         later than `max_pause + refutation_spread(N) + suspicion_max_timeout(N) + \
         stable_after + 2 s` after the fault, {} at N = 10); \"fenced\" the time until each \
         member of the faulty side fenced itself or was reborn (a newcomer sent to a side that \
         had already fenced never joins it: it is counted apart, as \"never joined\").\n",
        d.stable_after.as_secs_f64(),
        d.max_pause.as_secs_f64(),
        r.config.downing_seeds,
        r.config.downing_seeds_n100,
        secs_of(lan_grace()),
    );
}

/// One row per scenario.
fn downing_table(m: &mut String, r: &SuiteResults) {
    let _ = writeln!(
        m,
        "| scenario | seeds | healthy downed / reborn | downed p50 / p99 / max (never) | \
         decision p50 / p99 / max | dual-leader p50 / p99 / max | beyond (max) | two leaders \
         after grace | fenced p50 / p99 / max (never) | problems |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    );
    for sum in &r.downing {
        let what = sum.scenario.map_or("", |s| s.what());
        // A member that paused below the bound must not fence: its "never"
        // is the expected outcome, not a fault.
        let expected_down = sum
            .scenario
            .is_some_and(|s| matches!(s.group(), Group::Faulty | Group::Partition));
        let never = |n: usize| match (n, expected_down) {
            (0, _) => String::new(),
            (n, true) => format!(" (**{n}**)"),
            (n, false) => format!(" ({n})"),
        };
        let _ = writeln!(
            m,
            "| {} ({what}) | {} | {} / {} | {}{} | {} | {} | {} | {} | {}{} | {} |",
            sum.name,
            sum.seeds,
            sum.healthy_downs,
            sum.healthy_reborn,
            durs3(&sum.downed),
            never(sum.never_downed),
            durs3(&sum.decision),
            durs3(&sum.dual_leader),
            secs_of(sum.dual_leader_beyond.last().copied().unwrap_or_default()),
            sum.split_samples,
            durs3(&sum.reborn),
            never_joined(never(sum.never_reborn), sum.never_joined),
            sum.problems.len(),
        );
    }
}

/// The fenced column's note, with the newcomers that never joined the
/// losing side (not a fault: it had fenced before they asked).
fn never_joined(never: String, joined: usize) -> String {
    if joined == 0 {
        never
    } else {
        format!("{never} ({joined} never joined)")
    }
}

/// The first problems the checker reported.
fn downing_problems(m: &mut String, r: &SuiteResults) {
    let problems: Vec<&String> = r.downing.iter().flat_map(|d| d.problems.iter()).collect();
    if !problems.is_empty() {
        let _ = writeln!(m, "\nProblems the checker reported (first 10):\n");
        for (sum, p) in r
            .downing
            .iter()
            .flat_map(|d| d.problems.iter().map(move |p| (d, p)))
            .take(10)
        {
            let _ = writeln!(m, "- {}: {p}", sum.name);
        }
    }
}

/// How the 80%-lossy member is downed (flap memory).
fn lossy_note(m: &mut String, r: &SuiteResults) {
    let Some(l) = r.downing(Scenario::Lossy80) else {
        return;
    };
    let d = actix_cluster_proto::Config::lan().downing;
    let _ = writeln!(
        m,
        "\n**The 80%-lossy member** still hears 20% of what is sent to it and refutes each \
         suspicion of it, so no single suspicion lives for `max_pause` + `refutation_spread`. \
         Flap memory (docs/PROTOCOL.md, §5; on in lan) downs it: every node remembers each \
         suspicion of a new incarnation with the member whose probe failed, and a member \
         suspected afresh in each of the last two windows of `max_pause` + \
         `refutation_spread(N)` more often than noise explains (with `m` the other members' \
         average in the window and `l = max(m, 1)`: at least `ceil(l + 4 sqrt(l)) + {}`, and \
         more than `3 m`), by at least {} distinct suspecters in the last one, is unreachable \
         for the decision although it refutes (only a node in good local health decides on \
         it). Downed in {} of {} seeds; one bad link (the bad-link and one-way-cut rows: two \
         healthy members whose link loses 80% both ways, or is cut one way) has one suspecter \
         at most and downs nobody.",
        d.flap_refutations,
        d.flap_observers,
        l.seeds - l.never_downed.min(l.seeds),
        l.seeds
    );
}
