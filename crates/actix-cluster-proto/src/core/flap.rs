//! Flap memory: evidence that outlives a refutation.
//!
//! A member that loses most of its packets still hears some of the
//! suspicions of it and refutes each one, so no single suspicion lives long
//! enough for the decision (`decision`). What it cannot hide is how often it
//! is suspected afresh: every refutation raises its incarnation, and the next
//! failed probe suspects the new one. This node remembers, per member, each
//! suspicion of a new incarnation (when it heard of it, the incarnation, and
//! the address of the member whose probe failed) for two windows of
//! `max_pause + refutation_spread(N)`. A member is *flapping* when the last
//! window holds at least `flap_observers` distinct suspecters and each of the
//! two windows holds more fresh suspicions than noise explains: with `m` the
//! other live members' average in that window and `l = max(m, 1)`, at least
//! `ceil(l + 4 sqrt(l)) + flap_refutations` (8 with lan while `m <= 1`), and
//! more than `3 m` (see [`needed`]). A flapping member counts as unreachable
//! for the downing decision even while it refutes.
//!
//! Why a bound on the count and not a ratio alone: under loss everywhere a
//! healthy member's fresh suspicions arrive at random, in small clusters
//! (each one sends a few members to probe it at once), and with 20 members
//! some member is now and then suspected 4 to 6 times in a window against
//! an average below 1: three times the average is no bar there. A member
//! that loses 80% of its packets is suspected afresh about 14 times a
//! second at 100 members, dozens of times per window.
//!
//! Why it cannot down a member whose only problem is one bad link: a
//! suspicion is remembered under the member whose own probe failed, not
//! under whoever gossiped it, and one link has one other end; the rule
//! needs at least two (three by default) suspecters, whose probes travel
//! other links. Why a pause below the bound does not trip it: a paused
//! member refutes once when it resumes (every suspicion of it is of one
//! incarnation), and the evidence must last two whole windows, each longer
//! than the bound. Why loss everywhere does not: the bound grows with the
//! others' average, and only a node in good local health decides (under
//! heavy loss every node's Lifeguard score rises).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tracing::{info, warn};

use super::arbiter::Arbitration;
use super::decision::seen;
use super::timer::TimerKind;
use super::Core;
use crate::downing_policy::{DowningStrategy, Picture, Seen, SideVerdict};
use crate::id::{Incarnation, MemberId};
use crate::member::Status;

/// At most this many suspicions remembered per member within two windows
/// (about 25 a second with lan): fresh suspicions closer together than
/// two windows over this count as one, so a member suspected more often
/// still fills both windows.
const MAX_PER_MEMBER: usize = 256;

/// How far above the noise a flapping member's count must be, in standard
/// deviations of a Poisson count with the others' average (`sqrt(mean)`).
/// Fresh suspicions of a healthy member are not quite independent (each one
/// sends a few members to probe it at once, and a failure among those
/// probes suspects it afresh), so the margin is wide.
const NOISE_SIGMAS: f64 = 4.0;

/// The least average the noise bound assumes, per window: one fresh
/// suspicion. In a quiet cluster (average near 0) a few suspicions of one
/// member are not yet extraordinary.
const NOISE_FLOOR: f64 = 1.0;

/// A flapping member is suspected afresh more than this many times as often
/// as the other members on average: where the noise is high (loss
/// everywhere), the bound grows with the average itself, not only with its
/// square root.
const OUTLIER: f64 = 3.0;

/// How many fresh suspicions a window must hold when the other members
/// average `mean` in it: above the noise (`max(mean, 1) + 4 sqrt(max(mean,
/// 1))`, rounded up) by `margin`, and more than `3 mean`. With the lan
/// margin (3): 8 while the others average at most 1.
pub(super) fn needed(mean: f64, margin: u32) -> usize {
    let lambda = mean.max(NOISE_FLOOR);
    let noise = (lambda + NOISE_SIGMAS * lambda.sqrt()).ceil() + f64::from(margin);
    let outlier = (OUTLIER * mean).floor() + 1.0;
    // Saturating: the counts are bounded by `MAX_PER_MEMBER` anyway.
    noise.max(outlier) as usize
}

/// One suspicion of a new incarnation.
#[derive(Clone, Copy, Debug)]
struct Flap {
    at: Duration,
    incarnation: Incarnation,
    observer: SocketAddr,
}

