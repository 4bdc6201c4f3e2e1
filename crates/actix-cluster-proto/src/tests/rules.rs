//! Single-core rules driven by hand-made records: precedence, incarnations,
//! refutation, suspicion timing, local health, retransmit limits, stale
//! rumours, leader, config validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::codec::{self, Body, Message, Record};
use crate::{ConfigError, DownReason, Event};

/// One core with a hand-cranked clock; timers fire in order on `advance`.
struct Solo {
    core: Core,
    now: Duration,
    timers: Vec<(Duration, Timer)>,
    sent: Vec<(SocketAddr, Channel, Vec<u8>)>,
    events: Vec<Event>,
    cluster: String,
}

impl Solo {
    fn new(config: Config) -> Solo {
        let cluster = config.cluster_name.clone();
        let core = Core::new(local(0, 1), config, 1).unwrap();
        let mut s = Solo {
            core,
            now: Duration::ZERO,
            timers: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            cluster,
        };
        s.core.handle_command(Duration::ZERO, Command::Form);
        s.drain();
        s
    }

    fn drain(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Send { to, channel, bytes } => self.sent.push((to, channel, bytes)),
                Output::Schedule { after, timer } => self.timers.push((self.now + after, timer)),
                Output::Event(e) => self.events.push(e),
                Output::Arbitrate { round, .. } => {
                    self.core.handle_arbiter(self.now, round, None);
                }
            }
        }
    }

    fn gossip(&mut self, from: usize, records: Vec<Record>) {
        let msg = Message {
            sender: id(from, 1),
            body: Body::Gossip { updates: records },
        };
        let bytes = codec::encode(&codec::prefix(&self.cluster), &msg);
        self.core.handle_datagram(self.now, addr(from), &bytes);
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| *t <= end)
                .min_by_key(|(_, (t, _))| *t)
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let (t, timer) = self.timers.remove(i);
            self.now = t;
            self.core.handle_timer(t, timer);
            self.drain();
        }
        self.now = end;
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn sent_messages(&self) -> Vec<(SocketAddr, Message)> {
        self.sent
            .iter()
            .map(|(to, _, b)| (*to, codec::decode(b, &self.cluster, usize::MAX).unwrap()))
            .collect()
    }

    /// Timers of `kind` scheduled so far (due time).
    fn timers_of(&self, kind: &str) -> Vec<Duration> {
        self.timers
            .iter()
            .filter(|(_, t)| self.core.timer_name(t) == Some(kind))
            .map(|(d, _)| *d)
            .collect()
    }
}

fn alive(i: usize, inc: u32, status: Status, up: u64) -> Record {
    let l = local(i, 1);
    Record {
        id: l.id,
        incarnation: inc,
        status,
        suspect: None,
        up_number: up,
        roles: l.roles,
        metadata: l.metadata,
    }
}

fn suspect(i: usize, inc: u32, by: usize) -> Record {
    Record {
        suspect: Some(id(by, 1)),
        ..alive(i, inc, Status::Up, 2)
    }
}

fn down(i: usize, inc: u32, reason: DownReason) -> Record {
    Record {
        id: id(i, 1),
        incarnation: inc,
        status: Status::Down(reason),
        suspect: None,
        up_number: 0,
        roles: Default::default(),
        metadata: Default::default(),
    }
}

fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Joined(m) => format!("joined {}", m.id.name),
            Event::Up(m) => format!("up {}", m.id.name),
            Event::Unreachable(m) => format!("unreachable {}", m.id.name),
            Event::Reachable(m) => format!("reachable {}", m.id.name),
            Event::Leaving(m) => format!("leaving {}", m.id.name),
            Event::Updated(m) => format!("updated {}", m.id.name),
            Event::Down { member, reason } => format!("down {:?} {}", reason, member.id.name),
            Event::Removed(m) => format!("removed {}", m.name),
            Event::LeaderChanged(l) => {
                format!("leader {}", l.as_ref().map_or("none", |m| m.name.as_str()))
            }
            Event::SelfChanged { old, new } => {
                format!("self {}-{} -> {}", old.name, old.generation, new.generation)
            }
        })
        .collect()
}

