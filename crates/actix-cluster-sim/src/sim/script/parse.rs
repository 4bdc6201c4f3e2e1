//! The script parser: one line of text into a [`Line`].

use std::time::Duration;

use actix_cluster_proto::Config;

use super::{Act, Cond, Invariant, Line, NetChange, Set, Setting};
use crate::sim::engine::ViewState;
use crate::sim::error::SimError;
use crate::sim::net::{GilbertElliott, Loss};

/// Parses the lines of one script, and names the line in its errors.
pub(super) struct Parser<'a> {
    /// The script's name.
    pub(super) name: &'a str,
    /// The line being parsed (1-based).
    pub(super) line: usize,
}

impl Parser<'_> {
    pub(super) fn err(&self, message: impl Into<String>) -> SimError {
        SimError::Script {
            name: self.name.to_owned(),
            line: self.line,
            message: message.into(),
        }
    }

    pub(super) fn duration(&self, s: &str) -> Result<Duration, SimError> {
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

    pub(super) fn node(&self, s: &str) -> Result<usize, SimError> {
        s.strip_prefix('n')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < 1 << 24)
            .ok_or_else(|| self.err(format!("bad node {s:?} (expected n<number>, e.g. n3)")))
    }

    pub(super) fn set(&self, s: &str) -> Result<Set, SimError> {
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

    pub(super) fn prob(&self, s: &str) -> Result<f64, SimError> {
        s.parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| self.err(format!("{s:?} is not a probability in 0..=1")))
    }

    pub(super) fn net(&self, w: &[&str]) -> Result<NetChange, SimError> {
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

    pub(super) fn setting(&self, field: &str, value: &str) -> Result<Setting, SimError> {
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

    pub(super) fn action(&self, w: &[&str], rest: &str) -> Result<Act, SimError> {
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

    pub(super) fn cond(&self, w: &[&str]) -> Result<Cond, SimError> {
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

    pub(super) fn line(&self, text: &str) -> Result<Option<Line>, SimError> {
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
