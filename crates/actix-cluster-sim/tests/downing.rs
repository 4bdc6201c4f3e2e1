//! Issue 9, "Down is a decision, not a timer": fault scenarios over many seeds,
//! each checked over the whole run by [`DowningCheck`]: no healthy member is
//! ever downed or reborn, faulty and minority members are downed by the
//! survivors within a bound, two sides never both have an `Up` leader after
//! the decision's grace period, and after the heal everyone is `Up` with one
//! id.
//!
//! Every scenario prints one line of figures (`--nocapture`):
//! `downing: NAME seeds=S healthy_downs=H split=X downed_p50=.. p99=.. max=..`.

use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config, Event};
use actix_cluster_sim::{
    derive_seed, CoreNode, CoreOpts, DowningCheck, DowningReport, NetConfig, Sim,
};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// `n` lan cores (n0 forms, the others join through n0..n2), converged and
/// settled for 2 s.
fn cluster(seed: u64, n: usize) -> (Sim<CoreNode>, Vec<SocketAddr>) {
    let net = NetConfig::with_latency(Duration::from_micros(500), Duration::from_millis(1));
    let mut sim = Sim::new(seed, net).expect("valid net config");
    let addrs = sim
        .start_cluster(n, 3, &CoreOpts::with_config(Config::lan()))
        .expect("start");
    let t = sim.run_until_condition(secs(30), |s| s.all_see_up());
    assert!(t.is_some(), "seed {seed}: no convergence");
    sim.run_for(secs(2));
    (sim, addrs)
}

/// The members in a seed-dependent order.
fn shuffled(seed: u64, addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut v = addrs.to_vec();
    v.shuffle(&mut SmallRng::seed_from_u64(derive_seed(seed, 0xd0, 0)));
    v
}

/// Everyone but `faulty`.
fn others(addrs: &[SocketAddr], faulty: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs
        .iter()
        .copied()
        .filter(|a| !faulty.contains(a))
        .collect()
}

/// Runs until every member is `Up` in every table (at most `within`), sampling.
fn recover(check: &mut DowningCheck, sim: &mut Sim<CoreNode>, within: Duration) {
    let deadline = sim.now() + within;
    check.run_until_condition(sim, deadline, |s| s.all_views_up());
    // A little longer, so that a late wrong turn shows.
    let settle = sim.now() + secs(3);
    check.run_until(sim, settle);
}

/// Lets the fault last `dur`, heals every cut, and ends with [`settle`].
fn heal_after(mut check: DowningCheck, mut sim: Sim<CoreNode>, dur: Duration) -> Run {
    let t = sim.now() + dur;
    check.run_until(&mut sim, t);
    sim.heal();
    check.end_faults();
    settle(check, sim)
}

/// Waits (at most 90 s) for everyone to be `Up` everywhere and reads the
/// report.
fn settle(mut check: DowningCheck, mut sim: Sim<CoreNode>) -> Run {
    recover(&mut check, &mut sim, secs(90));
    Run {
        report: check.finish(&sim),
        extra: Vec::new(),
    }
}

/// One seed's outcome: the checker's report and extra problems of the
/// scenario.
struct Run {
    report: DowningReport,
    extra: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `run` for every seed, prints the figures and fails with every
/// problem found (and every faulty member not downed within `bound`).
fn scenario(
    name: &str,
    seeds: impl IntoIterator<Item = u64>,
    bound: Option<Duration>,
    run: impl Fn(u64) -> Run,
) {
    let mut problems = Vec::new();
    let (mut n, mut healthy_downs, mut split, mut stale) = (0, 0, 0, 0);
    let (mut downed, mut fenced, mut never_reborn) = (Vec::new(), Vec::new(), 0);
    for seed in seeds {
        n += 1;
        let Run { report: r, extra } = run(seed);
        healthy_downs += r.healthy_downs.len();
        split += r.split_samples;
        stale += r.stale_leader_samples;
        for (a, d) in &r.downed_after {
            if let (Some(d), Some(b)) = (d, bound) {
                if *d > b {
                    problems.push(format!(
                        "seed {seed}: {a} downed only after {d:?} (bound {b:?})"
                    ));
                }
            }
            downed.extend(*d);
        }
        for (_, f) in &r.reborn_after {
            match f {
                Some(f) => fenced.push(*f),
                None => never_reborn += 1,
            }
        }
        problems.extend(
            r.problems()
                .into_iter()
                .chain(extra)
                .map(|p| format!("seed {seed}: {p}")),
        );
    }
    downed.sort();
    fenced.sort();
    let s = |d: Duration| format!("{:.1}s", d.as_secs_f64());
    println!(
        "downing: {name} seeds={n} healthy_downs={healthy_downs} split_samples={split} stale_leader_samples={stale} \
         downed={} downed_p50={} downed_p99={} downed_max={} reborn_p50={} reborn_p99={} never_reborn={never_reborn} problems={}",
        downed.len(),
        s(percentile(&downed, 0.5)),
        s(percentile(&downed, 0.99)),
        s(downed.last().copied().unwrap_or_default()),
        s(percentile(&fenced, 0.5)),
        s(percentile(&fenced, 0.99)),
        problems.len(),
    );
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
}

// ----- flip-flop ---------------------------------------------------------------

/// 10% of the members (1 of 10) lose all inbound traffic 20 s on, 20 s off,
/// three times; each time the survivors down it, it fences itself and, once it
/// hears again, rejoins as a new member.
fn flip_flop(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let deaf = shuffled(seed, &addrs)[0];
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[deaf]), &Config::lan());
    for _ in 0..3 {
        sim.cut_inbound(deaf, true).unwrap();
        check.fault(&sim, &[deaf], true);
        let t = sim.now() + secs(20);
        check.run_until(&mut sim, t);
        sim.cut_inbound(deaf, false).unwrap();
        check.end_faults();
        let t = sim.now() + secs(20);
        check.run_until(&mut sim, t);
    }
    settle(check, sim)
}