#[test]
fn form_emits_events_about_self() {
    let mut s = Solo::new(Config::lan());
    assert_eq!(kinds(&s.take_events()), ["joined n0", "up n0", "leader n0"]);
    let me = s.core.member(&id(0, 1)).unwrap();
    assert_eq!(
        (me.status, me.incarnation, me.reachable),
        (Status::Up, 1, true)
    );
    assert_eq!(s.core.members().len(), 1);
}

#[test]
fn status_precedence_and_incarnations() {
    let mut s = Solo::new(Config::lan());
    s.take_events();
    s.gossip(1, vec![alive(1, 0, Status::Joining, 0)]);
    assert_eq!(kinds(&s.take_events()), ["joined n1"]);
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    assert_eq!(kinds(&s.take_events()), ["up n1"]);
    // Older news changes nothing.
    s.gossip(2, vec![alive(1, 0, Status::Joining, 0), suspect(1, 0, 2)]);
    assert_eq!(kinds(&s.take_events()), Vec::<String>::new());
    assert_eq!(s.core.member(&id(1, 1)).unwrap().incarnation, 1);
    // Suspect at the current incarnation beats alive.
    s.gossip(2, vec![suspect(1, 1, 2)]);
    assert_eq!(kinds(&s.take_events()), ["unreachable n1"]);
    let m = s.core.member(&id(1, 1)).unwrap();
    assert!(!m.reachable);
    assert_eq!(m.status, Status::Up, "suspected members stay Up");
    // Alive at the same incarnation does not clear it; a higher one does.
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    assert!(s.take_events().is_empty());
    s.gossip(1, vec![alive(1, 2, Status::Up, 2)]);
    assert_eq!(kinds(&s.take_events()), ["reachable n1"]);
    // A lifecycle never goes back, even with a higher incarnation.
    s.gossip(1, vec![alive(1, 5, Status::Joining, 0)]);
    assert_eq!(s.core.member(&id(1, 1)).unwrap().status, Status::Up);
    s.gossip(1, vec![alive(1, 6, Status::Leaving, 2)]);
    assert_eq!(kinds(&s.take_events()), ["leaving n1"]);
    // Down wins whatever its incarnation, and is final.
    s.gossip(2, vec![down(1, 0, DownReason::Left)]);
    assert_eq!(kinds(&s.take_events()), ["down Left n1"]);
    s.gossip(1, vec![alive(1, 99, Status::Up, 2), suspect(1, 100, 2)]);
    assert!(s.take_events().is_empty());
    assert_eq!(
        s.core.member(&id(1, 1)).unwrap().status,
        Status::Down(DownReason::Left)
    );
}

#[test]
fn first_sight_as_up_or_leaving_still_publishes_in_order() {
    let mut s = Solo::new(Config::lan());
    s.take_events();
    s.gossip(1, vec![alive(1, 3, Status::Leaving, 4)]);
    assert_eq!(
        kinds(&s.take_events()),
        ["joined n1", "up n1", "leaving n1"]
    );
    s.gossip(2, vec![down(2, 0, DownReason::Failed)]);
    assert!(
        s.take_events().is_empty(),
        "an unknown member's death is silent"
    );
    s.gossip(2, vec![alive(2, 1, Status::Up, 5)]);
    assert!(s.take_events().is_empty(), "and its tombstone keeps it out");
    s.gossip(
        3,
        vec![
            down(3, 0, DownReason::Left),
            alive(4, 0, Status::Joining, 0),
        ],
    );
    assert_eq!(kinds(&s.take_events()), ["joined n4"]);
    s.gossip(4, vec![down(4, 0, DownReason::Left)]);
    assert_eq!(kinds(&s.take_events()), ["leaving n4", "down Left n4"]);
}

