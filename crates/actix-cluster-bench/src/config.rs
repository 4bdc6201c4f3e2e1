//! What a run measures: the suite's configuration and its three modes.

use std::time::Duration;

use actix_cluster_sim::downing_scenarios::Scenario;

use crate::SystemKind;

/// What to run. [`SuiteConfig::full`] and [`SuiteConfig::quick`] are the two
/// modes of the command; [`SuiteConfig::tiny`] is for tests.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteConfig {
    /// Master seed; every job derives its own from it.
    pub seed: u64,
    /// Mode name for the report ("full", "quick", "tiny").
    pub mode: String,
    /// Systems compared.
    pub systems: Vec<SystemKind>,
    /// Cluster sizes, each with its number of crash (and join) trials and of
    /// extra cold-start trials.
    pub sizes: Vec<SizePlan>,
    /// Idle traffic measured over this long.
    pub idle: Duration,
    /// Virtual time between convergence and the idle window, so the cold
    /// start's queued gossip has drained (idle means steady state).
    #[serde(default = "default_idle_warmup")]
    pub idle_warmup: Duration,
    /// Churn traffic measured over this long.
    pub churn: Duration,
    /// How long the partition lasts.
    pub partition: Duration,
    /// Size of the false-alarm runs.
    pub false_alarm_n: usize,
    /// Length of each false-alarm run.
    pub false_alarm: Duration,
    /// Length of the bursty-loss false-alarm runs: shorter than the others
    /// because plain SWIM thrashes under that loss (every false `Down` makes
    /// the member rejoin with a new generation) and a simulated hour of it
    /// costs minutes of CPU. Rates are per member-hour either way.
    pub false_alarm_bursty: Duration,
    /// Suspicion multipliers of the trade-off sweep (empty: no sweep).
    pub sweep_mults: Vec<u32>,
    /// Size of the sweep's clusters.
    pub sweep_n: usize,
    /// Pause-scenario length per sweep point.
    pub sweep_duration: Duration,
    /// Crash trials per sweep point.
    pub sweep_trials: usize,
    /// The downing scenarios ([`actix_cluster_sim::downing_scenarios`]) run, each over
    /// seeds `1..=downing_seeds` (the seeds the tests use).
    #[serde(default)]
    pub downing: Vec<Scenario>,
    /// Seeds per downing scenario at N <= 10.
    #[serde(default)]
    pub downing_seeds: u64,
    /// Seeds of the downing scenario at N = 100 (the lossy member; a seed
    /// costs seconds of CPU).
    #[serde(default)]
    pub downing_seeds_n100: u64,
}

fn default_idle_warmup() -> Duration {
    Duration::from_secs(5)
}

/// Trials at one cluster size.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SizePlan {
    /// N.
    pub n: usize,
    /// Crash trials (each followed by a join trial) on the one cluster of this size.
    pub trials: usize,
    /// Extra cold-start clusters (besides the one the trials run on).
    pub extra_cold: usize,
}

impl SuiteConfig {
    /// The full suite (under 10 minutes on 2 idle cores; the N = 1000 clusters
    /// of our core dominate, about 4 CPU-minutes each).
    pub fn full(seed: u64) -> SuiteConfig {
        SuiteConfig {
            seed,
            mode: "full".into(),
            systems: SystemKind::ALL.to_vec(),
            sizes: vec![
                SizePlan {
                    n: 10,
                    trials: 100,
                    extra_cold: 19,
                },
                SizePlan {
                    n: 100,
                    trials: 50,
                    extra_cold: 4,
                },
                SizePlan {
                    n: 1000,
                    trials: 5,
                    extra_cold: 0,
                },
            ],
            idle: Duration::from_secs(30),
            idle_warmup: Duration::from_secs(90),
            churn: Duration::from_secs(15),
            partition: Duration::from_secs(30),
            false_alarm_n: 100,
            false_alarm: Duration::from_secs(3600),
            false_alarm_bursty: Duration::from_secs(600),
            // Wide enough that our core's minimum suspicion timeout
            // (m · 2 · 200 ms at N = 100) passes the longest pause (4 s).
            sweep_mults: vec![1, 2, 4, 8, 12, 16, 24],
            sweep_n: 100,
            sweep_duration: Duration::from_secs(600),
            sweep_trials: 10,
            downing: Scenario::ALL.to_vec(),
            downing_seeds: 20,
            downing_seeds_n100: 20,
        }
    }

    /// The quick mode for CI: N = 10 and 100, fewer trials, shorter runs.
    pub fn quick(seed: u64) -> SuiteConfig {
        SuiteConfig {
            mode: "quick".into(),
            sizes: vec![
                SizePlan {
                    n: 10,
                    trials: 20,
                    extra_cold: 4,
                },
                SizePlan {
                    n: 100,
                    trials: 10,
                    extra_cold: 0,
                },
            ],
            churn: Duration::from_secs(20),
            false_alarm: Duration::from_secs(300),
            false_alarm_bursty: Duration::from_secs(120),
            sweep_mults: vec![2, 8, 16],
            sweep_duration: Duration::from_secs(120),
            sweep_trials: 3,
            downing_seeds: 5,
            downing_seeds_n100: 1,
            ..SuiteConfig::full(seed)
        }
    }

    /// A tiny configuration for the determinism test (seconds in debug builds).
    pub fn tiny(seed: u64) -> SuiteConfig {
        SuiteConfig {
            mode: "tiny".into(),
            sizes: vec![SizePlan {
                n: 6,
                trials: 2,
                extra_cold: 1,
            }],
            idle: Duration::from_secs(5),
            idle_warmup: Duration::from_secs(5),
            churn: Duration::from_secs(3),
            partition: Duration::from_secs(10),
            false_alarm_n: 8,
            false_alarm: Duration::from_secs(60),
            false_alarm_bursty: Duration::from_secs(60),
            sweep_mults: vec![2],
            sweep_n: 8,
            sweep_duration: Duration::from_secs(30),
            sweep_trials: 1,
            downing: vec![Scenario::Pause1s],
            downing_seeds: 1,
            downing_seeds_n100: 1,
            ..SuiteConfig::full(seed)
        }
    }

    pub(crate) fn trials_for(&self, n: usize) -> usize {
        self.sizes.iter().find(|s| s.n == n).map_or(0, |s| s.trials)
    }
}
