//! The fault tier's singleton rule (rule 8 of docs/FAULTS.md): the demo's
//! `ticker` singleton never runs on two nodes at once once the losing side's
//! decision time has passed, and the tokens its fenced resource (an etcd key,
//! see docs/DEMO.md) stored never go backwards.
//!
//! A sampler reads every node's `GET /api/singleton` at 2 Hz (`here`: an
//! instance runs on that node; `instances`: how many it has started). Two
//! consecutive samples of one node that both say `here` with the same
//! `instances` make a run interval; a single one, a point. Two nodes' run
//! intervals that overlap are a proven double run (sampling cannot invent
//! one: each end is a sample that said `here`). It is a violation unless, all
//! through the overlap, one of the two nodes was within its decision time:
//! the first `decision` seconds of a partition, or a fault of its own (a
//! pause, a cut link) until `decision` seconds after it ended. The fenced
//! resource's writes are read from etcd's history of the token key at the end
//! of the scenario (`etcdctl watch --rev=1`, the writes after the scenario's
//! clean-up).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::checker::{Bounds, History, Report, Time, Violation};
use super::cluster::{Cluster, NODES, RECOVERY_BOUND};
use super::net::{self, enter_observer};
use super::record::SAMPLE_EVERY;
use crate::demo::http;

/// One sample of a node's `GET /api/singleton`.
#[derive(Clone, Debug, PartialEq)]
pub struct SingletonSample {
    /// When the answer arrived.
    pub t: Time,
    /// The node (`n1`..).
    pub node: String,
    /// `here`; `None` when the node did not answer.
    pub here: Option<bool>,
    /// Instances the node started so far (its process's count).
    pub instances: u64,
    /// Writes the node's fence saw refused (its process's count).
    pub refused: u64,
}

/// What the singleton rule measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SingletonFigures {
    /// Run intervals (instances seen running): node, from, to.
    pub runs: Vec<(String, Time, Time)>,
    /// Seconds two nodes were both seen running it (within a decision time).
    pub doubled_secs: f64,
    /// Writes the fenced resource accepted in the scenario (`None`: its
    /// history could not be read).
    pub fence_writes: Option<usize>,
    /// Stale writes the nodes saw refused.
    pub refused: u64,
}

impl SingletonFigures {
    /// The figures as the report prints them.
    pub fn lines(&self) -> Vec<String> {
        let runs: Vec<String> = self
            .runs
            .iter()
            .map(|(n, from, to)| format!("{n} {from:.1}-{to:.1} s"))
            .collect();
        let mut out = vec![format!("ticker ran on {}", runs.join(", "))];
        if self.doubled_secs > 0.0 {
            out.push(format!(
                "ticker doubled {:.1} s within a decision time",
                self.doubled_secs
            ));
        }
        match self.fence_writes {
            Some(n) => out.push(format!("fenced writes {n}, stale refused {}", self.refused)),
            None => out.push("fenced writes not read".to_owned()),
        }
        out
    }
}

/// Samples every node's `/api/singleton` until stopped.
pub struct Sampler {
    log: Arc<Mutex<Vec<SingletonSample>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Parses a `/api/singleton` answer.
pub fn parse(t: Time, node: &str, v: Option<&Value>) -> SingletonSample {
    SingletonSample {
        t,
        node: node.to_owned(),
        here: v.and_then(|v| v["here"].as_bool()),
        instances: v.and_then(|v| v["instances"].as_u64()).unwrap_or(0),
        refused: v.and_then(|v| v["fence"]["refused"].as_u64()).unwrap_or(0),
    }
}

impl Sampler {
    /// Starts sampling `nodes` (name, HTTP address); times are seconds since `t0`.
    pub fn start(t0: Instant, nodes: &[(String, SocketAddr)]) -> Sampler {
        let log: Arc<Mutex<Vec<SingletonSample>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = nodes
            .iter()
            .cloned()
            .map(|(name, addr)| {
                let (log, stop) = (log.clone(), stop.clone());
                std::thread::spawn(move || {
                    enter_observer();
                    while !stop.load(Ordering::Relaxed) {
                        let next = Instant::now() + SAMPLE_EVERY;
                        let v = http("GET", addr, "/api/singleton")
                            .ok()
                            .filter(|r| r.status == 200)
                            .and_then(|r| serde_json::from_str::<Value>(&r.body).ok());
                        let t = t0.elapsed().as_secs_f64();
                        log.lock().unwrap().push(parse(t, &name, v.as_ref()));
                        std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    }
                })
            })
            .collect();
        Sampler { log, stop, threads }
    }

