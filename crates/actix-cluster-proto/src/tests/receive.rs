//! Receiving (`core/receive.rs`): what an address without a member gets back.

use super::solo::*;
use super::*;
use crate::codec::{self, Body, Message};

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
