//! In-crate tests: a tiny deterministic network that passes bytes between
//! cores in virtual time, and the scenarios built on it. A test file of one
//! concern is named after the source file it tests (`decision.rs` tests
//! `core/decision.rs`, `seal.rs` tests `codec/seal.rs`); `cluster.rs` holds
//! the multi-node scenarios, `bench.rs` and `seal_bench.rs` the ignored
//! benchmarks, `solo.rs` the single-core harness.

mod awareness;
mod bench;
mod broadcast;
mod catch_up;
mod cluster;
mod codec;
mod config;
mod decision;
mod leader;
mod lifecycle;
mod members;
mod merge;
mod receive;
mod seal;
mod seal_bench;
mod solo;
mod suspect;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::{Channel, Command, Config, Core, Event, LocalMember, MemberId, Output, Status, Timer};

pub(crate) fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16))
}

pub(crate) fn id(i: usize, generation: u64) -> MemberId {
    MemberId::new(format!("n{i}"), addr(i), generation)
}

pub(crate) fn local(i: usize, generation: u64) -> LocalMember {
    LocalMember {
        id: id(i, generation),
        roles: BTreeSet::from(["worker".to_owned()]),
        metadata: [("http".to_owned(), format!("127.0.0.1:{}", 8000 + i))]
            .into_iter()
            .collect(),
    }
}

enum Ev {
    Deliver {
        to: SocketAddr,
        from: SocketAddr,
        channel: Channel,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        incarnation: u64,
        timer: Timer,
    },
}

/// N cores on a simulated network: fixed latency, optional datagram loss,
/// crashes, one-way cuts, restarts.
pub(crate) struct Net {
    pub(crate) cores: Vec<Core>,
    pub(crate) alive: Vec<bool>,
    /// Bumped on restart so that old timers of a node are dropped.
    lives: Vec<u64>,
    pub(crate) now: Duration,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    pending: HashMap<u64, Ev>,
    seq: u64,
    pub(crate) events: Vec<Vec<(Duration, Event)>>,
    rng: SmallRng,
    pub(crate) loss: f64,
    pub(crate) latency: Duration,
    /// Cut links (from node, to node), one way.
    pub(crate) cut: HashSet<(usize, usize)>,
    pub(crate) config: Config,
    pub(crate) datagrams: u64,
    /// A paused node handles nothing before this time (its inputs wait).
    pub(crate) paused_until: Vec<Duration>,
    /// Datagrams larger than the configured limit (must stay 0).
    pub(crate) oversize_datagrams: u64,
    /// Messages sent to each address (datagrams and frames).
    pub(crate) sent_to: HashMap<SocketAddr, u64>,
    /// Whether the arbiter's reachability check fails (every
    /// `Output::CheckArbiter` answered `handle_arbiter_unreachable`); by
    /// default checks are ignored, as by a driver that cannot tell.
    pub(crate) arbiter_check_fails: bool,
}

impl Net {
    pub(crate) fn new(n: usize, config: Config, seed: u64) -> Net {
        let cores = (0..n)
            .map(|i| Core::new(local(i, 1), config.clone(), seed ^ (i as u64 * 7919)).unwrap())
            .collect();
        Net {
            cores,
            alive: vec![true; n],
            lives: vec![0; n],
            now: Duration::ZERO,
            queue: BinaryHeap::new(),
            pending: HashMap::new(),
            seq: 0,
            events: vec![Vec::new(); n],
            rng: SmallRng::seed_from_u64(seed),
            loss: 0.0,
            latency: Duration::from_millis(1),
            cut: HashSet::new(),
            config,
            datagrams: 0,
            paused_until: vec![Duration::ZERO; n],
            oversize_datagrams: 0,
            sent_to: HashMap::new(),
            arbiter_check_fails: false,
        }
    }

    fn node_of(&self, a: SocketAddr) -> Option<usize> {
        let i = usize::from(a.port().checked_sub(7000)?);
        (i < self.cores.len()).then_some(i)
    }

    fn push(&mut self, at: Duration, ev: Ev) {
        self.seq += 1;
        self.pending.insert(self.seq, ev);
        self.queue.push(Reverse((at, self.seq)));
    }

