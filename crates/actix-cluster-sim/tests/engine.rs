//! The simulator's own mechanics, checked with a toy heartbeat protocol (a fake
//! behind the `SimNode` trait): determinism, loss models, cuts, pauses, crashes,
//! restarts, stream ordering.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_sim::{
    node_addr, GilbertElliott, Loss, NetConfig, NodeState, Sim, SimEvent, SimNode, SimOutput,
    ViewState,
};

const TICK: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_secs(1);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// All-to-all heartbeats every 100 ms; a peer not heard from for 1 s is Down.
/// Every datagram carries a per-link sequence number; every tick also sends a
/// numbered stream frame to the first peer.
struct Beat {
    me: SocketAddr,
    peers: Vec<SocketAddr>,
    last: HashMap<SocketAddr, Duration>,
    up: HashMap<SocketAddr, bool>,
    next_seq: HashMap<SocketAddr, u64>,
    /// (from, seq) of every datagram received, in order.
    got: Vec<(SocketAddr, u64)>,
    /// (from, seq, now) of every stream frame received, in order.
    got_stream: Vec<(SocketAddr, u64, Duration)>,
    /// Times at which this node handled anything.
    handled_at: Vec<Duration>,
    out: Vec<SimOutput<()>>,
    streams: bool,
    stream_from: Vec<SocketAddr>,
}

impl Beat {
    fn new(me: SocketAddr, peers: Vec<SocketAddr>, streams: bool) -> Beat {
        let peers: Vec<SocketAddr> = peers.into_iter().filter(|&p| p != me).collect();
        Beat {
            me,
            peers,
            last: HashMap::new(),
            up: HashMap::new(),
            next_seq: HashMap::new(),
            got: Vec::new(),
            got_stream: Vec::new(),
            handled_at: Vec::new(),
            out: vec![SimOutput::Schedule {
                after: TICK,
                timer: (),
            }],
            streams,
            stream_from: Vec::new(),
        }
    }

    fn heard(&mut self, now: Duration, from: SocketAddr) {
        self.last.insert(from, now);
        if !self.up.get(&from).copied().unwrap_or(false) {
            self.up.insert(from, true);
            self.out.push(SimOutput::Event(SimEvent::Up(from)));
        }
    }
}

impl SimNode for Beat {
    type Timer = ();

    fn handle_datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        self.handled_at.push(now);
        if bytes == b"bye" {
            self.up.insert(from, false);
            self.last.remove(&from);
            self.out.push(SimOutput::Event(SimEvent::Down {
                addr: from,
                left: true,
            }));
            return;
        }
        let seq = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        self.got.push((from, seq));
        self.heard(now, from);
    }

    fn handle_stream(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        self.handled_at.push(now);
        let seq = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let sender = SocketAddr::new(from.ip(), 7946);
        self.stream_from.push(from);
        self.got_stream.push((sender, seq, now));
    }

    fn handle_timer(&mut self, now: Duration, _timer: ()) {
        self.handled_at.push(now);
        for &p in &self.peers {
            let seq = self.next_seq.entry(p).or_insert(0);
            self.out.push(SimOutput::Send {
                to: p,
                stream: false,
                bytes: seq.to_le_bytes().to_vec(),
            });
            *seq += 1;
        }
        if self.streams {
            if let Some(&p) = self.peers.first() {
                let n = now.as_millis() as u64 / 100;
                let mut frame = n.to_le_bytes().to_vec();
                frame.extend_from_slice(&[0u8; 100]);
                self.out.push(SimOutput::Send {
                    to: p,
                    stream: true,
                    bytes: frame,
                });
            }
        }
        let mut downs = Vec::new();
        for (&p, &t) in &self.last {
            if self.up.get(&p).copied().unwrap_or(false) && now - t > TIMEOUT {
                downs.push(p);
            }
        }
        downs.sort();
        for p in downs {
            self.up.insert(p, false);
            self.out.push(SimOutput::Event(SimEvent::Down {
                addr: p,
                left: false,
            }));
        }
        self.out.push(SimOutput::Schedule {
            after: TICK,
            timer: (),
        });
    }

    fn poll_output(&mut self) -> Option<SimOutput<()>> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }

    fn leave(&mut self, _now: Duration) {
        for &p in &self.peers {
            self.out.push(SimOutput::Send {
                to: p,
                stream: false,
                bytes: b"bye".to_vec(),
            });
        }
        let _ = self.me;
    }
}

