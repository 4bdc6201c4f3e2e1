//! BENCHMARKS.md, the SVG plots under `docs/bench/`, and the README section
//! the README's benchmark section.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::svg::{bar_chart, line_chart, BarSeries, LineSeries};
use crate::{Dist, FalseAlarmCondition, SuiteResults, SystemKind, WallFigures};
use actix_cluster_sim::downing::{percentile, Group, Scenario, Summary};

/// The command that reproduces a run of `mode`.
pub fn command(mode: &str, seed: u64) -> String {
    let mut c = "cargo run --release -p actix-cluster-bench --bin bench --".to_owned();
    if mode == "quick" {
        c.push_str(" --quick --out target/bench-quick");
    } else {
        c.push_str(" --out .");
    }
    if seed != crate::DEFAULT_SEED {
        let _ = write!(c, " --seed {seed}");
    }
    c
}

fn s(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0} s"),
        Some(x) if x >= 10.0 => format!("{x:.1} s"),
        Some(x) => format!("{x:.2} s"),
        None => "—".to_owned(),
    }
}

fn dist3(d: &Dist) -> String {
    if d.trials() == 0 {
        return "n/a".to_owned();
    }
    let mut out = format!("{} / {} / {}", s(d.p50()), s(d.p99()), s(d.max()));
    if d.incomplete > 0 {
        let _ = write!(out, " ({} of {} not done)", d.incomplete, d.trials());
    }
    out
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        (Some(a), Some(_)) => {
            if a == 0.0 {
                "1 (both 0)".to_owned()
            } else {
                "∞ (foca 0)".to_owned()
            }
        }
        _ => "—".to_owned(),
    }
}

fn kbit(bytes_per_s: f64) -> f64 {
    bytes_per_s * 8.0 / 1000.0
}

/// Everything a report is made from; written as `docs/bench/results.json` so
/// the report can be regenerated (`bench --report-from`) or checked by others.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// The deterministic figures.
    pub results: SuiteResults,
    /// The machine-dependent ones.
    pub wall: WallFigures,
}

/// Reads a `results.json` written by [`write_all`].
pub fn load(path: &Path) -> std::io::Result<Saved> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

/// A goal and where we stand.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// What the goal says.
    pub goal: String,
    /// The figure measured.
    pub figure: String,
    /// Met, missed, or not measured in this run.
    pub status: GoalStatus,
}

/// Status of a goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoalStatus {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// Not measured in this mode.
    NotMeasured,
    /// Measured, but a ratio goal has nothing to compare: both counts are zero.
    Undecidable,
}

impl GoalStatus {
    fn label(self) -> &'static str {
        match self {
            GoalStatus::Met => "met",
            GoalStatus::Missed => "**missed**",
            GoalStatus::NotMeasured => "not measured in this mode",
            GoalStatus::Undecidable => "undecidable (both zero: no ratio to take)",
        }
    }

    fn from(measured: bool, ok: bool) -> GoalStatus {
        match (measured, ok) {
            (false, _) => GoalStatus::NotMeasured,
            (true, true) => GoalStatus::Met,
            (true, false) => GoalStatus::Missed,
        }
    }
}