    /// Moves a core's outputs into the network.
    pub(crate) fn drain(&mut self, i: usize) {
        while let Some(o) = self.cores[i].poll_output() {
            match o {
                Output::Send { to, channel, bytes } => {
                    *self.sent_to.entry(to).or_default() += 1;
                    if channel == Channel::Datagram {
                        self.datagrams += 1;
                        if bytes.len() > self.config.max_datagram_size {
                            self.oversize_datagrams += 1;
                        }
                        if self.loss > 0.0 && self.rng.gen_bool(self.loss) {
                            continue;
                        }
                    }
                    let lat = match channel {
                        Channel::Datagram => self.latency,
                        Channel::Stream => self.latency * 2,
                    };
                    let at = self.now + lat;
                    self.push(
                        at,
                        Ev::Deliver {
                            to,
                            from: addr(i),
                            channel,
                            bytes,
                        },
                    );
                }
                Output::Schedule { after, timer } => {
                    let at = self.now + after;
                    let incarnation = self.lives[i];
                    self.push(
                        at,
                        Ev::Timer {
                            node: i,
                            incarnation,
                            timer,
                        },
                    );
                }
                Output::Event(e) => self.events[i].push((self.now, e)),
                // No arbiter in these tests.
                Output::Arbitrate { round, .. } => {
                    let now = self.now;
                    self.cores[i].handle_arbiter(now, round, None);
                }
                Output::CheckArbiter { round, .. } if self.arbiter_check_fails => {
                    let now = self.now;
                    self.cores[i].handle_arbiter_unreachable(now, round);
                }
                Output::CheckArbiter { .. } => {}
            }
        }
    }

    pub(crate) fn command(&mut self, i: usize, c: Command) {
        let now = self.now;
        self.cores[i].handle_command(now, c);
        self.drain(i);
    }

    /// Runs until virtual time `t`.
    pub(crate) fn run_until(&mut self, t: Duration) {
        while let Some(Reverse((at, s))) = self.queue.peek().copied() {
            if at > t {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(ev) = self.pending.remove(&s) else {
                continue;
            };
            let target = match &ev {
                Ev::Deliver { to, .. } => self.node_of(*to),
                Ev::Timer { node, .. } => Some(*node),
            };
            if let Some(j) = target {
                if self.paused_until[j] > at {
                    let until = self.paused_until[j];
                    self.push(until, ev);
                    continue;
                }
            }
            match ev {
                Ev::Deliver {
                    to,
                    from,
                    channel,
                    bytes,
                } => {
                    let Some(j) = self.node_of(to) else { continue };
                    let Some(fi) = self.node_of(from) else {
                        continue;
                    };
                    if !self.alive[j] || self.cut.contains(&(fi, j)) {
                        continue;
                    }
                    match channel {
                        Channel::Datagram => self.cores[j].handle_datagram(at, from, &bytes),
                        Channel::Stream => self.cores[j].handle_stream(at, from, &bytes),
                    };
                    self.drain(j);
                }
                Ev::Timer {
                    node,
                    incarnation,
                    timer,
                } => {
                    if !self.alive[node] || incarnation != self.lives[node] {
                        continue;
                    }
                    self.cores[node].handle_timer(at, timer);
                    self.drain(node);
                }
            }
        }
        self.now = t;
    }

    pub(crate) fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    /// Runs in 10 ms steps until `cond` holds or `limit` passes; returns
    /// whether it held.
    pub(crate) fn run_until_cond(
        &mut self,
        limit: Duration,
        mut cond: impl FnMut(&Net) -> bool,
    ) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if cond(self) {
                return true;
            }
            self.run_for(Duration::from_millis(10));
        }
        cond(self)
    }

    /// Node 0 forms, the others join through it.
    /// `n` cores whose members carry four 60-byte metadata values each, so
    /// that queued updates exceed a small datagram.
    pub(crate) fn with_big_metadata(n: usize, config: Config, seed: u64) -> Net {
        let mut net = Net::new(n, config.clone(), seed);
        for i in 0..n {
            let mut l = local(i, 1);
            l.metadata = (0..4)
                .map(|k| (format!("key{k}"), "v".repeat(60)))
                .collect();
            net.cores[i] = Core::new(l, config.clone(), i as u64).unwrap();
        }
        net
    }

    pub(crate) fn form_and_join(&mut self) {
        self.command(0, Command::Form);
        for i in 1..self.cores.len() {
            self.command(
                i,
                Command::Join {
                    seeds: vec![addr(0)],
                },
            );
        }
    }

    /// Stalls node `i` for `d` (a GC pause): it handles nothing meanwhile.
    pub(crate) fn pause(&mut self, i: usize, d: Duration) {
        self.paused_until[i] = self.now + d;
    }

    /// Cuts every link between the nodes of `a` and those of `b`, both ways.
    pub(crate) fn cut_apart(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                self.cut.insert((y, x));
            }
        }
    }

    pub(crate) fn crash(&mut self, i: usize) {
        self.alive[i] = false;
    }

    /// Replaces node `i` by a fresh process (new generation) on the same address.
    pub(crate) fn restart(&mut self, i: usize, generation: u64) {
        self.lives[i] += 1;
        self.alive[i] = true;
        self.cores[i] =
            Core::new(local(i, generation), self.config.clone(), 99 + generation).unwrap();
        self.events[i].clear();
    }

    /// Replaces node `i` by a fresh process (new generation) on the same
    /// address, with its own `config`.
    pub(crate) fn restart_with(&mut self, i: usize, generation: u64, config: Config) {
        self.lives[i] += 1;
        self.alive[i] = true;
        self.cores[i] = Core::new(local(i, generation), config, 99 + generation).unwrap();
        self.events[i].clear();
    }

    /// Status of `of` as seen by `at`.
    pub(crate) fn status(&self, at: usize, of: &MemberId) -> Option<Status> {
        self.cores[at].member(of).map(|m| m.status)
    }

    /// Every live node sees every live node's current id `Up`.
    pub(crate) fn converged(&self) -> bool {
        let ids: Vec<MemberId> = (0..self.cores.len())
            .filter(|&i| self.alive[i])
            .map(|i| self.cores[i].local_id().clone())
            .collect();
        (0..self.cores.len()).filter(|&i| self.alive[i]).all(|i| {
            ids.iter().all(|m| {
                self.status(i, m) == Some(Status::Up)
                    && self.cores[i].member(m).is_some_and(|x| x.reachable)
            })
        })
    }

    /// Events node `i` published about `m`, in order, as short names.
    pub(crate) fn names(&self, i: usize, m: &MemberId) -> Vec<&'static str> {
        self.events[i]
            .iter()
            .filter_map(|(_, e)| {
                let (who, n) = match e {
                    Event::Joined(x) => (&x.id, "joined"),
                    Event::Up(x) => (&x.id, "up"),
                    Event::Unreachable(x) => (&x.id, "unreachable"),
                    Event::Reachable(x) => (&x.id, "reachable"),
                    Event::Leaving(x) => (&x.id, "leaving"),
                    Event::Updated(_) => return None,
                    Event::Down { member, reason } => (
                        &member.id,
                        match reason {
                            crate::DownReason::Failed => "down-failed",
                            crate::DownReason::Left => "down-left",
                            crate::DownReason::Fenced => "down-fenced",
                        },
                    ),
                    Event::Removed(x) => (x, "removed"),
                    Event::LeaderChanged(_) | Event::SelfChanged { .. } => return None,
                };
                (who == m).then_some(n)
            })
            .collect()
    }
}

