use super::*;

fn member(n: u16, generation: u64) -> MemberId {
    MemberId::new(
        format!("n{n}"),
        ([127, 0, 0, 1], 7000 + n).into(),
        generation,
    )
}

fn registry(n: u16) -> Registry {
    Registry::new(member(n, 1), RegistryLimits::default())
}

/// The successive records of one member registering actors 1..=k under "svc".
fn records_of(n: u16, k: u64) -> Vec<RegistryRecord> {
    let mut r = registry(n);
    (1..=k)
        .map(|a| {
            r.register("svc", ActorId(a));
            r.own_record().clone()
        })
        .collect()
}

#[test]
fn records_merged_in_any_order_give_the_same_listing() {
    let records = records_of(2, 4);
    let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [3, 3, 0, 1]];
    let mut listings = Vec::new();
    for order in orders {
        let mut r = registry(1);
        r.member_up(&member(2, 1));
        for i in order {
            r.merge(records[i].clone());
        }
        listings.push(r.listing("svc", false));
    }
    assert_eq!(listings[0].len(), 4);
    assert!(listings.iter().all(|l| *l == listings[0]));
}

#[test]
fn an_older_or_equal_version_changes_nothing() {
    let records = records_of(2, 2);
    let mut r = registry(1);
    r.member_up(&member(2, 1));
    assert!(matches!(r.merge(records[1].clone()), Merged::Changed(_)));
    assert_eq!(r.merge(records[0].clone()), Merged::Stale);
    assert_eq!(r.merge(records[1].clone()), Merged::Stale);
    assert_eq!(r.listing("svc", false).len(), 2);
}

#[test]
fn a_record_before_member_up_is_held_then_applied() {
    let records = records_of(2, 1);
    let mut r = registry(1);
    assert_eq!(r.merge(records[0].clone()), Merged::Pending);
    assert!(r.listing("svc", false).is_empty());
    let changed = r.member_up(&member(2, 1));
    assert_eq!(changed, BTreeSet::from(["svc".to_string()]));
    assert_eq!(r.listing("svc", false).len(), 1);
}

#[test]
fn a_gone_member_leaves_for_good_and_its_late_records_are_dropped() {
    let records = records_of(2, 2);
    let mut r = registry(1);
    r.member_up(&member(2, 1));
    r.merge(records[0].clone());
    let changed = r.member_gone(&member(2, 1));
    assert_eq!(changed, BTreeSet::from(["svc".to_string()]));
    assert!(r.listing("svc", true).is_empty());
    assert_eq!(r.merge(records[1].clone()), Merged::Gone);
    assert!(r.member_up(&member(2, 1)).is_empty());
    assert!(r.listing("svc", true).is_empty());
}

#[test]
fn a_reborn_member_starts_a_new_record() {
    let mut r = registry(1);
    r.member_up(&member(2, 1));
    r.merge(records_of(2, 3)[2].clone());
    r.member_gone(&member(2, 1));
    // The new process has generation 2 and starts again at version 1.
    let mut reborn = Registry::new(member(2, 2), RegistryLimits::default());
    reborn.register("svc", ActorId(9));
    r.member_up(&member(2, 2));
    assert!(matches!(
        r.merge(reborn.own_record().clone()),
        Merged::Changed(_)
    ));
    let listing = r.listing("svc", false);
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].member.generation, 2);
    assert_eq!(listing[0].actor, ActorId(9));
}

#[test]
fn unreachable_members_are_listed_only_when_asked() {
    let mut r = registry(1);
    r.register("svc", ActorId(1));
    r.member_up(&member(2, 1));
    r.merge(records_of(2, 1)[0].clone());
    assert_eq!(r.listing("svc", false).len(), 2);
    let changed = r.set_reachable(&member(2, 1), false);
    assert_eq!(changed, BTreeSet::from(["svc".to_string()]));
    assert_eq!(r.listing("svc", false).len(), 1);
    assert_eq!(r.listing("svc", true).len(), 2);
    assert_eq!(r.services(false)["svc"].len(), 1);
    r.set_reachable(&member(2, 1), true);
    assert_eq!(r.listing("svc", false).len(), 2);
}

#[test]
fn local_changes_raise_the_version_only_when_something_changed() {
    let mut r = registry(1);
    assert!(r.register("a", ActorId(1)));
    assert!(!r.register("a", ActorId(1)));
    assert!(r.register("b", ActorId(1)));
    assert_eq!(r.own_record().version, 2);
    assert!(!r.deregister("a", ActorId(5)));
    assert_eq!(
        r.actor_stopped(ActorId(1)),
        BTreeSet::from(["a".to_string(), "b".to_string()])
    );
    assert_eq!(r.own_record().version, 3);
    assert!(r.own_record().entries.is_empty());
}

#[test]
fn records_over_the_limits_are_refused() {
    let limits = RegistryLimits {
        max_entries_per_member: 2,
        max_key_len: 4,
        max_pending: 1,
    };
    let mut r = Registry::new(member(1, 1), limits);
    r.member_up(&member(2, 1));
    assert_eq!(
        r.merge(records_of(2, 3)[2].clone()),
        Merged::Refused("too many registrations")
    );
    let mut long = registry(2);
    long.register("too-long", ActorId(1));
    assert!(matches!(
        r.merge(long.own_record().clone()),
        Merged::Refused(_)
    ));
    assert_eq!(r.merge(records_of(3, 1)[0].clone()), Merged::Pending);
    assert!(matches!(
        r.merge(records_of(4, 1)[0].clone()),
        Merged::Refused(_)
    ));
}

#[test]
fn a_record_naming_this_member_is_ignored() {
    let mut r = registry(1);
    let mut forged = registry(1);
    forged.register("svc", ActorId(99));
    assert_eq!(r.merge(forged.own_record().clone()), Merged::Gone);
    assert!(r.listing("svc", true).is_empty());
}