fn cluster(seed: u64, net: NetConfig, n: usize, streams: bool) -> (Sim<Beat>, Vec<SocketAddr>) {
    let mut sim = Sim::new(seed, net).expect("valid net config");
    let addrs: Vec<SocketAddr> = (0..n).map(node_addr).collect();
    for &a in &addrs {
        sim.add_node(a, Beat::new(a, addrs.clone(), streams))
            .expect("unique address");
    }
    (sim, addrs)
}

fn lossy(p: f64) -> NetConfig {
    NetConfig {
        loss: Loss::Uniform(p),
        jitter: ms(2),
        ..NetConfig::default()
    }
}

#[test]
fn same_seed_same_log_other_seed_other_log() {
    let run = |seed| {
        let (mut sim, addrs) = cluster(seed, lossy(0.3), 8, true);
        sim.run_for(secs(5));
        sim.pause(addrs[2], ms(1500)).unwrap();
        sim.run_for(secs(5));
        sim.crash(addrs[5]).unwrap();
        sim.run_for(secs(5));
        (sim.log_hash(), sim.log().to_vec(), sim.total_stats())
    };
    let a = run(11);
    let b = run(11);
    assert_eq!(a, b, "same seed must give the same run");
    let c = run(12);
    assert_ne!(a.0, c.0, "another seed must give another run");
}

#[test]
fn everyone_comes_up_and_crash_is_detected_and_dropped() {
    let (mut sim, addrs) = cluster(1, NetConfig::default(), 6, false);
    let up = sim.run_until_condition(secs(5), |s| s.all_see_up());
    assert!(up.is_some(), "all up: {:?}", sim.not_up_pairs());
    sim.crash(addrs[3]).unwrap();
    assert_eq!(sim.state(addrs[3]), Some(NodeState::Crashed));
    assert_eq!(sim.live().len(), 5);
    let before = sim.node(addrs[3]).unwrap().handled_at.len();
    let down = sim.run_until_condition(secs(10), |s| s.all_see_down(addrs[3]));
    assert!(down.is_some());
    // Still up among the living.
    assert!(sim.all_see_up());
    // The crashed node handled nothing more, and traffic to it was dropped.
    assert_eq!(sim.node(addrs[3]).unwrap().handled_at.len(), before);
    assert!(sim.stats(addrs[0]).unwrap().dropped_no_receiver > 0);
}

#[test]
fn uniform_loss_rate_matches() {
    let (mut sim, _) = cluster(2, lossy(0.1), 10, false);
    sim.run_for(secs(60));
    let t = sim.total_stats();
    let rate = t.dropped_loss as f64 / t.datagrams_sent as f64;
    assert!(t.datagrams_sent > 50_000);
    assert!((rate - 0.1).abs() < 0.01, "loss rate {rate}");
    // Everything is accounted for, except what is still in flight (one tick).
    let accounted = t.datagrams_received + t.dropped_loss;
    assert!(accounted <= t.datagrams_sent && accounted + 90 >= t.datagrams_sent);
}

