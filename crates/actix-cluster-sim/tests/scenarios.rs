//! Scenario tests: our protocol core on the simulated network.
//!
//! Deadlines here are in virtual time, which is deterministic (the same seed gives
//! the same run on every machine); they are behaviour bounds, not wall-clock
//! timing assertions.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::{Config, DownReason, Event, MemberId};
use actix_cluster_sim::{CoreNode, CoreOpts, Loss, NetConfig, Sim, Start, ViewState};

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

fn net() -> NetConfig {
    NetConfig::with_latency(Duration::from_micros(500), Duration::from_millis(1))
}

fn sim(seed: u64) -> Sim<CoreNode> {
    Sim::new(seed, net()).expect("valid net config")
}

/// Starts `n` lan-preset cores (n0 forms, the others join through n0..n2) and
/// waits until everyone sees everyone Up.
fn converged(seed: u64, n: usize, config: Config) -> (Sim<CoreNode>, Vec<SocketAddr>) {
    let mut sim = sim(seed);
    let addrs = sim
        .start_cluster(n, 3, &CoreOpts::with_config(config))
        .expect("start");
    let t = sim.run_until_condition(secs(30), |s| s.all_see_up());
    assert!(
        t.is_some(),
        "no convergence: {} pairs not up, e.g. {:?}",
        sim.not_up_pairs().len(),
        sim.not_up_pairs().first()
    );
    (sim, addrs)
}

/// Every `Down(Failed)` any instance published after `from`, as
/// (time, observer, member).
fn failed_downs(sim: &Sim<CoreNode>, from: Duration) -> Vec<(Duration, SocketAddr, MemberId)> {
    let mut out = Vec::new();
    for a in sim.addrs() {
        for (t, e) in sim.core_events_all(a) {
            if let Event::Down {
                member,
                reason: DownReason::Failed,
            } = e
            {
                if t >= from && member.id.addr != a {
                    out.push((t, a, member.id));
                }
            }
        }
    }
    out
}

fn leaders_agree(sim: &Sim<CoreNode>) -> bool {
    let leaders: HashSet<Option<MemberId>> = sim
        .live()
        .into_iter()
        .map(|a| sim.core(a).unwrap().leader())
        .collect();
    leaders.len() == 1
}

#[test]
fn fifty_nodes_converge() {
    let (sim, addrs) = converged(1, 50, Config::lan());
    // The cores' member tables agree with the events.
    assert!(sim.all_views_up());
    for &a in &addrs {
        assert_eq!(sim.view(a).len(), 50, "{a} knows every member");
    }
    // Everyone computes the same leader: the oldest member, n0.
    assert!(leaders_agree(&sim));
    assert_eq!(
        sim.core(addrs[7]).unwrap().leader(),
        sim.member_id(addrs[0])
    );
    // Nobody was ever suspected or declared down on the way.
    assert!(failed_downs(&sim, Duration::ZERO).is_empty());
}

#[test]
fn fifty_nodes_cold_start_through_seeds() {
    let mut sim = sim(2);
    let addrs = sim
        .cold_start(50, 3, &CoreOpts::with_config(Config::lan()))
        .unwrap();
    assert_eq!(addrs.len(), 50);
    let t = sim.run_until_condition(secs(30), |s| s.all_see_up());
    assert!(t.is_some(), "{:?}", sim.not_up_pairs().first());
    assert!(sim.all_views_up());
    assert!(leaders_agree(&sim));
}

#[test]
fn crashed_node_is_seen_down_failed_by_all() {
    let (mut sim, addrs) = converged(3, 50, Config::lan());
    let victim = addrs[17];
    let victim_id = sim.member_id(victim).unwrap();
    let crashed_at = sim.now();
    sim.crash(victim).unwrap();
    let t = sim.run_until_condition(crashed_at + secs(60), |s| s.all_see_down(victim));
    assert!(t.is_some(), "not seen down by all");
    assert!(
        sim.all_see(victim, |v| v == ViewState::Down),
        "failed, not left"
    );
    // Every live node published exactly one Down(Failed), for the victim only.
    let downs = failed_downs(&sim, crashed_at);
    assert!(downs.iter().all(|d| d.2 == victim_id), "{downs:?}");
    let observers: HashSet<SocketAddr> = downs.iter().map(|d| d.1).collect();
    assert_eq!(observers.len(), 49);
    assert_eq!(downs.len(), 49);
    // The rest of the cluster is untouched.
    assert!(sim.all_see_up());
    assert!(leaders_agree(&sim));
}