#[test]
fn flip_flop_members_are_downed_each_time_and_nobody_else() {
    scenario("flip-flop", 1..=20, Some(secs(10)), flip_flop);
}

// ----- a lossy member ------------------------------------------------------------

/// 1% of 100 members (one) loses 80% of what it sends and receives for 60 s.
fn lossy_member(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 100);
    let bad = shuffled(seed, &addrs)[0];
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[bad]), &Config::lan());
    sim.set_node_loss(bad, 0.8).unwrap();
    check.fault(&sim, &[bad], true);
    let t = sim.now() + secs(60);
    check.run_until(&mut sim, t);
    sim.set_node_loss(bad, 0.0).unwrap();
    check.end_faults();
    settle(check, sim)
}

#[test]
#[ignore = "core defect: an 80%-lossy member refutes about 5 times a second, each refutation clears the suspicion, so it is never downed (memberlist behaves the same; Rapid removes it)"]
fn a_member_losing_80_percent_is_downed() {
    scenario("lossy-80%-1-of-100", 1..=5, Some(secs(10)), lossy_member);
}

// ----- pauses --------------------------------------------------------------------

/// One member stalls for `pause`. Below `max_pause` (4 s) it must come back
/// with the same id and never be downed; above, it may be downed, and then it
/// rejoins as a new generation.
fn paused(seed: u64, pause: Duration) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let p = shuffled(seed, &addrs)[0];
    let bound = Config::lan().downing.max_pause;
    let healthy = if pause < bound {
        addrs.clone()
    } else {
        others(&addrs, &[p])
    };
    let old = sim.member_id(p).unwrap();
    let mut check = DowningCheck::new(&sim, &healthy, &Config::lan());
    sim.pause(p, pause).unwrap();
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

#[test]
fn pauses_below_the_bound_never_down_and_longer_ones_rejoin() {
    for (name, pause) in [("pause-1s", 1000), ("pause-3s", 3000), ("pause-5s", 5000)] {
        scenario(name, 1..=20, None, |seed| {
            paused(seed, Duration::from_millis(pause))
        });
    }
}

// ----- an isolated member ----------------------------------------------------------

/// One member of `n` (the leader n0, or one picked by the seed) cut off both
/// ways for 20 s, then healed.
fn isolated(seed: u64, n: usize, leader: bool) -> Run {
    let (mut sim, addrs) = cluster(seed, n);
    let x = if leader {
        addrs[0]
    } else {
        shuffled(seed, &addrs)[0]
    };
    let mut check = DowningCheck::new(&sim, &others(&addrs, &[x]), &Config::lan());
    sim.isolate(x).unwrap();
    check.fault(&sim, &[x], true);
    heal_after(check, sim, secs(20))
}

#[test]
fn an_isolated_member_is_downed_fences_and_rejoins() {
    scenario("isolated-20s", 1..=20, Some(secs(10)), |s| {
        isolated(s, 10, false)
    });
}

#[test]
fn an_isolated_leader_of_five_is_downed_and_downs_nobody() {
    scenario("isolated-leader-of-5", 1..=20, Some(secs(10)), |s| {
        isolated(s, 5, true)
    });
}

