//! The scenarios' runs: a settled cluster, a fault, the heal, the checker's
//! report.

use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config, Event};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::secs;
use crate::sim::check::{DowningCheck, DowningReport};
use crate::sim::core_node::{CoreNode, CoreOpts, Start};
use crate::sim::engine::{derive_seed, Sim};
use crate::sim::net::{Loss, NetConfig};

/// `n` lan cores (n0 forms, the others join through n0..n2), converged and
/// settled for 2 s. Panics if they do not converge within 30 s.
pub fn cluster(seed: u64, n: usize) -> (Sim<CoreNode>, Vec<SocketAddr>) {
    cluster_with(seed, n, Config::lan())
}

/// [`cluster`] with another config.
pub fn cluster_with(seed: u64, n: usize, config: Config) -> (Sim<CoreNode>, Vec<SocketAddr>) {
    let net = NetConfig::with_latency(Duration::from_micros(500), Duration::from_millis(1));
    let mut sim = Sim::new(seed, net).expect("valid net config");
    let addrs = sim
        .start_cluster(n, 3, &CoreOpts::with_config(config))
        .expect("start");
    let t = sim.run_until_condition(secs(30), |s| s.all_see_up());
    assert!(t.is_some(), "seed {seed}: no convergence");
    sim.run_for(secs(2));
    (sim, addrs)
}

/// The members in a seed-dependent order.
pub fn shuffled(seed: u64, addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut v = addrs.to_vec();
    v.shuffle(&mut SmallRng::seed_from_u64(derive_seed(seed, 0xd0, 0)));
    v
}

/// Everyone but `faulty`.
pub fn others(addrs: &[SocketAddr], faulty: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs
        .iter()
        .copied()
        .filter(|a| !faulty.contains(a))
        .collect()
}

/// Runs until every member is `Up` in every table (at most `within`),
/// sampling, then 3 s more so that a late wrong turn shows.
pub fn recover(check: &mut DowningCheck, sim: &mut Sim<CoreNode>, within: Duration) {
    let deadline = sim.now() + within;
    check.run_until_condition(sim, deadline, |s| s.all_views_up());
    let settle = sim.now() + secs(3);
    check.run_until(sim, settle);
}

/// Lets the fault last `dur`, heals every cut, and ends with [`settle`].
pub fn heal_after(mut check: DowningCheck, mut sim: Sim<CoreNode>, dur: Duration) -> Run {
    let t = sim.now() + dur;
    check.run_until(&mut sim, t);
    sim.heal();
    check.end_faults();
    settle(check, sim)
}

/// Waits (at most 90 s) for everyone to be `Up` everywhere and reads the
/// report.
pub fn settle(mut check: DowningCheck, mut sim: Sim<CoreNode>) -> Run {
    recover(&mut check, &mut sim, secs(90));
    Run {
        report: check.finish(&sim),
        extra: Vec::new(),
    }
}

/// One seed's outcome: the checker's report and extra problems of the
/// scenario.
#[derive(Clone, Debug)]
pub struct Run {
    /// What the checker found.
    pub report: DowningReport,
    /// Problems the scenario itself found.
    pub extra: Vec<String>,
}

// ----- flip-flop ---------------------------------------------------------------

/// 10% of the members (1 of 10) lose all inbound traffic 20 s on, 20 s off,
/// three times; each time the survivors must down it; it fences itself and,
/// once it hears again, rejoins as a new member.
pub fn flip_flop(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let deaf = shuffled(seed, &addrs)[0];
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[deaf]), &Config::lan());
    for _ in 0..3 {
        sim.cut_inbound(deaf, true).expect("known node");
        check.fault(&sim, &[deaf], true);
        let t = sim.now() + secs(20);
        check.run_until(&mut sim, t);
        sim.cut_inbound(deaf, false).expect("known node");
        check.end_faults();
        let t = sim.now() + secs(20);
        check.run_until(&mut sim, t);
    }
    settle(check, sim)
}

// ----- a lossy member ------------------------------------------------------------