#[test]
fn bursty_loss_has_the_average_and_is_correlated() {
    let ge = GilbertElliott::with_average(0.2, ms(500));
    assert!((ge.average() - 0.2).abs() < 1e-9);
    let net = NetConfig {
        loss: Loss::Bursty(ge),
        ..NetConfig::default()
    };
    let (mut sim, addrs) = cluster(3, net, 6, false);
    sim.run_for(secs(600));
    let t = sim.total_stats();
    let rate = t.dropped_loss as f64 / t.datagrams_sent as f64;
    assert!((rate - 0.2).abs() < 0.03, "average loss {rate}");
    // Per link: how often is the datagram after a lost one lost too?
    let (mut lost_then_lost, mut lost) = (0u64, 0u64);
    for &a in &addrs {
        let node = sim.node(a).unwrap();
        for &b in &addrs {
            if a == b {
                continue;
            }
            let mut seen: Vec<u64> = node.got.iter().filter(|g| g.0 == b).map(|g| g.1).collect();
            seen.sort();
            let max = *seen.last().unwrap();
            let mut arrived = vec![false; max as usize + 1];
            for s in seen {
                arrived[s as usize] = true;
            }
            for w in arrived.windows(2) {
                if !w[0] {
                    lost += 1;
                    if !w[1] {
                        lost_then_lost += 1;
                    }
                }
            }
        }
    }
    let p = lost_then_lost as f64 / lost as f64;
    assert!(p > 0.7, "P(lost | previous lost) = {p}, expected bursts");
}

#[test]
fn partition_splits_and_heal_merges() {
    let (mut sim, addrs) = cluster(4, NetConfig::default(), 8, false);
    assert!(sim
        .run_until_condition(secs(5), |s| s.all_see_up())
        .is_some());
    let (a, b) = addrs.split_at(4);
    sim.partition(a, b).unwrap();
    assert!(sim.is_cut(a[0], b[0]) && sim.is_cut(b[0], a[0]));
    let split = sim.run_until_condition(secs(20), |s| {
        a.iter().all(|&x| {
            b.iter()
                .all(|&y| s.sees(x, y) == ViewState::Down && s.sees(y, x) == ViewState::Down)
        })
    });
    assert!(split.is_some());
    // Within a half, still up.
    assert_eq!(sim.sees(a[0], a[1]), ViewState::Up);
    sim.heal();
    assert!(sim
        .run_until_condition(secs(30), |s| s.all_see_up())
        .is_some());
}

#[test]
fn one_way_cut_only_blocks_one_direction() {
    let (mut sim, addrs) = cluster(5, NetConfig::default(), 3, false);
    assert!(sim
        .run_until_condition(secs(5), |s| s.all_see_up())
        .is_some());
    sim.cut_one_way(addrs[0], addrs[1]).unwrap();
    let t = sim.run_until_condition(secs(20), |s| s.sees(addrs[1], addrs[0]) == ViewState::Down);
    assert!(t.is_some());
    sim.run_for(secs(5));
    assert_eq!(sim.sees(addrs[0], addrs[1]), ViewState::Up);
    assert_eq!(sim.sees(addrs[2], addrs[0]), ViewState::Up);
    assert!(sim.stats(addrs[0]).unwrap().dropped_cut > 0);
    assert_eq!(sim.stats(addrs[1]).unwrap().dropped_cut, 0);
}

#[test]
fn inbound_cut_silences_everything_into_the_node_until_lifted() {
    let (mut sim, addrs) = cluster(5, NetConfig::default(), 3, true);
    assert!(sim
        .run_until_condition(secs(5), |s| s.all_see_up())
        .is_some());
    let deaf = addrs[0];
    sim.cut_inbound(deaf, true).unwrap();
    let got_before = sim.node(deaf).unwrap().got.len();
    let frames_before = sim.node(deaf).unwrap().got_stream.len();
    sim.run_for(secs(3));
    // It hears nobody (datagrams and frames alike), but everybody hears it.
    assert_eq!(sim.node(deaf).unwrap().got.len(), got_before);
    assert_eq!(sim.node(deaf).unwrap().got_stream.len(), frames_before);
    assert_eq!(sim.sees(deaf, addrs[1]), ViewState::Down);
    assert_eq!(sim.sees(addrs[1], deaf), ViewState::Up);
    assert!(sim.is_cut(addrs[1], deaf) && !sim.is_cut(deaf, addrs[1]));
    sim.cut_inbound(deaf, false).unwrap();
    sim.run_for(secs(1));
    assert!(sim.all_see_up());
    // heal() lifts it too.
    sim.cut_inbound(deaf, true).unwrap();
    sim.heal();
    assert!(!sim.is_cut(addrs[1], deaf));
}

