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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config, DownReason, Event, MemberId};

use crate::sim::core_node::{CoreNode, CoreOpts, Start};
use crate::sim::engine::{Sim, ViewState};
use crate::sim::error::SimError;
use crate::sim::net::{GilbertElliott, Loss, NetConfig};
use crate::sim::node::SimEvent;

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

struct Parser<'a> {
    name: &'a str,
    line: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> SimError {
        SimError::Script {
            name: self.name.to_owned(),
            line: self.line,
            message: message.into(),
        }
    }

    fn duration(&self, s: &str) -> Result<Duration, SimError> {
        let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
            (n, 0.001)
        } else if let Some(n) = s.strip_suffix('s') {
            (n, 1.0)
        } else if let Some(n) = s.strip_suffix('m') {
            (n, 60.0)
        } else {
            return Err(self.err(format!(
                "duration {s:?} needs a unit: ms, s or m (e.g. 500ms, 5s)"
            )));
        };
        let v: f64 = num
            .parse()
            .map_err(|_| self.err(format!("bad duration {s:?}")))?;
        if !(v.is_finite() && v >= 0.0 && v * unit < 1.0e7) {
            return Err(self.err(format!("duration {s:?} out of range")));
        }
        Ok(Duration::from_secs_f64(v * unit))
    }

    fn node(&self, s: &str) -> Result<usize, SimError> {
        s.strip_prefix('n')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < 1 << 24)
            .ok_or_else(|| self.err(format!("bad node {s:?} (expected n<number>, e.g. n3)")))
    }

    fn set(&self, s: &str) -> Result<Set, SimError> {
        let s = s.trim();
        if s == "all" {
            return Ok(Set::All);
        }
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((a, b)) = part.split_once("..") {
                let (a, b) = (self.node(a.trim())?, self.node(b.trim())?);
                if a > b {
                    return Err(self.err(format!("empty range {part:?}")));
                }
                out.extend(a..=b);
            } else {
                out.push(self.node(part)?);
            }
        }
        if out.is_empty() {
            return Err(self.err(format!("empty node set {s:?}")));
        }
        Ok(Set::Nodes(out))
    }

    fn prob(&self, s: &str) -> Result<f64, SimError> {
        s.parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| self.err(format!("{s:?} is not a probability in 0..=1")))
    }

    fn net(&self, w: &[&str]) -> Result<NetChange, SimError> {
        match w {
            ["latency", l, "jitter", j] => {
                Ok(NetChange::Latency(self.duration(l)?, self.duration(j)?))
            }
            ["latency", l] => Ok(NetChange::Latency(self.duration(l)?, Duration::ZERO)),
            ["loss", p] => {
                let p = self.prob(p)?;
                Ok(NetChange::Loss(if p == 0.0 {
                    Loss::None
                } else {
                    Loss::Uniform(p)
                }))
            }
            ["bursty", p, burst] => {
                let p = self.prob(p)?;
                let burst = self.duration(burst)?;
                if burst.is_zero() || p == 0.0 {
                    return Err(self.err("bursty loss needs an average > 0 and a burst length > 0"));
                }
                Ok(NetChange::Loss(Loss::Bursty(GilbertElliott::with_average(
                    p, burst,
                ))))
            }
            _ => Err(self
                .err("expected `net latency D [jitter D]`, `net loss P` or `net bursty P BURST`")),
        }
    }

    fn setting(&self, field: &str, value: &str) -> Result<Setting, SimError> {
        const DURATIONS: [&str; 6] = [
            "probe_interval",
            "probe_timeout",
            "gossip_interval",
            "push_pull_interval",
            "join_retry_interval",
            "tombstone_period",
        ];
        const MULTS: [&str; 5] = [
            "suspicion_mult",
            "suspicion_max_timeout_mult",
            "retransmit_mult",
            "indirect_checks",
            "gossip_nodes",
        ];
        if let Some(f) = DURATIONS.iter().find(|&&f| f == field) {
            return Ok(Setting::Duration(f, self.duration(value)?));
        }
        if let Some(f) = MULTS.iter().find(|&&f| f == field) {
            let v = value
                .parse()
                .map_err(|_| self.err(format!("{field}: bad number {value:?}")))?;
            return Ok(Setting::Mult(f, v));
        }
        if field == "lifeguard" {
            return match value {
                "on" => Ok(Setting::Lifeguard(true)),
                "off" => Ok(Setting::Lifeguard(false)),
                _ => Err(self.err("lifeguard: expected on or off")),
            };
        }
        Err(self.err(format!(
            "unknown setting {field:?} (one of {}, {}, lifeguard)",
            DURATIONS.join(", "),
            MULTS.join(", ")
        )))
    }

    fn action(&self, w: &[&str], rest: &str) -> Result<Act, SimError> {
        Ok(match w {
            ["crash", n] => Act::Crash(self.node(n)?),
            ["restart", n] => Act::Restart(self.node(n)?, None),
            ["restart", n, "via", ..] => {
                let via = rest.split_once("via").map(|x| x.1).unwrap_or("");
                Act::Restart(self.node(n)?, Some(self.set(via)?))
            }
            ["pause", n, d] => Act::Pause(self.node(n)?, self.duration(d)?),
            ["leave", n] => Act::Leave(self.node(n)?),
            ["stop", n] => Act::Stop(self.node(n)?),
            ["isolate", n] => Act::Isolate(self.node(n)?),
            ["cut", a, "->", b] => Act::Cut(self.node(a)?, self.node(b)?),
            ["cut-inbound", n] => Act::Inbound(self.node(n)?, true),
            ["uncut-inbound", n] => Act::Inbound(self.node(n)?, false),
            ["node-loss", n, p] => Act::NodeLoss(self.node(n)?, self.prob(p)?),
            ["heal"] => Act::Heal,
            ["add", k] => Act::Add(
                k.parse()
                    .ok()
                    .filter(|&k: &usize| k > 0 && k <= 100_000)
                    .ok_or_else(|| self.err(format!("bad count {k:?}")))?,
            ),
            ["partition", ..] => {
                let body = rest.trim_start().strip_prefix("partition").unwrap_or("");
                let (a, b) = body
                    .split_once('|')
                    .ok_or_else(|| self.err("expected `partition SET | SET`"))?;
                Act::Partition(self.set(a)?, self.set(b)?)
            }
            ["net", more @ ..] => Act::Net(self.net(more)?),
            _ => return Err(self.err(format!("unknown action {rest:?}"))),
        })
    }

    fn cond(&self, w: &[&str]) -> Result<Cond, SimError> {
        Ok(match w {
            ["all-see-up"] => Cond::EveryoneUp,
            ["all-views-up"] => Cond::TablesUp,
            ["all-see-down", n] => Cond::Subject(self.node(n)?, ViewState::Down),
            ["all-see-left", n] => Cond::Subject(self.node(n)?, ViewState::Left),
            ["all-see-unreachable", n] => Cond::Subject(self.node(n)?, ViewState::Unreachable),
            [set, "see", n, state] => {
                let state = match *state {
                    "up" => ViewState::Up,
                    "down" => ViewState::Down,
                    "left" => ViewState::Left,
                    "unreachable" => ViewState::Unreachable,
                    other => {
                        return Err(self.err(format!(
                            "unknown state {other:?} (up, down, left, unreachable)"
                        )))
                    }
                };
                Cond::Sees(self.set(set)?, self.node(n)?, state)
            }
            _ => {
                return Err(self.err(format!(
                    "unknown condition {:?} (all-see-up, all-views-up, all-see-down N, all-see-left N, all-see-unreachable N, SET see N up|down|left|unreachable)",
                    w.join(" ")
                )))
            }
        })
    }

    fn line(&self, text: &str) -> Result<Option<Line>, SimError> {
        let text = text.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            return Ok(None);
        }
        let w: Vec<&str> = text.split_whitespace().collect();
        let line = match w.as_slice() {
            ["config", preset] => Line::Config(Box::new(match *preset {
                "local" => Config::local(),
                "lan" => Config::lan(),
                "wan" => Config::wan(),
                other => {
                    return Err(
                        self.err(format!("unknown config preset {other:?} (local, lan, wan)"))
                    )
                }
            })),
            ["net", more @ ..] => Line::Net(self.net(more)?),
            ["set", field, value] => Line::Set(self.setting(field, value)?),
            [kind @ ("nodes" | "cold-start"), n]
            | [kind @ ("nodes" | "cold-start"), n, "seeds", _] => {
                let n: usize = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0 && n <= 100_000)
                    .ok_or_else(|| self.err(format!("bad node count {n:?}")))?;
                let seeds = match w.as_slice() {
                    [_, _, _, k] => k
                        .parse()
                        .ok()
                        .filter(|&k: &usize| k > 0 && k <= n)
                        .ok_or_else(|| self.err(format!("bad seed count {k:?}")))?,
                    _ => 1,
                };
                Line::Nodes {
                    n,
                    seeds,
                    cold: *kind == "cold-start",
                }
            }
            ["at", t, ..] => {
                let t = self.duration(t)?;
                let rest = text
                    .splitn(3, char::is_whitespace)
                    .nth(2)
                    .unwrap_or("")
                    .trim();
                let words: Vec<&str> = rest.split_whitespace().collect();
                Line::At(t, self.action(&words, rest)?)
            }
            ["run", "until", t] => Line::At(self.duration(t)?, Act::Nothing),
            ["expect", "by", t, c @ ..] => Line::ExpectBy(self.duration(t)?, self.cond(c)?),
            ["expect", "never", "false-down"] => Line::Never(Invariant::NoFalseDown),
            ["expect", "never", "down", n] => Line::Never(Invariant::NeverDown(self.node(n)?)),
            ["expect", "never", "unreachable", n] => {
                Line::Never(Invariant::NeverUnreachable(self.node(n)?))
            }
            _ => return Err(self.err(format!("cannot parse {text:?}"))),
        };
        Ok(Some(line))
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

