//! Topic and router throughput, each beside plain `tell` in the same run.
//!
//! `cargo bench -p actix-cluster-tools --bench throughput` (release). Five
//! loopback nodes in one process, each a thread with its own actix `System`,
//! `Cluster` and `Remote` (sealed): n1 sends, n2..n5 receive, one counting
//! actor each. Messages carry 100 bytes of payload.
//!
//! - **publish**: n1 publishes N messages on a topic with one subscriber on
//!   each of the four receivers (4 N deliveries); beside it, n1 tells the
//!   same N messages to each of the four counting actors (4 N tells).
//! - **router**: n1 sends 4 N messages through a round-robin router over the
//!   four actors; beside it, n1 tells 4 N messages to them in turn by hand.
//!
//! Both sides of a pair keep at most `WINDOW` messages in flight per
//! receiver (read from the counters, which every node shares in this one
//! process), so neither runs into `QueueFull` and both pay the same flow
//! control. Deliveries/s = deliveries / (last delivery - first send); CPU
//! per delivery = the process's user + system time over the phase (sender
//! and receivers alike, 10 ms ticks) / deliveries, which other load on the
//! machine moves less than the rate. Each pair runs `ROUNDS` times, in both
//! orders alternately; the table shows the medians. A phase in which some
//! delivery never comes (a member suspected on a loaded machine loses what
//! was in flight) voids its pair for that round.

#[path = "../../actix-cluster-remote/tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster_remote::{RemoteHandle, RemoteRef, ServiceKey};
use actix_cluster_tools::{Router, RouterConfig, Topic, Topics};
use common::{cluster, wait_until, Node};
use serde::{Deserialize, Serialize};

const N: u64 = 100_000;
const WINDOW: u64 = 2_000;
const ROUNDS: usize = 7;

#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
struct Blob {
    seq: u64,
    data: Vec<u8>,
}
actix_cluster_remote::remote_message!(Blob, name = "bench.Blob", version = 1);

const TOPIC: Topic<Blob> = Topic::new("bench");
const KEY: ServiceKey<Blob> = ServiceKey::new("bench.counter");

