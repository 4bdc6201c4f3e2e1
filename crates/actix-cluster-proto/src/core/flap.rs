//! Flap memory: evidence that outlives a refutation.
//!
//! A member that loses most of its packets still hears some of the
//! suspicions of it and refutes each one, so no single suspicion lives long
//! enough for the decision (`decision`). What it cannot hide is how often it
//! is suspected afresh: every refutation raises its incarnation, and the next
//! failed probe suspects the new one. This node remembers, per member, each
//! suspicion of a new incarnation (when it heard of it, the incarnation, and
//! the address of the member whose probe failed) for two windows of
//! `max_pause + refutation_spread(N)`. A member is *flapping* when each of
//! the two windows holds at least `flap_refutations` incarnations suspected
//! and the last one at least `flap_observers` distinct suspecters, and it
//! stands out: the last window holds more than three times as many as the
//! other members' average (noisy links everywhere raise everyone's count,
//! one bad member only its own). A flapping member counts as unreachable for the
//! downing decision even while it refutes.
//!
//! Why it cannot down a member whose only problem is one bad link: a
//! suspicion is remembered under the member whose own probe failed, not
//! under whoever gossiped it, and one link has one other end; the rule
//! needs at least two (three by default) suspecters, whose probes travel
//! other links. Why a pause below the bound does not trip it: a paused
//! member refutes once when it resumes (every suspicion of it is of one
//! incarnation), and the evidence must last two whole windows, each longer
//! than the bound.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tracing::{info, warn};

use super::decision::{seen, Arbitration};
use super::timer::TimerKind;
use super::Core;
use crate::downing_policy::{DowningStrategy, Picture, Seen, SideVerdict};
use crate::id::{Incarnation, MemberId};
use crate::member::Status;

/// At most this many suspicions remembered per member (a member suspected
/// more often than this within two windows flaps anyway).
const MAX_PER_MEMBER: usize = 256;

/// A flapping member is suspected afresh more than this many times as often
/// as the other members on average: one bad member stands out, a bad network
/// does not.
const OUTLIER: usize = 3;

/// One suspicion of a new incarnation.
#[derive(Clone, Copy, Debug)]
struct Flap {
    at: Duration,
    incarnation: Incarnation,
    observer: SocketAddr,
}

/// The suspicions remembered, per member.
#[derive(Debug, Default)]
pub(super) struct Flaps {
    by_member: HashMap<MemberId, VecDeque<Flap>>,
    /// When members no longer live or suspected were last forgotten.
    swept: Duration,
}

impl Flaps {
    /// Remembers that `observer` suspected `id` at `incarnation`, heard at
    /// `at`; forgets what is older than `keep`.
    fn record(
        &mut self,
        id: &MemberId,
        at: Duration,
        incarnation: Incarnation,
        observer: SocketAddr,
        keep: Duration,
    ) {
        let q = self.by_member.entry(id.clone()).or_default();
        if q.back().is_some_and(|f| f.incarnation >= incarnation) {
            return;
        }
        q.push_back(Flap {
            at,
            incarnation,
            observer,
        });
        while q.len() > MAX_PER_MEMBER || q.front().is_some_and(|f| f.at + keep < at) {
            q.pop_front();
        }
    }

    /// How many suspicions of `id` this node heard in `(now - window, now]`.
    fn recent(&self, id: &MemberId, now: Duration, window: Duration) -> usize {
        let from = now.saturating_sub(window);
        self.by_member
            .get(id)
            .map_or(0, |q| q.iter().rev().take_while(|f| f.at > from).count())
    }

    /// Whether `id` stands out: suspected afresh in the last window more
    /// than `OUTLIER` times as often as the other `members - 1` live members
    /// on average (those without a record count 0). Noisy links everywhere
    /// raise everyone's count; one bad member raises only its own.
    fn stands_out(&self, id: &MemberId, now: Duration, window: Duration, members: usize) -> bool {
        let own = self.recent(id, now, window);
        let others: usize = self
            .by_member
            .keys()
            .filter(|m| *m != id)
            .map(|m| self.recent(m, now, window))
            .sum();
        own * members.saturating_sub(1).max(1) > OUTLIER * others
    }

