//! The README's benchmark section: headline figures and the command, spliced
//! between the README's markers.

use std::fmt::Write as _;
use std::time::Duration;

use actix_cluster_sim::downing_scenarios::{percentile, Group, Scenario, Summary};

use crate::report::command;
use crate::report::format::{kbit, s, secs_of, seeds_with_problems, sizes};
use crate::{FalseAlarmCondition, SuiteResults, SystemKind, WallFigures};

/// The README section: headline figures and the command.
pub fn readme_section(r: &SuiteResults, wall: &WallFigures) -> String {
    let mut m = String::new();
    headlines(&mut m, r);
    false_alarm_lines(&mut m, r);
    downing_line(&mut m, r);
    let _ = writeln!(
        m,
        "\nThese figures come from a {} run that took {:.0} s of wall time on a 2-core machine. \
         Reproduce them with the command below (`--quick` runs N = 10 and 100 only, with fewer \
         trials, in about a minute; CI runs it):\n\n```sh\n{}\n```",
        r.config.mode,
        wall.total.as_secs_f64(),
        command(&r.config.mode, r.config.seed)
    );
    m
}

/// The opening paragraph and one line of headline figures per size.
fn headlines(m: &mut String, r: &SuiteResults) {
    let _ = writeln!(m, "## Benchmarks\n");
    let _ = writeln!(
        m,
        "Membership is judged by how fast a dead member is declared dead everywhere, how rarely a \
         live one is, how fast a newcomer is seen everywhere, and what it costs the network. \
         [BENCHMARKS.md](BENCHMARKS.md) has every figure for our `lan()` preset, our core with \
         Lifeguard off (plain SWIM) and foca 2, measured in the same run on the same simulated \
         network in virtual time, with plots under `docs/bench/`. Headline figures (ours / foca, \
         p99 over seeded trials):\n"
    );
    for n in sizes(r) {
        let get = |k, f: &dyn Fn(&crate::SystemWorld) -> Option<f64>| r.world(k, n).and_then(f);
        let _ = writeln!(
            m,
            "- N = {n}: crash → `MemberDown` everywhere {} / {}; join → `MemberUp` everywhere {} / {}; idle traffic {} / {} kbit/s per member.",
            s(get(SystemKind::Ours, &|w| w.world.crash_down.p99())),
            s(get(SystemKind::Foca, &|w| w.world.crash_down.p99())),
            s(get(SystemKind::Ours, &|w| w.world.join.p99())),
            s(get(SystemKind::Foca, &|w| w.world.join.p99())),
            get(SystemKind::Ours, &|w| Some(kbit(w.world.idle.bytes_per_member_s))).map_or("—".into(), |v| format!("{v:.1}")),
            get(SystemKind::Foca, &|w| Some(kbit(w.world.idle.bytes_per_member_s))).map_or("—".into(), |v| format!("{v:.1}")),
        );
    }
}

/// False alarms under bursty loss and under pauses.
fn false_alarm_lines(m: &mut String, r: &SuiteResults) {
    if let (Some(o), Some(p), Some(f)) = (
        r.false_alarm(SystemKind::Ours, FalseAlarmCondition::BurstyLoss),
        r.false_alarm(SystemKind::PlainSwim, FalseAlarmCondition::BurstyLoss),
        r.false_alarm(SystemKind::Foca, FalseAlarmCondition::BurstyLoss),
    ) {
        let _ = writeln!(
            m,
            "- False alarms at N = {} under 20% bursty loss ({} min): {} false `MemberDown` with Lifeguard, {} with it off, {} for foca.",
            o.n,
            o.duration.as_secs() / 60,
            o.false_down_events,
            p.false_down_events,
            f.false_down_events
        );
    }
    if let (Some(o), Some(f)) = (
        r.false_alarm(SystemKind::Ours, FalseAlarmCondition::Pauses),
        r.false_alarm(SystemKind::Foca, FalseAlarmCondition::Pauses),
    ) {
        let _ = writeln!(
            m,
            "- False alarms at N = {} with 5% of members pausing 1–4 s (an hour): {} / {} false `MemberDown` (of which {} / {} about members that were not paused, or {} s after resuming), {:.2} / {:.2} suspicions raised per member-hour, stalled members included (ours / foca; our `lan()` trades this for 4–5× faster detection, see the suspicion-timeout sweep in BENCHMARKS.md).",
            o.n,
            o.false_down_events,
            f.false_down_events,
            o.healthy_down_events(),
            f.healthy_down_events(),
            o.stall_grace.as_secs_f64(),
            o.suspicions_per_member_hour(),
            f.suspicions_per_member_hour()
        );
    }
}

/// The downing scenarios in one line.
fn downing_line(m: &mut String, r: &SuiteResults) {
    if !r.downing.is_empty() {
        let seeds: usize = r.downing.iter().map(|d| d.seeds).sum();
        let healthy: usize = r
            .downing
            .iter()
            .map(|d| d.healthy_downs + d.healthy_reborn)
            .sum();
        let parts: Vec<&Summary> = r
            .downing
            .iter()
            .filter(|d| d.scenario.is_some_and(|s| s.group() == Group::Partition))
            .collect();
        let clean = parts
            .iter()
            .map(|d| d.seeds - seeds_with_problems(d))
            .sum::<usize>();
        let total = parts.iter().map(|d| d.seeds).sum::<usize>();
        let mut decision: Vec<Duration> = parts
            .iter()
            .flat_map(|d| d.decision.iter().copied())
            .collect();
        decision.sort();
        let _ = write!(
            m,
            "- Downing ({seeds} seeded fault runs: flip-flop, lossy member, isolation, \
             pauses, partitions): {healthy} healthy members downed or reborn; exactly one side \
             survived in {clean} of {total} partition runs, decided in {} p99",
            secs_of(percentile(&decision, 0.99))
        );
        if let Some(l) = r.downing(Scenario::Lossy80) {
            let _ = write!(
                m,
                "; a member losing 80% of its packets was downed in {} of {} runs (flap memory)",
                l.downed.len(),
                l.seeds
            );
        }
        let _ = writeln!(m, ".");
    }
}

/// Where the README's benchmark section starts and ends.
const README_BEGIN: &str = "<!-- benchmarks:begin (written by the bench binary) -->";
const README_END: &str = "<!-- benchmarks:end -->";

/// Replaces the text between the README's benchmark markers with `section`;
/// `None` when the markers are missing or out of order.
pub fn splice_readme(readme: &str, section: &str) -> Option<String> {
    let begin = readme.find(README_BEGIN)? + README_BEGIN.len();
    let end = begin + readme[begin..].find(README_END)?;
    Some(format!(
        "{}\n{}\n{}",
        &readme[..begin],
        section.trim(),
        &readme[end..]
    ))
}
