//! The singleton's handover times on loopback actix systems (each node a
//! thread with its own `System`, `Cluster` and remote layer, the `local`
//! protocol preset, sealed):
//!
//! - **graceful**: `hand_over` on the host, then `Leave`; from the call to
//!   the next instance's `started` (p50 / p99 / max over `--rounds`);
//! - **plain leave**: `Leave` without `hand_over` (the manager, a leave
//!   guard, hands over before the leave goes out); from the call to the next
//!   instance's `started`;
//! - **stopped System**: the host's `System` stops without a `Leave`: the
//!   leave goes out as it stops, without a handover, and the next host waits
//!   the left grace (1 s by default);
//! - **crash**: the host's `Cluster` aborts and its `System` stops; from the
//!   next host's `Down` (the downing decision, as that node saw it) to the
//!   next instance's `started`, and from the kill to the `started`.
//!
//! `cargo bench -p actix-cluster-tools --bench singleton [-- --rounds N]
//! [--write FILE]`: prints the table; `--write` puts it in FILE (relative to
//! the workspace root; the
//! "Cluster tools: singleton" section of BENCHMARKS.md, replaced in place,
//! its "Notes by hand" kept).

#[path = "../../actix-cluster-remote/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{ClusterEvent, DownReason, Event, Subscribe};
use actix_cluster_tools::singleton::SingletonStart;
use actix_cluster_tools::{ClusterSingleton, SingletonConfig, SingletonHandle, StopSingleton};
use common::{wait_until, Node};

/// When each instance started (by node name).
type Starts = Arc<Mutex<Vec<(String, Instant)>>>;
/// When a node saw a member down by the decision: (observer, member, at).
type Downs = Arc<Mutex<Vec<(String, String, Instant)>>>;

struct Instance {
    node: String,
    starts: Starts,
}

impl Actor for Instance {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        let entry = (self.node.clone(), Instant::now());
        self.starts.lock().unwrap().push(entry);
    }
}

impl Handler<StopSingleton> for Instance {
    type Result = ();

