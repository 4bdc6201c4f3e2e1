//! Applying records (`core/merge.rs`): status precedence, incarnations,
//! refutation, stale rumours and the limits of the counters.

use std::collections::BTreeMap;
use std::time::Duration;

use super::solo::*;
use super::*;
use crate::codec::{self, Body, Message, Record};
use crate::DownReason;

#[test]
fn status_precedence_and_incarnations() {
    let mut s = Solo::new(Config::lan());
    s.take_events();
    s.gossip(1, vec![alive(1, 0, Status::Joining, 0)]);
    assert_eq!(kinds(&s.take_events()), ["joined n1"]);
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    assert_eq!(kinds(&s.take_events()), ["up n1"]);
    // Older news changes nothing.
    s.gossip(2, vec![alive(1, 0, Status::Joining, 0), suspect(1, 0, 2)]);
    assert_eq!(kinds(&s.take_events()), Vec::<String>::new());
    assert_eq!(s.core.member(&id(1, 1)).unwrap().incarnation, 1);
    // Suspect at the current incarnation beats alive.
    s.gossip(2, vec![suspect(1, 1, 2)]);
    assert_eq!(kinds(&s.take_events()), ["unreachable n1"]);
    let m = s.core.member(&id(1, 1)).unwrap();
    assert!(!m.reachable);
    assert_eq!(m.status, Status::Up, "suspected members stay Up");
    // Alive at the same incarnation does not clear it; a higher one does.
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    assert!(s.take_events().is_empty());
    s.gossip(1, vec![alive(1, 2, Status::Up, 2)]);
    assert_eq!(kinds(&s.take_events()), ["reachable n1"]);
    // A lifecycle never goes back, even with a higher incarnation.
    s.gossip(1, vec![alive(1, 5, Status::Joining, 0)]);
    assert_eq!(s.core.member(&id(1, 1)).unwrap().status, Status::Up);
    s.gossip(1, vec![alive(1, 6, Status::Leaving, 2)]);
    assert_eq!(kinds(&s.take_events()), ["leaving n1"]);
    // Down wins whatever its incarnation, and is final.
    s.gossip(2, vec![down(1, 0, DownReason::Left)]);
    assert_eq!(kinds(&s.take_events()), ["down Left n1"]);
    s.gossip(1, vec![alive(1, 99, Status::Up, 2), suspect(1, 100, 2)]);
    assert!(s.take_events().is_empty());
    assert_eq!(
        s.core.member(&id(1, 1)).unwrap().status,
        Status::Down(DownReason::Left)
    );
}

#[test]
fn first_sight_as_up_or_leaving_still_publishes_in_order() {
    let mut s = Solo::new(Config::lan());
    s.take_events();
    s.gossip(1, vec![alive(1, 3, Status::Leaving, 4)]);
    assert_eq!(
        kinds(&s.take_events()),
        ["joined n1", "up n1", "leaving n1"]
    );
    s.gossip(2, vec![down(2, 0, DownReason::Failed)]);
    assert!(
        s.take_events().is_empty(),
        "an unknown member's death is silent"
    );
    s.gossip(2, vec![alive(2, 1, Status::Up, 5)]);
    assert!(s.take_events().is_empty(), "and its tombstone keeps it out");
    s.gossip(
        3,
        vec![
            down(3, 0, DownReason::Left),
            alive(4, 0, Status::Joining, 0),
        ],
    );
    assert_eq!(kinds(&s.take_events()), ["joined n4"]);
    s.gossip(4, vec![down(4, 0, DownReason::Left)]);
    assert_eq!(kinds(&s.take_events()), ["leaving n4", "down Left n4"]);
}

#[test]
fn refutation_raises_incarnation_and_tells_the_suspecter() {
    let mut s = Solo::new(Config::lan());
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    s.sent.clear();
    let inc = s.core.member(&id(0, 1)).unwrap().incarnation;
    let me = Record {
        suspect: Some(id(1, 1)),
        ..alive(0, inc, Status::Up, 1)
    };
    s.gossip(1, vec![me]);
    let after = s.core.member(&id(0, 1)).unwrap();
    assert_eq!(after.incarnation, inc + 1);
    assert!(after.reachable);
    assert_eq!(s.core.stats().refutations, 1);
    assert_eq!(
        s.core.health_multiplier(),
        2,
        "refuting counts against local health"
    );
    let told = s.sent_messages().into_iter().any(|(to, m)| {
        to == addr(1)
            && matches!(&m.body, Body::Gossip { updates } if updates.iter().any(|u| u.id == id(0, 1) && u.incarnation == inc + 1 && u.suspect.is_none()))
    });
    assert!(told, "the refutation goes straight to the suspecter");
    // An older suspicion is ignored.
    let old = Record {
        suspect: Some(id(1, 1)),
        ..alive(0, inc, Status::Up, 1)
    };
    s.gossip(1, vec![old]);
    assert_eq!(s.core.stats().refutations, 1);
}

