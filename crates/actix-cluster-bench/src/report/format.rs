//! How figures are written in the report: seconds, distributions, ratios,
//! and the lists of sizes and systems a run measured.

use std::fmt::Write as _;
use std::time::Duration;

use actix_cluster_sim::downing_scenarios::{percentile, Summary};

use crate::{Dist, SuiteResults, SystemKind};

/// Seconds with a precision that suits their size; "—" when not reached.
pub(crate) fn s(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0} s"),
        Some(x) if x >= 10.0 => format!("{x:.1} s"),
        Some(x) => format!("{x:.2} s"),
        None => "—".to_owned(),
    }
}

/// p50 / p99 / max of a distribution, and how many trials did not finish.
pub(crate) fn dist3(d: &Dist) -> String {
    if d.trials() == 0 {
        return "n/a".to_owned();
    }
    let mut out = format!("{} / {} / {}", s(d.p50()), s(d.p99()), s(d.max()));
    if d.incomplete > 0 {
        let _ = write!(out, " ({} of {} not done)", d.incomplete, d.trials());
    }
    out
}

/// Ours divided by foca's, saying so when foca's is zero.
pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> String {
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

/// Bytes per second as kbit/s.
pub(crate) fn kbit(bytes_per_s: f64) -> f64 {
    bytes_per_s * 8.0 / 1000.0
}

/// A duration as [`s`] writes seconds.
pub(crate) fn secs_of(d: Duration) -> String {
    s(Some(d.as_secs_f64()))
}

/// p50 / p99 / max of sorted durations.
pub(crate) fn durs3(v: &[Duration]) -> String {
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

/// Seeds of `d` with at least one problem.
pub(crate) fn seeds_with_problems(d: &Summary) -> usize {
    let mut seeds: Vec<&str> = d
        .problems
        .iter()
        .filter_map(|p| p.split(':').next())
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds.len()
}

/// The cluster sizes the run measured, in the configuration's order.
pub(crate) fn sizes(r: &SuiteResults) -> Vec<usize> {
    r.config.sizes.iter().map(|p| p.n).collect()
}

/// The systems the run compared, in the configuration's order.
pub(crate) fn systems(r: &SuiteResults) -> Vec<SystemKind> {
    r.config.systems.clone()
}

/// The downing checker's grace at N = 10 under `lan()`: two `Up` leaders
/// later than this after the fault are a violation.
pub(crate) fn lan_grace() -> Duration {
    let lan = actix_cluster_proto::Config::lan();
    lan.downing.max_pause
        + lan.refutation_spread(10)
        + lan.suspicion_max_timeout(10)
        + lan.downing.stable_after
        + Duration::from_secs(2)
}
