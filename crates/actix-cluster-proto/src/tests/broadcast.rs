//! The broadcast queue (`broadcast.rs`): the retransmit limit.

use std::net::SocketAddr;
use std::time::Duration;

use super::solo::*;
use super::*;
use crate::codec::Body;

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
fn gossip_goes_to_members_not_suspected_first() {
    // No probing during the test: the only suspicions are the gossiped ones.
    let cfg = Config {
        probe_interval: Duration::from_secs(3600),
        ..Config::lan()
    };
    let mut s = Solo::new(cfg.clone());
    s.members_up(5, 5);
    s.gossip(5, (1..=3).map(|i| suspect(i, 1, 5)).collect());
    // Three of five suspected, two not: each round of three goes to both
    // of the two and to one suspect. At random, both would be among the
    // three in only 3 rounds of 10.
    for k in 0..20 {
        s.gossip(4, vec![alive(4, 2 + k, Status::Up, 5)]);
        s.sent.clear();
        s.advance(cfg.gossip_interval);
        let to: Vec<SocketAddr> = s
            .sent_messages()
            .into_iter()
            .filter(|(_, m)| matches!(m.body, Body::Gossip { .. }))
            .map(|(to, _)| to)
            .collect();
        assert!(
            to.contains(&addr(4)) && to.contains(&addr(5)),
            "round {k}: gossip went to {to:?}"
        );
        let suspects = to.iter().filter(|a| [1, 2, 3].map(addr).contains(a));
        assert_eq!(suspects.count(), 1, "round {k}: gossip went to {to:?}");
    }
}
