//! The markdown report.

use super::*;

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn secs(d: Option<Duration>, bound: Duration) -> String {
    d.map_or(format!("not within {} s", bound.as_secs()), |d| {
        format!("{:.2} s", d.as_secs_f64())
    })
}

/// The RSS goal.
const RSS_GOAL_KB: u64 = 64 * 1024;
/// The datagram handling p99 goal.
const P99_GOAL: Duration = Duration::from_millis(1);

/// Whether the detection during and after the flood is within the rule
/// for "unchanged": at most 1.5 times the one before plus 0.5 s.
fn unchanged(before: Option<Duration>, other: Option<Duration>) -> bool {
    match (before, other) {
        (Some(b), Some(o)) => o <= b.mul_f64(1.5) + Duration::from_millis(500),
        _ => false,
    }
}

/// The report, in markdown: how it was produced, then one section per kind.
pub(super) fn markdown(opts: &Opts, results: &[KindResult]) -> String {
    let mut out = intro(opts);
    for r in results {
        kind_section(&mut out, opts, r);
    }
    out
}

/// How the figures were produced, and the goals.
fn intro(opts: &Opts) -> String {
    let mut out = String::new();
    let cmd = if opts.quick {
        "cargo bench -p actix-cluster --bench soak -- --quick".to_string()
    } else {
        format!(
            "cargo bench -p actix-cluster --bench soak -- --phase-secs {} --rate {} --frame-rate {} --write",
            opts.phase.as_secs(),
            opts.rate,
            opts.frame_rate
        )
    };
    out.push_str("## Soak under floods\n\n");
    out.push_str(&format!(
        "Produced by `{cmd}` (release build). Per flood kind a fresh plaintext cluster \
         (no keys, the worst case; the `lan` preset) of one target and {HELPERS} helpers, \
         each its own process on 127.0.0.1; phases of {} s: before (quiet), during (the \
         flood), after (quiet). In each phase one helper is killed (SIGKILL) a third of the \
         way in and the target's first `Unreachable` (suspicion) and its `MemberDown` \
         (the downing decision) for it are timed. RSS (`VmRSS`) and CPU \
         (`utime + stime`) are the target process's own; handling latency is the \
         `Cluster` actor's own `ClusterStats::datagram_handling` (and `frame_handling`) \
         over the phase, from the handler's entry to the end of the core's processing and \
         of sending its outputs. Members is the most the target knew (live and \
         tombstones; live in parentheses), timers its pending protocol timers at most. \
         The flooder runs on the same 2-core machine as the five nodes.\n\n",
        opts.phase.as_secs()
    ));
    out.push_str(
        "Goals: RSS under 64 MB, datagram handling p99 under 1 ms, crash \
         detection unchanged (here: during and after at most 1.5 × before + 0.5 s).\n\n",
    );
    out
}

/// One flood kind: what it sent, the phases' figures, what the target
/// counted and the goals met.
fn kind_section(out: &mut String, opts: &Opts, r: &KindResult) {
    out.push_str(&format!("### {}\n\n{}.\n\n", r.kind.name(), r.description));
    out.push_str(&format!(
        "The flood sent {} {} in {:.0} s.{}\n\n",
        r.sent,
        if r.kind == Kind::SlotExhaustion {
            "connections"
        } else {
            "messages"
        },
        r.phases[1].wall.as_secs_f64(),
        if r.survived {
            ""
        } else {
            " **The target process exited.**"
        }
    ));
    out.push_str(
        "| phase | RSS max / end (MB) | CPU % | datagrams handled | datagram p50 / p99 / max (µs) | frames handled | frame p99 / max (µs) | members (live) max | timers max | crash: unreachable / down |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, p) in ["before", "during", "after"].iter().zip(&r.phases) {
        out.push_str(&format!(
            "| {name} | {} / {} | {:.0} | {} | {} / {} / {} | {} | {} / {} | {} ({}) | {} | {} / {} |\n",
            mb(p.rss_max_kb),
            mb(p.rss_end_kb),
            p.cpu_pct,
            p.report.datagrams,
            us(p.report.datagram_p50),
            us(p.report.datagram_p99),
            us(p.report.datagram_max),
            p.report.frames,
            us(p.report.frame_p99),
            us(p.report.frame_max),
            p.members_max,
            p.live_max,
            p.timers_max,
            secs(p.suspected, opts.detection_bound),
            secs(p.detection, opts.detection_bound),
        ));
    }
    let counted: Vec<String> = node::COUNTERS
        .iter()
        .zip(&r.phases[1].report.counters)
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    out.push_str(&format!(
        "\nDuring the flood the target counted: {}.\n",
        counted.join(", ")
    ));
    goals(out, opts, r);
}

/// Whether the kind met the goals.
fn goals(out: &mut String, opts: &Opts, r: &KindResult) {
    let rss = r.phases.iter().map(|p| p.rss_max_kb).max().unwrap_or(0);
    let p99 = r
        .phases
        .iter()
        .map(|p| p.report.datagram_p99)
        .max()
        .unwrap_or_default();
    let det = [1, 2]
        .iter()
        .all(|&i| unchanged(r.phases[0].detection, r.phases[i].detection));
    out.push_str(&format!(
        "\nGoals: RSS < 64 MB {} ({} MB at most); datagram p99 < 1 ms {} ({} µs at \
         most); crash detection unchanged {} ({} before, {} during, {} after).\n\n",
        if rss < RSS_GOAL_KB {
            "met"
        } else {
            "**missed**"
        },
        mb(rss),
        if p99 < P99_GOAL { "met" } else { "**missed**" },
        us(p99),
        if det { "met" } else { "**missed**" },
        secs(r.phases[0].detection, opts.detection_bound),
        secs(r.phases[1].detection, opts.detection_bound),
        secs(r.phases[2].detection, opts.detection_bound),
    ));
}