/// The fresh suspicions of one member in the last window (`(now - W,
/// now]`) and the one before (`(now - 2W, now - W]`), and the distinct
/// suspecters of the last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    recent: usize,
    older: usize,
    suspecters: usize,
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
        if let Some(last) = q.back_mut() {
            if last.incarnation >= incarnation {
                return;
            }
            // Spaced at least `keep / MAX_PER_MEMBER` apart, so that the
            // bound never drops the older window of a member suspected
            // very often: the closer one only moves the last incarnation on.
            let spacing = keep / MAX_PER_MEMBER as u32;
            if at < last.at.saturating_add(spacing) {
                last.incarnation = incarnation;
                return;
            }
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

    /// The counts of `id` at `now` with windows of `window`.
    fn counts(&self, id: &MemberId, now: Duration, window: Duration) -> Counts {
        let Some(q) = self.by_member.get(id) else {
            return Counts::default();
        };
        let recent_from = now.saturating_sub(window);
        let older_from = now.saturating_sub(window * 2);
        let mut c = Counts::default();
        let mut seen_by = HashSet::new();
        for f in q.iter().rev().take_while(|f| f.at > older_from) {
            if f.at > recent_from {
                c.recent += 1;
                seen_by.insert(f.observer);
            } else {
                c.older += 1;
            }
        }
        c.suspecters = seen_by.len();
        c
    }

    /// The counts of every member `live` holds for, summed (`suspecters`
    /// left 0): the noise the others make.
    fn totals(&self, now: Duration, window: Duration, live: impl Fn(&MemberId) -> bool) -> Counts {
        let mut t = Counts::default();
        for m in self.by_member.keys().filter(|m| live(m)) {
            let c = self.counts(m, now, window);
            t.recent += c.recent;
            t.older += c.older;
        }
        t
    }

    /// Whether `id` (live, its counts included in `totals`) flaps among
    /// `others` other live members: at least `observers` distinct
    /// suspecters in the last window, and each window holds what
    /// [`needed`] asks for against the others' average in it.
    fn flapping(
        &self,
        id: &MemberId,
        (now, window): (Duration, Duration),
        totals: Counts,
        others: usize,
        (margin, observers): (u32, u32),
    ) -> bool {
        let own = self.counts(id, now, window);
        if own.suspecters < observers as usize || own.recent.min(own.older) < needed(0.0, margin) {
            return false;
        }
        let others = others.max(1) as f64;
        let mean = |all: usize, mine: usize| all.saturating_sub(mine) as f64 / others;
        own.recent >= needed(mean(totals.recent, own.recent), margin)
            && own.older >= needed(mean(totals.older, own.older), margin)
    }
}

impl Core {
    /// The window of flap memory: the pause bound plus the refutation spread.
    fn flap_window(&self) -> Duration {
        self.config.downing.max_pause + self.config.refutation_spread(self.cluster_size())
    }

    /// `from` suspected `id` at a new incarnation `inc`: remember it, and
    /// decide if `id` now flaps. Off without Lifeguard: only a node in good
    /// local health decides on flap evidence, and without Lifeguard every
    /// node thinks itself healthy.
    pub(super) fn note_flap(&mut self, id: &MemberId, inc: Incarnation, from: &MemberId) {
        let refutations = self.config.downing.flap_refutations;
        if refutations == 0 || !self.config.lifeguard || id == &self.local {
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
        let own = self.flaps.counts(id, now, window);
        // Cheap first: below the least bound (a quiet cluster), `id` cannot
        // flap whatever the others do.
        if own.recent.min(own.older) >= needed(0.0, refutations) && self.flaps_now(id, None) {
            self.decide_flapping();
        }
    }

    /// The others' noise: every live member's counts, summed.
    fn flap_totals(&self) -> Counts {
        let table = &self.table;
        self.flaps
            .totals(self.now, self.flap_window(), |m| table.is_live(m))
    }

    /// Whether live `id` flaps now (against `totals`, the live members'
    /// counts summed, computed if `None`).
    fn flaps_now(&self, id: &MemberId, totals: Option<Counts>) -> bool {
        if !self.table.is_live(id) {
            return false;
        }
        let totals = totals.unwrap_or_else(|| self.flap_totals());
        let d = &self.config.downing;
        // The other live members: all but this node and `id`.
        let others = self.cluster_size().saturating_sub(2);
        self.flaps.flapping(
            id,
            (self.now, self.flap_window()),
            totals,
            others,
            (d.flap_refutations, d.flap_observers),
        )
    }

    /// The members that flap now.
    fn flapping_members(&self) -> Vec<MemberId> {
        let totals = self.flap_totals();
        let mut v: Vec<MemberId> = self
            .flaps
            .by_member
            .keys()
            .filter(|m| self.flaps_now(m, Some(totals)))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// A member flaps: this side downs the flapping members if it is a
    /// majority by keep-majority's rule and the strategy lets it survive (or
    /// the arbiter says so). Only a node in good local health (Lifeguard's
    /// score 0: its own probes and their helpers answer) decides on flap
    /// evidence: under loss everywhere every node's score rises, and a
    /// member that stands out by chance is not downed (at 50% loss on every
    /// link the bound alone would not do). Flap evidence about others never
    /// fences this node: if it is not a clear majority (every member flaps,
    /// as under heavy loss everywhere), it does nothing.
    fn decide_flapping(&mut self) {
        if !matches!(self.local_status(), Status::Up | Status::Leaving)
            || self.phase.left()
            || self.arbitration.is_some()
            || !self.healthy_enough_to_down()
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
    /// The lan margin and suspecters.
    const RULE: (u32, u32) = (3, 3);

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

    /// Whether `id` flaps at `now` among `n` members in all (this node
    /// included), with `rule`.
    fn flaps(f: &Flaps, id: &MemberId, now: Duration, n: usize, rule: (u32, u32)) -> bool {
        let totals = f.totals(now, W, |_| true);
        f.flapping(id, (now, W), totals, n - 2, rule)
    }

    #[test]
    fn the_bound_rises_with_the_others_noise() {
        // A quiet cluster: the floor of one per window.
        assert_eq!(needed(0.0, 3), 8);
        assert_eq!(needed(1.0, 3), 8);
        assert_eq!(needed(1.5, 3), 10);
        assert_eq!(needed(4.0, 3), 15);
        // Loud noise: more than three times the average.
        assert_eq!(needed(16.0, 3), 49);
        assert_eq!(needed(f64::MAX, 3), usize::MAX);
    }

    #[test]
    fn refuting_member_suspected_by_many_over_two_windows_flaps() {
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(0), ms(10_500), ms(250), &[1, 2, 3, 4]);
        assert!(flaps(&f, &x, ms(10_500), 10, RULE));
    }

    #[test]
    fn one_suspecter_never_makes_a_member_flap() {
        // The other end of one bad link, however often it suspects.
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(0), ms(20_000), ms(100), &[1]);
        assert!(!flaps(&f, &x, ms(20_000), 10, RULE));
        // Two suspecters are still too few for three.
        feed(&mut f, &x, ms(20_100), ms(40_000), ms(100), &[1, 2]);
        assert!(!flaps(&f, &x, ms(40_000), 10, RULE));
        assert!(flaps(&f, &x, ms(40_000), 10, (3, 2)));
    }

    #[test]
    fn evidence_in_one_window_only_is_not_enough() {
        // A burst of trouble shorter than a window (a pause, a glitch).
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(20_000), ms(24_900), ms(100), &[1, 2, 3, 4]);
        assert!(!flaps(&f, &x, ms(24_900), 10, RULE));
        // ... and once it is over, the older window alone is not either.
        assert!(!flaps(&f, &x, ms(29_950), 10, RULE));
    }

