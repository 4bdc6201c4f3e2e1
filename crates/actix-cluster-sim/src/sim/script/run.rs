//! Runs a parsed script on a [`Sim`] of our cores and judges its
//! expectations and invariants.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config, DownReason, Event, MemberId};

use super::parse::Parser;
use super::{Act, Cond, Invariant, Line, NetChange, Outcome, ScriptReport, Set, Setting};
use crate::sim::core_node::{CoreNode, CoreOpts, Start};
use crate::sim::engine::Sim;
use crate::sim::error::SimError;
use crate::sim::net::NetConfig;
use crate::sim::node::SimEvent;

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

/// The simulation a script drives, and what it found so far.
pub(super) struct Runner {
    sim: Sim<CoreNode>,
    opts: CoreOpts,
    seeds: Vec<SocketAddr>,
    /// When each process (member id) crashed, stopped or was replaced.
    dead: HashMap<MemberId, Duration>,
    report: ScriptReport,
    invariants: Vec<(usize, String, Invariant, Duration)>,
}

impl Runner {
    pub(super) fn new(name: &str, seed: u64) -> Result<Self, SimError> {
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

    pub(super) fn run(
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
                Line::Set(setting) => self.set(p, setting)?,
                Line::Nodes { n, seeds, cold } => self.start(p, n, seeds, cold)?,
                Line::At(t, a) => {
                    self.sim.run_until(t);
                    self.act(p, &a)?;
                }
                Line::ExpectBy(t, c) => self.expect(p, no, text, t, &c)?,
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

    /// `set FIELD VALUE`: changes one field of the cores' configuration.
    fn set(&mut self, p: &Parser<'_>, setting: Setting) -> Result<(), SimError> {
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
        c.validate().map_err(|e| p.err(e.to_string()))
    }

    /// `nodes N [seeds K]` or `cold-start N [seeds K]`, once per script.
    fn start(
        &mut self,
        p: &Parser<'_>,
        n: usize,
        seeds: usize,
        cold: bool,
    ) -> Result<(), SimError> {
        if !self.sim.is_empty() {
            return Err(p.err("`nodes` or `cold-start` may appear only once; use `add K` later"));
        }
        let addrs = if cold {
            self.sim.cold_start(n, seeds, &self.opts)?
        } else {
            self.sim.start_cluster(n, seeds, &self.opts)?
        };
        self.seeds = addrs[..seeds.min(addrs.len())].to_vec();
        Ok(())
    }

    /// `expect by T COND`: runs until the condition holds, at most until `t`,
    /// and records the outcome of line `no`.
    fn expect(
        &mut self,
        p: &Parser<'_>,
        no: usize,
        text: String,
        t: Duration,
        c: &Cond,
    ) -> Result<(), SimError> {
        match c {
            Cond::Subject(i, _) => {
                self.addr(p, *i)?;
            }
            Cond::Sees(set, i, _) => {
                self.addr(p, *i)?;
                self.addrs(p, set)?;
            }
            _ => {}
        }
        let met = self.sim.run_until_condition(t, |s| holds(s, c));
        let failure = match met {
            Some(_) => None,
            None => Some(self.describe_failure(c)),
        };
        self.report.outcomes.push(Outcome {
            line: no,
            text,
            met_at: met,
            failure,
        });
        Ok(())
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
