//! Arbitration: the installed [`DowningArbiter`], asked whether this side of a
//! partition wins; its probes, by which a minority learns early that it
//! cannot reach it; and the side-record state machine by which the leader
//! keeps the arbiter's record of the surviving side current. The actor runs
//! the futures this hands out and reports back.

use std::time::Duration;

use actix_cluster_proto::MemberId;

use crate::arbiter::{ArbiterFuture, DowningArbiter, ProbeFuture};

/// The arbiter (once installed) and what it is owed.
pub(crate) struct Arbitration {
    /// Asked for lease-majority downing decisions (see `SetArbiter`).
    arbiter: Option<Box<dyn DowningArbiter + Send>>,
    /// Telling the arbiter about the surviving side's membership.
    side_record: SideRecord,
    /// The probes of the arbiter.
    probes: Probes,
    /// With lease-majority: how long a probe may take while this node names
    /// no leader (the minority's delay); `None`: no such probes.
    leaderless_probe: Option<Duration>,
}

/// The probes of the arbiter. While this node names no leader (it may be on
/// a partition's minority), it probes, and again as long as they fail, so
/// that a minority's check finds the arbiter already known unreachable.
#[derive(Default)]
struct Probes {
    /// A probe is in flight.
    in_flight: bool,
    /// The last probe failed and this node has kept probing since (one in
    /// flight, or the next one due), without an answer: the arbiter is
    /// unreachable now.
    failing: bool,
    /// The minority round that waits for the probe in flight.
    waiting: Option<u64>,
}

/// What a minority's check of the arbiter finds.
pub(crate) enum Check {
    /// No arbiter, or it has failed every probe lately: fence now.
    Unreachable,
    /// Run this probe; its result answers.
    Probe(ProbeFuture),
    /// The probe in flight answers.
    Wait,
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
    /// `leaderless_probe`: see [`Arbitration::leaderless_probe`].
    pub(crate) fn new(leaderless_probe: Option<Duration>) -> Self {
        Arbitration {
            arbiter: None,
            side_record: SideRecord::Current,
            probes: Probes::default(),
            leaderless_probe: leaderless_probe.filter(|d| !d.is_zero()),
        }
    }

    /// With lease-majority, the bound of the probes this node sends while
    /// it names no leader; `None` when it sends none.
    pub(crate) fn leaderless_probe(&self) -> Option<Duration> {
        self.leaderless_probe.filter(|_| self.arbiter.is_some())
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

    /// A minority waits its turn to ask for `round`: is the arbiter known
    /// unreachable, or which probe will tell?
    pub(crate) fn check(&mut self, round: u64) -> Check {
        if self.arbiter.is_none() || self.probes.failing {
            return Check::Unreachable;
        }
        self.probes.waiting = Some(round);
        match self.probe() {
            Some(probe) => Check::Probe(probe),
            None => Check::Wait,
        }
    }

    /// Starts a probe, unless one is in flight or there is no arbiter.
    pub(crate) fn probe(&mut self) -> Option<ProbeFuture> {
        let arbiter = self.arbiter.as_ref()?;
        if self.probes.in_flight {
            return None;
        }
        self.probes.in_flight = true;
        Some(arbiter.probe())
    }

    /// The probe in flight finished, `answered` or not; after a failure this
    /// node probes on if it will probe `again` (it still names no leader).
    /// Returns the minority round that waited for it and must fence now.
    pub(crate) fn probed(&mut self, answered: bool, again: bool) -> Option<u64> {
        self.probes.in_flight = false;
        self.probes.failing = !answered && again;
        let waiting = self.probes.waiting.take();
        waiting.filter(|_| !answered)
    }

    /// This node stopped probing (it names a leader again): a failure seen
    /// before says nothing about the arbiter later.
    pub(crate) fn stop_probing(&mut self) {
        self.probes.failing = false;
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
        let mut a = Arbitration::new(Some(Duration::from_secs(2)));
        a.side_changed();
        assert!(!a.owes_record());
        assert!(a.acquire(&me(), &[me()]).is_none());
        assert!(a.probe().is_none());
        assert_eq!(a.leaderless_probe(), None, "nothing to probe");
        assert!(matches!(a.check(1), Check::Unreachable), "cannot win");
    }

    /// A minority's check probes, or waits for the probe in flight; a
    /// failure fences the round that waited, an answer lets it ask later.
    #[test]
    fn a_check_is_answered_by_the_next_probe() {
        let mut a = Arbitration::new(Some(Duration::from_secs(2)));
        a.install(Box::new(Quiet));
        assert!(matches!(a.check(1), Check::Probe(_)));
        assert!(matches!(a.check(2), Check::Wait), "one probe at a time");
        assert_eq!(a.probed(false, false), Some(2), "the latest round fences");
        assert!(
            matches!(a.check(3), Check::Probe(_)),
            "no streak: probe anew"
        );
        assert_eq!(a.probed(true, false), None, "it answered: ask later");
        assert_eq!(a.probed(false, false), None, "nobody waits");
    }

    /// While this node names no leader it probes on after each failure; a
    /// check meanwhile needs no probe of its own, until it stops probing.
    #[test]
    fn a_failing_streak_answers_a_check_at_once() {
        let mut a = Arbitration::new(Some(Duration::from_secs(2)));
        a.install(Box::new(Quiet));
        assert_eq!(a.leaderless_probe(), Some(Duration::from_secs(2)));
        assert!(a.probe().is_some());
        assert!(a.probe().is_none(), "in flight");
        assert_eq!(a.probed(false, true), None);
        assert!(matches!(a.check(1), Check::Unreachable), "between probes");
        assert!(a.probe().is_some(), "the next probe");
        assert!(matches!(a.check(2), Check::Unreachable), "still failing");
        assert_eq!(a.probed(true, true), None, "it answers again");
        assert!(
            matches!(a.check(3), Check::Probe(_)),
            "reachable: probe anew"
        );
        assert_eq!(a.probed(false, true), Some(3));
        a.stop_probing();
        assert!(matches!(a.check(4), Check::Probe(_)), "old failures expire");
        assert_eq!(
            Arbitration::new(Some(Duration::ZERO)).leaderless_probe(),
            None
        );
    }

    #[test]
    fn one_record_in_flight_and_one_more_after_a_change_meanwhile() {
        let mut a = Arbitration::new(None);
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
        let mut a = Arbitration::new(None);
        a.install(Box::new(Quiet));
        a.side_changed();
        assert!(a.record(&me(), false, || unreachable!()).is_none());
        assert!(!a.owes_record());
    }
}