    fn handle(&mut self, _: StopSingleton, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

struct DownClock {
    node: String,
    downs: Downs,
}

impl Actor for DownClock {
    type Context = Context<Self>;
}

impl Handler<ClusterEvent> for DownClock {
    type Result = ();

    fn handle(&mut self, ClusterEvent(e): ClusterEvent, _: &mut Context<Self>) {
        if let Event::Down {
            member,
            reason: DownReason::Failed,
        } = e
        {
            let entry = (self.node.clone(), member.id.name.clone(), Instant::now());
            self.downs.lock().unwrap().push(entry);
        }
    }
}

struct Member {
    name: String,
    node: Node,
    handle: SingletonHandle,
}

struct Bench {
    starts: Starts,
    downs: Downs,
    next: usize,
    seed: std::net::SocketAddr,
    members: Vec<Member>,
}

impl Bench {
    fn new() -> Self {
        let mut b = Bench {
            starts: Starts::default(),
            downs: Downs::default(),
            next: 0,
            seed: "127.0.0.1:1".parse().unwrap(),
            members: Vec::new(),
        };
        b.add(&[]);
        b.seed = b.members[0].node.addr;
        b
    }

    /// Starts a member (joining through the first live one) with its
    /// manager and its down clock.
    fn add(&mut self, seeds: &[std::net::SocketAddr]) {
        self.next += 1;
        let name = format!("n{}", self.next);
        let node = Node::start(&name, Some(9), seeds);
        let (starts, downs, cluster, n) = (
            self.starts.clone(),
            self.downs.clone(),
            node.cluster.clone(),
            name.clone(),
        );
        let handle = node.run(move |remote| async move {
            let clock = DownClock {
                node: n.clone(),
                downs,
            }
            .start();
            cluster.do_send(Subscribe {
                events: Some(clock.recipient()),
                ..Subscribe::default()
            });
            let config = SingletonConfig::new("bench");
            ClusterSingleton::start(&remote, config, move |_: SingletonStart| {
                Instance {
                    node: n.clone(),
                    starts: starts.clone(),
                }
                .start()
            })
        });
        self.members.push(Member { name, node, handle });
    }

    /// Keeps three members: adds the missing ones and waits until all see
    /// each other.
    fn fill(&mut self) {
        while self.members.len() < 3 {
            let seed = self.members[0].node.addr;
            self.add(&[seed]);
        }
        for m in &self.members {
            wait_until("three members", || m.node.remote_members() == 3);
        }
    }

    fn starts(&self) -> usize {
        self.starts.lock().unwrap().len()
    }

    fn last_start(&self) -> (String, Instant) {
        self.starts
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a start")
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[derive(Clone, Copy, PartialEq)]
enum Leave {
    HandOver,
    Plain,
    StopSystem,
}

/// One move on leave: answers the time from the call to the next start.
fn leave_round(b: &mut Bench, how: Leave) -> Duration {
    b.fill();
    let before = b.starts();
    let host = b.last_start().0;
    let i = b.members.iter().position(|m| m.name == host).expect("host");
    let m = b.members.remove(i);
    let t0 = Instant::now();
    match how {
        Leave::HandOver => {
            let h = m.handle.clone();
            m.node.run(move |_| async move { h.hand_over().await });
            m.node.stop();
        }
        // `stop` sends `Leave`, then stops the System.
        Leave::Plain => m.node.stop(),
        Leave::StopSystem => m.node.stop_system(),
    }
    wait_until("the next start", || b.starts() > before);
    b.last_start().1 - t0
}

/// One crash: answers (Down -> start, kill -> start).
fn crash_round(b: &mut Bench) -> (Duration, Duration) {
    b.fill();
    let before = b.starts();
    let host = b.last_start().0;
    let i = b.members.iter().position(|m| m.name == host).expect("host");
    let m = b.members.remove(i);
    let t0 = Instant::now();
    m.node.kill();
    wait_until("the next start", || b.starts() > before);
    let (next, started) = b.last_start();
    let downs = b.downs.lock().unwrap();
    let down = downs
        .iter()
        .find(|(obs, member, _)| *obs == next && *member == host)
        .map(|(_, _, at)| *at)
        .expect("the next host saw the old one down before it started");
    assert!(down <= started, "started before the down");
    (started - down, started - t0)
}

fn row(what: &str, mut v: Vec<Duration>, goal: &str, met: Option<bool>) -> String {
    v.sort();
    let status = match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "-",
    };
    format!(
        "| {what} | {} | {} | {} | {} | {goal} | {status} |\n",
        v.len(),
        ms(pct(&v, 50.0)),
        ms(pct(&v, 99.0)),
        ms(*v.last().unwrap())
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let rounds: usize = arg("--rounds").and_then(|r| r.parse().ok()).unwrap_or(25);
    let started = Instant::now();
    let mut b = Bench::new();
    b.fill();
    wait_until("the first start", || b.starts() == 1);
    let graceful: Vec<_> = (0..rounds)
        .map(|_| leave_round(&mut b, Leave::HandOver))
        .collect();
    let plain: Vec<_> = (0..rounds)
        .map(|_| leave_round(&mut b, Leave::Plain))
        .collect();
    let stopped: Vec<_> = (0..5)
        .map(|_| leave_round(&mut b, Leave::StopSystem))
        .collect();
    let crash: Vec<_> = (0..rounds).map(|_| crash_round(&mut b)).collect();
    let after_down: Vec<_> = crash.iter().map(|c| c.0).collect();
    let after_kill: Vec<_> = crash.iter().map(|c| c.1).collect();
    let p99 = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        pct(&v, 99.0)
    };
    let mut table = String::from(
        "| move | rounds | p50 (ms) | p99 (ms) | max (ms) | goal | status |\n|---|---|---|---|---|---|---|\n",
    );
    let met = p99(&graceful) <= Duration::from_secs(1);
    table += &row(
        "graceful leave (`hand_over`, then `Leave`): call -> next `started`",
        graceful,
        "p99 <= 1 s",
        Some(met),
    );
    let met = p99(&plain) <= Duration::from_secs(1);
    table += &row(
        "plain `Leave` (no `hand_over`: the leave guard hands over): call -> next `started`",
        plain,
        "p99 <= 1 s",
        Some(met),
    );
    table += &row(
        "stopped `System`, no `Leave` (no handover; waits `left_grace` = 1 s): stop -> next `started`",
        stopped,
        "-",
        None,
    );
    let met = p99(&after_down) <= Duration::from_millis(500);
    table += &row(
        "crash: the next host's `Down` of the old host -> next `started`",
        after_down,
        "<= 0.5 s",
        Some(met),
    );
    table += &row(
        "crash: kill -> next `started` (detection and decision included)",
        after_kill,
        "-",
        None,
    );
    let text = format!(
        "Measured by `cargo bench -p actix-cluster-tools --bench singleton -- --rounds {rounds}` in {:.0} s of wall time: three loopback members (threads with their own actix `System`, `Cluster` and remote layer, sealed, the `local` protocol preset), a singleton manager on each; every round the host goes and a fresh member joins, so every move is to the next oldest.\n\n{table}",
        started.elapsed().as_secs_f64()
    );
    println!("{text}");
    if let Some(file) = arg("--write") {
        // cargo runs a bench in its package's directory: a relative path
        // is the workspace root's.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join(&file);
        splice(&path, &text).expect("BENCHMARKS.md written");
    }
}

/// Replaces the generated part of the "Cluster tools: singleton" section
/// of `file` (up to its "Notes by hand", or the next `## `), or appends the
/// section.
fn splice(file: &std::path::Path, generated: &str) -> std::io::Result<()> {
    const HEADING: &str = "## Cluster tools: singleton\n";
    const NOTES: &str = "### Notes by hand";
    let text = std::fs::read_to_string(file)?;
    let new = match text.find(HEADING) {
        Some(start) => {
            let body = start + HEADING.len();
            let end = text[body..]
                .find("\n## ")
                .map(|i| body + i + 1)
                .unwrap_or(text.len());
            let keep = text[body..end].find(NOTES).map(|i| body + i).unwrap_or(end);
            format!(
                "{}\n{}\n{}{}",
                &text[..body],
                generated.trim_end(),
                if keep < end { "\n" } else { "" },
                &text[keep..]
            )
        }
        None => format!("{}\n{HEADING}\n{}\n", text.trim_end(), generated.trim_end()),
    };
    std::fs::write(file, new)
}
