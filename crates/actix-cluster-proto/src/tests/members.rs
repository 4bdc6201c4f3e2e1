//! The member table (`members.rs`): its bound and its address index.

use super::solo::*;
use super::*;
use crate::codec::{self, Body, Message};
use crate::DownReason;

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

/// The table's count of failed members (which lets the reconnect tick skip
/// its walk over the table) follows every way in and out of `Down(Failed)`.
#[test]
fn the_count_of_failed_members_follows_the_table() {
    let mut s = Solo::new(Config::local());
    let failed = |s: &Solo| {
        let held = s
            .core
            .members()
            .iter()
            .filter(|m| m.status == Status::Down(DownReason::Failed))
            .count();
        assert_eq!(s.core.failed_known(), held);
        held
    };
    s.gossip(
        1,
        (1..=20)
            .map(|i| alive(i, 1, Status::Up, i as u64))
            .collect(),
    );
    assert_eq!(failed(&s), 0);
    s.gossip(1, (2..=8).map(|i| down(i, 1, DownReason::Failed)).collect());
    assert_eq!(failed(&s), 7);
    // Unknown members arriving as failed tombstones, and left ones.
    s.gossip(
        1,
        (30..=33).map(|i| down(i, 1, DownReason::Failed)).collect(),
    );
    s.gossip(1, (9..=12).map(|i| down(i, 1, DownReason::Left)).collect());
    failed(&s);
    // A failed member restarted: its new generation is not failed.
    s.gossip(1, vec![alive(2, 2, Status::Up, 40)]);
    failed(&s);
    s.advance(Config::local().tombstone_period * 3);
    failed(&s);
}
