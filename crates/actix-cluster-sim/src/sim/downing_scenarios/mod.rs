//! The downing fault scenarios, one seed per call, each checked over the
//! whole run by [`DowningCheck`]. The tests (`tests/downing.rs`) assert on
//! them and the benchmark reports their figures, so both judge the same runs
//! the same way.
//!
//! Every scenario starts from [`cluster`] (lan cores on a 0.5–1.5 ms network,
//! converged and settled), causes its fault, heals, waits for everyone to be
//! `Up` everywhere and returns the checker's report ([`Run`]).
//! [`summarize`] folds the runs of many seeds into a [`Summary`].
//!
//! This file names the scenarios ([`Scenario`]); `runs.rs` holds the runs,
//! `summary.rs` the fold over seeds.

mod runs;
mod summary;

use std::time::Duration;

pub use self::runs::{
    bad_link, cluster, cluster_with, flip_flop, heal_after, isolated, isolated_then_rejoined,
    lossy_member, lossy_member_of, others, partition, partition_with, partition_with_churn, paused,
    recover, settle, shuffled, split, Run,
};
pub use self::summary::{percentile, summarize, Summary};
#[cfg(doc)]
use crate::sim::check::DowningCheck;

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// What a scenario's faulty side is, for the goals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Group {
    /// A faulty member (it cannot hear, it loses packets, it is cut off):
    /// the others must down it within the bound.
    Faulty,
    /// A pause below the bound: nobody may be downed.
    ShortPause,
    /// A pause beyond the bound: the member may be downed, and then rejoins.
    LongPause,
    /// One bad link between two healthy members: nobody may be downed.
    BadLink,
    /// A partition: exactly one side survives.
    Partition,
}