    /// Whether `id` flaps at `now` with windows of `window`.
    fn flapping(
        &self,
        id: &MemberId,
        now: Duration,
        window: Duration,
        refutations: u32,
        observers: u32,
    ) -> bool {
        let Some(q) = self.by_member.get(id) else {
            return false;
        };
        let recent_from = now.saturating_sub(window);
        let older_from = now.saturating_sub(window * 2);
        let (mut recent, mut older) = (0u32, 0u32);
        let mut seen_by = HashSet::new();
        for f in q {
            if f.at > recent_from {
                recent += 1;
                seen_by.insert(f.observer);
            } else if f.at > older_from {
                older += 1;
            }
        }
        recent >= refutations && older >= refutations && seen_by.len() >= observers as usize
    }
}

impl Core {
    /// The window of flap memory: the pause bound plus the refutation spread.
    fn flap_window(&self) -> Duration {
        self.config.downing.max_pause + self.config.refutation_spread(self.cluster_size())
    }

    /// `from` suspected `id` at a new incarnation `inc`: remember it, and
    /// decide if `id` now flaps.
    pub(super) fn note_flap(&mut self, id: &MemberId, inc: Incarnation, from: &MemberId) {
        let refutations = self.config.downing.flap_refutations;
        if refutations == 0 || id == &self.local {
            return;
        }
        let (now, window) = (self.now, self.flap_window());
        self.flaps.record(id, now, inc, from.addr, window * 2);
        if now >= self.flaps.swept + window {
            self.flaps.swept = now;
            let table = &self.table;
            self.flaps.by_member.retain(|m, q| {
                table.is_live(m) && q.back().is_some_and(|f| f.at + window * 2 >= now)
            });
        }
        if self.flaps_now(id) {
            self.decide_flapping();
        }
    }

    /// Whether `id` flaps now and stands out from the typical member.
    fn flaps_now(&self, id: &MemberId) -> bool {
        let (now, window) = (self.now, self.flap_window());
        let d = &self.config.downing;
        self.flaps
            .flapping(id, now, window, d.flap_refutations, d.flap_observers)
            && self.flaps.stands_out(id, now, window, self.cluster_size())
    }

