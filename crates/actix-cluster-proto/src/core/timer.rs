//! Timers: what the core asks its driver to call back, and the one table that
//! tells a live firing from a stale one.
//!
//! Every request gets a fresh token. Kinds that exist once at a time (the
//! periodic ticks, a member's suspicion) are re-armed: arming one again makes
//! the previous token stale. The others (a probe's timeout, a relayed ping, a
//! tombstone) fire once each. A firing whose token is not armed is stale and
//! ignored, so drivers never cancel anything.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::id::{IdHasher, MemberId};

/// The timers' maps hash with [`IdHasher`], not SipHash: their keys are
/// tokens this core counts up and kinds whose ids carry their keyed hash,
/// so nothing a peer chooses reaches them unkeyed.
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A timer the core asked for. Opaque: hand it back to
/// [`Core::handle_timer`](crate::Core::handle_timer) when it fires. Stale timers
/// (superseded by a newer one) are ignored by the core, so drivers never need to
/// cancel anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    token: u64,
}

/// What a timer is for, with what its firing needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum TimerKind {
    /// The next probe (periodic, every probe interval scaled by local health).
    Probe,
    /// The direct ack of probe `seq` is late: probe indirectly.
    ProbeTimeout { seq: u32 },
    /// The next gossip round (periodic).
    Gossip,
    /// Maybe a push-pull exchange (periodic).
    PushPull,
    /// Retry the join, or form as first seed (periodic while running).
    Join,
    /// Ask lost seeds and failed tombstones in again (periodic).
    Reconnect,
    /// The next full-state exchange of the catch-up after our join.
    Sync,
    /// The suspicion of `id` is due, or its last call is over.
    Suspicion { id: MemberId },
    /// The ping relayed for ping-req under relay sequence `seq` went
    /// unanswered: its nack is due, or the relay is over.
    Relay { seq: u32 },
    /// The tombstone of `id` may be removed.
    Tombstone { id: MemberId },
    /// Look at the reachability picture: decide if it is stable.
    Decide,
    /// The minority's delay is over: ask the arbiter.
    Arbitrate,
}

impl TimerKind {
    /// Whether at most one of this kind is armed at a time (arming it again
    /// supersedes the armed one) rather than each firing on its own.
    fn rearms(&self) -> bool {
        match self {
            TimerKind::Probe
            | TimerKind::Gossip
            | TimerKind::PushPull
            | TimerKind::Join
            | TimerKind::Reconnect
            | TimerKind::Sync
            | TimerKind::Suspicion { .. }
            | TimerKind::Decide
            | TimerKind::Arbitrate => true,
            TimerKind::ProbeTimeout { .. }
            | TimerKind::Relay { .. }
            | TimerKind::Tombstone { .. } => false,
        }
    }

    /// A short name, for tests.
    #[cfg(test)]
    pub(crate) fn name(&self) -> &'static str {
        match self {
            TimerKind::Probe => "probe",
            TimerKind::ProbeTimeout { .. } => "probe-timeout",
            TimerKind::Gossip => "gossip",
            TimerKind::PushPull => "push-pull",
            TimerKind::Join => "join",
            TimerKind::Reconnect => "reconnect",
            TimerKind::Sync => "sync",
            TimerKind::Suspicion { .. } => "suspicion",
            TimerKind::Relay { .. } => "relay",
            TimerKind::Tombstone { .. } => "tombstone",
            TimerKind::Decide => "decide",
            TimerKind::Arbitrate => "arbitrate",
        }
    }
}

/// The armed timers.
#[derive(Debug, Default)]
pub(super) struct Timers {
    /// The last token handed out.
    last: u64,
    /// Armed token -> what it is for.
    armed: FastMap<u64, TimerKind>,
    /// For kinds that re-arm: the one armed token.
    current: FastMap<TimerKind, u64>,
    /// Every token's kind, never forgotten, so tests can tell timers apart.
    #[cfg(test)]
    names: HashMap<u64, &'static str>,
}

impl Timers {
    /// Arms a timer of `kind`, superseding the armed one of the same kind if
    /// the kind re-arms.
    pub(super) fn arm(&mut self, kind: TimerKind) -> Timer {
        self.last += 1;
        let token = self.last;
        #[cfg(test)]
        self.names.insert(token, kind.name());
        if kind.rearms() {
            if let Some(old) = self.current.insert(kind.clone(), token) {
                self.armed.remove(&old);
            }
        }
        self.armed.insert(token, kind);
        Timer { token }
    }

    /// Makes the armed timer of a re-arming `kind` stale.
    pub(super) fn disarm(&mut self, kind: &TimerKind) {
        if let Some(token) = self.current.remove(kind) {
            self.armed.remove(&token);
        }
    }

    /// What a firing `timer` is for, or `None` when it is stale.
    pub(super) fn fire(&mut self, timer: Timer) -> Option<TimerKind> {
        let kind = self.armed.remove(&timer.token)?;
        if kind.rearms() {
            self.current.remove(&kind);
        }
        Some(kind)
    }

    /// The kind name of any timer ever armed (tests).
    #[cfg(test)]
    pub(super) fn name(&self, timer: &Timer) -> Option<&'static str> {
        self.names.get(&timer.token).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rearming_makes_the_previous_timer_stale_one_shots_fire_each() {
        let mut t = Timers::default();
        let a = t.arm(TimerKind::Probe);
        let b = t.arm(TimerKind::Probe);
        assert_eq!(t.fire(a), None);
        assert_eq!(t.fire(b), Some(TimerKind::Probe));
        assert_eq!(t.fire(b), None, "a timer fires once");
        let s1 = t.arm(TimerKind::Relay { seq: 1 });
        let s2 = t.arm(TimerKind::Relay { seq: 1 });
        assert_eq!(t.fire(s1), Some(TimerKind::Relay { seq: 1 }));
        assert_eq!(t.fire(s2), Some(TimerKind::Relay { seq: 1 }));
    }
}