#[test]
fn refutation_raises_incarnation_and_tells_the_suspecter() {
    let mut s = Solo::new(Config::lan());
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    s.sent.clear();
    let inc = s.core.member(&id(0, 1)).unwrap().incarnation;
    let me = Record {
        suspect: Some(id(1, 1)),
        ..alive(0, inc, Status::Up, 1)
    };
    s.gossip(1, vec![me]);
    let after = s.core.member(&id(0, 1)).unwrap();
    assert_eq!(after.incarnation, inc + 1);
    assert!(after.reachable);
    assert_eq!(s.core.stats().refutations, 1);
    assert_eq!(
        s.core.health_multiplier(),
        2,
        "refuting counts against local health"
    );
    let told = s.sent_messages().into_iter().any(|(to, m)| {
        to == addr(1)
            && matches!(&m.body, Body::Gossip { updates } if updates.iter().any(|u| u.id == id(0, 1) && u.incarnation == inc + 1 && u.suspect.is_none()))
    });
    assert!(told, "the refutation goes straight to the suspecter");
    // An older suspicion is ignored.
    let old = Record {
        suspect: Some(id(1, 1)),
        ..alive(0, inc, Status::Up, 1)
    };
    s.gossip(1, vec![old]);
    assert_eq!(s.core.stats().refutations, 1);
}

#[test]
fn suspicion_timeout_shrinks_with_confirmations() {
    let cfg = Config {
        suspicion_mult: 5, // k = 3 expected confirmations
        ..Config::lan()
    };
    let mut s = Solo::new(cfg.clone());
    s.gossip(
        1,
        (1..=5)
            .map(|i| alive(i, 1, Status::Up, i as u64 + 1))
            .collect(),
    );
    let n = 6;
    let (min, max) = (cfg.suspicion_min_timeout(n), cfg.suspicion_max_timeout(n));
    assert_eq!(min, Duration::from_secs(1));
    assert_eq!(max, Duration::from_secs(6));
    s.timers.clear();
    let t0 = s.now;
    s.gossip(2, vec![suspect(1, 1, 2)]);
    let first = s.timers_of("suspicion");
    assert_eq!(
        first,
        vec![t0 + max],
        "an unconfirmed suspicion waits the maximum"
    );
    s.advance(Duration::from_millis(100));
    s.gossip(3, vec![suspect(1, 1, 3)]);
    let second = *s.timers_of("suspicion").last().unwrap();
    let expect = crate::suspicion::timeout(1, 3, min, max);
    assert_eq!(second, t0 + expect);
    assert!(expect < max && expect > min);
    s.gossip(4, vec![suspect(1, 1, 4)]);
    s.gossip(4, vec![suspect(1, 1, 4)]); // a duplicate confirms nothing
    s.gossip(5, vec![suspect(1, 1, 5)]);
    assert_eq!(s.timers_of("suspicion").len(), 4);
    assert_eq!(
        *s.timers_of("suspicion").last().unwrap(),
        t0 + min,
        "k confirmations: the minimum"
    );
    // The superseded timers are ignored; the last one makes a last call
    // (one more direct and indirect probe), then, unanswered, downs it.
    s.take_events();
    s.advance(min - Duration::from_millis(150));
    assert!(s.take_events().is_empty());
    s.sent.clear();
    s.advance(Duration::from_millis(100));
    assert!(s.take_events().is_empty());
    let last_call = s.sent_messages().into_iter().any(|(to, m)| {
        to == addr(1)
            && matches!(&m.body, Body::Ping { updates, .. } if updates.first().is_some_and(|u| u.id == id(1, 1) && u.suspect.is_some()))
    });
    assert!(last_call, "the suspect is probed once more, and told");
    s.advance(cfg.probe_timeout);
    assert!(
        s.take_events().is_empty(),
        "confirmed unreachable, not down: the decision waits for the pause bound"
    );
    let downable = t0 + cfg.downing.max_pause + cfg.refutation_spread(n);
    s.advance(downable - s.now - Duration::from_millis(10));
    assert!(s.take_events().is_empty(), "not before the pause bound");
    s.advance(Duration::from_millis(20));
    assert_eq!(kinds(&s.take_events()), ["down Failed n1"]);
}