struct Counter(Arc<AtomicU64>);

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Blob> for Counter {
    type Result = ();

    fn handle(&mut self, _: Blob, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn blob(seq: u64) -> Blob {
    Blob {
        seq,
        data: vec![7; 100],
    }
}

/// The four receivers' counters, and their actors' references.
struct Receivers {
    counts: Vec<Arc<AtomicU64>>,
    refs: Vec<RemoteRef<Blob>>,
}

impl Receivers {
    fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// No delivery for this long: something was lost (a connection broken or a
/// member suspected on this loaded machine: at most once), the round is void.
const STALL: Duration = Duration::from_secs(3);

/// What a sending loop needs from the receivers' counters: a way to wait
/// until the slowest is within `WINDOW`, and a count of failed sends.
#[derive(Clone)]
struct Flow {
    counts: Vec<Arc<AtomicU64>>,
    failed: Arc<AtomicU64>,
    /// Set at the first stall: the round is void, send the rest unpaced.
    void: Arc<std::sync::atomic::AtomicBool>,
}

impl Flow {
    async fn wait_below(&self, sent_per_receiver: u64, base: &[u64]) {
        let total = || -> u64 { self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum() };
        let (mut seen, mut since) = (total(), Instant::now());
        while !self.void.load(Ordering::Relaxed) {
            let behind = self
                .counts
                .iter()
                .zip(base)
                .map(|(c, b)| sent_per_receiver.saturating_sub(c.load(Ordering::Relaxed) - b))
                .max()
                .unwrap_or(0);
            if behind <= WINDOW {
                return;
            }
            if since.elapsed() > STALL {
                self.void.store(true, Ordering::Relaxed);
            }
            if total() != seen {
                (seen, since) = (total(), Instant::now());
            }
            tokio::task::yield_now().await;
        }
    }

    fn check<E>(&self, sent: Result<(), E>) {
        if sent.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs `send` (on n1) and waits for `deliveries` more deliveries; answers
/// deliveries per second and CPU µs per delivery, or `None` when some never
/// came (the round is void: a failed send or a lost message).
fn measure<F, Fut>(n1: &Node, rx: &Receivers, deliveries: u64, send: F) -> Option<(f64, f64)>
where
    F: FnOnce(RemoteHandle, Flow, Vec<u64>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let before = rx.total();
    let base: Vec<u64> = rx
        .counts
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let flow = Flow {
        counts: rx.counts.clone(),
        failed: Arc::default(),
        void: Arc::default(),
    };
    let failed = flow.failed.clone();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    n1.run(move |r| send(r, flow, base));
    let (mut seen, mut since) = (rx.total(), Instant::now());
    while rx.total() - before < deliveries {
        if since.elapsed() > STALL {
            let lost = deliveries - (rx.total() - before);
            let failed = failed.load(Ordering::Relaxed);
            eprintln!("  void: {lost} deliveries missing ({failed} sends failed)");
            return None;
        }
        if rx.total() != seen {
            (seen, since) = (rx.total(), Instant::now());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let cpu_us = (cpu_seconds() - cpu) * 1e6 / deliveries as f64;
    Some((deliveries as f64 / start.elapsed().as_secs_f64(), cpu_us))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Subscribes and registers a counting actor on each receiver; answers
/// the receivers, n1's `Topics` and a round-robin router on n1, once both
/// see all four receivers.
fn setup(nodes: &[Node]) -> (Receivers, Topics, Router<Blob>) {
    let n1 = &nodes[0];
    let counts: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::default()).collect();
    let topics: Vec<Topics> = nodes
        .iter()
        .map(|n| n.run(|r| async move { Topics::start(&r) }))
        .collect();
    let mut refs = Vec::new();
    for (i, node) in nodes[1..].iter().enumerate() {
        let (c, t) = (counts[i].clone(), topics[i + 1].clone());
        refs.push(node.run(move |r| async move {
            let addr = Counter(c).start();
            t.subscribe(&TOPIC, addr.clone().recipient());
            let me = r.serve::<Blob, _>(addr);
            r.register(&KEY, &me);
            me
        }));
    }
    let publisher = topics[0].clone();
    let router = n1.run(|r| async move { Router::start(&r, KEY, RouterConfig::default()) });
    let (p, r) = (publisher.clone(), router.clone());
    wait_until("four members and routees", || {
        let (p, r) = (p.clone(), r.clone());
        n1.run(move |_| async move { p.members(&TOPIC).len() == 4 && r.routees().len() == 4 })
    });
    (Receivers { counts, refs }, publisher, router)
}

/// The four ways of sending, each 4 N deliveries.
#[derive(Clone, Copy)]
enum Phase {
    /// N plain tells to each of the four actors.
    TellEach,
    /// N publishes on the topic.
    Publish,
    /// 4 N plain tells to the four actors in turn.
    TellInTurn,
    /// 4 N tells through the round-robin router.
    Route,
}

struct Tools {
    publisher: Topics,
    router: Router<Blob>,
}

/// Runs one phase: deliveries/s and CPU µs per delivery (the whole process:
/// sender and receivers), or `None` for a void run.
fn phase(n1: &Node, rx: &Receivers, tools: &Tools, which: Phase) -> Option<(f64, f64)> {
    let refs = rx.refs.clone();
    let (p, rt) = (tools.publisher.clone(), tools.router.clone());
    measure(n1, rx, 4 * N, move |r, flow, base| async move {
        let per_pause = match which {
            Phase::TellEach | Phase::Publish => 256,
            Phase::TellInTurn | Phase::Route => 1024,
        };
        let (count, receivers_per_send) = match which {
            Phase::TellEach | Phase::Publish => (N, 1),
            Phase::TellInTurn | Phase::Route => (4 * N, 4),
        };
        for seq in 0..count {
            if seq % per_pause == 0 {
                flow.wait_below(seq / receivers_per_send, &base).await;
            }
            match which {
                Phase::TellEach => {
                    for to in &refs {
                        flow.check(r.tell(to, blob(seq)));
                    }
                }
                Phase::Publish => flow.check(p.publish(&TOPIC, blob(seq))),
                Phase::TellInTurn => flow.check(r.tell(&refs[(seq % 4) as usize], blob(seq))),
                Phase::Route => flow.check(rt.tell(blob(seq))),
            }
        }
    })
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

fn main() {
    let nodes = cluster(5, Some(3));
    let (rx, publisher, router) = setup(&nodes);
    eprintln!("five members up, four subscribers and routees seen");
    let tools = Tools { publisher, router };
    // Per pair (plain, tool): rates and CPU costs of the rounds where both ran.
    let mut rates: [Vec<f64>; 4] = Default::default();
    let mut costs: [Vec<f64>; 4] = Default::default();
    let phases = [
        Phase::TellEach,
        Phase::Publish,
        Phase::TellInTurn,
        Phase::Route,
    ];
    for i in 0..ROUNDS {
        // Each pair in both orders, alternately, so that neither side
        // gains from running first.
        let order: [usize; 4] = if i % 2 == 0 {
            [0, 1, 2, 3]
        } else {
            [1, 0, 3, 2]
        };
        let mut got = [None; 4];
        for k in order {
            got[k] = phase(&nodes[0], &rx, &tools, phases[k]);
        }
        eprintln!("round {i}: {got:.0?}");
        for pair in [0, 2] {
            if let (Some(plain), Some(tool)) = (got[pair], got[pair + 1]) {
                for (k, (rate, cost)) in [(pair, plain), (pair + 1, tool)] {
                    rates[k].push(rate);
                    costs[k].push(cost);
                }
            }
        }
    }
    let rates = rates.map(median);
    let costs = costs.map(median);
    println!("| what | plain tell | the tool | tool / plain | goal: within 20% |");
    println!("|---|---|---|---|---|");
    let what = [
        "topic publish to 4 members",
        "round-robin router over 4 members",
    ];
    for (pair, what) in [0, 2].into_iter().zip(what) {
        report(
            what,
            rates[pair],
            rates[pair + 1],
            costs[pair],
            costs[pair + 1],
        );
    }
}

fn report(what: &str, plain: f64, tool: f64, plain_cpu: f64, tool_cpu: f64) {
    let ratio = tool / plain;
    let status = if ratio >= 0.8 { "met" } else { "**missed**" };
    println!(
        "| {what} | {:.0} deliveries/s ({plain_cpu:.2} µs CPU each) | {:.0} deliveries/s ({tool_cpu:.2} µs CPU each) | {:.0}% | {status} |",
        plain,
        tool,
        ratio * 100.0
    );
}