/// Checks the per-member event order contract of `Event` on every node.
pub(crate) fn assert_event_order(net: &Net) {
    for i in 0..net.cores.len() {
        let mut ids: BTreeSet<MemberId> = BTreeSet::new();
        for (_, e) in &net.events[i] {
            match e {
                Event::Joined(x)
                | Event::Up(x)
                | Event::Unreachable(x)
                | Event::Reachable(x)
                | Event::Updated(x)
                | Event::Leaving(x) => {
                    ids.insert(x.id.clone());
                }
                Event::Down { member, .. } => {
                    ids.insert(member.id.clone());
                }
                Event::Removed(x) => {
                    ids.insert(x.clone());
                }
                Event::LeaderChanged(_) | Event::SelfChanged { .. } => {}
            }
        }
        for m in ids {
            let seq = net.names(i, &m);
            // joined first, then at most one each of up / leaving / down / removed in order,
            // unreachable/reachable alternating, only after up and before down.
            assert_eq!(seq.first(), Some(&"joined"), "node {i} about {m}: {seq:?}");
            let mut stage = 0; // 0 joined, 1 up, 2 leaving, 3 down, 4 removed
            let mut unreachable = false;
            for n in &seq[1..] {
                match *n {
                    "joined" => panic!("node {i} about {m}: joined twice {seq:?}"),
                    "up" => {
                        assert_eq!(stage, 0, "node {i} about {m}: {seq:?}");
                        stage = 1;
                    }
                    "leaving" => {
                        assert!(stage <= 1, "node {i} about {m}: {seq:?}");
                        stage = 2;
                    }
                    "down-failed" | "down-left" | "down-fenced" => {
                        assert!(stage <= 2, "node {i} about {m}: {seq:?}");
                        stage = 3;
                    }
                    "removed" => {
                        assert_eq!(stage, 3, "node {i} about {m}: {seq:?}");
                        stage = 4;
                    }
                    "unreachable" => {
                        assert!(
                            (1..=2).contains(&stage) && !unreachable,
                            "node {i} about {m}: {seq:?}"
                        );
                        unreachable = true;
                    }
                    "reachable" => {
                        assert!(
                            (1..=2).contains(&stage) && unreachable,
                            "node {i} about {m}: {seq:?}"
                        );
                        unreachable = false;
                    }
                    _ => unreachable!(),
                }
            }
        }
    }
}
