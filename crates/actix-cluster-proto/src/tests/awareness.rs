//! Lifeguard local health (`awareness.rs`): what raises the multiplier and
//! what does not.

use std::time::Duration;

use super::solo::*;
use super::*;
use crate::DownReason;

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

/// Sends `body` to the solo core from member `from`.
fn from_member(s: &mut Solo, from: usize, body: crate::codec::Body) {
    let msg = crate::codec::Message {
        sender: id(from, 1),
        body,
    };
    let bytes = crate::codec::encode(&crate::codec::prefix(&s.cluster), &msg);
    s.core.handle_datagram(s.now, addr(from), &bytes);
    s.drain();
}

/// What the solo core sent to member `to` since `from` (index into `sent`).
fn bodies_to(s: &Solo, to: usize, from: usize) -> Vec<crate::codec::Body> {
    s.sent_messages()
        .into_iter()
        .skip(from)
        .filter(|(a, _)| *a == addr(to))
        .map(|(_, m)| m.body)
        .collect()
}

/// A helper's nack is due at 0.8 of the unscaled probe timeout whatever its
/// own health: the asker waits for it only one probe timeout scaled by the
/// asker's health. A helper in poor health that nacked on its own scaled
/// timeout made every healthy member it helped count the late nack against
/// its own health. A late ack is still relayed.
#[test]
fn a_helper_in_poor_health_nacks_in_time_and_still_relays_a_late_ack() {
    use crate::codec::Body;
    let mut s = Solo::new(Config::lan());
    s.gossip(
        1,
        vec![alive(1, 1, Status::Up, 2), alive(2, 1, Status::Up, 3)],
    );
    // Two suspicions of this node by a member it hears: poor health.
    s.gossip(1, vec![suspect(0, 1, 1)]);
    s.gossip(1, vec![suspect(0, 2, 1)]);
    let m = s.core.health_multiplier();
    assert!(m >= 3, "multiplier {m}");
    let mark = s.sent.len();
    from_member(
        &mut s,
        1,
        Body::PingReq {
            seq: 77,
            target: id(2, 1),
            updates: vec![],
        },
    );
    let relayed = bodies_to(&s, 2, mark)
        .into_iter()
        .find_map(|b| match b {
            Body::Ping { seq, .. } => Some(seq),
            _ => None,
        })
        .expect("the relayed ping");
    let is_nack = |b: &Body| matches!(b, Body::Nack { seq: 77, .. });
    let is_ack = |b: &Body| matches!(b, Body::Ack { seq: 77, .. });
    let timeout = Config::lan().probe_timeout;
    s.advance(timeout.mul_f64(0.79));
    assert!(
        !bodies_to(&s, 1, mark).iter().any(is_nack),
        "nack too early"
    );
    s.advance(timeout.mul_f64(0.02));
    assert!(
        bodies_to(&s, 1, mark).iter().any(is_nack),
        "no nack in time"
    );
    // The target answers after the nack, within this node's scaled timeout.
    s.advance(timeout);
    let acked = s.sent.len();
    from_member(
        &mut s,
        2,
        Body::Ack {
            seq: relayed,
            updates: vec![],
        },
    );
    assert!(
        bodies_to(&s, 1, acked).iter().any(is_ack),
        "late ack dropped"
    );
}