/// A crash in a cluster of 300: every survivor downs the victim, and the
/// roll calls before the decision ping a sample, not everyone. Nearly nobody
/// is heard first-hand within the window at that size, so calling every such
/// member is about N pings per node, N^2 at once (10^8 at 10,000 members);
/// a sample is at most 130 per node and picture.
#[test]
fn a_crash_in_a_large_cluster_rolls_a_sampled_call() {
    let (mut sim, addrs) = converged(7, 300, Config::lan());
    sim.run_for(secs(2));
    let victim = addrs[123];
    let pings = |sim: &Sim<CoreNode>| -> Vec<u64> {
        addrs
            .iter()
            .filter(|a| **a != victim)
            .map(|a| sim.core(*a).unwrap().stats().roll_call_pings)
            .collect()
    };
    let before = pings(&sim);
    let crashed_at = sim.now();
    sim.crash(victim).unwrap();
    let t = sim.run_until_condition(crashed_at + secs(60), |s| s.all_see_down(victim));
    assert!(t.is_some(), "not seen down by all");
    assert!(sim.all_see(victim, |v| v == ViewState::Down));
    assert_eq!(failed_downs(&sim, crashed_at).len(), 299);
    let called: Vec<u64> = pings(&sim)
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect();
    let total: u64 = called.iter().sum();
    let most = called.iter().copied().max().unwrap_or(0);
    println!("roll call pings after a crash of 1 in 300: total {total}, most by one node {most}");
    assert!(total > 0, "no roll call at all: the test tests nothing");
    assert!(
        most <= 130 * 3,
        "a node pinged {most} members in its roll calls"
    );
    assert!(
        total / 299 <= 140,
        "{} pings per node on average",
        total / 299
    );
}

#[test]
fn partition_heals_and_halves_merge() {
    // A partition longer than the pause bound, 25 against 25: keep-majority
    // breaks the tie by the lowest address, so the half with n0 survives and
    // declares the other half Down(Failed); the other half fences itself (its
    // members rejoin as new generations once they reach a survivor). After
    // the heal everyone is Up again; nobody stays down.
    let (mut sim, addrs) = converged(4, 50, Config::lan());
    let (a, b) = addrs.split_at(25);
    let before: Vec<MemberId> = addrs.iter().map(|&x| sim.member_id(x).unwrap()).collect();
    let from = sim.now();
    sim.partition(a, b).unwrap();
    let fenced = |s: &Sim<CoreNode>| {
        b.iter()
            .zip(&before[25..])
            .all(|(&y, old)| s.member_id(y).as_ref() != Some(old))
    };
    let split = sim.run_until_condition(sim.now() + secs(30), |s| {
        fenced(s)
            && a.iter()
                .all(|&x| b.iter().all(|&y| s.sees(x, y) == ViewState::Down))
    });
    assert!(
        split.is_some(),
        "the n0 half did not down the other half, or the other half did not fence"
    );
    // Within the surviving half nobody was declared down or reborn, and the
    // fenced half declared nobody down.
    assert_eq!(sim.sees(a[0], a[24]), ViewState::Up);
    assert!(a
        .iter()
        .zip(&before)
        .all(|(&x, old)| sim.member_id(x).as_ref() == Some(old)));
    let downs = failed_downs(&sim, from);
    let wrong: Vec<_> = downs
        .iter()
        .filter(|(_, _, m)| a.contains(&m.addr))
        .collect();
    assert!(wrong.is_empty(), "survivors declared down: {wrong:?}");
    // The survivors keep their leader. (That the fenced half has none is
    // `fenced_half_has_no_leader_until_the_heal`, ignored.)
    assert!(a
        .iter()
        .all(|&x| sim.core(x).unwrap().leader() == Some(before[0].clone())));
    sim.run_until(split.unwrap() + secs(10));
    sim.heal();
    let merged = sim.run_until_condition(sim.now() + secs(120), |s| s.all_see_up());
    assert!(
        merged.is_some(),
        "no merge: {} pairs not up, e.g. {:?}",
        sim.not_up_pairs().len(),
        sim.not_up_pairs().first()
    );
    assert!(sim.all_views_up(), "member tables agree with the events");
    assert!(leaders_agree(&sim));
    // How the merge happened: exactly the fenced half came back as new
    // generations.
    let reborn: Vec<SocketAddr> = addrs
        .iter()
        .zip(&before)
        .filter(|(&x, old)| sim.member_id(x).as_ref() != Some(*old))
        .map(|(&x, _)| x)
        .collect();
    assert_eq!(reborn, b, "the fenced half, and only it, rejoined");
}

