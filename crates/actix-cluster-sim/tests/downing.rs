//! "Down is a decision, not a timer": fault scenarios over many seeds,
//! each checked over the whole run by [`DowningCheck`]: no healthy member is
//! ever downed or reborn, faulty and minority members are downed by the
//! survivors within a bound, two sides never both have an `Up` leader after
//! the decision's grace period, and after the heal everyone is `Up` with one
//! id. The scenarios live in [`actix_cluster_sim::downing_scenarios`], where the
//! benchmark runs them too.
//!
//! Every scenario prints one line of figures (`--nocapture`):
//! `downing: NAME seeds=S healthy_downs=H split_samples=X downed_p50=.. ...`.
//!
//! [`DowningCheck`]: actix_cluster_sim::DowningCheck

use actix_cluster_sim::downing_scenarios::Scenario;

/// Runs seeds 1..=`seeds` of `scenario`, prints the figures and fails with
/// every problem found (and every faulty member not downed within the
/// scenario's bound).
fn check(scenario: Scenario, seeds: u64) {
    let sum = scenario.summarize(seeds);
    println!("{}", sum.line());
    assert!(
        sum.problems.is_empty(),
        "{}:\n{}",
        sum.name,
        sum.problems.join("\n")
    );
}

/// 10% of the members (1 of 10) lose all inbound traffic 20 s on, 20 s off,
/// three times; each time the survivors down it, it fences itself and, once it
/// hears again, rejoins as a new member.
#[test]
fn flip_flop_members_are_downed_each_time_and_nobody_else() {
    check(Scenario::FlipFlop, 20);
}

/// 1% of 100 members (one) loses 80% of what it sends and receives for 60 s:
/// it refutes every suspicion, but flap memory downs it. (3 seeds, about a
/// minute in debug mode; the benchmark runs 20.)
#[test]
fn a_member_losing_80_percent_is_downed() {
    check(Scenario::Lossy80, 3);
}

/// One bad link (80% loss both ways, or cut one way) between two healthy
/// members of 10 for 60 s: flap memory needs suspecters on other links, so
/// nobody is downed.
#[test]
fn one_bad_link_downs_nobody() {
    for s in [Scenario::BadLink80, Scenario::OneWayCut] {
        check(s, 20);
    }
}

/// Below `max_pause` (4 s) a paused member comes back with the same id and is
/// never downed; above, it may be downed, and then it rejoins.
#[test]
fn pauses_below_the_bound_never_down_and_longer_ones_rejoin() {
    for s in [Scenario::Pause1s, Scenario::Pause3s, Scenario::Pause5s] {
        check(s, 20);
    }
}

#[test]
fn an_isolated_member_is_downed_fences_and_rejoins() {
    check(Scenario::Isolated, 20);
}

#[test]
fn an_isolated_leader_of_five_is_downed_and_downs_nobody() {
    check(Scenario::IsolatedLeader, 20);
}

/// Seed 3 once showed it: n0 fenced at about 13 s and rejoined as n0' after
/// the heal; at 27.0 s n0' decided on the suspicions of n2 and n3 it held
/// before its rebirth and downed them.
#[test]
fn a_rejoined_member_does_not_decide_on_suspicions_from_before_its_rebirth() {
    check(Scenario::IsolatedLeaderRejoin, 20);
}

#[test]
fn partition_50_50_the_lowest_address_side_survives() {
    check(Scenario::Partition5v5, 20);
}

#[test]
fn partition_60_40_the_majority_survives() {
    check(Scenario::Partition6v4, 20);
}

#[test]
fn partition_one_against_the_rest() {
    check(Scenario::Partition1v9, 20);
}

/// lan tombstones last 60 s: the survivors forget the downed minority before
/// the heal.
#[test]
fn partition_longer_than_the_tombstone_period() {
    check(Scenario::Partition6v4Long, 20);
}

