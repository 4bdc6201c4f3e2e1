//! Percentiles over seeded trials.

use std::time::Duration;

/// A distribution of durations over trials, in milliseconds of virtual time.
///
/// Percentiles use the nearest-rank method: with fewer than 100 trials, p99 is
/// the maximum.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dist {
    /// Completed trials, sorted, in ms.
    pub samples_ms: Vec<u64>,
    /// Trials that did not complete within the scenario's limit.
    pub incomplete: usize,
}

impl Dist {
    /// Builds from per-trial outcomes (`None`: did not complete).
    pub fn from_outcomes(outcomes: impl IntoIterator<Item = Option<Duration>>) -> Dist {
        let mut d = Dist::default();
        for o in outcomes {
            match o {
                Some(t) => d.samples_ms.push(t.as_millis() as u64),
                None => d.incomplete += 1,
            }
        }
        d.samples_ms.sort_unstable();
        d
    }

    /// Trials run (complete or not).
    pub fn trials(&self) -> usize {
        self.samples_ms.len() + self.incomplete
    }

    /// Nearest-rank percentile (0 < p <= 100) of completed trials, in seconds;
    /// `None` if there are none. Incomplete trials count as +infinity, so a p99
    /// with an incomplete trial is `None` (shown as "> limit").
    pub fn percentile_s(&self, p: f64) -> Option<f64> {
        let n = self.trials();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
        self.samples_ms.get(rank - 1).map(|ms| *ms as f64 / 1000.0)
    }

    /// Median, seconds.
    pub fn p50(&self) -> Option<f64> {
        self.percentile_s(50.0)
    }

    /// 99th percentile, seconds.
    pub fn p99(&self) -> Option<f64> {
        self.percentile_s(99.0)
    }

    /// Maximum, seconds (`None` if any trial was incomplete or none ran).
    pub fn max(&self) -> Option<f64> {
        if self.incomplete > 0 {
            None
        } else {
            self.samples_ms.last().map(|ms| *ms as f64 / 1000.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let d = Dist::from_outcomes((1..=10).map(|s| Some(Duration::from_secs(s))));
        assert_eq!(d.p50(), Some(5.0));
        assert_eq!(d.p99(), Some(10.0));
        assert_eq!(d.max(), Some(10.0));
        let d = Dist::from_outcomes([Some(Duration::from_secs(1)), None]);
        assert_eq!(d.p50(), Some(1.0));
        assert_eq!(d.p99(), None);
        assert_eq!(d.max(), None);
        assert_eq!(Dist::default().p50(), None);
    }
}