/// Seed 3 shows it: 5 members on the default network, n0 (the leader)
/// isolated for 25 s. n0 fences at about 13 s and rejoins as n0' after the
/// heal; at 27.0 s n0' decides on the suspicions of n2 and n3 it held before
/// its rebirth (ours = n0', n1, n4 which accepted it; theirs = n2, n3) and
/// downs them; everyone takes the decision and n2, n3 are reborn.
fn isolated_then_rejoined(seed: u64) -> Run {
    let mut sim = Sim::new(seed, NetConfig::default()).unwrap();
    let nodes = sim
        .start_cluster(5, 1, &CoreOpts::with_config(Config::lan()))
        .unwrap();
    sim.run_until_condition(secs(10), |s| s.all_see_up());
    let mut check = DowningCheck::new(&sim, &nodes[1..], &Config::lan());
    sim.isolate(nodes[0]).unwrap();
    check.fault(&sim, &nodes[..1], true);
    heal_after(check, sim, secs(25))
}

#[test]
fn a_rejoined_member_does_not_decide_on_suspicions_from_before_its_rebirth() {
    scenario(
        "isolated-leader-25s-rejoin",
        1..=20,
        Some(secs(10)),
        isolated_then_rejoined,
    );
}

// ----- partitions ------------------------------------------------------------------

/// Splits the members (seed-dependent) into a side of `small` and the rest;
/// returns (survivors, minority) by keep-majority (a tie goes to the side with
/// the lowest address).
fn split(seed: u64, addrs: &[SocketAddr], small: usize) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
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

/// A partition of `small` against the rest for `dur`, then a heal.
fn partition(seed: u64, small: usize, dur: Duration) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let (keep, lose) = split(seed, &addrs, small);
    let mut check = DowningCheck::new(&sim, &keep, &Config::lan());
    sim.partition(&keep, &lose).unwrap();
    check.fault(&sim, &lose, true);
    heal_after(check, sim, dur)
}

#[test]
fn partition_50_50_the_lowest_address_side_survives() {
    scenario("partition-5/5", 1..=20, Some(secs(15)), |s| {
        partition(s, 5, secs(30))
    });
}

#[test]
fn partition_60_40_the_majority_survives() {
    scenario("partition-6/4", 1..=20, Some(secs(15)), |s| {
        partition(s, 4, secs(30))
    });
}

#[test]
fn partition_one_against_the_rest() {
    scenario("partition-1/9", 1..=20, Some(secs(15)), |s| {
        partition(s, 1, secs(30))
    });
}

#[test]
fn partition_longer_than_the_tombstone_period() {
    // lan tombstones last 60 s: the survivors forget the downed minority
    // before the heal.
    scenario("partition-6/4-70s", 1..=20, Some(secs(15)), |s| {
        partition(s, 4, secs(70))
    });
}

/// A 6/4 partition with churn 10 s in: by seed, a new member joins the
/// survivors or the minority, or a survivor or a minority member leaves.
fn partition_with_churn(seed: u64) -> Run {
    let (mut sim, addrs) = cluster(seed, 10);
    let (keep, lose) = split(seed, &addrs, 4);
    let mut check = DowningCheck::new(&sim, &keep, &Config::lan());
    sim.partition(&keep, &lose).unwrap();
    let fault = check.fault(&sim, &lose, true);
    let t = sim.now() + secs(10);
    check.run_until(&mut sim, t);
    let opts = CoreOpts::with_config(Config::lan());
    match seed % 4 {
        0 => {
            let new = sim
                .spawn_next(&opts, actix_cluster_sim::Start::Join(keep[..2].to_vec()))
                .unwrap();
            sim.partition(&[new], &lose).unwrap();
            // Healthy once it is a member (it joins in well under 5 s).
            let t = sim.now() + secs(5);
            check.run_until(&mut sim, t);
            check.add_healthy(&sim, new);
        }
        1 => {
            let new = sim
                .spawn_next(&opts, actix_cluster_sim::Start::Join(lose[..1].to_vec()))
                .unwrap();
            sim.partition(&[new], &keep).unwrap();
            check.join_side(&sim, fault, new);
        }
        2 => {
            // Not the oldest: a leaving leader is a different story.
            let l = *keep.last().unwrap();
            check.remove_healthy(l);
            sim.leave_and_stop(l, Duration::from_millis(500)).unwrap();
        }
        _ => {
            let l = *lose.last().unwrap();
            sim.leave_and_stop(l, Duration::from_millis(500)).unwrap();
        }
    }
    let left = check.grace() + secs(15);
    heal_after(check, sim, left)
}

#[test]
fn partition_during_churn() {
    scenario(
        "partition-6/4-churn",
        1..=20,
        Some(secs(15)),
        partition_with_churn,
    );
}