#[test]
fn node_loss_drops_what_the_node_sends_and_receives() {
    let (mut sim, addrs) = cluster(12, NetConfig::default(), 3, false);
    assert!(sim.set_node_loss(addrs[0], 1.5).is_err());
    sim.set_node_loss(addrs[0], 0.5).unwrap();
    assert_eq!(sim.node_loss(addrs[0]), 0.5);
    sim.run_for(secs(60));
    let rate = |a: SocketAddr| {
        let s = sim.stats(a).unwrap();
        s.dropped_loss as f64 / s.datagrams_sent as f64
    };
    // Its own sends, and the others' sends to it (half of theirs).
    assert!((rate(addrs[0]) - 0.5).abs() < 0.03, "{}", rate(addrs[0]));
    assert!((rate(addrs[1]) - 0.25).abs() < 0.03, "{}", rate(addrs[1]));
    // Between the two healthy nodes nothing is lost: all of n1's losses are
    // datagrams to n0.
    let n2 = sim.node(addrs[2]).unwrap();
    let from_n1 = n2.got.iter().filter(|(f, _)| *f == addrs[1]).count() as u64;
    let sent = sim.stats(addrs[1]).unwrap().datagrams_sent;
    assert!(from_n1 + 5 >= sent / 2, "{from_n1} of {}", sent / 2);
}

#[test]
fn paused_node_handles_nothing_then_everything_in_order() {
    let (mut sim, addrs) = cluster(6, NetConfig::default(), 4, true);
    sim.run_for(secs(3));
    let p = addrs[1];
    let start = sim.now();
    let handled_before = sim.node(p).unwrap().handled_at.len();
    let got_before = sim.node(p).unwrap().got.len();
    sim.pause(p, secs(3)).unwrap();
    assert!(sim.is_paused(p));
    sim.run_for(ms(2999));
    assert_eq!(sim.node(p).unwrap().handled_at.len(), handled_before);
    // Others declared it down meanwhile (it sent nothing).
    assert_eq!(sim.sees(addrs[0], p), ViewState::Down);
    sim.run_for(ms(2));
    assert!(!sim.is_paused(p));
    let node = sim.node(p).unwrap();
    let resumed_at = start + secs(3);
    // The backlog: about 3 s of heartbeats from 3 peers, handled at the resume.
    let backlog: Vec<Duration> = node.handled_at[handled_before..]
        .iter()
        .copied()
        .filter(|&t| t == resumed_at)
        .collect();
    assert!(backlog.len() > 80, "backlog {}", backlog.len());
    // In order per sender.
    let mut last: HashMap<SocketAddr, u64> = HashMap::new();
    for &(from, seq) in &node.got[got_before..] {
        if let Some(&l) = last.get(&from) {
            assert!(seq > l, "datagrams from one sender handled out of order");
        }
        last.insert(from, seq);
    }
    // It comes back up everywhere.
    assert!(sim
        .run_until_condition(sim.now() + secs(3), |s| s.all_see_up())
        .is_some());
}

#[test]
fn streams_are_reliable_and_ordered_despite_loss_and_jitter() {
    let net = NetConfig {
        loss: Loss::Uniform(0.5),
        jitter: ms(50),
        ..NetConfig::default()
    };
    let (mut sim, addrs) = cluster(7, net, 3, true);
    sim.run_for(secs(10));
    let recv = sim.node(addrs[1]).unwrap();
    let seqs: Vec<u64> = recv
        .got_stream
        .iter()
        .filter(|g| g.0 == addrs[0])
        .map(|g| g.1)
        .collect();
    assert!(seqs.len() >= 95, "stream frames delivered: {}", seqs.len());
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "ordered, no gaps"
    );
    // Ephemeral source ports by default.
    assert!(recv
        .stream_from
        .iter()
        .all(|a| a.port() != 7946 && a.ip() == addrs[0].ip()));
    // One frame per tick, 100 ms to 10 s inclusive.
    assert_eq!(sim.stats(addrs[0]).unwrap().streams_sent, 100);
}