fn holds(sim: &Sim<CoreNode>, c: &Cond) -> bool {
    match c {
        Cond::EveryoneUp => sim.all_see_up(),
        Cond::TablesUp => sim.all_views_up(),
        Cond::Subject(i, state) => match sim.addr_at(*i) {
            Some(a) => sim.all_see(a, |v| v == *state),
            None => false,
        },
        Cond::Sees(set, i, state) => {
            let Some(subject) = sim.addr_at(*i) else {
                return false;
            };
            let observers: Vec<SocketAddr> = match set {
                Set::All => sim.addrs(),
                Set::Nodes(v) => v.iter().filter_map(|&o| sim.addr_at(o)).collect(),
            };
            observers
                .into_iter()
                .filter(|&o| o != subject && sim.is_live(o))
                .all(|o| sim.sees(o, subject) == *state)
        }
    }
}

struct Runner {
    sim: Sim<CoreNode>,
    opts: CoreOpts,
    seeds: Vec<SocketAddr>,
    /// When each process (member id) crashed, stopped or was replaced.
    dead: HashMap<MemberId, Duration>,
    report: ScriptReport,
    invariants: Vec<(usize, String, Invariant, Duration)>,
}

impl Runner {
    fn new(name: &str, seed: u64) -> Result<Self, SimError> {
        Ok(Runner {
            sim: Sim::new(seed, NetConfig::default())?,
            opts: CoreOpts::with_config(Config::local()),
            seeds: Vec::new(),
            dead: HashMap::new(),
            report: ScriptReport {
                name: name.to_owned(),
                seed,
                outcomes: Vec::new(),
                end: Duration::ZERO,
                log_hash: 0,
            },
            invariants: Vec::new(),
        })
    }

