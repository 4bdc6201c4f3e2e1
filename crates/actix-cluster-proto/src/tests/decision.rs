//! The downing decision (`core/decision.rs`): an isolated member is downed,
//! fences itself and rejoins as a new generation.

use std::time::Duration;

use super::solo::*;
use super::*;
use crate::codec::{self, Body, Message, Record};
use crate::DownReason;

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

/// Feeds `records` to the core from member `from`, a datagram at a time.
fn gossip_all(s: &mut Solo, from: usize, records: Vec<Record>) {
    for chunk in records.chunks(10) {
        s.gossip(from, chunk.to_vec());
    }
}

/// Acks every ping the core sent since `seen` to a member `answers` names;
/// returns how many pings that was.
fn ack_pings(s: &mut Solo, seen: &mut usize, answers: impl Fn(usize) -> bool) -> usize {
    let sent = s.sent_messages();
    let new = sent[*seen..].to_vec();
    *seen = sent.len();
    let mut pinged = 0;
    for (to, m) in new {
        let Body::Ping { seq, .. } = m.body else {
            continue;
        };
        let i = usize::from(to.port() - 7000);
        if !answers(i) {
            continue;
        }
        pinged += 1;
        let ack = Message {
            sender: id(i, 1),
            body: Body::Ack {
                seq,
                updates: vec![],
            },
        };
        let bytes = codec::encode(&codec::prefix(&s.cluster), &ack);
        s.core.handle_datagram(s.now, to, &bytes);
        s.drain();
    }
    pinged
}

#[test]
fn a_roll_call_sample_too_close_to_call_calls_everyone() {
    // 301 members cut 151 / 150: this node's side is the majority by one.
    // Nobody is heard first-hand, so the roll call has 150 members to call
    // and pings a sample of them; counting the rest by estimate (which errs
    // toward unknown) would make this side a minority and fence the whole
    // cluster. The verdict then differs with the rest counted on this side,
    // so the node calls the rest too and decides on answers alone.
    let cfg = Config::lan();
    let mut s = Solo::new(cfg.clone());
    let n = 300;
    gossip_all(
        &mut s,
        1,
        (1..=n)
            .map(|i| alive(i, 1, Status::Up, i as u64 + 1))
            .collect(),
    );
    s.timers.clear(); // no probes of its own: only the roll calls
    for by in [1, 2] {
        gossip_all(&mut s, by, (151..=n).map(|i| suspect(i, 1, by)).collect());
    }
    s.take_events();
    let mut seen = s.sent.len();
    let mut calls = Vec::new();
    for _ in 0..600 {
        s.advance(Duration::from_millis(50));
        let pinged = ack_pings(&mut s, &mut seen, |i| i <= 150);
        if pinged > 0 {
            calls.push(pinged);
        }
    }
    let events = kinds(&s.take_events());
    let downs = events
        .iter()
        .filter(|e| e.starts_with("down Failed"))
        .count();
    assert_eq!(downs, 150, "the majority survives: {calls:?} {events:?}");
    assert!(!events.iter().any(|e| e.starts_with("self")), "{events:?}");
    assert!(calls.len() >= 2, "a sample, then the rest: {calls:?}");
    assert!(calls[0] <= 130, "the first call is a sample: {calls:?}");
    assert_eq!(calls.iter().sum::<usize>(), 150, "{calls:?}");
}
