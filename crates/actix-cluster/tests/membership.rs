//! Loopback tests with real actix systems (one per node, each in its own
//! thread) and real sockets on 127.0.0.1.

mod common;

use actix_cluster::{DownReason, Event, GetLeader, MemberId, Status};
use common::*;

#[test]
fn five_nodes_all_see_every_member_up() {
    let _serial = serial();
    let nodes = cluster("up", 5);
    let all = ids(&nodes);
    wait_all_up(&nodes, &all);

    for node in &nodes {
        // Exactly one MemberUp per member: nothing doubled.
        let seen = node.log.ups();
        for id in &all {
            assert_eq!(seen.iter().filter(|s| *s == id).count(), 1, "{seen:?}");
        }
        // Queries agree with the events.
        let members = node.members();
        for id in &all {
            assert!(is_up(&members, id), "{} sees {members:?}", node.id());
        }
        assert!(common::downs(&node.log.snapshot()).is_empty());
    }

    // Everyone agrees on the leader once the views converged.
    let leaders: Vec<Option<MemberId>> = nodes.iter().map(|n| n.ask(GetLeader)).collect();
    assert!(leaders[0].is_some());
    assert!(leaders.iter().all(|l| l == &leaders[0]), "{leaders:?}");

    for node in nodes {
        node.leave();
    }
}

#[test]
fn killed_node_is_down_failed_everywhere() {
    let _serial = serial();
    let mut nodes = cluster("kill", 5);
    wait_all_up(&nodes, &ids(&nodes));

    let victim = nodes.remove(2);
    let victim_id = victim.id();
    victim.kill();

    let reasons = wait_all_down(&nodes, &victim_id);
    assert!(
        reasons.iter().all(|r| *r == DownReason::Failed),
        "{reasons:?}"
    );
    // The survivors saw nobody else go.
    for node in &nodes {
        let downs = common::downs(&node.log.snapshot());
        assert_eq!(downs, vec![(victim_id.clone(), DownReason::Failed)]);
    }
    for node in nodes {
        node.leave();
    }
}

#[test]
fn graceful_leave_is_down_left_everywhere() {
    let _serial = serial();
    let mut nodes = cluster("leave", 5);
    wait_all_up(&nodes, &ids(&nodes));

    // Explicit Leave.
    let leaver = nodes.remove(1);
    let leaver_id = leaver.id();
    leaver.leave();
    // `Left`, not `Failed`: the others learnt it from the leave itself, not
    // from failure detection.
    let reasons = wait_all_down(&nodes, &leaver_id);
    assert!(
        reasons.iter().all(|r| *r == DownReason::Left),
        "{reasons:?}"
    );

    // Stopping the System leaves too.
    let stopped = nodes.remove(3);
    let stopped_id = stopped.id();
    stopped.stop();
    let reasons = wait_all_down(&nodes, &stopped_id);
    assert!(
        reasons.iter().all(|r| *r == DownReason::Left),
        "{reasons:?}"
    );

    for node in &nodes {
        let ev = node.events.snapshot();
        // Leaving before Down(Left) for the explicit leaver, as the lifecycle says.
        let leaving = ev
            .iter()
            .position(|r| matches!(r, Rec::Event(Event::Leaving(m)) if m.id == leaver_id));
        let down = ev.iter().position(
            |r| matches!(r, Rec::Event(Event::Down { member, .. }) if member.id == leaver_id),
        );
        if let (Some(l), Some(d)) = (leaving, down) {
            assert!(l < d);
        }
        assert!(down.is_some());
    }
    for node in nodes {
        node.leave();
    }
}