    fn addr(&self, p: &Parser<'_>, i: usize) -> Result<SocketAddr, SimError> {
        self.sim.addr_at(i).ok_or_else(|| {
            p.err(format!(
                "node n{i} does not exist ({} nodes)",
                self.sim.len()
            ))
        })
    }

    fn addrs(&self, p: &Parser<'_>, s: &Set) -> Result<Vec<SocketAddr>, SimError> {
        match s {
            Set::All => Ok(self.sim.addrs()),
            Set::Nodes(v) => v.iter().map(|&i| self.addr(p, i)).collect(),
        }
    }

    fn apply_net(&mut self, c: &NetChange) -> Result<(), SimError> {
        let mut net = self.sim.net().clone();
        match c {
            NetChange::Latency(l, j) => {
                net.latency = *l;
                net.jitter = *j;
            }
            NetChange::Loss(loss) => net.loss = loss.clone(),
        }
        self.sim.set_net(net)
    }

    fn mark_dead(&mut self, addr: SocketAddr) {
        let now = self.sim.now();
        if let Some(id) = self.sim.member_id(addr) {
            self.dead.entry(id).or_insert(now);
        }
    }

    fn act(&mut self, p: &Parser<'_>, a: &Act) -> Result<(), SimError> {
        match a {
            Act::Nothing => {}
            Act::Crash(i) | Act::Stop(i) => {
                let addr = self.addr(p, *i)?;
                self.sim.crash(addr)?;
                self.mark_dead(addr);
            }
            Act::Restart(i, via) => {
                let addr = self.addr(p, *i)?;
                let seeds = match via {
                    Some(s) => self.addrs(p, s)?,
                    None => self.seeds.clone(),
                };
                let seeds: Vec<SocketAddr> = seeds.into_iter().filter(|&s| s != addr).collect();
                // The old process is gone from now on.
                self.mark_dead(addr);
                self.sim.restart_core(addr, seeds)?;
            }
            Act::Pause(i, d) => {
                let addr = self.addr(p, *i)?;
                self.sim.pause(addr, *d)?;
            }
            Act::Leave(i) => {
                let addr = self.addr(p, *i)?;
                self.sim.leave(addr)?;
            }
            Act::Partition(a, b) => {
                let (a, b) = (self.addrs(p, a)?, self.addrs(p, b)?);
                self.sim.partition(&a, &b)?;
            }
            Act::Isolate(i) => {
                let addr = self.addr(p, *i)?;
                self.sim.isolate(addr)?;
            }
            Act::Cut(a, b) => {
                let (a, b) = (self.addr(p, *a)?, self.addr(p, *b)?);
                self.sim.cut_one_way(a, b)?;
            }
            Act::Inbound(i, cut) => {
                let addr = self.addr(p, *i)?;
                self.sim.cut_inbound(addr, *cut)?;
            }
            Act::NodeLoss(i, loss) => {
                let addr = self.addr(p, *i)?;
                self.sim.set_node_loss(addr, *loss)?;
            }
            Act::Heal => self.sim.heal(),
            Act::Add(k) => {
                if self.seeds.is_empty() {
                    return Err(p.err("`add` before `nodes`"));
                }
                for _ in 0..*k {
                    self.sim
                        .spawn_next(&self.opts, Start::Join(self.seeds.clone()))?;
                }
            }
            Act::Net(c) => self.apply_net(c)?,
        }
        Ok(())
    }

