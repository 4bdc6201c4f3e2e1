//! The scale mode (`bench --scale`): one large cluster per system and size,
//! each measured once: cold start until everyone sees everyone (and how many
//! distinct membership views a member passed through meanwhile), idle
//! traffic, crash -> `Down` everywhere, join -> `Up` everywhere, memory per
//! known member and the wall time of the run. Not part of CI's quick run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use actix_cluster_sim::{derive_seed, NetConfig, SimError};

use crate::memory::{rss_bytes, HeapCounter};
use crate::stats::Dist;
use crate::suite::{ours, thread_cpu};
use crate::world::World;
use crate::{BenchSystem, Foca, SystemKind, Traffic};

/// The figures of one system at one size.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaleFigure {
    /// System.
    pub kind: SystemKind,
    /// Cluster size.
    pub n: usize,
    /// Cold start: every member sees every other `Up` (virtual time), if
    /// within the limit.
    pub cold_start: Option<Duration>,
    /// Distinct membership views a member passed through during the cold
    /// start (a view changes at each instant it publishes `Up` or `Down`
    /// events): median and largest over the members.
    pub views_median: u64,
    /// See [`ScaleFigure::views_median`].
    pub views_max: u64,
    /// Idle traffic per member (after the cold start's gossip drained).
    pub idle: Traffic,
    /// Crash of one member -> every other published `Down`.
    pub crash_down: Dist,
    /// A new member -> every other published its `Up`.
    pub join_up: Dist,
    /// Heap growth per known member (counting allocator), when counted.
    pub heap_per_member: Option<f64>,
    /// Resident set growth per known member.
    pub rss_per_member: f64,
    /// Wall time of this system's run at this size.
    pub wall: Duration,
    /// Simulated member-seconds per wall second over the run.
    pub member_seconds_per_s: f64,
    /// The same over the idle window only (the figure of the normal
    /// report's "Machine-dependent figures").
    pub idle_member_seconds_per_s: f64,
    /// The same per CPU second of the simulating thread: what the wall
    /// clock says on an idle machine, and what it cannot say on a shared
    /// one (runs before this figure existed have none).
    #[serde(default)]
    pub idle_member_seconds_per_cpu_s: Option<f64>,
}

const COLD_LIMIT: Duration = Duration::from_secs(300);
const DRAIN: Duration = Duration::from_secs(90);
const IDLE: Duration = Duration::from_secs(30);
const CRASH_LIMIT: Duration = Duration::from_secs(90);
const JOIN_LIMIT: Duration = Duration::from_secs(60);

/// Runs one system at one size.
pub fn run_scale(
    kind: SystemKind,
    n: usize,
    trials: usize,
    seed: u64,
    heap: Option<HeapCounter>,
) -> Result<ScaleFigure, SimError> {
    match kind {
        SystemKind::Foca => scale_world(Foca::default(), n, trials, seed, heap),
        k => scale_world(ours(k), n, trials, seed, heap),
    }
}