#[test]
fn a_suspect_answering_its_last_call_is_not_downed() {
    let mut s = Solo::new(Config::lan());
    s.gossip(
        1,
        (1..=3)
            .map(|i| alive(i, 1, Status::Up, i as u64 + 1))
            .collect(),
    );
    s.gossip(2, vec![suspect(1, 1, 2)]);
    s.sent.clear();
    s.take_events();
    let due = *s.timers_of("suspicion").last().unwrap();
    s.advance(due - s.now);
    // (The others never answer here: only n1 matters.)
    let seq = s
        .sent_messages()
        .into_iter()
        .filter_map(|(to, m)| match m.body {
            Body::Ping { seq, .. } if to == addr(1) => Some(seq),
            _ => None,
        })
        .next_back()
        .expect("last-call ping");
    let ack = Message {
        sender: id(1, 1),
        body: Body::Ack {
            seq,
            updates: vec![],
        },
    };
    let bytes = codec::encode(&codec::prefix("default"), &ack);
    s.core.handle_datagram(s.now, addr(1), &bytes);
    s.drain();
    let about_n1 = |ev: Vec<Event>| -> Vec<String> {
        kinds(&ev)
            .into_iter()
            .filter(|k| k.ends_with(" n1"))
            .collect()
    };
    assert_eq!(about_n1(s.take_events()), ["reachable n1"]);
    s.advance(Duration::from_millis(300));
    assert!(about_n1(s.take_events()).is_empty(), "not downed");
}

#[test]
fn an_old_suspicion_is_answered_with_the_current_record() {
    let mut s = Solo::new(Config::lan());
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    let inc = s.core.member(&id(0, 1)).unwrap().incarnation;
    let refuted = Record {
        suspect: Some(id(1, 1)),
        ..alive(0, inc, Status::Up, 1)
    };
    s.gossip(1, vec![refuted.clone()]);
    assert_eq!(s.core.stats().refutations, 1);
    s.sent.clear();
    // Another member still gossips the old suspicion: it gets our record.
    s.gossip(2, vec![refuted]);
    assert_eq!(s.core.stats().refutations, 1, "no second refutation");
    let told = s.sent_messages().into_iter().any(|(to, m)| {
        to == addr(2)
            && matches!(&m.body, Body::Gossip { updates } if updates.iter().any(|u| u.id == id(0, 1) && u.incarnation == inc + 1))
    });
    assert!(told);
}

#[test]
fn plain_swim_uses_a_fixed_minimum_timeout() {
    let cfg = Config::lan().with_lifeguard(false);
    let mut s = Solo::new(cfg.clone());
    s.gossip(
        1,
        (1..=5)
            .map(|i| alive(i, 1, Status::Up, i as u64 + 1))
            .collect(),
    );
    s.timers.clear();
    let t0 = s.now;
    s.gossip(2, vec![suspect(1, 1, 2)]);
    assert_eq!(
        s.timers_of("suspicion"),
        vec![t0 + cfg.suspicion_min_timeout(6)]
    );
}

#[test]
fn retransmit_limit_formula_and_queue_drains() {
    let c = Config::lan();
    assert_eq!(c.retransmit_limit(1), 4);
    assert_eq!(c.retransmit_limit(9), 4);
    assert_eq!(c.retransmit_limit(10), 8);
    assert_eq!(c.retransmit_limit(99), 8);
    assert_eq!(c.retransmit_limit(1000), 16);
    // In a quiet 3-node cluster every queue empties after its retransmissions.
    let mut net = Net::new(3, Config::local(), 8);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(5), Net::converged));
    net.run_for(Duration::from_secs(3));
    for i in 0..3 {
        assert_eq!(net.cores[i].pending_updates(), 0, "node {i}");
    }
    // A new update goes out at most limit (3 members: 4) times from one node.
    let mut s = Solo::new(Config::lan());
    s.gossip(
        1,
        vec![alive(1, 1, Status::Up, 2), alive(2, 1, Status::Up, 3)],
    );
    s.sent.clear();
    s.advance(Duration::from_secs(10));
    let carried = s
        .sent_messages()
        .iter()
        .map(|(_, m)| match &m.body {
            Body::Ping { updates, .. }
            | Body::Ack { updates, .. }
            | Body::Gossip { updates }
            | Body::PingReq { updates, .. }
            | Body::Nack { updates, .. } => {
                // The first news only: later changes (suspected, down) are
                // new updates with their own count.
                updates
                    .iter()
                    .filter(|u| u.id == id(1, 1) && u.suspect.is_none() && u.status == Status::Up)
                    .count()
            }
            _ => 0,
        })
        .sum::<usize>();
    assert_eq!(carried as u32, c.retransmit_limit(3));
}

