//! Multi-node scenarios over the in-test network.

use std::time::Duration;

use super::*;
use crate::{DownReason, Event, Stats};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn three_nodes_join_probe_and_detect_a_crash() {
    let mut net = Net::new(3, Config::local(), 1);
    net.form_and_join();
    assert!(
        net.run_until_cond(secs(5.0), Net::converged),
        "cluster did not converge"
    );
    // Probing runs quietly for a while: nobody suspected.
    net.run_for(secs(5.0));
    assert!(net.converged());
    for i in 0..3 {
        assert_eq!(net.cores[i].stats().suspicions_raised, 0, "node {i}");
    }
    let leader = net.cores[0].leader();
    assert_eq!(
        leader,
        Some(id(0, 1)),
        "the founder is the oldest Up member"
    );
    assert!((0..3).all(|i| net.cores[i].leader() == leader));

    net.crash(2);
    let dead = id(2, 1);
    let ok = net.run_until_cond(secs(10.0), |n| {
        (0..2).all(|i| n.status(i, &dead) == Some(Status::Down(DownReason::Failed)))
    });
    assert!(ok, "crash not detected");
    for i in 0..2 {
        let seq = net.names(i, &dead);
        assert_eq!(
            seq,
            vec!["joined", "up", "unreachable", "down-failed"],
            "node {i}"
        );
    }
    assert_event_order(&net);
}

#[test]
fn crash_of_the_leader_moves_leadership() {
    let mut net = Net::new(4, Config::local(), 2);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    net.crash(0);
    let ok = net.run_until_cond(secs(10.0), |n| {
        (1..4).all(|i| n.status(i, &id(0, 1)) == Some(Status::Down(DownReason::Failed)))
    });
    assert!(ok);
    let l = net.cores[1].leader();
    assert!(l.is_some() && l != Some(id(0, 1)));
    assert!(
        (1..4).all(|i| net.cores[i].leader() == l),
        "same leader everywhere"
    );
    assert!(net.events[1]
        .iter()
        .any(|(_, e)| e == &Event::LeaderChanged(l.clone())));
    assert_event_order(&net);
}

#[test]
fn graceful_leave_is_down_left_everywhere_at_once() {
    let mut net = Net::new(5, Config::local(), 3);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    let leaver = id(3, 1);
    net.command(3, Command::Leave);
    net.run_for(Duration::from_millis(20));
    for i in [0, 1, 2, 4] {
        assert_eq!(
            net.status(i, &leaver),
            Some(Status::Down(DownReason::Left)),
            "node {i}"
        );
        let seq = net.names(i, &leaver);
        assert_eq!(&seq[seq.len() - 2..], &["leaving", "down-left"], "node {i}");
    }
    assert_eq!(
        net.names(3, &leaver),
        vec!["joined", "up", "leaving", "down-left"]
    );
    // The node stops; nobody ever marks it failed, and the tombstone goes.
    net.crash(3);
    net.run_for(net.config.tombstone_period + secs(1.0));
    for i in [0, 1, 2, 4] {
        assert_eq!(net.status(i, &leaver), None);
        assert_eq!(net.names(i, &leaver).last(), Some(&"removed"));
    }
    assert_event_order(&net);
}

#[test]
fn join_through_any_member_and_cold_start_with_first_seed_forming() {
    let mut net = Net::new(5, Config::local(), 4);
    // Everyone is given the same seed list; node 0 is first and forms.
    for i in 0..5 {
        net.command(
            i,
            Command::Join {
                seeds: vec![addr(0), addr(1), addr(2)],
            },
        );
    }
    assert!(
        net.run_until_cond(secs(10.0), Net::converged),
        "cold start did not converge"
    );
    assert!((0..5).all(|i| net.cores[i].leader() == Some(id(0, 1))));
    for i in 0..5 {
        let s = net.cores[i].stats();
        assert_eq!(s.rejected_malformed, 0, "node {i}: every answer decodes");
        assert!(s.messages_received > 0);
    }
    assert_event_order(&net);
}

#[test]
fn restart_with_new_generation_downs_the_old_one_at_once() {
    let mut net = Net::new(4, Config::local(), 5);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    net.crash(2);
    net.run_for(Duration::from_millis(30));
    net.restart(2, 2);
    net.command(
        2,
        Command::Join {
            seeds: vec![addr(0)],
        },
    );
    // The old generation goes down well before failure detection would.
    let ok = net.run_until_cond(secs(1.0), |n| {
        (0..4)
            .filter(|&i| i != 2)
            .all(|i| n.status(i, &id(2, 1)) == Some(Status::Down(DownReason::Failed)))
    });
    assert!(ok, "old generation not downed on sight of the new one");
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    for i in [0, 1, 3] {
        assert_eq!(net.names(i, &id(2, 1)).last(), Some(&"down-failed"));
        assert!(net.names(i, &id(2, 2)).contains(&"up"));
    }
    // Much later, a stale rumour about the old generation changes nothing.
    net.run_for(secs(3.0));
    for i in [0, 1, 3] {
        assert_eq!(
            net.names(i, &id(2, 1))
                .iter()
                .filter(|n| **n == "up")
                .count(),
            1
        );
    }
    assert_event_order(&net);
}