/// A 6/4 partition with churn 10 s in: by seed, a new member joins the
/// survivors or the minority, or a survivor or a minority member leaves.
/// Every member of the losing side fences itself, the one that leaves
/// included (it fenced before it left). A newcomer sent to the minority (seeds
/// 1, 5, 9, 13, 17) asks it after it fenced, so never becomes its member and
/// has nothing to fence: the checker counts it apart.
#[test]
fn partition_during_churn() {
    let sum = Scenario::PartitionChurn.summarize(20);
    println!("{}", sum.line());
    assert!(sum.problems.is_empty(), "{}", sum.problems.join("\n"));
    assert_eq!(sum.never_reborn, 0, "losing members that never fenced");
    assert_eq!(sum.never_joined, 5, "newcomers that asked a fenced side");
}

/// A node on the smaller side of a cut counts on its side only the members
/// it has first-hand evidence of (it heard from them, or an ack for them,
/// within the pause bound plus the refutation spread). Gossip that nobody
/// suspects a member is not enough: a minority node whose probing Lifeguard
/// slowed and that missed the news of some of the majority's suspects
/// counted them on its own side, found itself a majority and downed the
/// real one. Without the rule, 50 seeds of each case below downed healthy
/// members: the lan defaults under 10% loss (6/4: 300 downs), 8 indirect
/// checks on a clean network (6/4: 294, 5/5: 150).
#[test]
fn a_minority_that_missed_gossip_does_not_think_it_is_the_majority() {
    use actix_cluster_proto::Config;
    use actix_cluster_sim::downing_scenarios::{partition_with, summarize};
    use std::time::Duration;
    let mut eight = Config::lan();
    eight.indirect_checks = 8;
    let cases = [
        ("lan, 10% loss", Config::lan(), 0.1, 4),
        ("8 indirect checks", eight.clone(), 0.0, 4),
        ("8 indirect checks", eight, 0.0, 5),
    ];
    for (what, config, loss, small) in cases {
        let name = format!("partition-{}/{small} ({what})", 10 - small);
        let bound = Some(Duration::from_secs(15));
        let sum = summarize(&name, 1..=20, bound, |seed| {
            partition_with(seed, small, Duration::from_secs(30), config.clone(), loss)
        });
        println!("{}", sum.line());
        assert!(
            sum.problems.is_empty(),
            "{name}:\n{}",
            sum.problems.join("\n")
        );
    }
}

/// A member losing 80% of its packets in a cluster of 5 or 10 is downed
/// within the bound (10 s) in nearly every seed, and nobody else is. There
/// the lossy member is the target of nearly every failed probe, so every
/// other member helps with it; a helper's nack once came after its own
/// health-scaled timeout, too late for a healthy asker, which counted it
/// against its own health: one member in poor health (it had to refute the
/// lossy member's suspicion of it) put every member it helped in poor
/// health too, and only a member in good health decides on flap memory.
/// Before helpers nacked on the unscaled timeout, seeds 1..=40 downed it
/// within 10 s in 15 of 40 at 5 members and 13 of 40 at 10. Now it is 98
/// and 96 of seeds 1..=100 (198 and 196 of 1..=200); a bar of 95 in 100
/// rather than 38 in 40 because at 40 seeds two more late seeds, which any
/// change to the random draws can bring, fail the same rate (about 20 s in
/// debug mode).
#[test]
fn a_member_losing_80_percent_of_a_small_cluster_is_downed() {
    use actix_cluster_sim::downing_scenarios::{lossy_member_of, summarize};
    use std::time::Duration;
    let bound = Duration::from_secs(10);
    for n in [5, 10] {
        let name = format!("lossy-80%-1-of-{n}");
        let sum = summarize(&name, 1..=100, Some(bound), |seed| lossy_member_of(seed, n));
        println!("{}", sum.line());
        let in_time = sum.downed.iter().filter(|d| **d <= bound).count();
        assert_eq!(sum.healthy_downs, 0, "{name}: {}", sum.problems.join("\n"));
        assert_eq!(sum.healthy_reborn, 0, "{name}: {}", sum.problems.join("\n"));
        assert!(
            in_time >= 95,
            "{name}: downed within {bound:?} in {in_time} of 100"
        );
    }
}
