//! Scenario scripts: a tiny line-based text format that drives a [`Sim`] of our
//! cores.
//!
//! ```text
//! # 50 nodes; n0 forms the cluster, the others join through n0..n2
//! # (`cold-start 50 seeds 3` instead: all join at once through n0..n2)
//! config local            # local | lan | wan (default local)
//! net latency 1ms jitter 1ms
//! net loss 0.01           # or: net bursty 0.2 500ms | net loss 0
//! nodes 50 seeds 3
//! expect by 20s all-see-up
//! at 20s crash n3
//! expect by 60s all-see-down n3
//! at 60s partition n0..n24 | n25..n49
//! at 90s heal
//! expect by 150s all-see-up
//! expect never false-down
//! ```
//!
//! Lines run in order; time only moves forward. `at T <action>` runs the
//! simulation to the absolute time `T` and then acts; `expect by T <condition>`
//! runs until the condition holds and fails if it does not by `T`. Times in a
//! script must not decrease (an `expect by T` counts as time `T`), so what
//! happens does not depend on when an expectation was met.
//!
//! Before `nodes`: `config PRESET`, `set FIELD VALUE` for a [`Config`] field
//! (durations: `probe_interval`, `probe_timeout`, `gossip_interval`,
//! `push_pull_interval`, `join_retry_interval`, `tombstone_period`; numbers:
//! `suspicion_mult`, `suspicion_max_timeout_mult`, `retransmit_mult`,
//! `indirect_checks`, `gossip_nodes`; `lifeguard on|off`), `net ...`.
//!
//! Actions: `crash N`, `restart N [via SET]` (a new generation joining through
//! SET, default the seeds), `pause N DURATION`, `leave N`, `stop N` (crash after
//! a leave), `partition SET | SET`, `isolate N`, `cut N -> N` (one way),
//! `cut-inbound N` / `uncut-inbound N` (N hears nobody but still sends),
//! `node-loss N P` (N loses a fraction P of what it sends and receives), `heal`
//! (every cut, inbound cuts included; not node loss),
//! `add K` (K new nodes joining through the seeds), `net ...` (as above).
//! `run until T` just runs.
//!
//! Conditions: `all-see-up` (every live node published Up for every other),
//! `all-views-up` (the same from every core's member table), `all-see-down N`,
//! `all-see-left N`, `all-see-unreachable N`, and `SET see N STATE` (every
//! live node of SET sees N in STATE: `up`, `down`, `left`, `unreachable`).
//! Invariants, checked from that line to the end of the script:
//! `expect never down N` (nobody declares N failed), `expect never false-down`
//! (no live node is ever declared failed: every `Down(failed)` is about a node
//! that had crashed or stopped by then), `expect never unreachable N`.
//!
//! Node sets: `n3`, `n0..n24` (inclusive), `all`, and comma lists of these.
//! Durations: `250ms`, `5s`, `1.5s`, `2m`.
//!
//! `parse.rs` reads a line into a [`Line`]; `run.rs` runs the lines on a
//! [`Sim`] of our cores and judges the expectations.

mod parse;
mod run;

use std::time::Duration;

use actix_cluster_proto::Config;

use self::parse::Parser;
use self::run::Runner;
#[cfg(doc)]
use crate::sim::engine::Sim;
use crate::sim::engine::ViewState;
use crate::sim::error::SimError;
use crate::sim::net::Loss;

/// A parsed node set.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Set {
    All,
    Nodes(Vec<usize>),
}

#[derive(Clone, Debug, PartialEq)]
enum Act {
    Crash(usize),
    Restart(usize, Option<Set>),
    Pause(usize, Duration),
    Leave(usize),
    Stop(usize),
    Partition(Set, Set),
    Isolate(usize),
    Cut(usize, usize),
    /// Inbound traffic of a node cut (true) or restored (false).
    Inbound(usize, bool),
    NodeLoss(usize, f64),
    Heal,
    Add(usize),
    Net(NetChange),
    Nothing,
}

#[derive(Clone, Debug, PartialEq)]
enum NetChange {
    Latency(Duration, Duration),
    Loss(Loss),
}

#[derive(Clone, Debug, PartialEq)]
enum Setting {
    Duration(&'static str, Duration),
    Mult(&'static str, u32),
    Lifeguard(bool),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Cond {
    EveryoneUp,
    TablesUp,
    Subject(usize, ViewState),
    /// Every live node of the set (other than the subject) sees the subject so.
    Sees(Set, usize, ViewState),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Invariant {
    NeverDown(usize),
    NeverUnreachable(usize),
    NoFalseDown,
}

#[derive(Clone, Debug, PartialEq)]
enum Line {
    Config(Box<Config>),
    Set(Setting),
    Net(NetChange),
    Nodes { n: usize, seeds: usize, cold: bool },
    At(Duration, Act),
    ExpectBy(Duration, Cond),
    Never(Invariant),
}

/// One expectation's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// 1-based line in the script.
    pub line: usize,
    /// The line's text.
    pub text: String,
    /// When it was met (`None` for invariants and failures).
    pub met_at: Option<Duration>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// The result of running a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptReport {
    /// Script name.
    pub name: String,
    /// Seed used.
    pub seed: u64,
    /// Every expectation, in script order.
    pub outcomes: Vec<Outcome>,
    /// Virtual time at the end.
    pub end: Duration,
    /// [`Sim::log_hash`] at the end.
    pub log_hash: u64,
}

impl ScriptReport {
    /// True if every expectation held.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.failure.is_none())
    }

    /// The failed expectations, one per line, for messages.
    pub fn failures(&self) -> String {
        self.outcomes
            .iter()
            .filter_map(|o| {
                o.failure
                    .as_ref()
                    .map(|f| format!("{}:{}: {}: {}", self.name, o.line, o.text, f))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Parses and runs a script with our core. `seed` is the master seed. Returns an
/// error for a script that cannot be parsed or names a node that does not
/// exist; failed expectations are in the report (see [`ScriptReport::passed`]).
pub fn run_script(name: &str, text: &str, seed: u64) -> Result<ScriptReport, SimError> {
    let mut p = Parser { name, line: 0 };
    let mut lines = Vec::new();
    let mut last_time = Duration::ZERO;
    for (i, raw) in text.lines().enumerate() {
        p.line = i + 1;
        if let Some(l) = p.line(raw)? {
            let t = match &l {
                Line::At(t, _) | Line::ExpectBy(t, _) => Some(*t),
                _ => None,
            };
            if let Some(t) = t {
                if t < last_time {
                    return Err(p.err(format!(
                        "time {t:?} is before an earlier line's {last_time:?}; times must not decrease"
                    )));
                }
                last_time = t;
            }
            lines.push((i + 1, raw.trim().to_owned(), l));
        }
    }
    Runner::new(name, seed)?.run(&mut p, lines)
}