#[test]
fn suspected_member_refutes_and_stays_up() {
    // Cut node 0 -> node 2 one way: node 0's probes of 2 fail directly, but
    // indirect probes make it through, so no suspicion at all.
    let mut net = Net::new(4, Config::local(), 6);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    net.cut.insert((0, 2));
    net.run_for(secs(10.0));
    assert!(net.converged(), "an indirect path keeps node 2 alive");
    net.cut.clear();

    // Now make node 2 unreachable for everyone but still able to hear: it
    // gets suspected, and refutes as soon as the cut heals, before the
    // (long, unconfirmed) suspicion timeout.
    for i in [0, 1, 3] {
        net.cut.insert((2, i));
    }
    let ok = net.run_until_cond(secs(5.0), |n| {
        n.cores[2].stats().refutations > 0
            || n.cores[0].member(&id(2, 1)).is_some_and(|m| !m.reachable)
    });
    assert!(ok, "node 2 never suspected");
    net.cut.clear();
    assert!(
        net.run_until_cond(secs(5.0), Net::converged),
        "no refutation"
    );
    assert!(net.cores[2].stats().refutations > 0);
    for i in [0, 1, 3] {
        assert!(!net.names(i, &id(2, 1)).contains(&"down-failed"));
    }
    assert_event_order(&net);
}

