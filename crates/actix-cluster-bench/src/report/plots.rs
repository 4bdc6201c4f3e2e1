//! The SVG plots under `docs/bench/`.

use crate::report::format::{kbit, sizes, systems};
use crate::svg::{bar_chart, line_chart, BarSeries, LineSeries};
use crate::{FalseAlarmCondition, SuiteResults};

/// The SVG plots, by file name.
pub fn plots_svg(r: &SuiteResults) -> Vec<(String, String)> {
    let mut out = per_size_plots(r);
    out.push(false_suspicions_plot(r));
    if !r.sweep.is_empty() {
        out.extend(tradeoff_plots(r));
    }
    out
}

/// Crash detection, join and idle traffic: one bar per system and size.
fn per_size_plots(r: &SuiteResults) -> Vec<(String, String)> {
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
    vec![
        (
            "crash_detection.svg".to_owned(),
            bar_chart(
                "Crash → Down at every member, p99",
                "seconds (virtual time)",
                &groups,
                &per_size(&|w| w.world.crash_down.p99()),
            ),
        ),
        (
            "join.svg".to_owned(),
            bar_chart(
                "Join → Up at every member, p99",
                "seconds (virtual time)",
                &groups,
                &per_size(&|w| w.world.join.p99()),
            ),
        ),
        (
            "idle_traffic.svg".to_owned(),
            bar_chart(
                "Idle traffic sent per member",
                "kbit/s",
                &groups,
                &per_size(&|w| Some(kbit(w.world.idle.bytes_per_member_s))),
            ),
        ),
    ]
}

/// False suspicions per member-hour: one bar per system and condition.
fn false_suspicions_plot(r: &SuiteResults) -> (String, String) {
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
    (
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
    )
}

/// Detection time against false alarms, one curve per system over the sweep.
fn tradeoff_plots(r: &SuiteResults) -> Vec<(String, String)> {
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
    vec![
        (
            "tradeoff_suspicions.svg".to_owned(),
            line_chart(
                "Detection time vs false suspicions (sweep of the suspicion multiplier m)",
                "crash → Down everywhere, p50 (s)",
                "false suspicions / member-hour (pauses)",
                &curve(&|p| p.pauses.suspicions_per_member_hour()),
            ),
        ),
        (
            "tradeoff_false_down.svg".to_owned(),
            line_chart(
                "Detection time vs false Down (sweep of the suspicion multiplier m)",
                "crash → Down everywhere, p50 (s)",
                "false Down events / member-hour (pauses)",
                &curve(&|p| p.pauses.false_down_events as f64 / p.pauses.member_hours().max(1e-9)),
            ),
        ),
    ]
}