#[test]
fn restarted_process_is_a_new_member_and_old_self_stays_down() {
    let _serial = serial();
    let mut nodes = cluster("restart", 5);
    wait_all_up(&nodes, &ids(&nodes));

    let old = nodes.remove(4);
    let old_id = old.id();
    let addr = old.addr();
    old.kill();

    // Same name, same address, new process.
    let seeds: Vec<_> = nodes.iter().map(|n| n.addr()).collect();
    let new = Node::join(config("restart-4", addr), &seeds);
    let new_id = new.id();
    assert_eq!(new_id.addr, old_id.addr);
    assert_ne!(new_id.generation, old_id.generation);

    let mut all = ids(&nodes);
    all.push(new_id.clone());
    nodes.push(new);
    wait_all_up(&nodes, &all);
    let survivors = &nodes[..4];
    wait_all_down(survivors, &old_id);

    // Join one more node afterwards, so the old generation's last rumours had
    // time to circulate, then check it never came back.
    let extra = Node::join(config("restart-5", local0()), &seeds);
    all.push(extra.id());
    nodes.push(extra);
    wait_all_up(&nodes, &all);
    for node in &nodes {
        let recs = node.log.snapshot();
        let down_at = recs
            .iter()
            .position(|r| matches!(r, Rec::Down(m, _) if m.id == old_id));
        let last_up = recs
            .iter()
            .rposition(|r| matches!(r, Rec::Up(m) if m.id == old_id));
        if let (Some(d), Some(u)) = (down_at, last_up) {
            assert!(
                u < d,
                "{}: old self up again after down: {recs:#?}",
                node.id()
            );
        }
        let members = node.members();
        assert!(is_up(&members, &new_id));
        assert!(!members
            .iter()
            .any(|m| m.id == old_id && matches!(m.status, Status::Up | Status::Joining)));
    }
    for node in nodes {
        node.leave();
    }
}

#[test]
fn late_subscriber_gets_current_state_first() {
    let _serial = serial();
    let mut nodes = cluster("late", 3);
    let first_three = ids(&nodes);
    wait_all_up(&nodes, &first_three);

    let sub = nodes[0].late_subscriber();
    let (late, late_events) = (&sub.log, &sub.events);
    // The current state: exactly the three members, Up, before anything else.
    late.wait("snapshot", |recs| recs.len() >= 3);
    let snapshot = late.snapshot();
    let mut seen = common::ups(&snapshot[..3]);
    seen.sort();
    let mut expected = first_three.clone();
    expected.sort();
    assert_eq!(seen, expected);
    late_events.wait("event snapshot", |recs| recs.len() >= 3);
    let ev = late_events.snapshot();
    assert!(ev[..3]
        .iter()
        .all(|r| matches!(r, Rec::Event(Event::Up(m)) if first_three.contains(&m.id))));

    // Then later changes, in order, nothing doubled.
    let fourth = Node::join(config("late-3", local0()), &[nodes[0].addr()]);
    let fourth_id = fourth.id();
    nodes.push(fourth);
    late.wait("the fourth member", |recs| {
        common::ups(recs).contains(&fourth_id)
    });
    let ups = late.ups();
    assert_eq!(ups.len(), 4, "{ups:?}");
    assert_eq!(ups[3], fourth_id);

    let leaver = nodes.remove(1);
    let leaver_id = leaver.id();
    leaver.leave();
    late.wait("the leaver down", |recs| {
        common::down_of(recs, &leaver_id).is_some()
    });
    assert_eq!(
        common::down_of(&late.snapshot(), &leaver_id),
        Some(DownReason::Left)
    );
    for node in nodes {
        node.leave();
    }
}

#[test]
fn stopped_subscribers_are_dropped() {
    let _serial = serial();
    let mut nodes = cluster("drop", 2);
    wait_all_up(&nodes, &ids(&nodes));
    // The harness subscribes one recipient of each kind per node.
    assert_eq!(nodes[0].stats().subscribers, 3);
    let late = nodes[0].late_subscriber();
    assert_eq!(nodes[0].stats().subscribers, 6);
    late.stop();

    // The next change is delivered to the live subscriber; the stopped ones
    // are gone.
    let third = Node::join(config("drop-2", local0()), &[nodes[0].addr()]);
    let third_id = third.id();
    nodes.push(third);
    wait_all_up(&nodes, &ids(&nodes));
    assert!(!late.log.ups().contains(&third_id));
    assert_eq!(nodes[0].stats().subscribers, 3);
    for node in nodes {
        node.leave();
    }
}