#[test]
fn stale_rumours_never_resurrect() {
    let cfg = Config::local();
    let mut s = Solo::new(cfg.clone());
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    s.gossip(2, vec![down(1, 0, DownReason::Failed)]);
    s.take_events();
    s.advance(cfg.tombstone_period + Duration::from_millis(1));
    let ev = kinds(&s.take_events());
    assert!(ev.contains(&"removed n1".to_owned()), "{ev:?}");
    assert!(s.core.member(&id(1, 1)).is_none());
    s.gossip(2, vec![alive(1, 7, Status::Up, 2)]);
    assert!(s.core.member(&id(1, 1)).is_none(), "removed ids stay out");
    // An older generation at a known address is ignored; a newer one downs
    // the old one at once.
    s.gossip(3, vec![alive(3, 1, Status::Up, 4)]);
    let mut old = alive(3, 9, Status::Up, 4);
    old.id.generation = 0;
    s.gossip(3, vec![old.clone()]);
    assert!(s.core.member(&old.id).is_none());
    let mut new = alive(3, 0, Status::Joining, 0);
    new.id.generation = 2;
    s.take_events();
    s.gossip(3, vec![new.clone()]);
    assert_eq!(kinds(&s.take_events()), ["down Failed n3", "joined n3"]);
    s.gossip(3, vec![alive(3, 10, Status::Up, 4)]);
    assert_eq!(
        s.core.member(&id(3, 1)).unwrap().status,
        Status::Down(DownReason::Failed)
    );
}

#[test]
fn leader_is_the_oldest_up_member_everywhere() {
    let recs = vec![
        alive(1, 1, Status::Up, 5),
        alive(2, 1, Status::Up, 3),
        alive(3, 1, Status::Up, 3),
        alive(4, 0, Status::Joining, 0),
    ];
    let mut a = Solo::new(Config::lan());
    let mut b = Solo::new(Config::lan());
    a.gossip(1, recs.clone());
    b.gossip(1, recs.into_iter().rev().collect());
    assert_eq!(
        a.core.leader(),
        Some(id(0, 1)),
        "the founder has up number 1"
    );
    assert_eq!(a.core.leader(), b.core.leader());
    a.core.handle_command(a.now, Command::Leave);
    a.drain();
    assert_eq!(
        a.core.leader(),
        Some(id(2, 1)),
        "tie on up number: lowest id"
    );
    assert!(kinds(&a.events).ends_with(&[
        "leaving n0".to_owned(),
        "leader n2".to_owned(),
        "down Left n0".to_owned()
    ]));
    b.gossip(2, vec![alive(2, 2, Status::Leaving, 3)]);
    assert_eq!(b.core.leader(), Some(id(0, 1)));
    b.core.handle_command(b.now, Command::Leave);
    assert_eq!(
        b.core.leader(),
        Some(id(3, 1)),
        "Leaving members are not leaders"
    );
    // Every member learned the leave directly.
    let direct: Vec<SocketAddr> = a.sent.iter().map(|(to, _, _)| *to).collect();
    for i in 1..=4 {
        assert!(direct.contains(&addr(i)), "leave sent to n{i}");
    }
}

#[test]
fn local_health_rises_when_isolated_and_falls_when_healed() {
    let mut net = Net::new(4, Config::lan(), 9);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(5), Net::converged));
    // A dead member with healthy helpers: nacks arrive, health stays good.
    net.crash(3);
    let mut worst = 1;
    for _ in 0..300 {
        net.run_for(Duration::from_millis(10));
        worst = worst.max(net.cores[0].health_multiplier());
    }
    assert!(
        worst <= 2,
        "nacks from helpers show the fault is not ours ({worst})"
    );
    // Node 0 hears nothing: its probes fail and no nacks come back.
    for i in 1..3 {
        net.cut.insert((i, 0));
    }
    let rose = net.run_until_cond(Duration::from_secs(3), |n| {
        n.cores[0].health_multiplier() >= 3
    });
    assert!(rose, "multiplier {}", net.cores[0].health_multiplier());
    net.cut.clear();
    let fell = net.run_until_cond(Duration::from_secs(30), |n| {
        n.cores[0].health_multiplier() == 1
    });
    assert!(fell, "multiplier {}", net.cores[0].health_multiplier());
}