/// Evaluates the goals of issue 5 against the results.
pub fn goals(r: &SuiteResults, wall: &WallFigures) -> Vec<Goal> {
    let mut g = Vec::new();
    let ours = SystemKind::Ours;
    // Issue 9's limits (with the downing decision on the path).
    for (n, limit) in [(10, 3.0), (100, 4.0), (1000, 5.0)] {
        let p99 = r.world(ours, n).and_then(|w| w.world.crash_down.p99());
        let measured = r.world(ours, n).is_some();
        g.push(Goal {
            goal: format!("crash → `MemberDown` everywhere, p99 ≤ {limit} s at N = {n}"),
            figure: s(p99),
            status: GoalStatus::from(measured, p99.is_some_and(|v| v <= limit)),
        });
    }
    let fa: Vec<_> = FalseAlarmCondition::ALL
        .iter()
        .filter_map(|c| r.false_alarm(ours, *c))
        .collect();
    let downs: u64 = fa.iter().map(|f| f.false_down_events).sum();
    g.push(Goal {
        goal:
            "zero false Down in every false-alarm run (of any live member, a stalled one included)"
                .into(),
        figure: fa
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
            .join("; "),
        status: GoalStatus::from(!fa.is_empty(), downs == 0),
    });
    let worst = fa
        .iter()
        .map(|f| f.suspicions_per_member_hour())
        .fold(0.0f64, f64::max);
    g.push(Goal {
        goal: "≤ 1 false suspicion per member-hour (every condition)".into(),
        figure: fa
            .iter()
            .map(|f| {
                format!(
                    "{}: {:.2}",
                    f.condition.label(),
                    f.suspicions_per_member_hour()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        status: GoalStatus::from(!fa.is_empty(), worst <= 1.0),
    });
    let ours_p = r.false_alarm(ours, FalseAlarmCondition::Pauses);
    let plain_p = r.false_alarm(SystemKind::PlainSwim, FalseAlarmCondition::Pauses);
    if let (Some(o), Some(p)) = (ours_p, plain_p) {
        let factor = |a: u64, b: u64| {
            if a == 0 {
                if b == 0 {
                    1.0
                } else {
                    f64::INFINITY
                }
            } else {
                b as f64 / a as f64
            }
        };
        let (a, b) = (
            o.healthy_unreachable_events(),
            p.healthy_unreachable_events(),
        );
        let f_healthy = factor(a, b);
        g.push(Goal {
            goal: format!(
                "≥ 50× fewer false suspicions than plain SWIM under pauses, of healthy members (the goal as Lifeguard means it: `Unreachable` events about members neither paused nor within {} s of resuming)",
                o.stall_grace.as_secs_f64()
            ),
            figure: if a == 0 && b == 0 {
                "0 vs 0 events: neither suspected a healthy member".into()
            } else {
                format!("{f_healthy:.1}× ({a} vs {b} events)")
            },
            status: if a == 0 && b == 0 {
                GoalStatus::Undecidable
            } else {
                GoalStatus::from(true, f_healthy >= 50.0)
            },
        });
        let f_all = factor(o.suspicions_raised, p.suspicions_raised);
        g.push(Goal {
            goal: "… the same over all suspicions raised (stalled members included; probes of a paused member fail rightly)"
                .into(),
            figure: format!(
                "{f_all:.1}× ({} vs {} raised)",
                o.suspicions_raised, p.suspicions_raised
            ),
            status: GoalStatus::from(true, f_all >= 50.0),
        });
    } else {
        g.push(Goal {
            goal: "≥ 50× fewer false suspicions than plain SWIM under pauses".into(),
            figure: "—".into(),
            status: GoalStatus::NotMeasured,
        });
    }
    for (n, limit) in [(10, 1.0), (100, 2.0), (1000, 3.0)] {
        let p99 = r.world(ours, n).and_then(|w| w.world.join.p99());
        g.push(Goal {
            goal: format!("join → Up everywhere, p99 ≤ {limit} s at N = {n}"),
            figure: s(p99),
            status: GoalStatus::from(r.world(ours, n).is_some(), p99.is_some_and(|v| v <= limit)),
        });
    }
    let idle = r
        .world(ours, 1000)
        .map(|w| kbit(w.world.idle.bytes_per_member_s));
    g.push(Goal {
        goal: "idle traffic at N = 1000 ≤ 10 kbit/s per member".into(),
        figure: idle.map_or("—".into(), |v| format!("{v:.2} kbit/s")),
        status: GoalStatus::from(idle.is_some(), idle.is_some_and(|v| v <= 10.0)),
    });
    // Faster than foca: p99 crash -> Down at every size measured.
    let mut faster = Vec::new();
    let mut all_faster = true;
    for plan in &r.config.sizes {
        let o = r.world(ours, plan.n).and_then(|w| w.world.crash_down.p99());
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
    g.push(Goal {
        goal: "detects faster than foca (crash → Down p99, every N)".into(),
        figure: faster.join("; "),
        status: GoalStatus::from(!r.worlds.is_empty(), all_faster),
    });
    let mut fewer = Vec::new();
    let mut all_fewer = true;
    for c in FalseAlarmCondition::ALL {
        if let (Some(o), Some(f)) = (r.false_alarm(ours, c), r.false_alarm(SystemKind::Foca, c)) {
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
    g.push(Goal {
        goal: "fewer false alarms than foca (every condition)".into(),
        figure: fewer.join("; "),
        status: GoalStatus::from(!fewer.is_empty(), all_fewer),
    });
    g.extend(downing_goals(r));
    let secs = wall.total.as_secs_f64();
    let (limit, what) = if r.config.mode == "quick" {
        (60.0, "quick mode < 1 min wall")
    } else {
        (600.0, "full suite < 10 min wall")
    };
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
    g.push(Goal {
        goal: format!("{what} on this 2-core machine"),
        figure,
        status: GoalStatus::from(r.config.mode != "tiny", secs < limit),
    });
    g
}

fn secs_of(d: Duration) -> String {
    s(Some(d.as_secs_f64()))
}

/// p50 / p99 / max of sorted durations.
fn durs3(v: &[Duration]) -> String {
    if v.is_empty() {
        return "n/a".to_owned();
    }
    format!(
        "{} / {} / {}",
        secs_of(percentile(v, 0.5)),
        secs_of(percentile(v, 0.99)),
        secs_of(*v.last().expect("not empty"))
    )
}

/// Issue 9's goals, from the downing scenarios.
fn downing_goals(r: &SuiteResults) -> Vec<Goal> {
    let mut g = Vec::new();
    let ran = |group: Group| -> Vec<&Summary> {
        r.downing
            .iter()
            .filter(|d| d.scenario.is_some_and(|s| s.group() == group))
            .collect()
    };
    let healthy = |d: &Summary| d.healthy_downs + d.healthy_reborn;
    let list = |v: &[&Summary], f: &dyn Fn(&Summary) -> String| -> String {
        v.iter()
            .map(|d| format!("{}: {}", d.name, f(d)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut runs: Vec<&Summary> = ran(Group::Faulty);
    runs.extend(ran(Group::Partition));
    g.push(Goal {
        goal: "0 healthy members downed (or reborn) in every flip-flop, per-node-loss, isolation and partition run (issue 9)"
            .into(),
        figure: list(&runs, &|d| {
            format!("{} downed, {} reborn", d.healthy_downs, d.healthy_reborn)
        }),
        status: GoalStatus::from(!runs.is_empty(), runs.iter().all(|d| healthy(d) == 0)),
    });
    let short = ran(Group::ShortPause);
    let long = ran(Group::LongPause);
    let mut pause_fig = list(&short, &|d| {
        format!("{} downs in {} seeds", d.healthy_downs, d.seeds)
    });
    for d in &long {
        let _ = write!(
            pause_fig,
            "; (beyond the bound) {}: downed and rejoined in {} of {} seeds",
            d.name,
            d.reborn.len(),
            d.seeds
        );
    }
    g.push(Goal {
        goal: "0 downs for pauses below the bound (lan: 4 s; pauses of 1 and 3 s; 5 s may down)"
            .into(),
        figure: pause_fig,
        status: GoalStatus::from(
            !short.is_empty(),
            short
                .iter()
                .all(|d| healthy(d) == 0 && d.problems.is_empty()),
        ),
    });
    let parts = ran(Group::Partition);
    let seeds_ok = parts.iter().all(|d| d.seeds >= 20);
    let one_side = |d: &Summary| d.problems.is_empty();
    g.push(Goal {
        goal: "partitions (5/5, 6/4, 1/9, 6/4 during churn, 6/4 for 70 s): exactly one side survives in every seed, ≥ 20 seeds per shape"
            .into(),
        figure: list(&parts, &|d| {
            format!(
                "{} of {} seeds{}",
                d.seeds - seeds_with_problems(d),
                d.seeds,
                if d.never_reborn > 0 {
                    format!(
                        " ({} losing members neither fenced nor reborn: they left)",
                        d.never_reborn
                    )
                } else {
                    String::new()
                }
            )
        }),
        status: if parts.is_empty() {
            GoalStatus::NotMeasured
        } else if !parts.iter().all(|d| one_side(d)) {
            GoalStatus::Missed
        } else if seeds_ok {
            GoalStatus::Met
        } else {
            GoalStatus::NotMeasured
        },
    });
    let lan = actix_cluster_proto::Config::lan();
    let grace = lan.downing.max_pause
        + lan.refutation_spread(10)
        + lan.suspicion_max_timeout(10)
        + lan.downing.stable_after
        + Duration::from_secs(2);
    g.push(Goal {
        goal: format!(
            "partitions: dual-leader time 0 beyond stable_after + the losing side's decision \
             time (the checker's grace: {} at N = 10)",
            secs_of(grace)
        ),
        figure: list(&parts, &|d| {
            format!("{} samples with two Up leaders after it", d.split_samples)
        }),
        status: GoalStatus::from(
            !parts.is_empty(),
            parts.iter().all(|d| d.split_samples == 0),
        ),
    });
    g.push(Goal {
        goal: format!(
            "partitions: dual-leader time 0 beyond stable_after ({} s) + the surviving side's \
             decision time",
            lan.downing.stable_after.as_secs_f64()
        ),
        figure: list(&parts, &|d| {
            format!(
                "dual-leader time p50 / p99 / max {}, last moment beyond the survivors' decision \
                 + stable_after by up to {}; the losing side fenced after {} (p50 / p99 / max)",
                durs3(&d.dual_leader),
                secs_of(d.dual_leader_beyond.last().copied().unwrap_or_default()),
                durs3(&d.reborn)
            )
        }),
        status: GoalStatus::from(
            !parts.is_empty(),
            parts
                .iter()
                .all(|d| d.dual_leader_beyond.iter().all(|b| b.is_zero())),
        ),
    });
    g.push(Goal {
        goal: "partitions: the majority (surviving side) is never reborn".into(),
        figure: list(&parts, &|d| format!("{} reborn", d.healthy_reborn)),
        status: GoalStatus::from(
            !parts.is_empty(),
            parts.iter().all(|d| d.healthy_reborn == 0),
        ),
    });
    g.push(Goal {
        goal: "partitions: decision time (fault → every survivor has the losing side down), p50 / p99 / max"
            .into(),
        figure: list(&parts, &|d| durs3(&d.decision)),
        status: GoalStatus::from(
            !parts.is_empty(),
            parts.iter().all(|d| d.never_downed == 0 && d.late == 0),
        ),
    });
    for (sc, what) in [
        (Scenario::FlipFlop, "no inbound traffic (flip-flop)"),
        (Scenario::Lossy80, "80% loss"),
    ] {
        let d = r.downing(sc);
        g.push(Goal {
            goal: format!("faulty member with {what} downed within 10 s of the fault"),
            figure: d.map_or("—".into(), |d| {
                let mut f = format!(
                    "{} of {} faults downed; p50 / p99 / max {}",
                    d.downed.len(),
                    d.downed.len() + d.never_downed,
                    durs3(&d.downed)
                );
                if sc == Scenario::Lossy80 && d.never_downed > 0 {
                    f.push_str(
                         " (each of its refutations clears the suspicion, so no suspicion lives long enough to be decided on; see \"Downing\" below)",
                    );
                }
                f
            }),
            status: GoalStatus::from(
                d.is_some(),
                d.is_some_and(|d| d.never_downed == 0 && d.late == 0),
            ),
        });
    }
    g
}

/// Seeds of `d` with at least one problem.
fn seeds_with_problems(d: &Summary) -> usize {
    let mut seeds: Vec<&str> = d
        .problems
        .iter()
        .filter_map(|p| p.split(':').next())
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds.len()
}

fn sizes(r: &SuiteResults) -> Vec<usize> {
    r.config.sizes.iter().map(|p| p.n).collect()
}

/// Writes BENCHMARKS.md at `out`, the plots under `out/docs/bench/`, and the
/// README's benchmark section: between its markers in `out/README.md` when
/// that file has them, else to `out/docs/bench/readme-section.md`.
pub fn write_all(out: &Path, r: &SuiteResults, wall: &WallFigures) -> std::io::Result<()> {
    let plots = out.join("docs").join("bench");
    std::fs::create_dir_all(&plots)?;
    for (name, svg) in plots_svg(r) {
        std::fs::write(plots.join(name), svg)?;
    }
    let mut md = markdown(r, wall);
    // Figures measured by other benchmarks (the sealing bench of the
    // protocol crate writes `docs/bench/sealing.md`, the soak bench of
    // actix-cluster `docs/bench/soak.md`) go after the simulator's.
    for name in ["sealing.md", "soak.md"] {
        let extra = std::path::Path::new("docs").join("bench").join(name);
        for candidate in [plots.join(name), extra] {
            if let Ok(text) = std::fs::read_to_string(&candidate) {
                md.push('\n');
                md.push_str(&text);
                break;
            }
        }
    }
    std::fs::write(out.join("BENCHMARKS.md"), md)?;
    let saved = Saved {
        results: r.clone(),
        wall: wall.clone(),
    };
    let json = serde_json::to_string_pretty(&saved).map_err(std::io::Error::other)?;
    std::fs::write(plots.join("results.json"), json + "\n")?;
    let section = readme_section(r, wall);
    let readme = out.join("README.md");
    let spliced = std::fs::read_to_string(&readme)
        .ok()
        .and_then(|text| splice_readme(&text, &section));
    match spliced {
        Some(text) => std::fs::write(readme, text)?,
        None => std::fs::write(plots.join("readme-section.md"), section)?,
    }
    Ok(())
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

fn systems(r: &SuiteResults) -> Vec<SystemKind> {
    r.config.systems.clone()
}

/// The SVG plots, by file name.
pub fn plots_svg(r: &SuiteResults) -> Vec<(String, String)> {
    let groups: Vec<String> = sizes(r).iter().map(|n| format!("N = {n}")).collect();
    let per_size = |f: &dyn Fn(&crate::SystemWorld) -> Option<f64>| -> Vec<BarSeries> {
        systems(r)
            .into_iter()
            .map(|k| BarSeries {
                name: k.label().to_owned(),
                values: sizes(r)
                    .iter()
                    .map(|&n| r.world(k, n).and_then(f))
                    .collect(),
            })
            .collect()
    };
    let mut out = Vec::new();
    out.push((
        "crash_detection.svg".to_owned(),
        bar_chart(
            "Crash → Down at every member, p99",
            "seconds (virtual time)",
            &groups,
            &per_size(&|w| w.world.crash_down.p99()),
        ),
    ));
    out.push((
        "join.svg".to_owned(),
        bar_chart(
            "Join → Up at every member, p99",
            "seconds (virtual time)",
            &groups,
            &per_size(&|w| w.world.join.p99()),
        ),
    ));
    out.push((
        "idle_traffic.svg".to_owned(),
        bar_chart(
            "Idle traffic sent per member",
            "kbit/s",
            &groups,
            &per_size(&|w| Some(kbit(w.world.idle.bytes_per_member_s))),
        ),
    ));
    let conds: Vec<String> = FalseAlarmCondition::ALL
        .iter()
        .map(|c| c.label().to_owned())
        .collect();
    let fa_series: Vec<BarSeries> = systems(r)
        .into_iter()
        .map(|k| BarSeries {
            name: k.label().to_owned(),
            values: FalseAlarmCondition::ALL
                .iter()
                .map(|c| r.false_alarm(k, *c).map(|f| f.suspicions_per_member_hour()))
                .collect(),
        })
        .collect();
    out.push((
        "false_suspicions.svg".to_owned(),
        bar_chart(
            &format!(
                "False suspicions per member-hour (N = {})",
                r.config.false_alarm_n
            ),
            "suspicions raised / member-hour",
            &conds,
            &fa_series,
        ),
    ));
    if !r.sweep.is_empty() {
        let curve = |y: &dyn Fn(&crate::SweepPoint) -> f64| -> Vec<LineSeries> {
            systems(r)
                .into_iter()
                .map(|k| LineSeries {
                    name: k.label().to_owned(),
                    points: r
                        .sweep
                        .iter()
                        .filter(|(kk, _)| *kk == k)
                        .filter_map(|(_, p)| {
                            p.crash_down
                                .p50()
                                .map(|x| (x, y(p), format!("m={}", p.mult)))
                        })
                        .collect(),
                })
                .collect()
        };
        out.push((
            "tradeoff_suspicions.svg".to_owned(),
            line_chart(
                "Detection time vs false suspicions (sweep of the suspicion multiplier m)",
                "crash → Down everywhere, p50 (s)",
                "false suspicions / member-hour (pauses)",
                &curve(&|p| p.pauses.suspicions_per_member_hour()),
            ),
        ));
        out.push((
            "tradeoff_false_down.svg".to_owned(),
            line_chart(
                "Detection time vs false Down (sweep of the suspicion multiplier m)",
                "crash → Down everywhere, p50 (s)",
                "false Down events / member-hour (pauses)",
                &curve(&|p| p.pauses.false_down_events as f64 / p.pauses.member_hours().max(1e-9)),
            ),
        ));
    }
    out
}

/// BENCHMARKS.md.
pub fn markdown(r: &SuiteResults, wall: &WallFigures) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# Benchmarks\n");
    let _ = writeln!(
        m,
        "Generated by `{}` (mode **{}**, seed {}) in {:.0} s of wall time on {} worker threads{}. \
         Every figure below except the wall-clock ones (throughput, memory) is computed in \
         virtual time from the seed and is the same on every machine.\n",
        command(&r.config.mode, r.config.seed),
        r.config.mode,
        r.config.seed,
        wall.total.as_secs_f64(),
        wall.threads,
        wall.job_cpu.map_or(String::new(), |c| format!(
            " ({:.0} s of CPU in the simulation jobs; the machine was shared with other work)",
            c.as_secs_f64()
        ))
    );
    if let Some(src) = &wall.source {
        let _ = writeln!(
            m,
            "Built from `{src}`; the figures of our core change with it, so rerun the command \
             after changing the protocol.\n"
        );
    }
    let _ = writeln!(
        m,
        "Systems, on the same simulated network, driven by the same harness:\n"
    );
    for k in systems(r) {
        let d = match k {
            SystemKind::Ours => "our core (`actix-cluster-proto`) with `Config::lan()`: SWIM + Lifeguard",
            SystemKind::PlainSwim => "our core with `Config::lan()` and `lifeguard = false` (plain SWIM)",
            SystemKind::Foca => "foca 2.0 with `Config::new_lan(N)`, through the adapter in `crates/actix-cluster-bench/src/foca_node.rs`",
        };
        let _ = writeln!(m, "- **{}**: {d}", k.label());
    }
    let _ = writeln!(
        m,
        "\nNetwork: one-way latency 0.5 ms + uniform jitter 0–0.5 ms, no loss unless stated. \
         Percentiles are nearest-rank over trials (with fewer than 100 trials p99 is the maximum). \
         Cells read p50 / p99 / max; \"—\" means not reached within the scenario's limit.\n"
    );

    let _ = writeln!(m, "## Goals\n");
    let _ = writeln!(
        m,
        "| goal | measured (ours lan()) | status |\n|---|---|---|"
    );
    for g in goals(r, wall) {
        let _ = writeln!(m, "| {} | {} | {} |", g.goal, g.figure, g.status.label());
    }

    // Crash detection.
    let _ = writeln!(m, "\n## Crash detection\n");
    let _ = writeln!(
        m,
        "One member stops dead (no leave). Time until every live member has published `Down` \
         for it, and until every live member has published `Unreachable` for it (or `Down`, if \
         that came first). Trials per N: {}. foca publishes no suspicion event; its \
         \"unreachable\" is read from its member table (the member's state becomes `Suspect`) \
         after every input.\n\n![crash detection](docs/bench/crash_detection.svg)\n",
        r.config
            .sizes
            .iter()
            .map(|p| format!("{} at N = {}", p.trials, p.n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    table_per_size(&mut m, r, "crash → Down everywhere", |w| {
        &w.world.crash_down
    });
    table_per_size(&mut m, r, "crash → Unreachable everywhere", |w| {
        &w.world.crash_unreachable
    });

    // False alarms.
    let _ = writeln!(m, "\n## False alarms\n");
    let fa_len = r.config.false_alarm.as_secs_f64() / 60.0;
    let bursty_len = r.config.false_alarm_bursty.as_secs_f64() / 60.0;
    let _ = writeln!(
        m,
        "N = {} members, {} min of virtual time per run ({} min for bursty loss, where false \
         `Down`s and rejoins make a simulated hour cost minutes of CPU; counts are for the \
         run, rates per member-hour), every member live the whole time. \
         \"False Down\" counts `Down(failed)` events about live members (observer, subject \
         pairs; in brackets the distinct members). \"Suspicions\" counts suspicions raised by \
         members whose own probe of a live member failed (our `Stats::suspicions_raised`, foca's \
         `ProbeFailed` notification), per member-hour. Bursty loss: each directed link \
         alternates between good (no loss) and bad (total loss) with exponential sojourns, 500 ms \
         mean in bad, 20% average loss. Pauses: 5% of the members each pause for 1–4 s \
         (uniform) at exponential intervals with a 60 s mean; all inputs and timers queue \
         while paused.\n\n![false suspicions](docs/bench/false_suspicions.svg)\n",
        r.config.false_alarm_n, fa_len, bursty_len
    );
    let _ = write!(m, "| condition |");
    for k in systems(r) {
        let _ = write!(
            m,
            " {} false Down | {} suspicions/member-h |",
            k.label(),
            k.label()
        );
    }
    let _ = writeln!(m, " ratio ours/foca (suspicions) |");
    let _ = write!(m, "|---|");
    for _ in systems(r) {
        let _ = write!(m, "---|---|");
    }
    let _ = writeln!(m, "---|");
    for c in FalseAlarmCondition::ALL {
        let _ = write!(m, "| {} |", c.label());
        for k in systems(r) {
            match r.false_alarm(k, c) {
                Some(f) => {
                    let _ = write!(
                        m,
                        " {} ({}) | {:.2} ({} raised) |",
                        f.false_down_events,
                        f.false_down_members,
                        f.suspicions_per_member_hour(),
                        f.suspicions_raised
                    );
                }
                None => {
                    let _ = write!(m, " n/a | n/a |");
                }
            }
        }
        let o = r
            .false_alarm(SystemKind::Ours, c)
            .map(|f| f.suspicions_per_member_hour());
        let f = r
            .false_alarm(SystemKind::Foca, c)
            .map(|f| f.suspicions_per_member_hour());
        let _ = writeln!(m, " {} |", ratio(o, f));
    }
    let pause_runs: Vec<_> = systems(r)
        .into_iter()
        .filter_map(|k| {
            r.false_alarm(k, FalseAlarmCondition::Pauses)
                .map(|f| (k, f))
        })
        .collect();
    if let Some((_, f0)) = pause_runs.first() {
        let _ = writeln!(
            m,
            "\n### Pauses: stalled members and healthy members\n\nA member paused for 1–4 s does not answer probes for longer than the probe timeout: suspecting it is correct detection, not a false alarm in Lifeguard's sense (its claim is about suspicions of healthy members caused by slow members or probers). The scenario knows every pause interval, so events are split by their subject and time: \"of stalled members\" counts events about a member raised while it was paused or within {} s after it resumed (ten of our 200 ms probe intervals, the time its refutation needs to spread by gossip); \"of healthy members\" counts all others (members that were not paused then, including ones suspected by a prober that was itself paused). Suspicion events are `Unreachable` events (observer, subject pairs: one suspicion gossiped to 99 members is 99 events); the `suspicions raised` counter above cannot be split because it does not record the subject. foca publishes no suspicion event, so its split is for false `Down` only. The table above counts all of them; \"false Down\" there includes stalled members and the zero-false-Down goal is judged on that total.\n",
            f0.stall_grace.as_secs_f64()
        );
        let _ = writeln!(
            m,
            "| system | pauses | `Unreachable` events: all / of stalled / of healthy members | false Down: all / of stalled / of healthy members (distinct healthy members) |\n|---|---|---|---|"
        );
        for (k, f) in &pause_runs {
            let unreach = if *k == SystemKind::Foca {
                "n/a".to_owned()
            } else {
                format!(
                    "{} / {} / {}",
                    f.unreachable_events,
                    f.stalled_unreachable_events,
                    f.healthy_unreachable_events()
                )
            };
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} / {} / {} ({}) |",
                k.label(),
                f.pauses,
                unreach,
                f.false_down_events,
                f.stalled_down_events,
                f.healthy_down_events(),
                f.healthy_down_members
            );
        }
        let unexplained: Vec<String> = pause_runs
            .iter()
            .filter(|(k, f)| {
                *k != SystemKind::Foca
                    && f.healthy_unreachable_events() == 0
                    && f.healthy_down_events() > 0
            })
            .map(|(k, _)| k.label().to_owned())
            .collect();
        if !unexplained.is_empty() {
            let _ = writeln!(
                m,
                "\n{}: no `Unreachable` event about a healthy member was recorded, yet a few \
                 `Down`s fall outside the stall windows. Most likely these are verdicts on \
                 suspicions raised during a stall that reached those observers more than {} s \
                 after the member resumed (the `Down` spreads by gossip after the grace), not \
                 suspicions of healthy members; they are counted as of healthy members all the \
                 same.",
                unexplained.join(", "),
                f0.stall_grace.as_secs_f64()
            );
        }
    }

    // Join.
    let _ = writeln!(m, "\n## Join convergence\n");
    let _ = writeln!(
        m,
        "A new member joins through one random member: time until every other live member has \
         published its `Up` (trials as for crashes, alternating with them so N stays \
         constant). Cold start: all N members start at once, each joining through the first; \
         time until every member has published `Up` for every other (trials per N: {}).\n\n\
         ![join](docs/bench/join.svg)\n",
        r.config
            .sizes
            .iter()
            .map(|p| format!("{} at N = {}", p.extra_cold + 1, p.n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    table_per_size(&mut m, r, "join → Up everywhere", |w| &w.world.join);
    table_per_size(&mut m, r, "cold start → everyone sees everyone", |w| {
        &w.cold_start
    });
    let _ = writeln!(
        m,
        "Cold-start limit: 90 s of virtual time at N ≤ 100, 180 s at N = 1000. The other \
         scenarios of a size run on the cold-started cluster once it has converged."
    );
    for w in &r.worlds {
        if w.world.cold_start.is_none() {
            let _ = writeln!(
                m,
                "- {} at N = {}: the cold start did not converge within its limit; {}.",
                w.kind.label(),
                w.world.n,
                match w.world.warmed_up {
                    Some(t) => format!(
                        "everyone saw everyone after {} (the later scenarios started then)",
                        s(Some(t.as_secs_f64()))
                    ),
                    None => "it had still not converged after another 600 s, so the later \
                             scenarios ran on a partly converged cluster"
                        .to_owned(),
                }
            );
        }
    }
    let _ = writeln!(m);

    // Partition.
    let _ = writeln!(m, "\n## Partition\n");
    let _ = writeln!(
        m,
        "After the trials, the live members are cut into two halves for {} s, then healed: \
         time from the heal until every live member sees every other `Up` again \
         (limit 180 s).\n",
        r.config.partition.as_secs()
    );
    let _ = write!(m, "| N |");
    for k in systems(r) {
        let _ = write!(m, " {} |", k.label());
    }
    let _ = writeln!(m, " ratio ours/foca |");
    let _ = writeln!(m, "|---|{}---|", "---|".repeat(systems(r).len()));
    for n in sizes(r) {
        let _ = write!(m, "| {n} |");
        for k in systems(r) {
            let v = r.world(k, n).map(|w| w.world.partition_heal);
            let _ = write!(
                m,
                " {} |",
                match v {
                    Some(Some(d)) => s(Some(d.as_secs_f64())),
                    Some(None) => "not healed in 180 s".to_owned(),
                    None => "n/a".to_owned(),
                }
            );
        }
        let o = r
            .world(SystemKind::Ours, n)
            .and_then(|w| w.world.partition_heal.map(|d| d.as_secs_f64()));
        let f = r
            .world(SystemKind::Foca, n)
            .and_then(|w| w.world.partition_heal.map(|d| d.as_secs_f64()));
        let _ = writeln!(m, " {} |", ratio(o, f));
    }

    downing_section(&mut m, r);

    // Cost.
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
             and the simulator's per-node state, so it is an upper bound.\n"
        );
        let _ = writeln!(m, "| system | N | RSS growth | table entries | bytes per known member |\n|---|---|---|---|---|");
        for f in &wall.memory {
            let _ = writeln!(
                m,
                "| {} | {} | {:.1} MiB | {} | {:.0} |",
                f.kind.label(),
                f.n,
                f.rss_growth_bytes as f64 / (1024.0 * 1024.0),
                f.table_entries,
                f.bytes_per_member()
            );
        }
    }

    // Sweep.
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
    analysis(&mut m, r);
    let _ = writeln!(m, "\n## Where a peer cannot do a scenario\n");
    let _ = writeln!(
        m,
        "- foca has no stream transport and no push-pull state exchange: it joins with an \
         announce datagram (the adapter repeats it every second while the node knows nobody) \
         and heals partitions through its periodic announces.\n\
         - foca does not say whether a member left or failed: its graceful leaves appear as \
         `Down` and are excluded from false alarms because the harness knows who left.\n\
         - foca publishes no suspicion event: \"unreachable\" figures come from its member \
         table (see above)."
    );
    m
}

/// The downing scenarios of issue 9: one row each.
fn downing_section(m: &mut String, r: &SuiteResults) {
    if r.downing.is_empty() {
        return;
    }
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
         member of the faulty side fenced itself or was reborn.\n",
        d.stable_after.as_secs_f64(),
        d.max_pause.as_secs_f64(),
        r.config.downing_seeds,
        r.config.downing_seeds_n100,
        secs_of(
            d.max_pause
                + lan.refutation_spread(10)
                + lan.suspicion_max_timeout(10)
                + d.stable_after
                + Duration::from_secs(2)
        ),
    );
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
            never(sum.never_reborn),
            sum.problems.len(),
        );
    }
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
    if let Some(l) = r.downing(Scenario::Lossy80) {
        if l.never_downed > 0 {
            let _ = writeln!(
                m,
                "\n**The 80%-lossy member is not downed** ({} of {} seeds). It still hears \
                 20% of what is sent to it: every suspicion of it reaches it within a few \
                 probe intervals and it refutes (about 5 times a second, as noted on the ignored \
                 test), and a refutation \
                 (a higher incarnation) clears the suspicion everywhere, so no suspicion of it \
                 lives for `max_pause` + `refutation_spread` and the decision never sees it \
                 unreachable. Downing it safely needs a criterion that a refuting member can \
                 fail (e.g. Rapid's: many independent observers reporting it over a window, \
                 refutations notwithstanding) without letting a healthy member behind a lossy \
                 link fail it; that is not built, and the test \
                 `a_member_losing_80_percent_is_downed` stays ignored. memberlist never downs \
                 such a member either; Rapid does. Its \"two leaders after grace\" samples \
                 name one leader: the lossy member, never fenced, still follows the cluster's \
                 leader while the checker counts it as a side of its own.",
                l.never_downed, l.seeds
            );
        }
    }
}

fn table_per_size(
    m: &mut String,
    r: &SuiteResults,
    what: &str,
    f: impl Fn(&crate::SystemWorld) -> &Dist,
) {
    let _ = write!(m, "| {what} | N |");
    for k in systems(r) {
        let _ = write!(m, " {} |", k.label());
    }
    let _ = writeln!(m, " ratio ours/foca (p99) |");
    let _ = writeln!(m, "|---|---|{}---|", "---|".repeat(systems(r).len()));
    for n in sizes(r) {
        let _ = write!(m, "| | {n} |");
        for k in systems(r) {
            let _ = write!(
                m,
                " {} |",
                r.world(k, n).map_or("n/a".into(), |w| dist3(f(w)))
            );
        }
        let o = r.world(SystemKind::Ours, n).and_then(|w| f(w).p99());
        let fo = r.world(SystemKind::Foca, n).and_then(|w| f(w).p99());
        let _ = writeln!(m, " {} |", ratio(o, fo));
    }
    let _ = writeln!(m);
}

/// The README section: headline figures and the command.
pub fn readme_section(r: &SuiteResults, wall: &WallFigures) -> String {
    let mut m = String::new();
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
            "- Downing (issue 9, {seeds} seeded fault runs: flip-flop, lossy member, isolation, \
             pauses, partitions): {healthy} healthy members downed or reborn; exactly one side \
             survived in {clean} of {total} partition runs, decided in {} p99",
            secs_of(percentile(&decision, 0.99))
        );
        if let Some(l) = r.downing(Scenario::Lossy80) {
            let _ = write!(
                m,
                "; a member losing 80% of its packets was downed in {} of {} runs",
                l.downed.len(),
                l.seeds
            );
        }
        let _ = writeln!(m, ".");
    }
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

/// Minimum suspicion timeout of our `lan()` preset at `n` members, seconds.
fn ours_min_suspicion(n: usize) -> f64 {
    let c = actix_cluster_proto::Config::lan();
    f64::from(c.suspicion_mult) * (n as f64).log10().max(1.0) * c.probe_interval.as_secs_f64()
}

/// What bounds the figures, in prose with the numbers of this run.
fn analysis(m: &mut String, r: &SuiteResults) {
    let c = actix_cluster_proto::Config::lan();
    let _ = writeln!(m, "\n## What bounds the figures\n");
    let _ = writeln!(
        m,
        "- **Detection.** A crash is noticed by the first member that probes the dead one \
         (every member probes one member per {} ms, so at N ≥ 10 that is almost immediate), \
         after the probe timeout ({} ms) and the indirect probes; then the suspicion runs for \
         at least `{} · max(1, log10 N) · {} ms` ({:.1} s at N = 10, {:.1} s at N = 100, \
         {:.1} s at N = 1000), Lifeguard starting it {}× longer and shrinking it as other \
         members confirm; then the `Down` spreads by gossip every {} ms. foca probes once a \
         second and waits `4 · max(1, log10 N)` s, hence its longer times.",
        c.probe_interval.as_millis(),
        c.probe_timeout.as_millis(),
        c.suspicion_mult,
        c.probe_interval.as_millis(),
        ours_min_suspicion(10),
        ours_min_suspicion(100),
        ours_min_suspicion(1000),
        c.suspicion_max_timeout_mult,
        c.gossip_interval.as_millis()
    );
    if let Some(p) = r.false_alarm(SystemKind::Ours, FalseAlarmCondition::Pauses) {
        let need = (4.0 / (c.probe_interval.as_secs_f64() * (p.n as f64).log10().max(1.0))).ceil();
        let _ = writeln!(
            m,
            "- **Pauses.** A member paused for up to 4 s does not answer anybody, exactly like \
             a crashed one, for longer than the minimum suspicion timeout ({:.1} s at N = {}); \
             as soon as enough members confirm the suspicion, the timeout shrinks to that \
             minimum and the paused member is declared `Down` before it wakes up ({} false \
             `Down` events about {} members in this run). No setting detects a crash in less \
             than 4 s and also never declares a 4 s pause down: zero false `Down` here needs a \
             minimum timeout above 4 s, i.e. `suspicion_mult` ≥ {need:.0} at N = {}, and the \
             sweep below shows what that costs in detection time.",
            ours_min_suspicion(p.n),
            p.n,
            p.false_down_events,
            p.false_down_members,
            p.n
        );
        let _ = writeln!(
            m,
            "- **False suspicions under pauses.** Every member that probes a paused member \
             during its pause raises a suspicion, with or without Lifeguard: the member really \
             does not answer. Lifeguard's local health acts on suspicions raised *by* a slow \
             member and on how long a suspicion lasts; a fully paused member in this simulator \
             handles its queued replies before its own probe timers when it resumes, so it \
             raises almost none, and the \"50× fewer than plain SWIM\" target cannot be reached \
             with this count. The difference Lifeguard makes shows in the bursty-loss row \
             (false `Down`) instead. Counted as Lifeguard's claim means it, on healthy members \
             only (not paused, not within {} s of resuming): {} `Unreachable` events and {} \
             false `Down` with Lifeguard, {} and {} with it off; the rest of the `Unreachable` events \
             and `Down`s in this scenario were about members that really were stalled (see the \
             split table under False alarms).",
            p.stall_grace.as_secs_f64(),
            p.healthy_unreachable_events(),
            p.healthy_down_events(),
            r.false_alarm(SystemKind::PlainSwim, FalseAlarmCondition::Pauses)
                .map_or("—".into(), |q| q.healthy_unreachable_events().to_string()),
            r.false_alarm(SystemKind::PlainSwim, FalseAlarmCondition::Pauses)
                .map_or("—".into(), |q| q.healthy_down_events().to_string()),
        );
    }
    if let Some(b) = r.false_alarm(SystemKind::Ours, FalseAlarmCondition::BurstyLoss) {
        let _ = writeln!(
            m,
            "- **Bursty loss.** With every link losing everything for half a second at a time \
             (20% on average), a {} ms probe timeout with {} indirect probes fails often; each \
             failure starts a suspicion, and with a {:.1} s minimum timeout at N = {} many of \
             them run out before the member's refutation gets through ({:.0} suspicions per \
             member-hour, {} false `Down` events in {} min). Longer probe timeouts and a higher \
             `suspicion_mult` trade detection time for fewer false alarms; see the sweep.",
            c.probe_timeout.as_millis(),
            c.indirect_checks,
            ours_min_suspicion(b.n),
            b.n,
            b.suspicions_per_member_hour(),
            b.false_down_events,
            b.duration.as_secs() / 60
        );
    }
    let _ = writeln!(
        m,
        "- **Traffic.** Ours probes {:.0} members a second (foca 1) and piggybacks gossip on \
         every probe, so idle it sends several times foca's messages and more bytes; the \
         push-pull exchange adds a full-state stream frame every `{} s · scale(N)`, which is \
         what grows with N.",
        1.0 / c.probe_interval.as_secs_f64(),
        c.push_pull_interval.as_secs()
    );
}