#[test]
fn stale_rumours_never_resurrect() {
    let cfg = Config::local();
    let mut s = Solo::new(cfg.clone());
    s.gossip(1, vec![alive(1, 1, Status::Up, 2)]);
    s.gossip(2, vec![down(1, 0, DownReason::Failed)]);
    s.take_events();
    s.advance(cfg.tombstone_period + Duration::from_millis(1));
    let ev = kinds(&s.take_events());
    assert!(ev.contains(&"removed n1".to_owned()), "{ev:?}");
    assert!(s.core.member(&id(1, 1)).is_none());
    s.gossip(2, vec![alive(1, 7, Status::Up, 2)]);
    assert!(s.core.member(&id(1, 1)).is_none(), "removed ids stay out");
    // An older generation at a known address is ignored; a newer one downs
    // the old one at once.
    s.gossip(3, vec![alive(3, 1, Status::Up, 4)]);
    let mut old = alive(3, 9, Status::Up, 4);
    old.id = old.id.with_generation(0);
    s.gossip(3, vec![old.clone()]);
    assert!(s.core.member(&old.id).is_none());
    let mut new = alive(3, 0, Status::Joining, 0);
    new.id = new.id.with_generation(2);
    s.take_events();
    s.gossip(3, vec![new.clone()]);
    assert_eq!(kinds(&s.take_events()), ["down Failed n3", "joined n3"]);
    s.gossip(3, vec![alive(3, 10, Status::Up, 4)]);
    assert_eq!(
        s.core.member(&id(3, 1)).unwrap().status,
        Status::Down(DownReason::Failed)
    );
}

#[test]
fn incarnations_and_up_numbers_at_their_limits_never_overflow() {
    // A record about us at the last incarnation (forged, or after ages of
    // refutations): refuting, a metadata update and a leave saturate or are
    // refused; nothing panics or wraps around.
    let mut s = Solo::new(Config::local());
    s.gossip(1, vec![alive(1, 1, Status::Up, 1)]);
    s.gossip(1, vec![suspect(0, u32::MAX, 1)]);
    let me = s.core.member(&id(0, 1)).expect("known");
    assert_eq!(me.incarnation, u32::MAX);
    assert_eq!(me.status, Status::Up);
    let before = me.metadata.clone();
    let m: BTreeMap<String, String> = [("http".to_owned(), "1.2.3.4:80".to_owned())].into();
    s.core.handle_command(s.now, Command::UpdateMetadata(m));
    s.drain();
    let me = s.core.member(&id(0, 1)).expect("known");
    assert_eq!((me.incarnation, &me.metadata), (u32::MAX, &before));
    s.core.handle_command(s.now, Command::Leave);
    s.drain();
    assert_eq!(
        s.core.member(&id(0, 1)).map(|m| m.status),
        Some(Status::Down(DownReason::Left))
    );

    // A joiner told of a member with the largest up number becomes Up next to it.
    let mut core = Core::new(local(5, 1), Config::local(), 3).unwrap();
    core.handle_command(
        Duration::ZERO,
        Command::Join {
            seeds: vec![addr(1)],
        },
    );
    while core.poll_output().is_some() {}
    let cluster = Config::local().cluster_name;
    let ack = Message {
        sender: id(1, 1),
        body: Body::JoinAck {
            accepted: true,
            members: vec![alive(1, 1, Status::Up, u64::MAX)],
        },
    };
    let bytes = codec::encode(&codec::prefix(&cluster), &ack);
    core.handle_stream(Duration::from_millis(10), addr(1), &bytes);
    while core.poll_output().is_some() {}
    let me = core.member(&id(5, 1)).expect("known");
    assert_eq!(me.status, Status::Up);
}