    #[test]
    fn a_paused_member_is_suspected_at_one_incarnation() {
        let mut f = Flaps::default();
        let x = member(9);
        for (k, t) in (0..40u64).map(|k| (k, ms(k * 250))) {
            // Everyone suspects the incarnation it knows: the same one.
            f.record(&x, t, 7, member(1 + (k % 4) as u8).addr, W * 2);
        }
        assert!(!flaps(&f, &x, ms(10_000), 10, RULE));
    }

    #[test]
    fn an_unlucky_member_in_a_quiet_cluster_does_not_flap() {
        // What the old rule (four a window, three times the average) downed
        // under 25% loss everywhere: 5 fresh suspicions in each window by
        // 5 suspecters, the 18 others about 0.5 each.
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(0), ms(9_999), ms(1_000), &[1, 2, 3, 4, 5]);
        for i in 10..19 {
            feed(&mut f, &member(i), ms(4_000), ms(9_000), ms(5_000), &[1]);
        }
        assert!(!flaps(&f, &x, ms(9_999), 20, RULE));
        // Eight in each window is beyond the noise.
        feed(
            &mut f,
            &x,
            ms(10_100),
            ms(19_999),
            ms(600),
            &[1, 2, 3, 4, 5],
        );
        assert!(flaps(&f, &x, ms(19_999), 20, RULE));
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
        let own = f.counts(x, ms(10_500), W);
        assert!(own.recent >= needed(0.0, 3) && own.older >= needed(0.0, 3));
        assert!(!flaps(&f, x, ms(10_500), 10, RULE), "the count alone flaps");
        // One member far worse than the rest stands out.
        let bad = member(11);
        feed(&mut f, &bad, ms(0), ms(10_500), ms(20), &[1, 2, 3]);
        assert!(flaps(&f, &bad, ms(10_500), 11, RULE));
    }

    #[test]
    fn memory_per_member_is_bounded() {
        let mut f = Flaps::default();
        let x = member(9);
        feed(&mut f, &x, ms(0), ms(9_000), ms(1), &[1, 2, 3]);
        assert!(f.by_member[&x].len() <= MAX_PER_MEMBER);
        // ... yet a member suspected far more often than the bound keeps
        // both windows full.
        let y = member(8);
        feed(&mut f, &y, ms(0), ms(10_500), ms(2), &[1, 2, 3]);
        assert!(f.by_member[&y].len() <= MAX_PER_MEMBER + 1);
        assert!(flaps(&f, &y, ms(10_500), 10, RULE));
        // Old records are forgotten after two windows.
        feed(&mut f, &x, ms(30_000), ms(30_000), ms(1), &[1]);
        assert_eq!(f.by_member[&x].len(), 1);
    }
}