fn scale_world<S: BenchSystem>(
    sys: S,
    n: usize,
    trials: usize,
    seed: u64,
    heap: Option<HeapCounter>,
) -> Result<ScaleFigure, SimError> {
    let kind = sys.kind();
    let wall0 = Instant::now();
    let (rss0, heap0) = (rss_bytes().unwrap_or(0), heap.map(|h| h()));
    let mut w = World::new(
        sys,
        derive_seed(seed, 0x5ca1e, n as u64),
        NetConfig::default(),
        n,
    )?;
    w.tr.borrow_mut().count_views(true);
    w.cold_start(n)?;
    let cold_start = w.converge(COLD_LIMIT);
    progress(n, &format!("cold start {}", secs(cold_start)), wall0, heap);
    let (views_median, views_max) = view_counts(&w.tr.borrow().views());
    w.tr.borrow_mut().count_views(false);
    w.run_for(DRAIN);
    progress(n, "drained", wall0, heap);
    let entries: u64 = w
        .sim
        .live()
        .into_iter()
        .filter_map(|a| w.sim.node(a))
        .map(|node| S::table_len(node) as u64)
        .sum::<u64>()
        .max(1);
    let heap_per_member = heap
        .zip(heap0)
        .map(|(h, h0)| h().saturating_sub(h0) as f64 / entries as f64);
    let rss_per_member = rss_bytes().unwrap_or(0).saturating_sub(rss0) as f64 / entries as f64;
    w.sim.reset_stats();
    let members = w.sim.live().len() as f64;
    let (ms0, wall0_idle) = (w.member_seconds, w.wall);
    let cpu0 = thread_cpu();
    w.run_for(IDLE);
    let idle_cpu = thread_cpu().zip(cpu0).map(|(c1, c0)| c1.saturating_sub(c0));
    let idle_ms = w.member_seconds - ms0;
    let idle = w.traffic(IDLE.as_secs_f64(), members);
    let idle_rate = (w.member_seconds - ms0) / (w.wall - wall0_idle).as_secs_f64().max(1e-9);
    let (mut downs, mut joins) = (Vec::new(), Vec::new());
    progress(n, &format!("idle {:.2} kbit/s", kbit(idle)), wall0, heap);
    for _ in 0..trials {
        downs.push(w.crash_trial(CRASH_LIMIT)?.down);
        joins.push(w.join_trial(JOIN_LIMIT)?);
        progress(n, "one crash and one join trial", wall0, heap);
    }
    Ok(ScaleFigure {
        kind,
        n,
        cold_start,
        views_median,
        views_max,
        idle,
        crash_down: Dist::from_outcomes(downs),
        join_up: Dist::from_outcomes(joins),
        heap_per_member,
        rss_per_member,
        wall: wall0.elapsed(),
        member_seconds_per_s: w.member_seconds / w.wall.as_secs_f64().max(1e-9),
        idle_member_seconds_per_s: idle_rate,
        idle_member_seconds_per_cpu_s: idle_cpu
            .filter(|c| !c.is_zero())
            .map(|c| idle_ms / c.as_secs_f64()),
    })
}

/// One line on stderr of how far a run is: at N = 10,000 a run takes the
/// better part of an hour, and a run stopped before its end (e.g. for its
/// memory) would otherwise leave nothing.
fn progress(n: usize, what: &str, wall0: Instant, heap: Option<HeapCounter>) {
    let gb = |b: u64| b as f64 / 1e9;
    eprintln!(
        "bench: scale N = {n}: {what} ({:.0} s of wall time; heap {}, RSS {:.2} GB)",
        wall0.elapsed().as_secs_f64(),
        heap.map_or("not counted".to_owned(), |h| format!("{:.2} GB", gb(h()))),
        gb(rss_bytes().unwrap_or(0)),
    );
}

/// Median and largest of the members' view counts.
fn view_counts(views: &[u64]) -> (u64, u64) {
    let mut v = views.to_vec();
    v.sort_unstable();
    let median = v.get(v.len() / 2).copied().unwrap_or(0);
    (median, v.last().copied().unwrap_or(0))
}

/// One goal of the issue: a figure, its anchor and the bound.
struct Goal {
    what: &'static str,
    anchor: &'static str,
    bound: &'static str,
    figure: String,
    met: Option<bool>,
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("did not finish".to_owned(), |d| {
        format!("{:.2} s", d.as_secs_f64())
    })
}

/// A percentile of `d` (`None` when a trial did not finish).
fn pct(d: &Dist, p: f64) -> Option<Duration> {
    d.percentile_s(p).map(Duration::from_secs_f64)
}

fn find(figs: &[ScaleFigure], kind: SystemKind, n: usize) -> Option<&ScaleFigure> {
    figs.iter().find(|f| f.kind == kind && f.n == n)
}

