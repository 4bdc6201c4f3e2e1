//! The catch-up after a join (`core/catch_up.rs`): how many full-state
//! exchanges it takes, and the bound on full-state answers.

use std::time::Duration;

use super::solo::*;
use super::*;
use crate::codec::{self, Body, Message};

#[test]
fn a_member_joining_a_settled_cluster_catches_up_in_one_exchange() {
    let mut net = Net::new(6, Config::local(), 31);
    net.command(0, Command::Form);
    for i in 1..5 {
        net.command(
            i,
            Command::Join {
                seeds: vec![addr(0)],
            },
        );
    }
    let five = |n: &Net| (0..5).all(|i| (0..5).all(|j| n.status(i, &id(j, 1)) == Some(Status::Up)));
    assert!(net.run_until_cond(Duration::from_secs(5), five));
    // Long enough for every catch-up of the first five to be over.
    net.run_for(Duration::from_secs(5));
    let before: Vec<u64> = (0..5)
        .map(|i| net.cores[i].stats().catch_up_exchanges)
        .collect();
    // The founder joined nobody; the others caught up within the bound.
    assert_eq!(before[0], 0);
    assert!(
        before[1..].iter().all(|&e| (1..=8).contains(&e)),
        "{before:?}"
    );
    net.command(
        5,
        Command::Join {
            seeds: vec![addr(0)],
        },
    );
    assert!(net.run_until_cond(Duration::from_secs(5), Net::converged));
    net.run_for(Duration::from_secs(5));
    // The join answer held everything: the first exchange brings nothing
    // new, and the catch-up ends there.
    assert_eq!(net.cores[5].stats().catch_up_exchanges, 1);
    for (i, b) in before.iter().enumerate() {
        assert_eq!(net.cores[i].stats().catch_up_exchanges, *b, "node {i}");
    }
}

#[test]
fn a_joiner_tells_the_member_that_let_it_in_that_it_is_up() {
    // The member that answered holds us as Joining. In a cold start the
    // others learn our Up in exchanges and do not pass it on, and the seed
    // catches up with nobody: only we can tell it.
    let mut s = Solo::joining(Config::local(), 1);
    s.sent.clear();
    s.join_ack(1, vec![alive(1, 1, Status::Up, 2)]);
    let told = s.sent_messages().into_iter().any(|(to, m)| {
        to == addr(1)
            && matches!(&m.body, Body::Gossip { updates }
                if updates.iter().any(|r| r.id == id(0, 1) && r.status == Status::Up))
    });
    assert!(told, "{:?}", s.sent_messages());
}

#[test]
fn a_catch_up_exchanges_with_members_it_knows_only_as_joining() {
    // In a cold start the join answer lists the seed Up and the other
    // newcomers Joining. Most of those are Up by the first exchange, and
    // exchanges among newcomers are how their Ups spread; were only `Up`
    // members eligible, the draw would miss the seed and skip the round.
    let mut s = Solo::joining(Config::local(), 1);
    let mut members = vec![alive(1, 1, Status::Up, 2)];
    members.extend((2..202).map(|i| alive(i, 1, Status::Joining, 0)));
    s.join_ack(1, members);
    s.sent.clear();
    let first = s.timers_of("sync").into_iter().min().expect("catching up");
    s.advance(first - s.now);
    assert_eq!(s.core.stats().catch_up_exchanges, 1);
    let pushed = s
        .sent_messages()
        .into_iter()
        .filter(|(_, m)| matches!(m.body, Body::PushPull { reply: false, .. }))
        .count();
    assert_eq!(pushed, 1);
}

#[test]
fn push_pull_answers_are_bounded_per_gossip_interval() {
    let mut s = Solo::new(Config::local());
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    let request = Message {
        sender: id(1, 1),
        body: Body::PushPull {
            reply: false,
            members: vec![alive(1, 1, Status::Up, 1)],
        },
    };
    let bytes = codec::encode(&codec::prefix(&s.cluster), &request);
    let answers = |s: &Solo| {
        s.sent
            .iter()
            .filter(|(_, c, _)| *c == Channel::Stream)
            .count()
    };
    s.sent.clear();
    for _ in 0..6 {
        s.core.handle_stream(s.now, addr(1), &bytes);
        s.drain();
    }
    assert_eq!(answers(&s), 4, "at most four full states per interval");
    assert_eq!(s.core.stats().state_answers_withheld, 2);
    // The next interval answers again.
    s.now += Config::local().gossip_interval;
    s.core.handle_stream(s.now, addr(1), &bytes);
    s.drain();
    assert_eq!(answers(&s), 5);
}