#[test]
fn fenced_half_has_no_leader_until_the_heal() {
    // Seed 4, 25 against 25 (as above): the losing half must fence (and,
    // rejoining only through the winners, stay without a leader) until the
    // heal.
    let (mut sim, addrs) = converged(4, 50, Config::lan());
    let (a, b) = addrs.split_at(25);
    sim.partition(a, b).unwrap();
    let start = sim.now();
    let cfg = Config::lan();
    let d = &cfg.downing;
    // Give every member of the losing half its decision time (as the
    // downing checker's grace: pause bound, refutation spread, the longest
    // unconfirmed suspicion, stability), then watch it.
    let grace = d.max_pause
        + cfg.refutation_spread(50)
        + cfg.suspicion_max_timeout(50)
        + d.stable_after
        + secs(2);
    sim.run_until(start + grace);
    let mut with_leader = Vec::new();
    while sim.now() < start + secs(40) {
        for &y in b {
            if let Some(l) = sim.core(y).unwrap().leader() {
                with_leader.push((sim.now(), sim.member_id(y).unwrap(), l));
            }
        }
        sim.run_for(Duration::from_millis(500));
    }
    assert!(
        with_leader.is_empty(),
        "{} samples of a fenced-half member with a leader, e.g. {:?}",
        with_leader.len(),
        with_leader.first()
    );
}

/// The suspicion timeout at `n` members with full confirmations (the minimum),
/// per the documented formula.
fn min_suspicion(config: &Config, n: usize) -> Duration {
    let log = (n as f64).log10().max(1.0);
    config
        .probe_interval
        .mul_f64(f64::from(config.suspicion_mult) * log)
}

#[test]
fn paused_node_refutes_and_is_never_down() {
    let mut config = Config::lan();
    config.suspicion_mult = 20;
    let n = 50;
    let (mut sim, addrs) = converged(5, n, config.clone());
    let p = addrs[9];
    let id = sim.member_id(p).unwrap();
    let pause = min_suspicion(&config, n).mul_f64(0.6);
    assert!(pause >= secs(3), "pause of several seconds: {pause:?}");
    let from = sim.now();
    let refutations_before = sim.core(p).unwrap().stats().refutations;
    sim.pause(p, pause).unwrap();
    sim.run_for(pause + secs(30));
    // It was suspected...
    let suspected = sim
        .log()
        .iter()
        .filter(|e| e.time >= from && e.event == actix_cluster_sim::SimEvent::Unreachable(p))
        .count();
    assert!(suspected > 0, "the pause should raise suspicions");
    // ...refuted them...
    assert!(sim.core(p).unwrap().stats().refutations > refutations_before);
    // ...and was never declared down; it is the same member as before.
    assert!(
        failed_downs(&sim, from).is_empty(),
        "{:?}",
        failed_downs(&sim, from)
    );
    assert_eq!(sim.member_id(p), Some(id));
    assert!(sim.all_see_up());
}

#[test]
fn long_paused_node_is_down_then_rejoins_as_new_generation() {
    let (mut sim, addrs) = converged(6, 20, Config::lan());
    let p = addrs[4];
    let old = sim.member_id(p).unwrap();
    sim.pause(p, secs(40)).unwrap();
    let down = sim.run_until_condition(sim.now() + secs(39), |s| s.all_see_down(p));
    assert!(down.is_some());
    let back = sim.run_until_condition(sim.now() + secs(60), |s| s.all_see_up());
    assert!(back.is_some(), "{:?}", sim.not_up_pairs().first());
    let new = sim.member_id(p).unwrap();
    assert!(new.generation > old.generation, "{old} -> {new}");
    assert!(sim.all_views_up());
}

#[test]
fn one_way_cut_raises_no_false_down() {
    // n1 cannot hear n0, but n0 hears n1: direct probes between them fail one
    // way or the other, indirect probes through the others succeed.
    let (mut sim, addrs) = converged(7, 20, Config::lan());
    let from = sim.now();
    sim.cut_one_way(addrs[0], addrs[1]).unwrap();
    sim.run_for(secs(60));
    assert!(
        failed_downs(&sim, from).is_empty(),
        "{:?}",
        failed_downs(&sim, from)
    );
    assert!(sim.all_see_up());
    assert!(sim.stats(addrs[0]).unwrap().dropped_cut > 0);
    sim.heal();
    sim.run_for(secs(5));
    assert!(sim.all_see_up());
}

