//! Membership events: the public contract between the core and its users.

use crate::id::MemberId;
use crate::member::{DownReason, MemberInfo};

/// A change in this node's view of the cluster.
///
/// Ordering guarantee: for any one member, events come out in lifecycle order
/// (`Joined` before `Up`, `Up` before `Leaving`/`Down`, `Down` before
/// `Removed`; `Unreachable`/`Reachable` alternate and only between `Up` and
/// `Down`), and a member never comes back after `Down`: a restarted process is a
/// new member with a new generation. Events about this node itself are emitted
/// too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A member was seen in `Joining`.
    Joined(MemberInfo),
    /// A member became `Up`.
    Up(MemberInfo),
    /// A member is suspected (SWIM suspect); it is still `Up`.
    Unreachable(MemberInfo),
    /// A suspected member refuted the suspicion.
    Reachable(MemberInfo),
    /// The metadata or roles of a member already announced (`Joined` or
    /// `Up`, not down) changed; carries the member as it is now.
    Updated(MemberInfo),
    /// A member started a graceful leave.
    Leaving(MemberInfo),
    /// A member is down, with the reason.
    Down {
        /// The member as last seen.
        member: MemberInfo,
        /// Failed, left or fenced.
        reason: DownReason,
    },
    /// A down member's tombstone expired; it is forgotten.
    Removed(MemberId),
    /// The oldest `Up` member changed (None when there is no `Up` member, or
    /// when this node is not `Up` itself).
    LeaderChanged(Option<MemberId>),
    /// This node became a new member: it was down while it still ran (fenced
    /// by the downing decision, or declared down by the cluster) and rejoins
    /// with a higher generation. `old` is down; `new` is the id it has now
    /// (and [`Core::local_id`](crate::Core::local_id) answers). Comes right
    /// before the `Joined` of `new`.
    SelfChanged {
        /// The id this node had.
        old: MemberId,
        /// The id it has now.
        new: MemberId,
    },
}