#[test]
fn a_stuck_subscriber_neither_blocks_the_cluster_nor_loses_events() {
    let _serial = serial();
    let mut nodes = cluster("slow", 2);
    wait_all_up(&nodes, &ids(&nodes));
    let (log, gate, arbiter) = nodes[0].stuck_subscriber();
    log.wait("the stuck subscriber to be stuck", |recs| !recs.is_empty());

    // While it is stuck, the cluster goes on: a member joins, one leaves.
    let third = Node::join(config("slow-2", local0()), &[nodes[0].addr()]);
    nodes.push(third);
    wait_all_up(&nodes, &ids(&nodes));
    let leaver = nodes.remove(1);
    let leaver_id = leaver.id();
    leaver.leave();
    wait_all_down(&nodes, &leaver_id);

    // Released, it gets everything, in order.
    gate.open();
    let expected_ups = {
        let mut v = vec![nodes[0].id(), leaver_id.clone()];
        v.sort();
        v.push(nodes[1].id());
        v
    };
    log.wait("the backlog", |recs| recs.len() >= 4);
    let recs = log.snapshot();
    let mut ups = common::ups(&recs);
    ups[..2].sort();
    assert_eq!(ups, expected_ups, "{recs:#?}");
    assert_eq!(common::downs(&recs), vec![(leaver_id, DownReason::Left)]);
    assert!(matches!(recs.last(), Some(Rec::Down(..))));
    arbiter.stop();
    for node in nodes {
        node.leave();
    }
}

#[test]
fn a_subscriber_far_behind_is_resynchronised_instead_of_queued_without_bound() {
    let _serial = serial();
    let mut small = config("lag-0", local0());
    small.subscriber_buffer = 2;
    let first = Node::join(small, &[]);
    let seed = first.addr();
    let mut nodes = vec![first];
    nodes.push(Node::join(config("lag-1", local0()), &[seed]));
    wait_all_up(&nodes, &ids(&nodes));
    let (log, gate, arbiter) = nodes[0].stuck_subscriber();
    log.wait("the stuck subscriber to be stuck", |recs| !recs.is_empty());

    // While it is stuck: four join and three of them leave, far more events
    // than its queue of 2 holds.
    for i in 2..6 {
        nodes.push(Node::join(config(&format!("lag-{i}"), local0()), &[seed]));
    }
    wait_all_up(&nodes, &ids(&nodes));
    for _ in 0..3 {
        let leaver = nodes.remove(2);
        let id = leaver.id();
        leaver.leave();
        wait_all_down(&nodes, &id);
    }
    let stats = nodes[0].stats();
    assert!(
        stats.subscriber_events_dropped > 0,
        "the queue stayed bounded: {stats:?}"
    );

    // Released, it catches up to the current membership: every member Up
    // now was told Up once, every one gone was told Down (after its Up, if
    // any), and nothing was told twice.
    gate.open();
    let live = ids(&nodes);
    log.wait("the subscriber to catch up", |recs| {
        let mut up: Vec<MemberId> = Vec::new();
        for r in recs {
            match r {
                Rec::Up(m) => up.push(m.id.clone()),
                Rec::Down(m, _) => up.retain(|id| id != &m.id),
                Rec::Event(_) => {}
            }
        }
        up.sort();
        let mut want = live.clone();
        want.sort();
        up == want
    });
    let recs = log.snapshot();
    let ups = common::ups(&recs);
    let mut unique = ups.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ups.len(), "an Up told twice: {recs:#?}");
    for (id, _) in common::downs(&recs) {
        assert!(
            !live.contains(&id),
            "a live member told Down: {id} in {recs:#?}"
        );
        let down_at = recs
            .iter()
            .position(|r| matches!(r, Rec::Down(m, _) if m.id == id));
        let up_at = recs
            .iter()
            .position(|r| matches!(r, Rec::Up(m) if m.id == id));
        if let (Some(d), Some(u)) = (down_at, up_at) {
            assert!(u < d, "Down before Up for {id}: {recs:#?}");
        }
    }
    arbiter.stop();
    for node in nodes {
        node.leave();
    }
}

#[test]
fn ipv6_loopback_works_too() {
    let _serial = serial();
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let any6: std::net::SocketAddr = "[::1]:0".parse().unwrap();
    let first = Node::join(config("v6-0", any6), &[]);
    let seed = first.addr();
    let mut nodes = vec![first];
    for i in 1..3 {
        nodes.push(Node::join(config(&format!("v6-{i}"), any6), &[seed]));
    }
    wait_all_up(&nodes, &ids(&nodes));
    assert!(nodes.iter().all(|n| n.addr().is_ipv6()));
    let leaver = nodes.remove(2);
    let leaver_id = leaver.id();
    leaver.leave();
    assert_eq!(
        wait_all_down(&nodes, &leaver_id),
        vec![DownReason::Left, DownReason::Left]
    );
    for node in nodes {
        node.leave();
    }
}
