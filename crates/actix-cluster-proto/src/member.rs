//! Member status and the views of members handed to users.

use std::collections::{BTreeMap, BTreeSet};

use crate::id::{Incarnation, MemberId};

/// Why a member went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// Failure detection confirmed it dead (suspicion timed out).
    Failed,
    /// It left gracefully.
    Left,
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
}