/// 1% of 100 members (one) loses 80% of what it sends and receives for 60 s;
/// the survivors must down it (flap memory, on in lan).
pub fn lossy_member(seed: u64) -> Run {
    lossy_member_of(seed, 100)
}

/// [`lossy_member`] with `n` members in all.
pub fn lossy_member_of(seed: u64, n: usize) -> Run {
    let (mut sim, addrs) = cluster(seed, n);
    let bad = shuffled(seed, &addrs)[0];
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[bad]), &Config::lan());
    sim.set_node_loss(bad, 0.8).expect("known node");
    check.connected_fault(&sim, &[bad]);
    let t = sim.now() + secs(60);
    check.run_until(&mut sim, t);
    sim.set_node_loss(bad, 0.0).expect("known node");
    check.end_faults();
    settle(check, sim)
}

// ----- one bad link ---------------------------------------------------------------

/// 10 members (lan: flap memory on); between two of them (picked by the seed) one bad link for
/// 60 s: with `loss` < 1 it loses that share of what either sends the other,
/// both ways; with `loss` = 1 it is cut one way only. Both members are
/// healthy: nobody may be downed.
pub fn bad_link(seed: u64, loss: f64) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let order = shuffled(seed, &addrs);
    let (a, b) = (order[0], order[1]);
    let mut check = DowningCheck::new(&sim, &addrs, &Config::lan());
    if loss < 1.0 {
        sim.set_link_loss(a, b, loss).expect("known nodes");
        sim.set_link_loss(b, a, loss).expect("known nodes");
    } else {
        sim.cut_one_way(a, b).expect("known nodes");
    }
    let t = sim.now() + secs(60);
    check.run_until(&mut sim, t);
    sim.set_link_loss(a, b, 0.0).expect("known nodes");
    sim.set_link_loss(b, a, 0.0).expect("known nodes");
    sim.heal();
    settle(check, sim)
}

// ----- pauses --------------------------------------------------------------------

/// One member of 10 stalls for `pause`. Below `max_pause` (4 s) it must come
/// back with the same id and never be downed; above, it may be downed, and
/// then it must rejoin as a new generation.
pub fn paused(seed: u64, pause: Duration) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let p = shuffled(seed, &addrs)[0];
    let bound = Config::lan().downing.max_pause;
    let healthy = if pause < bound {
        addrs.clone()
    } else {
        others(&addrs, &[p])
    };
    let old = sim.member_id(p).expect("running node");
    let mut check = DowningCheck::new(&sim, &healthy, &Config::lan());
    sim.pause(p, pause).expect("known node");
    // Its own side while it stalls (a paused node is not sampled); once it
    // runs again it is one of the cluster, but the grace period still holds.
    check.fault(&sim, &[p], false);
    let t = sim.now() + pause;
    check.run_until(&mut sim, t);
    check.end_faults();
    let t = sim.now() + secs(15);
    check.run_until(&mut sim, t);
    recover(&mut check, &mut sim, secs(60));
    let mut extra = Vec::new();
    let downed = addrs.iter().any(|&a| {
        sim.core_events_all(a)
            .iter()
            .any(|(_, e)| matches!(e, Event::Down { member, .. } if member.id == old))
    });
    if downed && sim.member_id(p) == Some(old.clone()) {
        extra.push(format!(
            "{old} was downed but did not rejoin as a new member"
        ));
    }
    Run {
        report: check.finish(&sim),
        extra,
    }
}

// ----- an isolated member ----------------------------------------------------------

/// One member of `n` (the leader n0, or one picked by the seed) cut off both
/// ways for 20 s, then healed; the others must down it.
pub fn isolated(seed: u64, n: usize, leader: bool) -> Run {
    let (mut sim, addrs) = cluster(seed, n);
    let x = if leader {
        addrs[0]
    } else {
        shuffled(seed, &addrs)[0]
    };
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[x]), &Config::lan());
    sim.isolate(x).expect("known node");
    check.fault(&sim, &[x], true);
    heal_after(check, sim, secs(20))
}