    fn run(
        mut self,
        p: &mut Parser<'_>,
        lines: Vec<(usize, String, Line)>,
    ) -> Result<ScriptReport, SimError> {
        for (no, text, line) in lines {
            p.line = no;
            match line {
                Line::Config(c) => {
                    c.validate().map_err(|e| p.err(e.to_string()))?;
                    self.opts.config = *c;
                }
                Line::Net(c) => self.apply_net(&c)?,
                Line::Set(setting) => {
                    let c = &mut self.opts.config;
                    match setting {
                        Setting::Duration(f, d) => match f {
                            "probe_interval" => c.probe_interval = d,
                            "probe_timeout" => c.probe_timeout = d,
                            "gossip_interval" => c.gossip_interval = d,
                            "push_pull_interval" => c.push_pull_interval = d,
                            "join_retry_interval" => c.join_retry_interval = d,
                            _ => c.tombstone_period = d,
                        },
                        Setting::Mult(f, v) => match f {
                            "suspicion_mult" => c.suspicion_mult = v,
                            "suspicion_max_timeout_mult" => c.suspicion_max_timeout_mult = v,
                            "retransmit_mult" => c.retransmit_mult = v,
                            "indirect_checks" => c.indirect_checks = v as usize,
                            _ => c.gossip_nodes = v as usize,
                        },
                        Setting::Lifeguard(on) => c.lifeguard = on,
                    }
                    c.validate().map_err(|e| p.err(e.to_string()))?;
                }
                Line::Nodes { n, seeds, cold } => {
                    if !self.sim.is_empty() {
                        return Err(p.err(
                            "`nodes` or `cold-start` may appear only once; use `add K` later",
                        ));
                    }
                    let addrs = if cold {
                        self.sim.cold_start(n, seeds, &self.opts)?
                    } else {
                        self.sim.start_cluster(n, seeds, &self.opts)?
                    };
                    self.seeds = addrs[..seeds.min(addrs.len())].to_vec();
                }
                Line::At(t, a) => {
                    self.sim.run_until(t);
                    self.act(p, &a)?;
                }
                Line::ExpectBy(t, c) => {
                    match &c {
                        Cond::Subject(i, _) => {
                            self.addr(p, *i)?;
                        }
                        Cond::Sees(set, i, _) => {
                            self.addr(p, *i)?;
                            self.addrs(p, set)?;
                        }
                        _ => {}
                    }
                    let met = self.sim.run_until_condition(t, |s| holds(s, &c));
                    let failure = match met {
                        Some(_) => None,
                        None => Some(self.describe_failure(&c)),
                    };
                    self.report.outcomes.push(Outcome {
                        line: no,
                        text,
                        met_at: met,
                        failure,
                    });
                }
                Line::Never(inv) => {
                    if let Invariant::NeverDown(i) | Invariant::NeverUnreachable(i) = &inv {
                        self.addr(p, *i)?;
                    }
                    self.invariants.push((no, text, inv, self.sim.now()));
                }
            }
        }
        for (no, text, inv, from) in std::mem::take(&mut self.invariants) {
            let failure = self.violation(&inv, from);
            self.report.outcomes.push(Outcome {
                line: no,
                text,
                met_at: None,
                failure,
            });
        }
        self.report.outcomes.sort_by_key(|o| o.line);
        self.report.end = self.sim.now();
        self.report.log_hash = self.sim.log_hash();
        Ok(self.report)
    }