#[test]
fn metadata_update_is_gossiped() {
    let mut net = Net::new(3, Config::local(), 7);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    let m: std::collections::BTreeMap<String, String> =
        [("http".to_owned(), "1.2.3.4:80".to_owned())].into();
    net.command(1, Command::UpdateMetadata(m.clone()));
    let ok = net.run_until_cond(secs(3.0), |n| {
        (0..3).all(|i| {
            n.cores[i]
                .member(&id(1, 1))
                .is_some_and(|x| x.metadata == m)
        })
    });
    assert!(ok);
    // Every node (the changed one too) raised one `Updated` carrying it.
    for i in 0..3 {
        let updated: Vec<_> = net.events[i]
            .iter()
            .filter_map(|(_, e)| match e {
                crate::Event::Updated(x) if x.id == id(1, 1) => Some(x.metadata.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(updated, vec![m.clone()], "node {i}");
    }
    assert_event_order(&net);
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut net = Net::new(6, Config::local(), seed);
        net.loss = 0.05;
        net.form_and_join();
        net.run_for(secs(3.0));
        net.crash(4);
        net.run_for(secs(5.0));
        (net.events.clone(), net.datagrams)
    };
    assert_eq!(run(11), run(11));
}

#[test]
fn short_pause_is_refuted_not_downed() {
    let mut net = Net::new(10, Config::lan(), 12);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    // Paused well below the unconfirmed... and the confirmed minimum
    // suspicion timeout (3 * 1 * 200 ms at N = 10).
    net.pause(4, Duration::from_millis(450));
    net.run_for(secs(5.0));
    assert!(
        net.converged(),
        "paused member back to Up and reachable everywhere"
    );
    let me = id(4, 1);
    for i in 0..10 {
        assert!(!net.names(i, &me).contains(&"down-failed"), "node {i}");
    }
    assert_event_order(&net);
}

#[test]
fn lossy_network_no_false_down() {
    let mut net = Net::new(12, Config::lan(), 13);
    net.loss = 0.05;
    net.form_and_join();
    assert!(net.run_until_cond(secs(10.0), Net::converged));
    net.run_for(secs(120.0));
    for i in 0..12 {
        for j in 0..12 {
            assert!(
                !net.names(i, &id(j, 1)).contains(&"down-failed"),
                "{i} downed {j}"
            );
        }
    }
    assert!(net.converged());
}

#[test]
fn join_storm_converges_quickly() {
    // 50 members start together: n0 forms, the others join through n0..n2
    // (n1 and n2 are still joining themselves).
    for seed in [6, 10, 16, 21, 40] {
        let mut net = Net::new(50, Config::lan(), seed);
        net.command(0, Command::Form);
        for i in 1..50 {
            net.command(
                i,
                Command::Join {
                    seeds: vec![addr(0), addr(1), addr(2)],
                },
            );
        }
        let ok = net.run_until_cond(secs(5.0), Net::converged);
        if !ok {
            let mut missing = Vec::new();
            for i in 0..50 {
                for j in 0..50 {
                    let st = net.status(i, &id(j, 1));
                    if st != Some(Status::Up) {
                        missing.push((i, j, st));
                    }
                }
            }
            panic!(
                "seed {seed}: not converged in 5 s: {:?}",
                &missing[..missing.len().min(10)]
            );
        }
    }
}

#[test]
fn a_restart_after_the_clock_stepped_back_converges_with_one_rebirth() {
    let mut net = Net::new(4, Config::local(), 17);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    // Node 2's last life had a large generation (its clock was ahead)...
    net.crash(2);
    net.restart(2, 1_000_000);
    net.command(
        2,
        Command::Join {
            seeds: vec![addr(0)],
        },
    );
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    // ...and it restarts with a smaller one (the clock stepped back).
    net.crash(2);
    net.run_for(Duration::from_millis(30));
    net.restart(2, 5);
    net.command(
        2,
        Command::Join {
            seeds: vec![addr(0)],
        },
    );
    assert!(
        net.run_until_cond(secs(10.0), Net::converged),
        "never converged; node 2 is {}",
        net.cores[2].local_id()
    );
    let rebirths = net.events[2]
        .iter()
        .filter(|(_, e)| matches!(e, Event::SelfChanged { .. }))
        .count();
    assert!(
        rebirths <= 1,
        "{rebirths} rebirths to climb past the old generation"
    );
    assert!(net.cores[2].local_id().generation > 1_000_000);
}

#[test]
fn probe_counters_and_round_trip_times() {
    let mut net = Net::new(3, Config::local(), 5);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    net.run_for(secs(5.0));
    for i in 0..3 {
        let s = net.cores[i].stats();
        assert!(s.probes_sent > 0, "node {i} probed nobody");
        assert!(s.probes_acked > 0, "node {i}: no probe acked");
        assert_eq!(
            s.probes_failed, 0,
            "node {i}: a probe failed on a healthy cluster"
        );
        let kept = (s.probes_acked as usize).min(Stats::RECENT_PROBE_RTTS);
        assert_eq!(s.recent_probe_rtts.len(), kept, "node {i}");
        // Every acked probe was answered within its round.
        let interval = Config::local().probe_interval;
        assert!(
            s.recent_probe_rtts.iter().all(|rtt| *rtt < interval),
            "node {i}"
        );
        assert_eq!(
            (s.downing_survived, s.downing_fenced),
            (0, 0),
            "node {i}: no downing decision without a fault"
        );
    }
    net.crash(2);
    let dead = id(2, 1);
    assert!(net.run_until_cond(secs(10.0), |n| {
        (0..2).all(|i| n.status(i, &dead) == Some(Status::Down(DownReason::Failed)))
    }));
    let failed: u64 = (0..2).map(|i| net.cores[i].stats().probes_failed).sum();
    assert!(failed > 0, "the crashed member's probes did not fail");
    let survived: u64 = (0..2).map(|i| net.cores[i].stats().downing_survived).sum();
    assert!(survived > 0, "no survivor recorded its downing decision");
}

/// lan with the etcd strategy, whose minority waits `delay` before asking
/// the arbiter (this network's arbiter answers "could not be asked").
fn lease_majority(delay: Duration) -> Config {
    let mut c = Config::lan();
    c.downing.strategy = crate::Strategy::LeaseMajority;
    c.downing.acquire_delay_for_minority = delay;
    c
}

/// Whether node `i` published `LeaderChanged(None)` after `from`.
fn stepped_down(net: &Net, i: usize, from: Duration) -> bool {
    net.events[i]
        .iter()
        .any(|(t, e)| *t >= from && matches!(e, Event::LeaderChanged(None)))
}

/// The side that loses a partition stops naming a leader once it sees it
/// is the smaller side (its suspicions of the others ran out), not when it
/// fences itself: here its arbiter request is 60 s away, and the leader (n0,
/// the oldest) is on that side. After the heal it names n0 again.
#[test]
fn a_minority_names_no_leader_before_it_fences() {
    let mut net = Net::new(5, lease_majority(Duration::from_secs(60)), 21);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    let leader = net.cores[0].local_id().clone();
    assert!((0..5).all(|i| net.cores[i].leader().as_ref() == Some(&leader)));
    let cut_at = net.now;
    net.cut_apart(&[0, 1], &[2, 3, 4]);
    let down = net.run_until_cond(secs(20.0), |n| {
        (0..2).all(|i| n.cores[i].leader().is_none())
    });
    assert!(down, "the minority still names {:?}", net.cores[0].leader());
    for i in 0..2 {
        assert_eq!(
            net.status(i, &net.cores[i].local_id().clone()),
            Some(Status::Up),
            "n{i} has not fenced"
        );
        assert!(
            stepped_down(&net, i, cut_at),
            "n{i} published no LeaderChanged(None)"
        );
    }
    net.cut.clear();
    assert!(net.run_until_cond(secs(30.0), Net::converged), "no merge");
    assert!(
        net.run_until_cond(secs(5.0), |n| (0..5)
            .all(|i| n.cores[i].leader().as_ref() == Some(&leader))),
        "the leader is not back everywhere"
    );
    assert_eq!(
        net.cores[0].local_id(),
        &leader,
        "nobody was downed or reborn"
    );
    assert_event_order(&net);
}

/// A minority whose arbiter cannot be reached fences itself as soon as the
/// driver's reachability check says so, without waiting out its delay (60 s
/// here, longer than the test runs) and then the request. The majority never
/// fences on a check: it asks at once, and waits while the arbiter (which
/// answers nobody here) cannot be asked.
#[test]
fn a_minority_that_cannot_reach_the_arbiter_fences_without_waiting_its_turn() {
    let mut net = Net::new(5, lease_majority(Duration::from_secs(60)), 24);
    net.arbiter_check_fails = true;
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    let ids: Vec<MemberId> = (0..5).map(|i| net.cores[i].local_id().clone()).collect();
    net.cut_apart(&[0, 1], &[2, 3, 4]);
    let fenced = net.run_until_cond(secs(30.0), |n| {
        (0..2).all(|i| n.cores[i].local_id() != &ids[i])
    });
    assert!(fenced, "the minority still waits for its turn to ask");
    for (i, id) in ids.iter().enumerate() {
        if i < 2 {
            assert_eq!(net.status(i, id), Some(Status::Down(DownReason::Fenced)));
            continue;
        }
        assert_eq!(net.status(i, id), Some(Status::Up), "n{i}");
        assert_eq!(net.cores[i].local_id(), id, "n{i} was reborn");
        assert_eq!(net.cores[i].stats().downing_fenced, 0, "n{i} fenced");
    }
}

/// A node that hears from nobody for the pause bound names no leader (it is
/// its own leader here, the oldest member) until it hears again.
#[test]
fn a_node_cut_off_names_no_leader_until_it_hears_again() {
    let mut net = Net::new(4, lease_majority(Duration::from_secs(60)), 22);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    let me = net.cores[0].local_id().clone();
    net.cut_apart(&[0], &[1, 2, 3]);
    assert!(net.run_until_cond(secs(15.0), |n| n.cores[0].leader().is_none()));
    assert_eq!(net.status(0, &me), Some(Status::Up), "not fenced yet");
    net.cut.clear();
    assert!(net.run_until_cond(secs(30.0), Net::converged), "no merge");
    assert!(net.run_until_cond(secs(5.0), |n| n.cores[0].leader().is_some()));
}

/// Members other than itself that node `i` shows `Up` and reachable.
fn shown_up(net: &Net, i: usize) -> Vec<MemberId> {
    let me = net.cores[i].local_id();
    net.cores[i]
        .members()
        .into_iter()
        .filter(|m| &m.id != me && m.status == Status::Up && m.reachable)
        .map(|m| m.id)
        .collect()
}

/// A node cut off from everyone fences itself and rejoins as a new member.
/// It has no cluster then: until it has rejoined it shows none of the members
/// it has not heard from since as `Up` and reachable, and publishes no `Up`
/// or `Reachable` about them. After the heal it shows them all again.
#[test]
fn a_fenced_node_shows_nobody_up_until_it_has_rejoined() {
    let mut net = Net::new(5, Config::lan(), 23);
    net.form_and_join();
    assert!(net.run_until_cond(secs(5.0), Net::converged));
    let old = net.cores[4].local_id().clone();
    net.cut_apart(&[4], &[0, 1, 2, 3]);
    let fenced = net.run_until_cond(secs(30.0), |n| n.cores[4].local_id() != &old);
    assert!(fenced, "n4 never fenced itself");
    assert_eq!(net.status(4, &old), Some(Status::Down(DownReason::Fenced)));
    let fenced_at = net.now;
    let mut shown = shown_up(&net, 4);
    let end = net.now + secs(15.0);
    while shown.is_empty() && net.now < end {
        net.run_for(Duration::from_millis(100));
        shown = shown_up(&net, 4);
    }
    assert!(
        shown.is_empty(),
        "fenced n4 shows {shown:?} Up and reachable"
    );
    let others: Vec<MemberId> = (0..4).map(|i| net.cores[i].local_id().clone()).collect();
    let published: Vec<&Event> = net.events[4]
        .iter()
        .filter(|(t, _)| *t >= fenced_at)
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::Up(m) | Event::Reachable(m) if others.contains(&m.id)))
        .collect();
    assert!(published.is_empty(), "fenced n4 published {published:?}");
    net.cut.clear();
    assert!(net.run_until_cond(secs(30.0), Net::converged), "no rejoin");
    assert_eq!(shown_up(&net, 4).len(), 4);
    assert_event_order(&net);
}