#[test]
fn node_that_cannot_send_is_declared_down_and_returns_after_heal() {
    let (mut sim, addrs) = converged(8, 20, Config::lan());
    let mute = addrs[3];
    for &other in &addrs[..] {
        if other != mute {
            sim.cut_one_way(mute, other).unwrap();
        }
    }
    let down = sim.run_until_condition(sim.now() + secs(60), |s| s.all_see_down(mute));
    assert!(down.is_some());
    sim.heal();
    let back = sim.run_until_condition(sim.now() + secs(60), |s| s.all_see_up());
    assert!(back.is_some(), "{:?}", sim.not_up_pairs().first());
}

#[test]
fn restarted_node_is_a_new_member_and_its_old_self_stays_down() {
    let (mut sim, addrs) = converged(9, 20, Config::lan());
    let r = addrs[5];
    let old = sim.member_id(r).unwrap();
    sim.crash(r).unwrap();
    sim.run_for(Duration::from_millis(300));
    sim.restart_core(r, vec![addrs[0], addrs[1]]).unwrap();
    let new = sim.member_id(r).unwrap();
    assert_ne!(old, new);
    let t = sim.run_until_condition(sim.now() + secs(60), |s| {
        s.all_see_up()
            && s.live().iter().filter(|&&a| a != r).all(|&a| {
                s.core(a)
                    .unwrap()
                    .member(&old)
                    .is_none_or(|m| matches!(m.status, actix_cluster_proto::Status::Down(_)))
            })
    });
    assert!(t.is_some(), "{:?}", sim.not_up_pairs().first());
    sim.run_for(secs(20));
    // On every observer: the old generation went Down and never Up again.
    for a in sim.live() {
        if a == r {
            continue;
        }
        let events = sim.core_events_all(a);
        let down_at = events
            .iter()
            .position(|(_, e)| matches!(e, Event::Down { member, .. } if member.id == old));
        let down_at = down_at.unwrap_or_else(|| panic!("{a} never saw {old} down"));
        assert!(
            !events[down_at..]
                .iter()
                .any(|(_, e)| matches!(e, Event::Up(m) if m.id == old)),
            "{a} saw {old} up again"
        );
        assert!(events
            .iter()
            .any(|(_, e)| matches!(e, Event::Up(m) if m.id == new)));
    }
}

#[test]
fn graceful_leave_is_down_left_everywhere_within_a_second() {
    let (mut sim, addrs) = converged(10, 50, Config::lan());
    let l = addrs[20];
    let at = sim.now();
    sim.leave_and_stop(l, Duration::from_millis(500)).unwrap();
    let t = sim.run_until_condition(at + secs(1), |s| s.all_see(l, |v| v == ViewState::Left));
    assert!(t.is_some());
    sim.run_for(secs(30));
    assert!(
        sim.all_see(l, |v| v == ViewState::Left),
        "no Down(failed) after the leave"
    );
    assert!(failed_downs(&sim, at).is_empty());
}

#[test]
fn lossy_network_raises_no_false_down() {
    let mut sim = sim(11);
    sim.set_net(NetConfig {
        loss: Loss::Uniform(0.05),
        ..net()
    })
    .unwrap();
    let addrs = sim
        .start_cluster(30, 3, &CoreOpts::with_config(Config::lan()))
        .unwrap();
    assert!(sim
        .run_until_condition(secs(30), |s| s.all_see_up())
        .is_some());
    sim.run_for(secs(120));
    assert!(failed_downs(&sim, Duration::ZERO).is_empty());
    assert_eq!(sim.live().len(), addrs.len());
    assert!(sim.all_see_up());
}

/// Runs `n` cores of `config` on `base`, converged, then `loss` on every
/// link for 60 s: the first healthy member any instance downed meanwhile.
fn first_down_under_loss(
    n: usize,
    config: &Config,
    base: NetConfig,
    loss: f64,
    seed: u64,
) -> Option<String> {
    let mut sim: Sim<CoreNode> = Sim::new(seed, base.clone()).expect("valid net config");
    sim.start_cluster(n, 3, &CoreOpts::with_config(config.clone()))
        .unwrap();
    assert!(sim
        .run_until_condition(secs(30), |s| s.all_see_up())
        .is_some());
    let from = sim.now();
    sim.set_net(NetConfig {
        loss: Loss::Uniform(loss),
        ..base
    })
    .unwrap();
    sim.run_for(secs(60));
    assert_eq!(sim.live().len(), n);
    failed_downs(&sim, from).first().map(|d| format!("{d:?}"))
}