    fn describe_failure(&self, c: &Cond) -> String {
        match c {
            Cond::EveryoneUp | Cond::TablesUp => {
                let pairs = self.sim.not_up_pairs();
                let shown: Vec<String> = pairs
                    .iter()
                    .take(5)
                    .map(|(o, s, v)| format!("{o} sees {s} {v:?}"))
                    .collect();
                format!(
                    "not met by the deadline; {} pairs not Up, e.g. {}",
                    pairs.len(),
                    shown.join("; ")
                )
            }
            Cond::Sees(_, i, want) | Cond::Subject(i, want) => {
                let Some(subject) = self.sim.addr_at(*i) else {
                    return "no such node".into();
                };
                let wrong: Vec<String> = self
                    .sim
                    .live()
                    .into_iter()
                    .filter(|&o| o != subject && self.sim.sees(o, subject) != *want)
                    .take(5)
                    .map(|o| format!("{o} sees {:?}", self.sim.sees(o, subject)))
                    .collect();
                format!("not met by the deadline, e.g. {}", wrong.join("; "))
            }
        }
    }

    /// Checks an invariant over everything since `from`.
    fn violation(&self, inv: &Invariant, from: Duration) -> Option<String> {
        let since = self.sim.log().iter().filter(|e| e.time >= from);
        match inv {
            Invariant::NeverDown(i) | Invariant::NeverUnreachable(i) => {
                let a = self.sim.addr_at(*i)?;
                let down = matches!(inv, Invariant::NeverDown(_));
                let bad: Vec<String> = since
                    .filter(|e| match e.event {
                        SimEvent::Down { addr, left: false } => down && addr == a,
                        SimEvent::Unreachable(addr) => !down && addr == a,
                        _ => false,
                    })
                    .take(5)
                    .map(|e| format!("{} at {:?}", e.observer, e.time))
                    .collect();
                (!bad.is_empty()).then(|| format!("published by {}", bad.join(", ")))
            }
            Invariant::NoFalseDown => {
                let mut bad = Vec::new();
                for addr in self.sim.addrs() {
                    for (t, e) in self.sim.core_events_all(addr) {
                        let Event::Down {
                            member,
                            reason: DownReason::Failed,
                        } = &e
                        else {
                            continue;
                        };
                        if t < from {
                            continue;
                        }
                        let dead = self.dead.get(&member.id).is_some_and(|&d| d <= t);
                        if !dead {
                            bad.push(format!("{addr} declared {} failed at {t:?}", member.id));
                        }
                    }
                }
                (!bad.is_empty()).then(|| {
                    format!(
                        "{} false Down(failed), e.g. {}",
                        bad.len(),
                        bad.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
                    )
                })
            }
        }
    }
}