    /// The samples so far.
    pub fn snapshot(&self) -> Vec<SingletonSample> {
        self.log.lock().unwrap().clone()
    }

    /// Stops sampling; returns the threads to join.
    pub fn stop(self) -> Vec<JoinHandle<()>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
    }
}

/// The tokens written to the key `key`, in etcd's order, since its last
/// deletion (the scenario's clean-up): `etcdctl watch --rev=1` run in the
/// bridge namespace for 2 s. `None` when etcd's history cannot be read.
pub fn fence_tokens(endpoints: &str, key: &str) -> Option<Vec<i64>> {
    let out = Command::new("ip")
        .args(["netns", "exec", net::BRIDGE_NS, "timeout", "2", "etcdctl"])
        .arg(format!("--endpoints={endpoints}"))
        .args(["--dial-timeout=1s", "watch", "--rev=1", key])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_watch(&String::from_utf8_lossy(&out.stdout))
}

/// The tokens of `etcdctl watch` output (`PUT`, key, value; `DELETE`, key)
/// after the last `DELETE`.
pub fn parse_watch(text: &str) -> Option<Vec<i64>> {
    let mut lines = text.lines();
    let mut tokens = Vec::new();
    let mut any = false;
    while let Some(line) = lines.next() {
        match line.trim() {
            "PUT" => {
                let _key = lines.next()?;
                tokens.push(lines.next()?.trim().parse().ok()?);
                any = true;
            }
            "DELETE" => {
                let _key = lines.next()?;
                tokens.clear();
                any = true;
            }
            _ => {}
        }
    }
    (any || text.trim().is_empty()).then_some(tokens)
}

/// A node's run interval: `[from, to]`, both ends samples that said `here`
/// with the same instance count.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    node: String,
    from: Time,
    to: Time,
}

fn runs(samples: &[SingletonSample]) -> Vec<Run> {
    let mut sorted: Vec<&SingletonSample> = samples.iter().collect();
    sorted.sort_by(|a, b| a.node.cmp(&b.node).then(a.t.total_cmp(&b.t)));
    let mut out: Vec<Run> = Vec::new();
    let mut open: Option<(Run, u64)> = None;
    for s in sorted {
        let continues = matches!(&open, Some((r, n)) if r.node == s.node && *n == s.instances);
        match (s.here, continues) {
            (Some(true), true) => {
                if let Some((r, _)) = open.as_mut() {
                    r.to = s.t;
                }
            }
            (Some(true), false) => {
                out.extend(open.take().map(|(r, _)| r));
                let r = Run {
                    node: s.node.clone(),
                    from: s.t,
                    to: s.t,
                };
                open = Some((r, s.instances));
            }
            _ => out.extend(open.take().map(|(r, _)| r)),
        }
    }
    out.extend(open.map(|(r, _)| r));
    out
}

/// Whether `node` is within its decision time at `t`.
fn deciding(h: &History, b: &Bounds, node: &str, t: Time) -> bool {
    let in_partition = |p: &super::checker::Partition| p.from <= t && t < p.from + b.decision;
    if h.partitions.iter().any(in_partition) {
        return true;
    }
    let from_partition =
        |f: &super::checker::Faulty| h.partitions.iter().any(|p| (p.from - f.from).abs() < 1e-9);
    h.faulty
        .iter()
        .filter(|f| f.node == node && !from_partition(f))
        .any(|f| f.from <= t && t < f.to + b.decision)
}