fn goals(figs: &[ScaleFigure]) -> Vec<Goal> {
    let ours = |n| find(figs, SystemKind::Ours, n);
    let under = |d: Option<Duration>, s: f64| d.map(|d| d.as_secs_f64() <= s);
    let mut g = Vec::new();
    for (n, bound, anchor) in [
        (2000, 5.0, "Rapid ~41-48 s, memberlist ~95 s"),
        (10_000, 10.0, "no published figure; floor ~2.2 s"),
    ] {
        let f = ours(n);
        g.push(Goal {
            what: if n == 2000 {
                "cold start everyone-sees-everyone N = 2,000"
            } else {
                "cold start N = 10,000"
            },
            anchor,
            bound: if n == 2000 { "<= 5 s" } else { "<= 10 s" },
            figure: f.map_or("not run".into(), |f| secs(f.cold_start)),
            met: f.and_then(|f| under(f.cold_start, bound)),
        });
    }
    for (n, bound) in [(2000, 5.0), (10_000, 6.0)] {
        let f = ours(n);
        let p99 = f.and_then(|f| pct(&f.crash_down, 99.0));
        g.push(Goal {
            what: if n == 2000 {
                "crash -> Down everywhere p99 N = 2,000"
            } else {
                "crash -> Down everywhere p99 N = 10,000"
            },
            anchor: "memberlist defaults ~17 / 20 s",
            bound: if n == 2000 { "<= 5 s" } else { "<= 6 s" },
            figure: f.map_or("not run".into(), |_| secs(p99)),
            met: f.and_then(|_| under(p99, bound)),
        });
    }
    let f = ours(10_000);
    let p99 = f.and_then(|f| pct(&f.join_up, 99.0));
    g.push(Goal {
        what: "join -> Up everywhere p99 N = 10,000",
        anchor: "Akka ~15 s per join at 2,400",
        bound: "<= 1.5 s",
        figure: f.map_or("not run".into(), |_| secs(p99)),
        met: f.and_then(|_| under(p99, 1.5)),
    });
    g.push(Goal {
        what: "idle traffic per member N = 10,000",
        anchor: "Rapid p99 3.7 KB/s at 1,000",
        bound: "<= 10 kbit/s",
        figure: f.map_or("not run".into(), |f| format!("{:.2} kbit/s", kbit(f.idle))),
        met: f.map(|f| kbit(f.idle) <= 10.0),
    });
    g.extend(machine_goals(figs));
    g
}

/// The memory, simulator-speed and real-process goals.
fn machine_goals(figs: &[ScaleFigure]) -> Vec<Goal> {
    let largest = figs
        .iter()
        .filter(|f| f.kind == SystemKind::Ours)
        .max_by_key(|f| f.n);
    let rate = |k| find(figs, k, 1000).map(|f| f.idle_member_seconds_per_s);
    let (ours, foca) = (rate(SystemKind::Ours), rate(SystemKind::Foca));
    let per_cpu = |k| find(figs, k, 1000).and_then(|f| f.idle_member_seconds_per_cpu_s);
    let (ours_cpu, foca_cpu) = (per_cpu(SystemKind::Ours), per_cpu(SystemKind::Foca));
    vec![
        Goal {
            what: "memory per known member (core)",
            anchor: "foca 0.52 KB, memberlist ~0.25 KB",
            bound: "<= 0.5 KB",
            figure: largest.map_or("not run".into(), |f| {
                let heap = f
                    .heap_per_member
                    .map_or("n/a".into(), |h| format!("{h:.0} B"));
                format!("{heap} heap, {:.0} B RSS at N = {}", f.rss_per_member, f.n)
            }),
            met: largest
                .map(|f| f.rss_per_member <= 512.0 && f.heap_per_member.unwrap_or(0.0) <= 512.0),
        },
        Goal {
            what: "simulator speed N = 1,000 (idle)",
            anchor: "foca 76k member-s per wall-s",
            bound: ">= foca in the same run",
            figure: match (ours, foca, ours_cpu.zip(foca_cpu)) {
                (Some(o), Some(f), Some((oc, fc))) => format!(
                    "{o:.0} vs foca {f:.0} member-s per wall-s; {oc:.0} vs {fc:.0} per CPU-s"
                ),
                (Some(o), Some(f), None) => format!("{o:.0} vs foca {f:.0} member-s per wall-s"),
                _ => "not in this run (see the notes)".into(),
            },
            // Judged per CPU second where measured: on a shared machine the
            // wall clock measures the other work as much as the simulator.
            met: match ours_cpu.zip(foca_cpu) {
                Some((o, f)) => Some(o >= f),
                None => ours.zip(foca).map(|(o, f)| o >= f),
            },
        },
    ]
}

fn kbit(t: Traffic) -> f64 {
    t.bytes_per_member_s * 8.0 / 1000.0
}

