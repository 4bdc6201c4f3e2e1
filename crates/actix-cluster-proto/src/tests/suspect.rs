//! Suspicion (`core/suspect.rs`, `suspicion.rs`): timeouts that shrink with
//! confirmations, the last call, old suspicions.

use std::time::Duration;

use super::solo::*;
use super::*;
use crate::codec::{self, Body, Message, Record};
use crate::Event;

#[test]
fn suspicion_timeout_shrinks_with_confirmations() {
    let cfg = Config {
        suspicion_mult: 5, // k = 3 expected confirmations
        ..Config::lan()
    };
    let mut s = Solo::new(cfg.clone());
    s.members_up(1, 5);
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
    // The other members are alive and talk (several times a second in a
    // real cluster): first-hand evidence that they are on this side.
    for i in 2..=5 {
        s.gossip(i, vec![]);
    }
    assert!(s.take_events().is_empty(), "not before the pause bound");
    s.advance(Duration::from_millis(20));
    assert_eq!(kinds(&s.take_events()), ["down Failed n1"]);
}

#[test]
fn news_of_a_suspect_still_spreading_does_not_put_off_its_down() {
    // Right before the decision (a roll call's pings and acks carry it),
    // more members report a suspect that two observers already report: the
    // picture is the same, so the decision is not postponed.
    let cfg = Config::lan();
    let mut s = Solo::new(cfg.clone());
    s.gossip(
        1,
        (1..=7)
            .map(|i| alive(i, 1, Status::Up, i as u64 + 1))
            .collect(),
    );
    s.timers.clear(); // no probes of its own: only the news about n1
    let n = 8;
    let t0 = s.now;
    s.gossip(2, vec![suspect(1, 1, 2)]);
    s.gossip(3, vec![suspect(1, 1, 3)]);
    let downable = t0 + cfg.downing.max_pause + cfg.refutation_spread(n);
    let expiry = *s.timers_of("suspicion").last().unwrap();
    let last_call = cfg.probe_timeout;
    assert!(
        expiry + last_call + cfg.downing.stable_after < downable,
        "the suspicion runs out and the picture is stable before the pause bound"
    );
    s.take_events();
    s.advance(downable - s.now - Duration::from_millis(10));
    let ev = kinds(&s.take_events());
    assert!(ev.is_empty(), "not before the pause bound: {ev:?}");
    // The others talk (first-hand evidence that they are on this side), and
    // four more report the suspect: two confirmations that the timeout would
    // have counted, two beyond.
    for i in 2..=7 {
        s.gossip(i, vec![]);
    }
    for i in 4..=7 {
        s.gossip(i, vec![suspect(1, 1, i)]);
    }
    assert!(s.take_events().is_empty());
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
    // Not downed. (This harness's n1 answers only the last call: a later
    // probe of it may fail and suspect it afresh, which is no down.)
    let later = about_n1(s.take_events());
    assert!(
        later.iter().all(|k| k == "unreachable n1"),
        "not downed: {later:?}"
    );
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
    s.members_up(1, 5);
    s.timers.clear();
    let t0 = s.now;
    s.gossip(2, vec![suspect(1, 1, 2)]);
    assert_eq!(
        s.timers_of("suspicion"),
        vec![t0 + cfg.suspicion_min_timeout(6)]
    );
}

#[test]
fn a_node_that_saw_the_suspect_silent_names_itself_in_its_record() {
    let cfg = Config::lan();
    let mut s = Solo::new(cfg.clone());
    s.members_up(1, 5);
    s.take_events();
    // Nobody answers: the first probe fails and this node suspects its
    // target itself.
    let mut target = None;
    while target.is_none() {
        s.advance(cfg.probe_interval);
        target = s.take_events().into_iter().find_map(|e| match e {
            Event::Unreachable(m) => Some(m.id),
            _ => None,
        });
    }
    let target = target.unwrap();
    let x = (1..=5).find(|&i| id(i, 1) == target).unwrap();
    let y = if x == 5 { 4 } else { 5 };
    // Another member confirms: the news this node sends on still names
    // this node, whose observation the others may not have yet (the
    // confirmer told them its own).
    s.gossip(y, vec![suspect(x, 1, y)]);
    s.sent.clear();
    s.advance(cfg.gossip_interval * 2);
    let named: Vec<_> = s
        .sent_messages()
        .into_iter()
        .flat_map(|(_, m)| match m.body {
            Body::Gossip { updates } | Body::Ping { updates, .. } => updates,
            _ => Vec::new(),
        })
        .filter(|u| u.id == target)
        .filter_map(|u| u.suspect)
        .collect();
    assert!(
        !named.is_empty(),
        "the confirmed suspicion is gossiped again"
    );
    assert!(named.iter().all(|by| *by == id(0, 1)), "{named:?}");
}
