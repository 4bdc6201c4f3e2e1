//! Member status and the views of members handed to users.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::id::{Incarnation, MemberId};

/// Why a member went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// The downing decision removed it: it was unreachable (confirmed by
    /// independent observers, longer than the pause bound) from a side that
    /// won the downing strategy; or a newer process took its address.
    Failed,
    /// It left gracefully.
    Left,
    /// Its side lost the downing decision (a minority after a partition, an
    /// isolated node): it fenced itself. Published by the member about itself.
    Fenced,
}

/// The lifecycle status of a member (Akka's names). Reachability is separate:
/// see [`MemberInfo::reachable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Announced itself but has not completed its join yet.
    Joining,
    /// A full member.
    Up,
    /// Leaving gracefully; becomes `Down(Left)`.
    Leaving,
    /// Gone: failed or left. Kept as a tombstone for `Config::tombstone_period`,
    /// then removed.
    Down(DownReason),
}

/// What this process says about itself when it starts a [`Core`](crate::Core).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMember {
    /// This member's identity.
    pub id: MemberId,
    /// Roles, e.g. `frontend`, `backend`.
    pub roles: BTreeSet<String>,
    /// Small key/value metadata, e.g. `http` -> `10.0.0.5:8080`.
    pub metadata: BTreeMap<String, String>,
}

/// One member as this node currently sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Identity.
    pub id: MemberId,
    /// Lifecycle status.
    pub status: Status,
    /// False while this node suspects it (SWIM "suspect"); status stays `Up`
    /// until the suspicion is confirmed.
    pub reachable: bool,
    /// Latest incarnation seen.
    pub incarnation: Incarnation,
    /// Roles.
    pub roles: BTreeSet<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Age: the order in which members first became `Up`, as recorded in
    /// gossip (lower is older; 0 before `Up`). The same on every node once
    /// gossip has spread it; a reborn member gets a new, higher one. The
    /// leader is the oldest `Up` member by this number, ties by id.
    pub up_number: u64,
}

/// What news about a member does to the state held for it: the result of
/// [`precedence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precedence {
    /// Nothing new: keep what is held.
    Stale,
    /// Newer news about a live member: take its incarnation and data, with
    /// this status.
    Newer(Status),
    /// The member is gone (the down path applies it).
    Down(DownReason),
}

/// The member status precedence, in one place. `old` is what is held, `new`
/// what arrived, each a status and an incarnation:
///
/// - `Down` is terminal: nothing supersedes it, and it supersedes any live
///   status whatever the incarnation;
/// - between live statuses the higher incarnation wins, and at the same
///   incarnation the later lifecycle step (`Joining` < `Up` < `Leaving`);
/// - the lifecycle never goes back: newer news with an earlier step keeps the
///   held status (and takes the rest).
pub(crate) fn precedence(old: (Status, Incarnation), new: (Status, Incarnation)) -> Precedence {
    use Status::{Down, Joining, Leaving, Up};
    match (old.0, new.0, new.1.cmp(&old.1)) {
        (Down(_), _, _) => Precedence::Stale,
        (_, Down(reason), _) => Precedence::Down(reason),
        (_, _, Ordering::Less) => Precedence::Stale,
        (Joining, Up | Leaving, _) | (Up, Leaving, _) => Precedence::Newer(new.0),
        (_, _, Ordering::Equal) => Precedence::Stale,
        (_, _, Ordering::Greater) => Precedence::Newer(old.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of statuses under every incarnation relation, written out.
    #[test]
    fn precedence_of_every_pair() {
        use Precedence::{Newer, Stale};
        use Status::{Joining, Leaving, Up};
        let failed = Status::Down(DownReason::Failed);
        let left = Status::Down(DownReason::Left);
        let statuses = [Joining, Up, Leaving, failed, left];
        // expected[old][new] for a lower, the same and a higher incarnation.
        let expected = |old: Status, new: Status| -> [Precedence; 3] {
            match (old, new) {
                (Status::Down(_), _) => [Stale; 3],
                (_, Status::Down(r)) => [Precedence::Down(r); 3],
                (Joining, Joining) => [Stale, Stale, Newer(Joining)],
                (Joining, Up) => [Stale, Newer(Up), Newer(Up)],
                (Joining, Leaving) => [Stale, Newer(Leaving), Newer(Leaving)],
                (Up, Joining) => [Stale, Stale, Newer(Up)],
                (Up, Up) => [Stale, Stale, Newer(Up)],
                (Up, Leaving) => [Stale, Newer(Leaving), Newer(Leaving)],
                (Leaving, Joining | Up | Leaving) => [Stale, Stale, Newer(Leaving)],
            }
        };
        for old in statuses {
            for new in statuses {
                let got = [4, 5, 6].map(|inc| precedence((old, 5), (new, inc)));
                assert_eq!(got, expected(old, new), "{old:?} -> {new:?}");
            }
        }
    }
}
