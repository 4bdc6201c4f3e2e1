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
