//! Arbitration: the installed [`DowningArbiter`], asked whether this side of a
//! partition wins, and the side-record state machine by which the leader
//! keeps the arbiter's record of the surviving side current. The actor runs
//! the futures this hands out and reports back.

use actix_cluster_proto::MemberId;

use crate::arbiter::{ArbiterFuture, DowningArbiter, ProbeFuture};

/// The arbiter (once installed) and what it is owed.
pub(crate) struct Arbitration {
    /// Asked for lease-majority downing decisions (see `SetArbiter`).
    arbiter: Option<Box<dyn DowningArbiter + Send>>,
    /// Telling the arbiter about the surviving side's membership.
    side_record: SideRecord,
}

/// Whether the leader owes the arbiter the current side (see
/// [`DowningArbiter::refresh`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SideRecord {
    /// Nothing changed since the last record.
    Current,
    /// Membership changed; nothing in flight.
    Stale,
    /// A record is in flight.
    Sending,
    /// A record is in flight and membership changed again meanwhile.
    SendingStale,
}

impl Arbitration {
    /// No arbiter: a lease-majority decision is never won.
    pub(crate) fn new() -> Self {
        Arbitration {
            arbiter: None,
            side_record: SideRecord::Current,
        }
    }

    /// Installs `arbiter` (replacing any earlier one).
    pub(crate) fn install(&mut self, arbiter: Box<dyn DowningArbiter + Send>) {
        self.arbiter = Some(arbiter);
    }

    /// Asks whether the side of `decider` (members `side`) wins; `None`
    /// without an arbiter.
    pub(crate) fn acquire(&self, decider: &MemberId, side: &[MemberId]) -> Option<ArbiterFuture> {
        Some(self.arbiter.as_ref()?.acquire(decider, side))
    }

    /// Checks that the arbiter can be reached; `None` without an arbiter (a
    /// side without one cannot win).
    pub(crate) fn probe(&self) -> Option<ProbeFuture> {
        Some(self.arbiter.as_ref()?.probe())
    }

    /// Membership changed: the leader owes the arbiter a new record.
    pub(crate) fn side_changed(&mut self) {
        if self.arbiter.is_none() {
            return;
        }
        self.side_record = match self.side_record {
            SideRecord::Current | SideRecord::Stale => SideRecord::Stale,
            SideRecord::Sending | SideRecord::SendingStale => SideRecord::SendingStale,
        };
    }

    /// A record is owed and none is in flight.
    pub(crate) fn owes_record(&self) -> bool {
        self.side_record == SideRecord::Stale
    }

    /// Starts recording the surviving side (`side()`, computed only when
    /// needed) as `me`'s, when an arbiter is installed and `me` `leads`;
    /// otherwise nothing is owed any more. One record in flight at a time:
    /// the future and the side's size, to be followed by [`Self::recorded`].
    pub(crate) fn record(
        &mut self,
        me: &MemberId,
        leads: bool,
        side: impl FnOnce() -> Vec<MemberId>,
    ) -> Option<(ArbiterFuture, usize)> {
        let arbiter = match &self.arbiter {
            Some(arbiter) if leads => arbiter,
            _ => {
                self.side_record = SideRecord::Current;
                return None;
            }
        };
        let side = side();
        self.side_record = SideRecord::Sending;
        Some((arbiter.refresh(me, &side), side.len()))
    }

    /// The record in flight finished: true when membership changed meanwhile,
    /// so that another record is owed now.
    pub(crate) fn recorded(&mut self) -> bool {
        self.side_record = match self.side_record {
            SideRecord::SendingStale => SideRecord::Stale,
            _ => SideRecord::Current,
        };
        self.side_record == SideRecord::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records nothing; only the calls matter here.
    struct Quiet;

    impl DowningArbiter for Quiet {
        fn acquire(&self, _: &MemberId, _: &[MemberId]) -> ArbiterFuture {
            Box::pin(async { Ok(true) })
        }
    }

    fn me() -> MemberId {
        MemberId::new("me", ([127, 0, 0, 1], 7001).into(), 1)
    }

    #[test]
    fn nothing_is_owed_without_an_arbiter() {
        let mut a = Arbitration::new();
        a.side_changed();
        assert!(!a.owes_record());
        assert!(a.acquire(&me(), &[me()]).is_none());
        assert!(a.probe().is_none());
    }

    #[test]
    fn one_record_in_flight_and_one_more_after_a_change_meanwhile() {
        let mut a = Arbitration::new();
        a.install(Box::new(Quiet));
        a.side_changed();
        assert!(a.owes_record());
        let (_, members) = a.record(&me(), true, || vec![me()]).expect("a record");
        assert_eq!(members, 1);
        assert!(!a.owes_record(), "in flight");
        a.side_changed();
        assert!(!a.owes_record(), "still in flight");
        assert!(a.recorded(), "the change meanwhile is owed");
        assert!(a.owes_record());
        assert!(a.record(&me(), true, Vec::new).is_some());
        assert!(!a.recorded(), "nothing changed meanwhile");
        assert!(!a.owes_record());
    }

    #[test]
    fn a_member_that_does_not_lead_owes_nothing() {
        let mut a = Arbitration::new();
        a.install(Box::new(Quiet));
        a.side_changed();
        assert!(a.record(&me(), false, || unreachable!()).is_none());
        assert!(!a.owes_record());
    }
}