/// Rule 8; see the module docs.
pub fn check(h: &History, b: &Bounds, report: &mut Report) {
    let mut runs = runs(&h.singleton);
    runs.sort_by(|a, b| a.from.total_cmp(&b.from));
    let mut figures = SingletonFigures {
        runs: runs
            .iter()
            .map(|r| (r.node.clone(), r.from, r.to))
            .collect(),
        ..SingletonFigures::default()
    };
    let mut times: Vec<Time> = h.singleton.iter().map(|s| s.t).collect();
    times.sort_by(f64::total_cmp);
    for (i, a) in runs.iter().enumerate() {
        for c in runs.iter().skip(i + 1).filter(|c| c.node != a.node) {
            let (from, to) = (a.from.max(c.from), a.to.min(c.to));
            if from > to {
                continue;
            }
            figures.doubled_secs += to - from;
            let checked = std::iter::once(from)
                .chain(times.iter().copied().filter(|t| *t > from && *t <= to))
                .find(|t| !deciding(h, b, &a.node, *t) && !deciding(h, b, &c.node, *t));
            if let Some(t) = checked {
                report.violations.push(Violation::SingletonTwice {
                    t,
                    nodes: vec![a.node.clone(), c.node.clone()],
                });
            }
        }
    }
    if let Some(tokens) = &h.fence_tokens {
        figures.fence_writes = Some(tokens.len());
        if let Some(w) = tokens.windows(2).find(|w| w[1] < w[0]) {
            report.violations.push(Violation::FenceBackwards {
                from: w[0],
                to: w[1],
            });
        }
    }
    let mut nodes: Vec<&str> = h.singleton.iter().map(|s| s.node.as_str()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    figures.refused = nodes
        .iter()
        .map(|n| {
            let mine = h.singleton.iter().filter(|s| s.node == *n);
            mine.map(|s| s.refused).max().unwrap_or(0)
        })
        .sum();
    report.figures.singleton = figures;
}

/// The node (index) whose latest answered sample says it runs the ticker.
pub fn host(h: &History) -> Option<usize> {
    let mut latest: Vec<&SingletonSample> = Vec::new();
    for s in h.singleton.iter().filter(|s| s.here.is_some()) {
        match latest.iter_mut().find(|l| l.node == s.node) {
            Some(l) if l.t < s.t => *l = s,
            Some(_) => {}
            None => latest.push(s),
        }
    }
    latest
        .iter()
        .find(|s| s.here == Some(true))
        .and_then(|s| s.node[1..].parse().ok())
}

/// How long the scenarios below wait for the ticker to be seen.
const FIND_HOST: Duration = Duration::from_secs(15);

/// The node that runs the ticker now (waits up to [`FIND_HOST`]).
fn find_host(c: &mut Cluster) -> usize {
    c.wait("a node to run the ticker", FIND_HOST, |c| {
        host(&c.observed()).ok_or_else(|| "no node says it runs the ticker".to_owned())
    })
}

fn recovered(c: &mut Cluster) -> String {
    match c.recover() {
        Ok(s) => format!("recovered in {s:.1} s"),
        Err(v) => format!(
            "not recovered within {}s ({} problems)",
            RECOVERY_BOUND.as_secs(),
            v.len()
        ),
    }
}

/// Where the ticker runs after a fault: `moved to nX`, `stayed on nX`.
fn moved(c: &mut Cluster, from: usize) -> String {
    match c.wait("a node to run the ticker", FIND_HOST, |c| {
        host(&c.observed()).ok_or_else(|| "none".to_owned())
    }) {
        h if h == from => format!("ticker stayed on n{h}"),
        h => format!("ticker moved to n{h}"),
    }
}

/// The ticker's host cut off alone (from every node and etcd) for 20 s, then
/// healed: the others down it and start the ticker elsewhere, the host fences
/// itself and stops its instance.
pub fn isolate_host(c: &mut Cluster) -> Vec<String> {
    let h = find_host(c);
    let others: Vec<usize> = (1..=NODES).filter(|&i| i != h).collect();
    c.partition(&[others, vec![h]]);
    // The fault's duration, not a synchronisation.
    std::thread::sleep(Duration::from_secs(20));
    let moved = moved(c, h);
    let dropped = c.heal_partition();
    vec![
        format!("n{h} ran the ticker; {moved} during the cut"),
        format!("{dropped} packets dropped"),
        recovered(c),
    ]
}

/// The ticker's host SIGSTOPped for 8 s (beyond the pause bound): the others
/// may down it and start the ticker elsewhere; on SIGCONT the old instance
/// must stop (its stale writes refused by the fence).
pub fn pause_host(c: &mut Cluster) -> Vec<String> {
    let h = find_host(c);
    c.pause(h, Duration::from_secs(8));
    let rec = recovered(c);
    vec![
        format!("n{h} ran the ticker, paused 8 s; {}", moved(c, h)),
        rec,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::checker::{Faulty, Partition};

    fn sample(t: Time, node: &str, here: Option<bool>, instances: u64) -> SingletonSample {
        SingletonSample {
            t,
            node: node.to_owned(),
            here,
            instances,
            refused: 0,
        }
    }

    fn history(samples: Vec<SingletonSample>) -> History {
        History {
            singleton: samples,
            fence_tokens: Some(vec![5, 5, 9]),
            ..History::default()
        }
    }

    fn broken(h: &History) -> Vec<&'static str> {
        let mut r = Report::default();
        check(h, &Bounds::default(), &mut r);
        r.violations.iter().map(Violation::rule).collect()
    }

    #[test]
    fn a_handover_between_samples_is_accepted() {
        let h = history(vec![
            sample(1.0, "n2", Some(true), 1),
            sample(1.5, "n2", Some(true), 1),
            sample(1.6, "n3", Some(false), 0),
            sample(2.0, "n2", Some(false), 1),
            sample(2.1, "n3", Some(true), 1),
        ]);
        assert!(broken(&h).is_empty());
    }

    #[test]
    fn two_nodes_running_at_once_are_rejected() {
        let h = history(vec![
            sample(1.0, "n2", Some(true), 1),
            sample(1.2, "n3", Some(true), 1),
            sample(1.5, "n2", Some(true), 1),
        ]);
        assert_eq!(broken(&h), vec!["singleton twice"]);
    }

    #[test]
    fn a_restarted_instance_is_a_new_run() {
        // n2 stopped and started again between its samples while n3 ran:
        // not proven doubled.
        let h = history(vec![
            sample(1.0, "n2", Some(true), 1),
            sample(1.2, "n3", Some(true), 1),
            sample(1.5, "n2", Some(true), 2),
        ]);
        assert!(broken(&h).is_empty());
    }

    #[test]
    fn within_the_decision_time_it_is_allowed() {
        let mut h = history(vec![
            sample(12.0, "n5", Some(true), 1),
            sample(12.5, "n2", Some(true), 1),
            sample(13.0, "n5", Some(true), 1),
        ]);
        h.faulty.push(Faulty {
            node: "n5".into(),
            from: 2.0,
            to: 10.0,
        });
        assert!(broken(&h).is_empty());
        // A partition: only its first decision time.
        h.faulty[0].from = 1.0;
        h.partitions.push(Partition {
            sides: vec![vec!["n2".into()], vec!["n5".into()]],
            from: 1.0,
            to: 30.0,
        });
        assert_eq!(broken(&h), vec!["singleton twice"]);
    }

    #[test]
    fn fenced_tokens_must_not_go_back() {
        let mut h = history(vec![]);
        assert!(broken(&h).is_empty());
        h.fence_tokens = Some(vec![5, 9, 7]);
        assert_eq!(broken(&h), vec!["fence backwards"]);
    }

    #[test]
    fn watch_output_after_the_last_delete() {
        let text = "PUT\n/k\n00000000000000000003\nDELETE\n/k\nPUT\n/k\n00000000000000000007\nPUT\n/k\n00000000000000000009\n";
        assert_eq!(parse_watch(text), Some(vec![7, 9]));
        assert_eq!(parse_watch(""), Some(vec![]));
        assert_eq!(parse_watch("PUT\n/k\nnot-a-number\n"), None);
    }
}