/// Runs `n` lan cores, converged, then `loss` on every link for 60 s: the
/// healthy members any instance downed meanwhile, as (seed, first down).
fn loss_everywhere_downs(n: usize, loss: f64, seeds: &[u64]) -> Vec<String> {
    seeds
        .iter()
        .filter_map(|&seed| {
            first_down_under_loss(n, &Config::lan(), net(), loss, seed)
                .map(|d| format!("n={n} loss={loss} seed {seed}: {d}"))
        })
        .collect()
}

/// Heavy loss on every link (50%) with the default config downs nobody.
/// Flap memory (on in lan) once downed n14 in seed 12, suspected afresh 7
/// times in a window against 0.6 on average, before its local-health guard.
/// The other seeds downed a healthy member through an ordinary suspicion
/// that outlived the pause bound at one observer: the suspect refuted at
/// once, but its refutation never reached that observer, whose own probes
/// failed too (local-health score 5 to 7) and whose last call went
/// unanswered; it decided alone, and its `Down` won everywhere. A node in
/// poor local health now downs nobody (PROTOCOL.md §5).
#[test]
fn heavy_loss_everywhere_downs_nobody() {
    let mut failures = loss_everywhere_downs(20, 0.5, &[12, 33, 40, 54, 81]);
    failures.extend(loss_everywhere_downs(5, 0.5, &[4, 6, 57, 61, 66, 83, 88]));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A node whose score came back to 0 after a spell in poor health held an
/// expired suspicion whose last call went unanswered during that spell, and
/// downed the member on it the moment it was healthy again: the member had
/// refuted, the refutation lost in the loss (seed 971 of 20 members at 50%
/// loss). Such a suspect is now called again first (PROTOCOL.md §5).
#[test]
fn a_node_healthy_again_calls_its_suspects_before_downing_them() {
    let failures = loss_everywhere_downs(20, 0.5, &[971]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The sweep behind `heavy_loss_everywhere_downs_nobody` (about 15 s in
/// release): 100 seeds each at 5 and 20 members, 10%, 25% and 50% loss on
/// every link for 60 s. Before the local-health guard of the downing
/// decision, 4 of 100 seeds at 20 members and 7 of 100 at 5 downed a healthy
/// member at 50%.
#[test]
#[ignore = "a sweep of 600 runs; run with --release -- --ignored"]
fn loss_everywhere_downs_nobody_sweep() {
    let seeds: Vec<u64> = (1..=100).collect();
    let mut failures = Vec::new();
    for n in [20, 5] {
        for loss in [0.5, 0.25, 0.1] {
            failures.extend(loss_everywhere_downs(n, loss, &seeds));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn eventful_run(seed: u64) -> (u64, u64, u64) {
    let mut sim = sim(seed);
    sim.set_net(NetConfig {
        loss: Loss::Uniform(0.05),
        ..net()
    })
    .unwrap();
    let addrs = sim
        .start_cluster(20, 2, &CoreOpts::with_config(Config::lan()))
        .unwrap();
    sim.run_for(secs(5));
    sim.pause(addrs[3], secs(2)).unwrap();
    sim.crash(addrs[4]).unwrap();
    sim.run_for(secs(10));
    sim.restart_core(addrs[4], vec![addrs[0]]).unwrap();
    sim.leave(addrs[5]).unwrap();
    sim.run_for(secs(20));
    (
        sim.full_log_hash(),
        sim.log_hash(),
        sim.total_stats().bytes_sent(),
    )
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let a = eventful_run(42);
    let b = eventful_run(42);
    assert_eq!(a, b);
    let c = eventful_run(43);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
}

/// Flap memory (on in lan) under 25% loss on every link for 60 s downs
/// nobody. Some member is now and then suspected afresh far more often than
/// the rest by chance: the old rule (4 fresh suspicions in each of two
/// windows, three times the others' average) downed one in 14 of 40 seeds
/// with 4 indirect checks (20 members), and in 2 of 8 with the lan config of
/// the time. The cases: lan at 20 and at 5 members (the fault tier's size,
/// where a probe has only 3 helpers), and 4 indirect checks at 20.
#[test]
fn flap_memory_downs_nobody_under_loss_everywhere() {
    let mut four = Config::lan();
    four.indirect_checks = 4;
    let cases = [(20, Config::lan()), (5, Config::lan()), (20, four)];
    let mut failures = Vec::new();
    for (n, config) in cases {
        for seed in 1..=20 {
            let base = NetConfig::default();
            if let Some(d) = first_down_under_loss(n, &config, base, 0.25, seed) {
                let checks = config.indirect_checks;
                failures.push(format!("n={n} checks={checks} seed {seed}: {d}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bursty_loss_raises_no_false_down() {
    // Seed 1 shows it: a member refutes at once, one observer misses the
    // refutation, its suspicion expires and its Down (old incarnation) wins.
    use actix_cluster_sim::GilbertElliott;
    let mut failures = Vec::new();
    for seed in 1..=4 {
        let mut sim: Sim<CoreNode> = Sim::new(seed, NetConfig::default()).unwrap();
        sim.start_cluster(30, 3, &CoreOpts::with_config(Config::lan()))
            .unwrap();
        sim.run_until(secs(20));
        assert!(sim.all_see_up());
        let from = sim.now();
        sim.set_net(NetConfig {
            loss: Loss::Bursty(GilbertElliott::with_average(
                0.05,
                Duration::from_millis(500),
            )),
            ..NetConfig::default()
        })
        .unwrap();
        sim.run_for(secs(300));
        let downs = failed_downs(&sim, from);
        if !downs.is_empty() {
            failures.push(format!(
                "seed {seed}: {} false downs, e.g. {:?}",
                downs.len(),
                downs[0]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn partition_longer_than_the_tombstone_period_heals() {
    let (mut sim, addrs) = converged(13, 20, Config::lan());
    let (a, b) = addrs.split_at(10);
    sim.partition(a, b).unwrap();
    sim.run_for(secs(120));
    sim.heal();
    let merged = sim.run_until_condition(sim.now() + secs(180), |s| s.all_see_up());
    assert!(
        merged.is_some(),
        "{} pairs not up, e.g. {:?}",
        sim.not_up_pairs().len(),
        sim.not_up_pairs().first()
    );
}

#[test]
fn join_storm_converges_without_waiting_for_push_pull() {
    // Lossless network; 50 members start together (n0 forms, the rest join
    // through n0..n2). Seed 10: a few members keep others in Joining for
    // ~20 s although everybody else saw them Up within a second.
    let mut slow = Vec::new();
    for seed in [6, 10, 16, 21, 40] {
        let mut sim: Sim<CoreNode> = Sim::new(seed, NetConfig::default()).unwrap();
        sim.start_cluster(50, 3, &CoreOpts::with_config(Config::lan()))
            .unwrap();
        let t = sim.run_until_condition(secs(5), |s| s.all_see_up());
        if t.is_none() {
            slow.push((seed, sim.not_up_pairs().first().copied()));
        }
    }
    assert!(slow.is_empty(), "not converged within 5 s: {slow:?}");
}

#[test]
fn a_cold_start_converges_by_the_catch_up_exchanges_not_by_piggyback() {
    // 200 members start together through one seed, with piggybacking cut to
    // its least (each update sent 3 times per member) and no periodic
    // push-pull within the run: the full-state exchanges after the join must
    // bring every newcomer everyone's `Up`. The deadline is the catch-up's
    // own bound (PROTOCOL.md: at most 8 exchanges, the last 8.2 s after the
    // join), well before a probe round (40 s) could introduce everyone. The
    // seed formed the cluster and does not catch up: each newcomer tells it
    // its `Up` right after the join answer.
    let config = Config {
        retransmit_mult: 1,
        push_pull_interval: secs(3600),
        ..Config::lan()
    };
    let mut sim: Sim<CoreNode> = Sim::new(3, NetConfig::default()).unwrap();
    let opts = CoreOpts::with_config(config);
    let seed = sim.spawn_next(&opts, Start::Form).unwrap();
    for _ in 1..200 {
        sim.spawn_next(&opts, Start::Join(vec![seed])).unwrap();
    }
    let t = sim.run_until_condition(Duration::from_millis(9000), |s| s.all_see_up());
    let missing = sim.not_up_pairs();
    assert!(
        t.is_some(),
        "{} pairs not up, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    for a in sim.live() {
        let s = sim.core(a).unwrap().stats();
        assert!(s.catch_up_exchanges <= 8, "{a}: {}", s.catch_up_exchanges);
    }
}
