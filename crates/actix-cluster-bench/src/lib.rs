//! The benchmark suite: crash detection, false alarms, join convergence,
//! partitions and cost at N = 10, 100 and 1000, for our core (`lan()`), our core
//! with Lifeguard off (plain SWIM) and foca 2, on the same simulated network in
//! virtual time.
//!
//! [`run_suite`] runs every scenario as independent jobs, each building its own
//! simulated cluster from a seed derived from [`SuiteConfig::seed`], on a few
//! worker threads; the figures ([`SuiteResults`]) depend only on the
//! configuration, never on the machine or the thread count. Wall-clock figures
//! (throughput, memory) are kept apart in [`WallFigures`].
//! [`report::write_all`] writes `BENCHMARKS.md`, the SVG plots and the README
//! section. The `bench` binary is the command line.

mod config;
pub mod foca_node;
mod memory;
pub mod report;
mod scale;
mod scenarios;
mod stats;
mod suite;
pub mod svg;
mod system;
mod world;

use std::time::Duration;

pub use crate::config::{SizePlan, SuiteConfig};
pub use crate::memory::{memory_probe, rss_bytes, HeapCounter};
pub use crate::scale::{run_scale, scale_markdown, splice_scale, ScaleFigure};
pub use crate::scenarios::{FalseAlarmResult, SweepPoint, WorldResult, EARLY_IDLE, STALL_GRACE};
pub use crate::stats::Dist;
pub use crate::suite::{run_suite, thread_cpu, JobDone};
pub use crate::system::{probe_period, BenchSystem, Foca, Ours, SystemKind};
pub use crate::world::Traffic;

use actix_cluster_sim::downing_scenarios::{Scenario, Summary};

/// The seed the command uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 20_251_126;

/// The three false-alarm conditions.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum FalseAlarmCondition {
    /// 5% uniform datagram loss.
    UniformLoss = 1,
    /// 20% loss in bursts (Gilbert–Elliott, total loss for 500 ms on average
    /// per directed link).
    BurstyLoss = 2,
    /// 5% of the members pause for 1 to 4 s at random times (mean gap 60 s).
    Pauses = 3,
}

impl FalseAlarmCondition {
    /// All three, in table order.
    pub const ALL: [FalseAlarmCondition; 3] = [
        FalseAlarmCondition::UniformLoss,
        FalseAlarmCondition::BurstyLoss,
        FalseAlarmCondition::Pauses,
    ];

    /// Row label.
    pub fn label(self) -> &'static str {
        match self {
            FalseAlarmCondition::UniformLoss => "5% uniform loss",
            FalseAlarmCondition::BurstyLoss => "20% bursty loss",
            FalseAlarmCondition::Pauses => "5% of members pause 1-4 s, one pause at a time",
        }
    }
}

/// Wall-clock cost of a stretch of simulation (machine-dependent, not part of
/// [`SuiteResults`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Perf {
    /// System.
    pub kind: SystemKind,
    /// Cluster size.
    pub n: usize,
    /// Simulated member-seconds.
    pub member_seconds: f64,
    /// Wall time it took.
    pub wall: Duration,
}

impl Perf {
    /// Simulated member-seconds per wall second.
    pub fn rate(&self) -> f64 {
        self.member_seconds / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Figures of one system at one size.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SystemWorld {
    /// System.
    pub kind: SystemKind,
    /// The world's results.
    pub world: WorldResult,
    /// Cold starts: the world's and the extra ones.
    pub cold_start: Dist,
}

/// Every deterministic figure of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteResults {
    /// The configuration it ran with.
    pub config: SuiteConfig,
    /// Per system and size.
    pub worlds: Vec<SystemWorld>,
    /// Per system and condition.
    pub false_alarms: Vec<(SystemKind, FalseAlarmResult)>,
    /// Per system, one point per multiplier.
    pub sweep: Vec<(SystemKind, SweepPoint)>,
    /// The downing scenarios (our core only), in the configuration's order.
    #[serde(default)]
    pub downing: Vec<Summary>,
}

impl SuiteResults {
    /// The world of `kind` at `n`.
    pub fn world(&self, kind: SystemKind, n: usize) -> Option<&SystemWorld> {
        self.worlds
            .iter()
            .find(|w| w.kind == kind && w.world.n == n)
    }

    /// The downing scenario `s`, if it ran.
    pub fn downing(&self, s: Scenario) -> Option<&Summary> {
        self.downing.iter().find(|d| d.scenario == Some(s))
    }

    /// The false-alarm run of `kind` under `c`.
    pub fn false_alarm(
        &self,
        kind: SystemKind,
        c: FalseAlarmCondition,
    ) -> Option<&FalseAlarmResult> {
        self.false_alarms
            .iter()
            .find(|(k, r)| *k == kind && r.condition == c)
            .map(|(_, r)| r)
    }
}

/// Machine-dependent figures.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WallFigures {
    /// Wall time of the whole run.
    pub total: Duration,
    /// Throughput while idle, per system and size, plus the false-alarm runs.
    pub perf: Vec<Perf>,
    /// Memory per known member (bytes), per system, measured in a child process
    /// (see [`memory_probe`]); filled in by the binary.
    pub memory: Vec<MemoryFigure>,
    /// Worker threads used.
    pub threads: usize,
    /// CPU time of all simulation jobs (sum over worker threads), when the OS
    /// tells; divided by the thread count it estimates the wall time on an
    /// otherwise idle machine.
    #[serde(default)]
    pub job_cpu: Option<Duration>,
    /// The source the run was built from (`git describe --always --dirty`),
    /// when known; filled in by the binary.
    #[serde(default)]
    pub source: Option<String>,
}

/// Resident memory of a converged cluster, per known member.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemoryFigure {
    /// System.
    pub kind: SystemKind,
    /// Cluster size.
    pub n: usize,
    /// Resident set growth from building and converging the cluster.
    pub rss_growth_bytes: u64,
    /// Sum over nodes of the members each has in its table.
    pub table_entries: u64,
    /// Heap growth as a counting allocator tells, when the probe had one.
    #[serde(default)]
    pub heap_growth_bytes: Option<u64>,
}

impl MemoryFigure {
    /// Bytes per known member (RSS growth / table entries; includes the per-node
    /// overhead and the simulator's own per-node state, so an upper bound).
    pub fn bytes_per_member(&self) -> f64 {
        self.rss_growth_bytes as f64 / (self.table_entries.max(1) as f64)
    }

    /// Heap bytes per known member, when counted (same bound as
    /// [`MemoryFigure::bytes_per_member`], without the allocator's slack).
    pub fn heap_per_member(&self) -> Option<f64> {
        self.heap_growth_bytes
            .map(|h| h as f64 / (self.table_entries.max(1) as f64))
    }
}
