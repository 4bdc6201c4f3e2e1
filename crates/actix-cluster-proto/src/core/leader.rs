//! Leadership: who leads, and when this node names no leader.
//!
//! The leader is the oldest `Up` member (by up number, ties by id), the same
//! on every node with the same view. A node that by its own observations
//! cannot reach a majority (it is silent, or the members whose suspicion ran
//! out here outnumber its side) steps down at once: it names no leader until
//! it can reach a majority again or the downing decision has downed the
//! others. Stepping down needs no agreement, so it does not wait for the
//! decision (see `decision`), which may wait for the arbiter.

use std::cmp::Ordering;
#[cfg(test)]
use std::collections::HashSet;
use std::time::Duration;

use tracing::info;

#[cfg(test)]
use super::decision::seen;
use super::Core;
#[cfg(test)]
use crate::downing_policy::Picture;
use crate::event::Event;
use crate::id::MemberId;
use crate::member::{DownReason, Status};
#[cfg(test)]
use crate::members::Entry;

impl Core {
    /// The oldest `Up` member (the leader for singletons): the same on every node
    /// that has the same view. Age is decided by the order members first became
    /// `Up` as recorded in gossip (an "up number"), ties by id.
    ///
    /// A node that is joining (also after a rebirth, fenced and rejoining) or
    /// down has no leader: it never acts as a cluster of its own. (A node that
    /// left gracefully still reports the leader it last knew.) Neither has a
    /// node that cannot reach a majority of the members by its own
    /// observations (cut off, or the members whose suspicion ran out here
    /// outnumber its side), until it can again or the others are down.
    pub fn leader(&self) -> Option<MemberId> {
        match self.local_status() {
            Status::Up | Status::Leaving if self.in_minority() => None,
            Status::Up | Status::Leaving | Status::Down(DownReason::Left) => {
                self.table.leader().cloned()
            }
            Status::Joining | Status::Down(_) => None,
        }
    }

    /// Publishes a leader change, if any.
    pub(super) fn check_leader(&mut self) {
        let l = self.leader();
        if l != self.leader {
            info!(member = %self.local, leader = ?l, "leader changed");
            self.leader = l.clone();
            self.emit(Event::LeaderChanged(l));
        }
    }

    /// Whether this node has heard from no other member for the pause bound
    /// (plus the refutation spread) while it knows some: it is cut off, or
    /// lost its inbound traffic.
    pub(super) fn silent(&self, now: Duration) -> bool {
        // The cheap test first: this runs on every message received.
        let pause = self.last_heard + self.config.downing.max_pause;
        if now < pause || self.table.live().is_empty() {
            return false;
        }
        now >= pause + self.config.refutation_spread(self.cluster_size())
    }

    /// Whether this node, by its own observations, cannot reach a majority
    /// of the members (keep-majority's rule, ties to the lowest address): it
    /// is silent, or the members whose suspicion expired here outnumber its
    /// side. Such a node names no leader until it can reach a majority again
    /// or the decision has downed the others: the side that loses a
    /// partition stops leading when it sees it is the smaller one, not when
    /// it fences itself (which waits for the arbiter). Unlike the decision,
    /// this uses this node's own view alone: stepping down early is safe.
    pub(super) fn in_minority(&self) -> bool {
        if self.silent(self.now) {
            return true;
        }
        // Keep-majority on counts the table keeps (this runs on every change
        // of the leader's inputs, such as every record merged, so it must not
        // walk the members): this node's side is every counted member but
        // those whose suspicion ran out, and itself counts (it is `Up` or
        // `Leaving` here). `Picture::majority` on the same sides agrees.
        let theirs = self.table.expired_suspects();
        let all = self.table.counted();
        debug_assert_eq!(
            theirs,
            self.table
                .suspected_unordered()
                .filter(|e| e.suspicion.as_ref().is_some_and(|s| s.expired))
                .filter(|e| matches!(e.status, Status::Up | Status::Leaving))
                .count()
        );
        let minority = match (theirs * 2).cmp(&all) {
            Ordering::Less => self.suspects_outnumber(all),
            Ordering::Greater => true,
            // A tie goes to the side of the lowest address.
            Ordering::Equal => self.table.lowest_counted_expired() || self.suspects_outnumber(all),
        };
        #[cfg(test)]
        assert_eq!(minority, self.in_minority_by_picture(), "{}", self.local);
        minority
    }

    /// Whether the `Up` and `Leaving` members this node suspects (their
    /// suspicion running or run out) are more than half of the `all`
    /// counted ones: a side that lost most of the cluster steps down as soon
    /// as it suspects them, not when their suspicions run out, which its
    /// slowed probing makes seconds later than the other side's decision.
    /// (A tie is left to the suspicions that ran out.) The suspects are
    /// walked only when there are enough of them: their number bounds the
    /// count from above in O(1).
    fn suspects_outnumber(&self, all: usize) -> bool {
        let suspects = self.table.suspected_unordered();
        // The suspects' set is exact-size: its upper bound is their number.
        let most = suspects.size_hint().1.unwrap_or(usize::MAX);
        if most * 2 <= all {
            return false;
        }
        let counted = suspects
            .filter(|e| matches!(e.status, Status::Up | Status::Leaving))
            .count();
        counted * 2 > all
    }

    /// The members whose suspicion ran out here, and the counted ones.
    #[cfg(test)]
    pub(crate) fn minority_counts(&self) -> (usize, usize) {
        (self.table.expired_suspects(), self.table.counted())
    }

    /// `in_minority` the long way, through `Picture::majority` (the unit
    /// tests check that both agree on every call).
    #[cfg(test)]
    fn in_minority_by_picture(&self) -> bool {
        let counted = |e: &&Entry| matches!(e.status, Status::Up | Status::Leaving);
        let expired: HashSet<&MemberId> = self
            .table
            .suspected_unordered()
            .filter(|e| e.suspicion.as_ref().is_some_and(|s| s.expired))
            .filter(counted)
            .map(|e| &e.id)
            .collect();
        let (unreachable, others): (Vec<&Entry>, Vec<&Entry>) = self
            .table
            .live_entries()
            .filter(counted)
            .partition(|e| expired.contains(&e.id));
        let mut reachable = vec![seen(self.local_entry())];
        reachable.extend(others.into_iter().map(seen));
        let picture = Picture {
            me: self.local.clone(),
            reachable,
            unreachable: unreachable.into_iter().map(seen).collect(),
            unknown: Vec::new(),
        };
        let suspected = self
            .table
            .live_entries()
            .filter(counted)
            .filter(|e| e.suspicion.is_some())
            .count();
        let all = picture.ours() + picture.theirs();
        !picture.majority() || suspected * 2 > all
    }
}