/// The "Scale" section of BENCHMARKS.md, from the figures of one run and
/// the notes (reasons, profiles) given with it.
pub fn scale_markdown(figs: &[ScaleFigure], seed: u64, notes: &str) -> String {
    let mut m = String::from("## Scale\n\n");
    let _ = writeln!(
        m,
        "Written by `cargo run --release -p actix-cluster-bench --bin bench -- --scale` (seed {seed}): one \
         cluster per system and size on the simulator, every member joining through the first at \
         time zero, full views. Idle traffic is measured over {} s after {} s of drain; memory per \
         known member is the growth of the heap (counting allocator) and of the resident set, \
         divided by the sum of the members' table sizes, simulator included.\n",
        IDLE.as_secs(),
        DRAIN.as_secs()
    );
    let _ = writeln!(
        m,
        "| figure | anchor | goal | measured | status |\n|---|---|---|---|---|"
    );
    for g in goals(figs) {
        let status = match g.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "**missed** (not measured)",
        };
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {status} |",
            g.what, g.anchor, g.bound, g.figure
        );
    }
    let _ = writeln!(
        m,
        "\n| system | N | cold start | views per member (median / max) | idle kbit/s | crash -> Down p50 / p99 | join -> Up p50 / p99 | heap B/member | RSS B/member | member-s per wall-s (run / idle) | idle member-s per CPU-s | wall |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for f in figs {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} / {} | {:.2} | {} / {} | {} / {} | {} | {:.0} | {:.0} / {:.0} | {} | {:.0} s |",
            f.kind.label(),
            f.n,
            secs(f.cold_start),
            f.views_median,
            f.views_max,
            kbit(f.idle),
            secs(pct(&f.crash_down, 50.0)),
            secs(pct(&f.crash_down, 99.0)),
            secs(pct(&f.join_up, 50.0)),
            secs(pct(&f.join_up, 99.0)),
            f.heap_per_member
                .map_or("n/a".into(), |h| format!("{h:.0}")),
            f.rss_per_member,
            f.member_seconds_per_s,
            f.idle_member_seconds_per_s,
            f.idle_member_seconds_per_cpu_s
                .map_or("n/a".into(), |r| format!("{r:.0}")),
            f.wall.as_secs_f64()
        );
    }
    if !notes.is_empty() {
        m.push('\n');
        m.push_str(notes.trim_end());
        m.push('\n');
    }
    m
}

/// The subsection of "Scale" written by hand from the 100-process benchmark
/// of the tests crate (`scale_processes`); a rewrite keeps it.
const BY_HAND: &str = "\n### 100 real processes\n";

/// `text` with its "## Scale" section (up to the next `## ` heading)
/// replaced by `section`, or `section` appended. The old section's
/// "100 real processes" subsection, if any, stays at its end.
pub fn splice_scale(text: &str, section: &str) -> String {
    let Some(start) = text.find("\n## Scale\n") else {
        return format!("{}\n\n{}", text.trim_end(), section);
    };
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map(|i| start + 1 + 3 + i + 1);
    let old = &text[start + 1..end.unwrap_or(text.len())];
    let kept = old
        .find(BY_HAND)
        .map(|i| format!("{}\n", old[i..].trim_end()))
        .unwrap_or_default();
    let section = format!("{section}{kept}");
    match end {
        Some(e) => format!("{}{}\n{}", &text[..start + 1], section, &text[e..]),
        None => format!("{}{}", &text[..start + 1], section),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_section_is_replaced_or_appended() {
        let a = "# B\n\n## Cost\nx\n";
        let s = "## Scale\n\nnew\n";
        let once = splice_scale(a, s);
        assert_eq!(once, "# B\n\n## Cost\nx\n\n## Scale\n\nnew\n");
        let mid = "# B\n\n## Scale\nold\n\n## Next\ny\n";
        assert_eq!(
            splice_scale(mid, s),
            "# B\n\n## Scale\n\nnew\n\n## Next\ny\n"
        );
        assert_eq!(splice_scale(&once, s), once);
    }

    #[test]
    fn the_hand_written_subsection_stays() {
        let s = "## Scale\n\nnew\n";
        let mid = "# B\n\n## Scale\nold\n\n### 100 real processes\nhand\n\n## Next\ny\n";
        let want = "# B\n\n## Scale\n\nnew\n\n### 100 real processes\nhand\n\n## Next\ny\n";
        assert_eq!(splice_scale(mid, s), want);
        assert_eq!(splice_scale(want, s), want);
        let last = "# B\n\n## Scale\nold\n\n### 100 real processes\nhand\n";
        assert_eq!(
            splice_scale(last, s),
            "# B\n\n## Scale\n\nnew\n\n### 100 real processes\nhand\n"
        );
    }

    #[test]
    fn view_counts_are_median_and_max() {
        assert_eq!(view_counts(&[5, 1, 3]), (3, 5));
        assert_eq!(view_counts(&[]), (0, 0));
    }
}