#[test]
fn cut_drops_streams_and_in_flight_messages() {
    let net = NetConfig {
        latency: ms(50),
        jitter: Duration::ZERO,
        ephemeral_stream_ports: false,
        ..NetConfig::default()
    };
    let (mut sim, addrs) = cluster(8, net, 2, true);
    sim.run_until(ms(120)); // first frame sent at 100 ms, arrives at 150 ms
    sim.cut_one_way(addrs[0], addrs[1]).unwrap();
    sim.run_until(secs(1));
    assert!(sim.node(addrs[1]).unwrap().got_stream.is_empty());
    assert!(sim.node(addrs[1]).unwrap().got.is_empty());
    assert!(!sim.node(addrs[0]).unwrap().got.is_empty());
    sim.heal();
    sim.run_until(secs(2));
    let recv = sim.node(addrs[1]).unwrap();
    assert!(!recv.got_stream.is_empty());
    assert!(recv.stream_from.iter().all(|&a| a == addrs[0]));
}

#[test]
fn restart_replaces_the_instance_and_resets_its_view() {
    let (mut sim, addrs) = cluster(9, NetConfig::default(), 4, false);
    assert!(sim
        .run_until_condition(secs(5), |s| s.all_see_up())
        .is_some());
    let r = addrs[2];
    sim.restart(r, Beat::new(r, addrs.clone(), false)).unwrap();
    assert_eq!(sim.restarts(r), 1);
    assert_eq!(sim.retired(r).len(), 1);
    assert_eq!(sim.sees(r, addrs[0]), ViewState::Unknown);
    assert!(sim
        .run_until_condition(sim.now() + secs(3), |s| s.all_see_up())
        .is_some());
    // Timers of the old instance died with it: the new one ticks at its own pace.
    let old_ticks = sim.retired(r)[0].handled_at.len();
    sim.run_for(secs(1));
    assert_eq!(sim.retired(r)[0].handled_at.len(), old_ticks);
}

#[test]
fn leave_and_stop() {
    let (mut sim, addrs) = cluster(10, NetConfig::default(), 4, false);
    assert!(sim
        .run_until_condition(secs(5), |s| s.all_see_up())
        .is_some());
    sim.leave_and_stop(addrs[0], ms(500)).unwrap();
    assert!(!sim.is_live(addrs[0]));
    assert!(sim
        .run_until_condition(sim.now() + secs(1), |s| s
            .all_see(addrs[0], |v| v == ViewState::Left))
        .is_some());
    sim.run_for(secs(1));
    assert_eq!(sim.state(addrs[0]), Some(NodeState::Crashed));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let bad = NetConfig {
        loss: Loss::Uniform(1.5),
        ..NetConfig::default()
    };
    let err = Sim::<Beat>::new(1, bad).unwrap_err();
    assert!(err.to_string().contains("`loss`"), "{err}");
    let bursty = NetConfig {
        loss: Loss::Bursty(GilbertElliott {
            mean_good: Duration::ZERO,
            mean_bad: ms(1),
            loss_good: 0.0,
            loss_bad: 1.0,
        }),
        ..NetConfig::default()
    };
    assert!(Sim::<Beat>::new(1, bursty)
        .unwrap_err()
        .to_string()
        .contains("mean_good"));
    let (mut sim, addrs) = cluster(1, NetConfig::default(), 2, false);
    let stranger: SocketAddr = "192.0.2.1:1".parse().unwrap();
    assert!(sim.crash(stranger).is_err());
    assert!(sim
        .add_node(addrs[0], Beat::new(addrs[0], vec![], false))
        .is_err());
    sim.crash(addrs[1]).unwrap();
    assert!(sim.pause(addrs[1], secs(1)).is_err());
}