/// Every downing scenario, with the seeds' bound on the downing time, as the
/// tests and the benchmark run them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Scenario {
    /// [`flip_flop`].
    FlipFlop,
    /// [`lossy_member`].
    Lossy80,
    /// [`bad_link`] losing 80% both ways.
    BadLink80,
    /// [`bad_link`] cut one way.
    OneWayCut,
    /// [`paused`] for 1 s.
    Pause1s,
    /// [`paused`] for 3 s.
    Pause3s,
    /// [`paused`] for 5 s.
    Pause5s,
    /// [`isolated`]: one of 10 for 20 s.
    Isolated,
    /// [`isolated`]: the leader of 5 for 20 s.
    IsolatedLeader,
    /// [`isolated_then_rejoined`].
    IsolatedLeaderRejoin,
    /// [`partition`] 5/5 for 30 s.
    Partition5v5,
    /// [`partition`] 6/4 for 30 s.
    Partition6v4,
    /// [`partition`] 1/9 for 30 s.
    Partition1v9,
    /// [`partition`] 6/4 for 70 s (longer than the tombstone period).
    Partition6v4Long,
    /// [`partition_with_churn`].
    PartitionChurn,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 15] = [
        Scenario::FlipFlop,
        Scenario::Lossy80,
        Scenario::BadLink80,
        Scenario::OneWayCut,
        Scenario::Isolated,
        Scenario::IsolatedLeader,
        Scenario::IsolatedLeaderRejoin,
        Scenario::Pause1s,
        Scenario::Pause3s,
        Scenario::Pause5s,
        Scenario::Partition5v5,
        Scenario::Partition6v4,
        Scenario::Partition1v9,
        Scenario::PartitionChurn,
        Scenario::Partition6v4Long,
    ];

    /// Its name (the tests' figures lines, the report's rows).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FlipFlop => "flip-flop",
            Scenario::Lossy80 => "lossy-80%-1-of-100",
            Scenario::BadLink80 => "bad-link-80%",
            Scenario::OneWayCut => "one-way-cut",
            Scenario::Pause1s => "pause-1s",
            Scenario::Pause3s => "pause-3s",
            Scenario::Pause5s => "pause-5s",
            Scenario::Isolated => "isolated-20s",
            Scenario::IsolatedLeader => "isolated-leader-of-5",
            Scenario::IsolatedLeaderRejoin => "isolated-leader-25s-rejoin",
            Scenario::Partition5v5 => "partition-5/5",
            Scenario::Partition6v4 => "partition-6/4",
            Scenario::Partition1v9 => "partition-1/9",
            Scenario::Partition6v4Long => "partition-6/4-70s",
            Scenario::PartitionChurn => "partition-6/4-churn",
        }
    }

    /// What it does, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Scenario::FlipFlop => {
                "1 of 10 loses all inbound traffic, 20 s on / 20 s off, three times"
            }
            Scenario::Lossy80 => "1 of 100 loses 80% of its packets (both ways) for 60 s",
            Scenario::BadLink80 => {
                "the link between 2 of 10 loses 80% both ways for 60 s; nobody may be downed"
            }
            Scenario::OneWayCut => {
                "the link between 2 of 10 cut one way for 60 s; nobody may be downed"
            }
            Scenario::Pause1s => "1 of 10 pauses 1 s",
            Scenario::Pause3s => "1 of 10 pauses 3 s",
            Scenario::Pause5s => {
                "1 of 10 pauses 5 s (beyond the 4 s bound: may be downed, then rejoins)"
            }
            Scenario::Isolated => "1 of 10 cut off both ways for 20 s",
            Scenario::IsolatedLeader => "the leader of 5 cut off both ways for 20 s",
            Scenario::IsolatedLeaderRejoin => {
                "the leader of 5 cut off for 25 s (default network), rejoins after the heal"
            }
            Scenario::Partition5v5 => "10 cut 5/5 for 30 s (the side with the lowest address wins)",
            Scenario::Partition6v4 => "10 cut 6/4 for 30 s",
            Scenario::Partition1v9 => "10 cut 1/9 for 30 s",
            Scenario::Partition6v4Long => {
                "10 cut 6/4 for 70 s (longer than the 60 s tombstone period)"
            }
            Scenario::PartitionChurn => "10 cut 6/4; 10 s in, a member joins or leaves one side",
        }
    }

    /// Its cluster size.
    pub fn n(self) -> usize {
        match self {
            Scenario::Lossy80 => 100,
            Scenario::IsolatedLeader | Scenario::IsolatedLeaderRejoin => 5,
            _ => 10,
        }
    }

    /// What its faulty side is.
    pub fn group(self) -> Group {
        match self {
            Scenario::FlipFlop
            | Scenario::Lossy80
            | Scenario::Isolated
            | Scenario::IsolatedLeader
            | Scenario::IsolatedLeaderRejoin => Group::Faulty,
            Scenario::Pause1s | Scenario::Pause3s => Group::ShortPause,
            Scenario::Pause5s => Group::LongPause,
            Scenario::BadLink80 | Scenario::OneWayCut => Group::BadLink,
            Scenario::Partition5v5
            | Scenario::Partition6v4
            | Scenario::Partition1v9
            | Scenario::Partition6v4Long
            | Scenario::PartitionChurn => Group::Partition,
        }
    }

    /// The bound on the time from the fault until every survivor downed the
    /// faulty side (`None`: nothing to down).
    pub fn bound(self) -> Option<Duration> {
        match self.group() {
            Group::Faulty => Some(secs(10)),
            Group::Partition => Some(secs(15)),
            Group::ShortPause | Group::LongPause | Group::BadLink => None,
        }
    }

    /// One seed of it.
    pub fn run(self, seed: u64) -> Run {
        match self {
            Scenario::FlipFlop => flip_flop(seed),
            Scenario::Lossy80 => lossy_member(seed),
            Scenario::BadLink80 => bad_link(seed, 0.8),
            Scenario::OneWayCut => bad_link(seed, 1.0),
            Scenario::Pause1s => paused(seed, secs(1)),
            Scenario::Pause3s => paused(seed, secs(3)),
            Scenario::Pause5s => paused(seed, secs(5)),
            Scenario::Isolated => isolated(seed, 10, false),
            Scenario::IsolatedLeader => isolated(seed, 5, true),
            Scenario::IsolatedLeaderRejoin => isolated_then_rejoined(seed),
            Scenario::Partition5v5 => partition(seed, 5, secs(30)),
            Scenario::Partition6v4 => partition(seed, 4, secs(30)),
            Scenario::Partition1v9 => partition(seed, 1, secs(30)),
            Scenario::Partition6v4Long => partition(seed, 4, secs(70)),
            Scenario::PartitionChurn => partition_with_churn(seed),
        }
    }

    /// Seeds `1..=seeds` of it, folded by [`summarize`] with its bound.
    pub fn summarize(self, seeds: u64) -> Summary {
        let mut s = summarize(self.name(), 1..=seeds, self.bound(), |seed| self.run(seed));
        s.scenario = Some(self);
        s
    }
}