    /// The members that flap now.
    fn flapping_members(&self) -> Vec<MemberId> {
        let mut v: Vec<MemberId> = self
            .flaps
            .by_member
            .keys()
            .filter(|m| self.table.is_live(m))
            .filter(|m| self.flaps_now(m))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// A member flaps: this side downs the flapping members if it is a
    /// majority by keep-majority's rule and the strategy lets it survive (or
    /// the arbiter says so). Only a node in good local health (Lifeguard's
    /// score 0: its own probes and their helpers answer) decides on flap
    /// evidence: under loss everywhere every node's score rises, and a member
    /// that stands out by chance is not downed. Flap evidence about others never fences this
    /// node: if it is not a clear majority (every member flaps, as under
    /// heavy loss everywhere), it does nothing.
    fn decide_flapping(&mut self) {
        if !matches!(self.local_status(), Status::Up | Status::Leaving)
            || self.phase.left()
            || self.arbitration.is_some()
            || self.awareness.multiplier() > 1
        {
            return;
        }
        let flapping = self.flapping_members();
        if flapping.is_empty() {
            return;
        }
        let flap_set: HashSet<&MemberId> = flapping.iter().collect();
        let mut reachable: Vec<Seen> = vec![seen(self.local_entry())];
        let mut unknown: Vec<Seen> = Vec::new();
        let mut unreachable: Vec<Seen> = Vec::new();
        for e in self.table.live_entries() {
            if flap_set.contains(&e.id) {
                unreachable.push(seen(e));
            } else if e.suspicion.as_ref().is_some_and(|s| s.expired) {
                unknown.push(seen(e));
            } else {
                reachable.push(seen(e));
            }
        }
        let picture = Picture {
            me: self.local.clone(),
            reachable,
            unreachable,
            unknown,
        };
        if !picture.majority() {
            warn!(member = %self.local, flapping = flapping.len(), "members flap, but this side is no clear majority: nobody downed");
            return;
        }
        let strategy: &dyn DowningStrategy = match &self.strategy {
            Some(custom) => custom.as_ref(),
            None => &self.config.downing.strategy,
        };
        let verdict = strategy.decide(&picture, &self.config.downing);
        info!(member = %self.local, flapping = ?flapping, ?verdict, "flapping members: downing decision");
        match verdict {
            SideVerdict::Survive => {
                self.stats.downing_survived += 1;
                for id in &flapping {
                    info!(member = %self.local, down = %id, "flapping member down");
                    self.set_down(id, crate::member::DownReason::Failed);
                }
            }
            SideVerdict::Fence => {}
            SideVerdict::Arbitrate { delay } => {
                self.stats.downing_arbitrated += 1;
                self.arbiter_round += 1;
                self.arbitration = Some(Arbitration {
                    round: self.arbiter_round,
                    unreachable: flapping,
                    side: picture.reachable.iter().map(|s| s.id.clone()).collect(),
                    asked: false,
                    majority: true,
                    flap: true,
                });
                self.schedule(TimerKind::Arbitrate, delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(5);

    fn member(i: u8) -> MemberId {
        MemberId::new(format!("n{i}"), SocketAddr::from(([10, 0, 0, i], 7946)), 1)
    }

    /// `id` suspected afresh every `every`, from `t0` to `t1`, by the
    /// observers in turn.
    fn feed(
        f: &mut Flaps,
        id: &MemberId,
        t0: Duration,
        t1: Duration,
        every: Duration,
        observers: &[u8],
    ) {
        let mut t = t0;
        let mut inc = f
            .by_member
            .get(id)
            .and_then(|q| q.back())
            .map_or(0, |x| x.incarnation);
        let mut k = 0;
        while t <= t1 {
            inc += 1;
            let o = member(observers[k % observers.len()]).addr;
            f.record(id, t, inc, o, W * 2);
            k += 1;
            t += every;
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn refuting_member_suspected_by_many_over_two_windows_flaps() {
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(0), ms(10_500), ms(250), &[1, 2, 3, 4]);
        assert!(f.flapping(&x, ms(10_500), W, 6, 3));
    }

    #[test]
    fn one_suspecter_never_makes_a_member_flap() {
        // The other end of one bad link, however often it suspects.
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(0), ms(20_000), ms(100), &[1]);
        assert!(!f.flapping(&x, ms(20_000), W, 6, 3));
        // Two suspecters are still too few for three.
        feed(&mut f, &x, ms(20_100), ms(40_000), ms(100), &[1, 2]);
        assert!(!f.flapping(&x, ms(40_000), W, 6, 3));
        assert!(f.flapping(&x, ms(40_000), W, 6, 2));
    }

    #[test]
    fn evidence_in_one_window_only_is_not_enough() {
        // A burst of trouble shorter than a window (a pause, a glitch).
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(20_000), ms(24_900), ms(100), &[1, 2, 3, 4]);
        assert!(!f.flapping(&x, ms(24_900), W, 6, 3));
        // ... and once it is over, the older window alone is not either.
        assert!(!f.flapping(&x, ms(29_950), W, 6, 3));
    }

    #[test]
    fn a_paused_member_is_suspected_at_one_incarnation() {
        let mut f = Flaps::default();
        let x = member(9);
        for (k, t) in (0..40u64).map(|k| (k, ms(k * 250))) {
            // Everyone suspects the incarnation it knows: the same one.
            f.record(&x, t, 7, member(1 + (k % 4) as u8).addr, W * 2);
        }
        assert!(!f.flapping(&x, ms(10_000), W, 6, 3));
    }

    #[test]
    fn under_loss_everywhere_nobody_stands_out() {
        let mut f = Flaps::default();
        let members: Vec<MemberId> = (1..=10).map(member).collect();
        for (k, m) in members.iter().enumerate() {
            // Everyone suspected afresh about as often, by many.
            let every = ms(200 + 20 * k as u64);
            feed(&mut f, m, ms(0), ms(10_500), every, &[1, 2, 3, 4, 5]);
        }
        let x = &members[0];
        assert!(f.flapping(x, ms(10_500), W, 6, 3), "the count alone flaps");
        assert!(!f.stands_out(x, ms(10_500), W, 10));
        // One member far worse than the rest stands out.
        let bad = member(11);
        feed(&mut f, &bad, ms(0), ms(10_500), ms(20), &[1, 2, 3]);
        assert!(f.stands_out(&bad, ms(10_500), W, 11));
    }

    #[test]
    fn memory_per_member_is_bounded() {
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(0), ms(9_000), ms(1), &[1, 2, 3]);
        assert!(f.by_member[&x].len() <= MAX_PER_MEMBER);
        // Old records are forgotten after two windows.
        feed(&mut f, &x, ms(30_000), ms(30_000), ms(1), &[1]);
        assert_eq!(f.by_member[&x].len(), 1);
    }
}
