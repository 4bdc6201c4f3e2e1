//! BENCHMARKS.md: what it costs (traffic, the machine-dependent figures)
//! and the suspicion-timeout sweep.

use std::fmt::Write as _;

use crate::report::format::{dist3, kbit, ratio, sizes, systems};
use crate::{SuiteResults, SystemKind, WallFigures};

/// Cost: traffic per member, idle and under churn.
pub(crate) fn cost(m: &mut String, r: &SuiteResults) {
    let _ = writeln!(m, "\n## Cost\n");
    let _ = writeln!(
        m,
        "Bytes and messages sent per member per second (datagrams and stream frames, payload \
         only, no IP/UDP headers). Idle is steady state: measured over {} s starting {} s of \
         virtual time after the cold start converged, so the gossip the cold start queued has \
         drained (right after convergence it can take about a minute to drain and inflate the \
         figure). The rows \"right after the cold start\" keep the earlier measurement (20 s \
         starting 5 s after convergence, inside the warm-up) for comparison; the earlier \
         report's 10.7 kbit/s at N = 1000 came from an older core (`bed255e`, before commit \
         `f4a4863` removed the push-pull exchange burst after a cold start). Churn: one \
         join and one leave per second over {} s, right after the idle window on the same \
         cluster.\n\n![idle traffic](docs/bench/idle_traffic.svg)\n",
        r.config.idle.as_secs(),
        r.config.idle_warmup.as_secs(),
        r.config.churn.as_secs()
    );
    cost_table(m, r);
}

/// The cost table: one row per size and figure.
fn cost_table(m: &mut String, r: &SuiteResults) {
    let _ = write!(m, "| N | figure |");
    for k in systems(r) {
        let _ = write!(m, " {} |", k.label());
    }
    let _ = writeln!(m, " ratio ours/foca |");
    let _ = writeln!(m, "|---|---|{}---|", "---|".repeat(systems(r).len()));
    type Fig = fn(&crate::SystemWorld) -> f64;
    let figs: [(&str, Fig); 6] = [
        ("idle kbit/s", |w| kbit(w.world.idle.bytes_per_member_s)),
        ("idle msgs/s", |w| w.world.idle.msgs_per_member_s),
        ("idle kbit/s right after the cold start", |w| {
            kbit(w.world.idle_after_cold_start.bytes_per_member_s)
        }),
        ("idle msgs/s right after the cold start", |w| {
            w.world.idle_after_cold_start.msgs_per_member_s
        }),
        ("churn kbit/s", |w| kbit(w.world.churn.bytes_per_member_s)),
        ("churn msgs/s", |w| w.world.churn.msgs_per_member_s),
    ];
    for n in sizes(r) {
        for (name, f) in figs {
            let _ = write!(m, "| {n} | {name} |");
            for k in systems(r) {
                match r.world(k, n) {
                    Some(w) => {
                        let _ = write!(m, " {:.2} |", f(w));
                    }
                    None => {
                        let _ = write!(m, " n/a |");
                    }
                }
            }
            let o = r.world(SystemKind::Ours, n).map(f);
            let fo = r.world(SystemKind::Foca, n).map(f);
            let _ = writeln!(m, " {} |", ratio(o, fo));
        }
    }
}

/// Machine-dependent figures: throughput and memory.
pub(crate) fn machine(m: &mut String, r: &SuiteResults, wall: &WallFigures) {
    let _ = writeln!(m, "\n### Machine-dependent figures\n");
    let _ = writeln!(
        m,
        "Simulated member-seconds per wall second (idle stretch of each cluster; one worker \
         thread each), on the machine that generated this file:\n"
    );
    let _ = write!(m, "| N |");
    for k in systems(r) {
        let _ = write!(m, " {} |", k.label());
    }
    let _ = writeln!(m, "\n|---|{}", "---|".repeat(systems(r).len()));
    for n in sizes(r) {
        let _ = write!(m, "| {n} |");
        for k in systems(r) {
            let p = wall
                .perf
                .iter()
                .find(|p| p.kind == k && p.n == n && p.member_seconds > 0.0);
            let _ = write!(
                m,
                " {} |",
                p.map_or("n/a".into(), |p| format!("{:.0}", p.rate()))
            );
        }
        let _ = writeln!(m);
    }
    if wall.memory.is_empty() {
        let _ = writeln!(m, "\nMemory per known member: not measured in this run.");
    } else {
        let _ = writeln!(
            m,
            "\nMemory per known member: a fresh child process builds and converges one cluster \
             and reports how much its resident set grew, divided by the sum over members of \
             the entries in their membership tables. This includes each node's fixed overhead \
             and the simulator's per-node state, so it is an upper bound. The last column \
             counts the heap's growth with a counting allocator instead (the same bound, \
             without the allocator's and the page size's slack).\n"
        );
        let _ = writeln!(m, "| system | N | RSS growth | table entries | bytes per known member | heap bytes per known member |\n|---|---|---|---|---|---|");
        for f in &wall.memory {
            let _ = writeln!(
                m,
                "| {} | {} | {:.1} MiB | {} | {:.0} | {} |",
                f.kind.label(),
                f.n,
                f.rss_growth_bytes as f64 / (1024.0 * 1024.0),
                f.table_entries,
                f.bytes_per_member(),
                f.heap_per_member()
                    .map_or("n/a".to_owned(), |h| format!("{h:.0}"))
            );
        }
    }
}

/// The trade-off: the sweep of the suspicion multiplier.
pub(crate) fn sweep(m: &mut String, r: &SuiteResults) {
    if !r.sweep.is_empty() {
        let _ = writeln!(m, "\n## The trade-off: suspicion timeout\n");
        let _ = writeln!(
            m,
            "The suspicion multiplier m sets how long a suspected member has to refute before it \
             is declared down (ours: minimum `m · max(1, log10 N) · probe_interval` with \
             `probe_interval` = 200 ms, Lifeguard starts at 6× that and shrinks it with \
             confirmations; foca: `m · max(1, log10 N) · 1 s`). N = {}; each point: {} min of \
             the pause scenario, then {} crash trials.\n\n\
             ![trade-off, suspicions](docs/bench/tradeoff_suspicions.svg)\n\n\
             ![trade-off, false Down](docs/bench/tradeoff_false_down.svg)\n",
            r.config.sweep_n,
            r.config.sweep_duration.as_secs() / 60,
            r.config.sweep_trials
        );
        let _ = writeln!(m, "| system | m | crash → Down p50 / p99 / max | false Down (members) | of which of healthy members (members) | suspicions/member-h | `Unreachable` events of healthy members |\n|---|---|---|---|---|---|---|");
        for (k, p) in &r.sweep {
            let healthy_unreach = if *k == SystemKind::Foca {
                "n/a".to_owned()
            } else {
                p.pauses.healthy_unreachable_events().to_string()
            };
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} ({}) | {} ({}) | {:.2} | {} |",
                k.label(),
                p.mult,
                dist3(&p.crash_down),
                p.pauses.false_down_events,
                p.pauses.false_down_members,
                p.pauses.healthy_down_events(),
                p.pauses.healthy_down_members,
                p.pauses.suspicions_per_member_hour(),
                healthy_unreach
            );
        }
    }
}
