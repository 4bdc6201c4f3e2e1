//! Leadership (`core/leader.rs`): the oldest `Up` member leads, everywhere.

use std::net::SocketAddr;

use super::solo::*;
use super::*;

#[test]
fn leader_is_the_oldest_up_member_everywhere() {
    let recs = vec![
        alive(1, 1, Status::Up, 5),
        alive(2, 1, Status::Up, 3),
        alive(3, 1, Status::Up, 3),
        alive(4, 0, Status::Joining, 0),
    ];
    let mut a = Solo::new(Config::lan());
    let mut b = Solo::new(Config::lan());
    a.gossip(1, recs.clone());
    b.gossip(1, recs.into_iter().rev().collect());
    assert_eq!(
        a.core.leader(),
        Some(id(0, 1)),
        "the founder has up number 1"
    );
    assert_eq!(a.core.leader(), b.core.leader());
    a.core.handle_command(a.now, Command::Leave);
    a.drain();
    assert_eq!(
        a.core.leader(),
        Some(id(2, 1)),
        "tie on up number: lowest id"
    );
    assert!(kinds(&a.events).ends_with(&[
        "leaving n0".to_owned(),
        "leader n2".to_owned(),
        "down Left n0".to_owned()
    ]));
    b.gossip(2, vec![alive(2, 2, Status::Leaving, 3)]);
    assert_eq!(b.core.leader(), Some(id(0, 1)));
    b.core.handle_command(b.now, Command::Leave);
    assert_eq!(
        b.core.leader(),
        Some(id(3, 1)),
        "Leaving members are not leaders"
    );
    // Every member learned the leave directly.
    let direct: Vec<SocketAddr> = a.sent.iter().map(|(to, _, _)| *to).collect();
    for i in 1..=4 {
        assert!(direct.contains(&addr(i)), "leave sent to n{i}");
    }
}

/// The smaller side of a partition stops naming a leader as soon as it
/// suspects most of the cluster, before those suspicions have run out (its
/// slowed probing makes them run out seconds after the other side decided).
#[test]
fn a_minority_steps_down_once_it_suspects_most_members() {
    let mut net = Net::new(7, Config::local(), 21);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(5), Net::converged));
    net.cut_apart(&[0, 1, 2, 3], &[4, 5, 6]);
    let stepped = net.run_until_cond(Duration::from_secs(20), |n| {
        [4, 5, 6].iter().all(|&i| n.cores[i].leader().is_none())
    });
    assert!(stepped, "the minority still names a leader");
    let (expired, counted) = net.cores[4].minority_counts();
    assert!(
        expired * 2 <= counted,
        "stepped down only once {expired} of {counted} suspicions ran out"
    );
    assert!(
        net.cores[0].leader().is_some(),
        "the majority keeps its leader"
    );
}