/// 5 members on the default network, n0 (the leader) isolated for 25 s, then
/// healed. (Seed 3 once showed a rejoined n0 deciding on suspicions it held
/// before its rebirth and downing two healthy members.)
pub fn isolated_then_rejoined(seed: u64) -> Run {
    let mut sim = Sim::new(seed, NetConfig::default()).expect("valid net config");
    let nodes = sim
        .start_cluster(5, 1, &CoreOpts::with_config(Config::lan()))
        .expect("start");
    sim.run_until_condition(secs(10), |s| s.all_see_up());
    let mut check = DowningCheck::new(&sim, &nodes[1..], &Config::lan());
    sim.isolate(nodes[0]).expect("known node");
    check.fault(&sim, &nodes[..1], true);
    heal_after(check, sim, secs(25))
}

// ----- partitions ------------------------------------------------------------------

/// Splits the members (seed-dependent) into a side of `small` and the rest;
/// returns (survivors, minority) by keep-majority (a tie goes to the side with
/// the lowest address).
pub fn split(seed: u64, addrs: &[SocketAddr], small: usize) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let order = shuffled(seed, addrs);
    let (a, b) = order.split_at(small);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    let a_wins = a.len() > b.len() || (a.len() == b.len() && a[0] < b[0]);
    if a_wins {
        (a, b)
    } else {
        (b, a)
    }
}

/// 10 members, a partition of `small` against the rest for `dur`, then a
/// heal; the survivors must down the losing side.
pub fn partition(seed: u64, small: usize, dur: Duration) -> Run {
    partition_with(seed, small, dur, Config::lan(), 0.0)
}

/// [`partition`] on cores with another config, with `loss` (uniform, on
/// every datagram) on the network while the partition lasts.
pub fn partition_with(seed: u64, small: usize, dur: Duration, config: Config, loss: f64) -> Run {
    let (mut sim, addrs) = cluster_with(seed, 10, config.clone());
    let (keep, lose) = split(seed, &addrs, small);
    let mut check = DowningCheck::new(&sim, &keep, &config);
    let calm = sim.net().clone();
    if loss > 0.0 {
        let mut net = calm.clone();
        net.loss = Loss::Uniform(loss);
        sim.set_net(net).expect("a valid loss");
    }
    sim.partition(&keep, &lose).expect("known nodes");
    check.fault(&sim, &lose, true);
    let t = sim.now() + dur;
    check.run_until(&mut sim, t);
    sim.set_net(calm).expect("the network it had");
    sim.heal();
    check.end_faults();
    settle(check, sim)
}

/// A 6/4 partition of 10 with churn 10 s in: by seed, a new member joins the
/// survivors or the minority, or a survivor or a minority member leaves.
pub fn partition_with_churn(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let (keep, lose) = split(seed, &addrs, 4);
    let mut check = DowningCheck::new(&sim, &keep, &Config::lan());
    sim.partition(&keep, &lose).expect("known nodes");
    let fault = check.fault(&sim, &lose, true);
    let t = sim.now() + secs(10);
    check.run_until(&mut sim, t);
    let opts = CoreOpts::with_config(Config::lan());
    match seed % 4 {
        0 => {
            let new = sim
                .spawn_next(&opts, Start::Join(keep[..2].to_vec()))
                .expect("spawn");
            sim.partition(&[new], &lose).expect("known nodes");
            // Healthy once it is a member (it joins in well under 5 s).
            let t = sim.now() + secs(5);
            check.run_until(&mut sim, t);
            check.add_healthy(&sim, new);
        }
        1 => {
            let new = sim
                .spawn_next(&opts, Start::Join(lose[..1].to_vec()))
                .expect("spawn");
            sim.partition(&[new], &keep).expect("known nodes");
            check.join_side(&sim, fault, new);
        }
        2 => {
            // Not the oldest: a leaving leader is a different story.
            let l = *keep.last().expect("a side of 6");
            check.remove_healthy(l);
            sim.leave_and_stop(l, Duration::from_millis(500))
                .expect("known node");
        }
        _ => {
            let l = *lose.last().expect("a side of 4");
            sim.leave_and_stop(l, Duration::from_millis(500))
                .expect("known node");
        }
    }
    let left = check.grace() + secs(15);
    heal_after(check, sim, left)
}