#[test]
fn isolated_member_declared_down_rejoins_as_a_new_generation() {
    let mut net = Net::new(4, Config::local(), 10);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(5), Net::converged));
    for i in 0..4 {
        if i != 2 {
            net.cut.insert((2, i));
            net.cut.insert((i, 2));
        }
    }
    let old = id(2, 1);
    let downed = net.run_until_cond(Duration::from_secs(20), |n| {
        [0, 1, 3]
            .iter()
            .all(|&i| n.status(i, &old) == Some(Status::Down(DownReason::Failed)))
    });
    assert!(downed);
    net.cut.clear();
    assert!(
        net.run_until_cond(Duration::from_secs(60), Net::converged),
        "no merge"
    );
    let new = net.cores[2].local_id().clone();
    assert!(new.generation > old.generation);
    assert_eq!(net.status(0, &old), Some(Status::Down(DownReason::Failed)));
    // The isolated node (a minority of one) fenced itself, then rejoined as
    // a new member: its old self's end and its new self's join.
    assert_eq!(net.names(2, &old), ["joined", "up", "down-fenced"]);
    assert_eq!(net.names(2, &new)[..2], ["joined", "up"]);
    net.run_for(net.config.tombstone_period + Duration::from_secs(1));
    assert_eq!(net.names(2, &old).last(), Some(&"removed"));
    assert!(net.converged());
    assert_event_order(&net);
}

