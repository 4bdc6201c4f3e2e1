//! The downing decision (`core/decision.rs`): an isolated member is downed,
//! fences itself and rejoins as a new generation.

use std::time::Duration;

use super::*;
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