#[test]
fn config_validation_names_the_field() {
    for c in [
        Config::lan(),
        Config::wan(),
        Config::local(),
        Config::default(),
    ] {
        assert_eq!(c.validate(), Ok(()));
    }
    type Break = fn(&mut Config);
    let bad: [(Break, &str); 10] = [
        (|c| c.cluster_name = String::new(), "cluster_name"),
        (|c| c.cluster_name = "x".repeat(65), "cluster_name"),
        (
            |c| c.probe_timeout = Duration::from_secs(1),
            "probe_timeout",
        ),
        (|c| c.probe_interval = Duration::ZERO, "probe_interval"),
        (|c| c.gossip_interval = Duration::ZERO, "gossip_interval"),
        (|c| c.max_datagram_size = 100, "max_datagram_size"),
        (|c| c.max_frame_size = 10, "max_frame_size"),
        (|c| c.suspicion_mult = 0, "suspicion_mult"),
        (|c| c.gossip_nodes = 0, "gossip_nodes"),
        (|c| c.tombstone_period = Duration::ZERO, "tombstone_period"),
    ];
    for (change, field) in bad {
        let mut c = Config::lan();
        change(&mut c);
        let err = c.validate().unwrap_err();
        assert_eq!(err.field, field);
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn core_new_names_the_field() {
    let mut l = local(0, 1);
    l.metadata = BTreeMap::from([("k".to_owned(), "v".repeat(600))]);
    let e: ConfigError = Core::new(l, Config::lan(), 0).unwrap_err();
    assert_eq!(e.field, "local.metadata");
    let mut l = local(0, 1);
    l.roles = (0..20).map(|i| format!("r{i}")).collect();
    assert_eq!(
        Core::new(l, Config::lan(), 0).unwrap_err().field,
        "local.roles"
    );
    let mut l = local(0, 1);
    l.id.addr.set_port(0);
    assert_eq!(
        Core::new(l, Config::lan(), 0).unwrap_err().field,
        "local.id.addr"
    );
    let cfg = Config {
        cluster_name: String::new(),
        ..Config::lan()
    };
    assert_eq!(
        Core::new(local(0, 1), cfg, 0).unwrap_err().field,
        "cluster_name"
    );
}

#[test]
fn incarnations_and_up_numbers_at_their_limits_never_overflow() {
    // A record about us at the last incarnation (forged, or after ages of
    // refutations): refuting, a metadata update and a leave saturate or are
    // refused; nothing panics or wraps around.
    let mut s = Solo::new(Config::local());
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    s.gossip(1, vec![suspect(0, u32::MAX, 1)]);
    let me = s.core.member(&id(0, 1)).expect("known");
    assert_eq!(me.incarnation, u32::MAX);
    assert_eq!(me.status, Status::Up);
    let before = me.metadata.clone();
    let m: BTreeMap<String, String> = [("http".to_owned(), "1.2.3.4:80".to_owned())].into();
    s.core.handle_command(s.now, Command::UpdateMetadata(m));
    s.drain();
    let me = s.core.member(&id(0, 1)).expect("known");
    assert_eq!((me.incarnation, &me.metadata), (u32::MAX, &before));
    s.core.handle_command(s.now, Command::Leave);
    s.drain();
    assert_eq!(
        s.core.member(&id(0, 1)).map(|m| m.status),
        Some(Status::Down(DownReason::Left))
    );

    // A joiner told of a member with the largest up number becomes Up next to it.
    let mut core = Core::new(local(5, 1), Config::local(), 3).unwrap();
    core.handle_command(
        Duration::ZERO,
        Command::Join {
            seeds: vec![addr(1)],
        },
    );
    while core.poll_output().is_some() {}
    let cluster = Config::local().cluster_name;
    let ack = Message {
        sender: id(1, 1),
        body: Body::JoinAck {
            accepted: true,
            members: vec![alive(1, 1, Status::Up, u64::MAX)],
        },
    };
    let bytes = codec::encode(&codec::prefix(&cluster), &ack);
    core.handle_stream(Duration::from_millis(10), addr(1), &bytes);
    while core.poll_output().is_some() {}
    let me = core.member(&id(5, 1)).expect("known");
    assert_eq!(me.status, Status::Up);
}

#[test]
fn a_flood_of_members_and_tombstones_stops_at_max_members() {
    let config = Config {
        max_members: 32,
        ..Config::local()
    };
    let mut s = Solo::new(config);
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    // Forged news of 300 members, half of them tombstones, in a few frames.
    for chunk in (2..=301).collect::<Vec<usize>>().chunks(10) {
        let records = chunk
            .iter()
            .map(|&i| {
                if i % 2 == 0 {
                    down(i, 1, DownReason::Failed)
                } else {
                    alive(i, 1, Status::Up, i as u64)
                }
            })
            .collect();
        s.gossip(1, records);
    }
    assert_eq!(s.core.members().len(), 32);
    assert!(s.core.stats().rejected_members_full >= 300 - 30);
    assert!(s.timers_of("tombstone").len() <= 32);
}

#[test]
fn members_known_only_from_records_do_not_raise_local_health() {
    let mut s = Solo::new(Config::local());
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    // Node 1 tells of 100 members that never say a word to us (forged, or
    // behind a cut), then leaves: every helper of our probes is one of them.
    for chunk in (2..=101).collect::<Vec<usize>>().chunks(10) {
        let records = chunk
            .iter()
            .map(|&i| alive(i, 1, Status::Up, i as u64))
            .collect();
        s.gossip(1, records);
    }
    // And suspicions of us in their names (relayed: they never spoke).
    for i in 2..12 {
        s.gossip(1, vec![suspect(0, 1 + i as u32, i)]);
    }
    s.gossip(1, vec![down(1, 2, DownReason::Left)]);
    s.advance(Duration::from_secs(20));
    assert!(
        s.core.stats().suspicions_raised > 10,
        "the probes ran and failed"
    );
    assert_eq!(s.core.health_multiplier(), 1);
}

#[test]
fn a_push_pull_with_more_records_than_max_members_is_refused_whole_and_unanswered() {
    let config = Config {
        max_members: 32,
        ..Config::local()
    };
    let mut s = Solo::new(config);
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    let known = s.core.members().len();
    let push_pull = |n: usize| Message {
        sender: id(1, 1),
        body: Body::PushPull {
            reply: false,
            members: (2..2 + n).map(|i| down(i, 1, DownReason::Failed)).collect(),
        },
    };
    let bytes = codec::encode(&codec::prefix(&s.cluster), &push_pull(33));
    s.sent.clear();
    s.core.handle_stream(s.now, addr(1), &bytes);
    s.drain();
    let answers = s
        .sent
        .iter()
        .filter(|(_, c, _)| *c == Channel::Stream)
        .count();
    assert_eq!(s.core.stats().rejected_too_many_records, 1);
    assert_eq!(s.core.members().len(), known, "no record of it was applied");
    assert_eq!(answers, 0, "a refused push-pull gets no full state back");
    // Within the bound it is taken (up to the table's own limit).
    let bytes = codec::encode(&codec::prefix(&s.cluster), &push_pull(20));
    s.core.handle_stream(s.now, addr(1), &bytes);
    s.drain();
    assert_eq!(s.core.stats().rejected_too_many_records, 1);
    assert_eq!(s.core.members().len(), known + 20);
}

#[test]
fn answers_to_an_address_without_a_member_are_never_larger_than_the_request() {
    let mut s = Solo::new(Config::local());
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    // News waiting to be piggybacked, so answers to members carry it.
    s.gossip(
        1,
        (2..12).map(|i| alive(i, 1, Status::Up, i as u64)).collect(),
    );
    let ping = |from: usize| Message {
        sender: id(from, 1),
        body: Body::Ping {
            seq: 7,
            target_gen: 1,
            target_inc: 0,
            updates: vec![],
        },
    };
    let ask = |from: usize, body: Body| {
        codec::encode(
            &codec::prefix(&Config::local().cluster_name),
            &Message {
                sender: id(from, 1),
                body,
            },
        )
    };
    let answers = |s: &mut Solo, from: usize, bytes: &[u8]| {
        s.sent.clear();
        s.core.handle_datagram(s.now, addr(from), bytes);
        s.drain();
        s.sent
            .iter()
            .filter(|(to, _, _)| *to == addr(from))
            .map(|(_, _, b)| b.len())
            .collect::<Vec<_>>()
    };
    let request = ask(1, ping(1).body);
    let to_member = answers(&mut s, 1, &request);
    assert_eq!(to_member.len(), 1);
    assert!(
        to_member[0] > request.len(),
        "a member's ack carries news ({} bytes)",
        to_member[0]
    );
    // A stranger (forged source): the ack comes back bare, no larger than
    // the ping; its who-are-you gets nothing (our record is larger).
    let request = ask(99, ping(99).body);
    let to_stranger = answers(&mut s, 99, &request);
    // The ack, and our who-are-you (it is unknown to us).
    assert_eq!(to_stranger.len(), 2, "the probe is still answered");
    assert!(
        to_stranger.iter().all(|&n| n <= request.len()),
        "{to_stranger:?} > {}",
        request.len()
    );
    let request = ask(98, Body::WhoAreYou);
    let to_stranger = answers(&mut s, 98, &request);
    assert!(
        to_stranger.iter().all(|&n| n <= request.len()),
        "{to_stranger:?} > {}",
        request.len()
    );
    assert!(s.core.stats().replies_withheld >= 1);
    // A probe of an older process at our address from a stranger: our record
    // only if it fits in the request.
    let request = ask(
        97,
        Body::Ping {
            seq: 1,
            target_gen: 0,
            target_inc: 0,
            updates: vec![],
        },
    );
    let to_stranger = answers(&mut s, 97, &request);
    assert!(to_stranger.iter().all(|&n| n <= request.len()));
}

#[test]
fn the_newest_generation_per_address_is_forgotten_with_the_member() {
    let mut s = Solo::new(Config::local());
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    // 200 members at 200 addresses come and go.
    for chunk in (2..202).collect::<Vec<usize>>().chunks(20) {
        s.gossip(
            1,
            chunk
                .iter()
                .map(|&i| alive(i, 1, Status::Up, i as u64))
                .collect(),
        );
        s.gossip(
            1,
            chunk
                .iter()
                .map(|&i| down(i, 2, DownReason::Left))
                .collect(),
        );
    }
    assert!(s.core.addresses_known() >= 200);
    s.advance(Config::local().tombstone_period * 3);
    // Node 1 never answers our probes here, so it may be gone too.
    let held = s.core.members().len();
    assert!(held <= 2, "only us and node 1 may be left, {held} held");
    assert_eq!(s.core.addresses_known(), held);
}
