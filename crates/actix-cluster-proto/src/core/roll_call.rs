//! The roll call before a downing decision: the members of this node's side
//! it has no fresh first-hand evidence of are pinged (a random sample of them
//! in a large cluster, the rest counted by an estimate), and once the answers
//! are in, the picture is settled on them (`docs/PROTOCOL.md`, "Downing",
//! step 4). The decision itself is `decision.rs`.

use std::collections::HashSet;
use std::time::Duration;

use rand::seq::SliceRandom;
use tracing::debug;

use super::decision::{seen, State};
use super::Core;
use crate::downing_policy::{Picture, Seen};
use crate::id::MemberId;
use crate::members::Entry;

/// How many roll calls one picture gets at most: the first, and two more
/// for members of this side that missed it when they would make the
/// difference between a majority and a minority.
const ROLL_CALLS: u32 = 3;

/// How many members a roll call pings at most (besides the two whose
/// identity a strategy looks at): pinging every member without fresh evidence
/// is about N pings per node, N^2 messages at once in a cluster of thousands
/// where almost nobody is heard first-hand within the window. Above this, a
/// random sample stands for the rest (see `estimate`).
const ROLL_CALL_SAMPLE: usize = 128;

/// How many more unanswered members than the sample saw the estimate allows
/// for: the members that did not answer, plus this, out of the sample, is the
/// share of the rest counted as unknown. A share f of silent members goes
/// unseen by a whole sample of 128 with probability (1 - f)^128: 3e-4 when f
/// is this margin's 6.25 %.
const SAMPLE_MARGIN: usize = 8;

/// This node's side of a picture, split by first-hand evidence.
pub(super) struct Sides<'a> {
    reachable: Vec<Seen>,
    unheard: Vec<&'a Entry>,
    /// Counted members without fresh evidence that this picture's roll call,
    /// a sample, did not ping; and how many of the sample are on this side.
    unsampled: Vec<&'a Entry>,
    sampled: usize,
    pub(super) aging: Vec<MemberId>,
}

impl Core {
    /// Pings `ids` (members this node counts on its side without fresh
    /// evidence) and looks at the picture again one probe timeout later, or
    /// once nothing is pending (`ready`): those that answered count on this
    /// side, the others as unknown.
    ///
    /// The first roll call of a picture pings at most `ROLL_CALL_SAMPLE`
    /// of them (a random sample, see `draw_sample`); later ones, every one
    /// they name.
    pub(super) fn send_roll_call(&mut self, now: Duration, ids: &[MemberId], ready: Duration) {
        let first = self.roll_call.is_none_or(|at| at < self.picture_since);
        if first {
            self.roll_calls = 0;
            self.roll_call_sample = self.draw_sample(ids);
        }
        self.roll_calls += 1;
        self.roll_call = Some(now);
        let seq = self.seq();
        // In the order of `ids`, not of the set: the simulator's runs must
        // not depend on a hash seed.
        let called: Vec<MemberId> = match (&self.roll_call_sample, first) {
            (Some(sample), true) => ids
                .iter()
                .filter(|id| sample.contains(*id))
                .cloned()
                .collect(),
            _ => ids.to_vec(),
        };
        debug!(member = %self.local, members = ids.len(), called = called.len(), "roll call before the downing decision");
        self.stats.roll_call_pings += called.len() as u64;
        for id in &called {
            self.send_ping(id, seq, None);
        }
        let answered = now + self.roll_call_lead();
        self.schedule_decision(answered.max(ready) - now);
    }

    /// A random sample of `ids` for a roll call, or `None` when there are few
    /// enough to ping them all. The lowest address and the oldest member of
    /// `ids` are always in it: keep-majority's tie and keep-oldest look at
    /// who they are, so they are counted on evidence, never on the estimate
    /// (every member the estimate places is above both).
    fn draw_sample(&mut self, ids: &[MemberId]) -> Option<HashSet<MemberId>> {
        if ids.len() <= ROLL_CALL_SAMPLE {
            return None;
        }
        let mut sample: HashSet<MemberId> = ids
            .choose_multiple(&mut self.rng, ROLL_CALL_SAMPLE)
            .cloned()
            .collect();
        let named: Vec<Seen> = ids
            .iter()
            .filter_map(|id| self.table.get(id))
            .map(seen)
            .collect();
        let lowest = named.iter().min_by_key(|s| s.tie_order());
        let oldest = named.iter().min_by_key(|s| s.age_order());
        sample.extend(lowest.into_iter().chain(oldest).map(|s| s.id.clone()));
        Some(sample)
    }

    /// How long the answers to a roll call may take: one probe timeout,
    /// scaled by local health, at most half of `stable_after` (the roll call
    /// goes out that much before nothing is pending, so a decision does not
    /// wait for it).
    pub(super) fn roll_call_lead(&self) -> Duration {
        let timeout = self.awareness.scale(self.config.probe_timeout);
        timeout.min(self.config.downing.stable_after / 2)
    }

    /// The picture on `sides` once its roll call is over: the members a
    /// sampled roll call stands for placed by `estimate` (unless that would
    /// decide the verdict: then they are all called), and this side's
    /// unheard members called again when they alone make the difference.
    pub(super) fn settle(
        &self,
        now: Duration,
        sides: Sides<'_>,
        unreachable: Vec<Seen>,
        unknown: Vec<Seen>,
    ) -> State {
        let Sides {
            reachable,
            unheard,
            unsampled,
            sampled,
            ..
        } = sides;
        let unheard_ids: Vec<MemberId> = unheard.iter().map(|e| e.id.clone()).collect();
        // The first `guessed` of the members the sample stands for on
        // neither side, the rest on this one. The estimate's unknown go
        // before the unheard: `call_again` takes the last of the unknown as
        // the ones it would call.
        let place = |guessed: usize| {
            let mut reachable = reachable.clone();
            let mut unknown = unknown.clone();
            unknown.extend(unsampled[..guessed].iter().map(|e| seen(e)));
            reachable.extend(unsampled[guessed..].iter().map(|e| seen(e)));
            unknown.extend(unheard.iter().map(|e| seen(e)));
            Picture {
                me: self.local.clone(),
                reachable,
                unreachable: unreachable.clone(),
                unknown,
            }
        };
        let guessed = estimate(unsampled.len(), unheard.len(), sampled);
        let picture = place(guessed);
        // An estimate must not decide a close call: if counting every member
        // it stands for on this side changes the verdict, call them all.
        if guessed > 0
            && self.roll_calls < ROLL_CALLS
            && self.verdict(&picture) != self.verdict(&place(0))
        {
            let ids = unsampled.iter().map(|e| e.id.clone()).chain(unheard_ids);
            return State::CallEveryone(ids.collect());
        }
        if self.call_again(&picture, unheard_ids.len()) {
            return State::RollCall(unheard_ids, now);
        }
        State::Ready(picture)
    }

    /// A member of this side that missed a roll call (paused for a moment,
    /// or its answer lost) must not by itself turn a majority into a
    /// minority: the last `unheard` of the picture's unknown members are
    /// called again, up to `ROLL_CALLS` times per picture, when counting
    /// them on this side would make it the majority.
    fn call_again(&self, picture: &Picture, unheard: usize) -> bool {
        if unheard == 0 || self.roll_calls >= ROLL_CALLS || picture.majority() {
            return false;
        }
        let mut counted = picture.clone();
        let n = counted.unknown.len() - unheard;
        counted.reachable.extend(counted.unknown.drain(n..));
        counted.majority()
    }

    /// This node's side, of the live members nobody suspects: only those with
    /// fresh first-hand evidence are on it (`reachable`, with this node and
    /// the `Joining` members, which count for neither side); the other
    /// counted ones are `unheard` (unknown once a roll call has gone
    /// unanswered). `aging`: whom a roll call due for this picture pings.
    pub(super) fn sides<'a>(&'a self, now: Duration, suspected: &HashSet<&MemberId>) -> Sides<'a> {
        let mut reachable: Vec<Seen> = vec![seen(self.local_entry())];
        let (mut unheard, mut unsampled): (Vec<&Entry>, Vec<&Entry>) = (Vec::new(), Vec::new());
        let mut sampled = 0;
        // The roll call also pings the members whose evidence may run out
        // before the decision (at most two leads later: it goes out one lead
        // before `ready`, and a stalled timer adds less than that).
        let mut aging: Vec<MemberId> = Vec::new();
        let window = self.fresh_window();
        let keeps = window.saturating_sub(self.roll_call_lead() * 2);
        let roll_call_due = self.roll_call.is_none_or(|at| at < self.picture_since);
        // A sample drawn for an earlier picture says nothing about this one.
        let sample = self.roll_call_sample.as_ref().filter(|_| !roll_call_due);
        for e in self.table.live_entries() {
            if suspected.contains(&e.id) {
                continue;
            }
            let s = seen(e);
            if !s.counts {
                reachable.push(s);
                continue;
            }
            let age = e.heard_at().map(|at| now.saturating_sub(at));
            if roll_call_due && age.is_none_or(|a| a >= keeps) {
                aging.push(e.id.clone());
            }
            let in_sample = sample.map(|sample| sample.contains(&e.id));
            sampled += usize::from(in_sample == Some(true));
            if age.is_some_and(|a| a < window) {
                reachable.push(s);
            } else if in_sample == Some(false) {
                unsampled.push(e);
            } else {
                unheard.push(e);
            }
        }
        Sides {
            reachable,
            unheard,
            unsampled,
            sampled,
            aging,
        }
    }
}

/// How many of `unsampled` members (without fresh evidence, not pinged by
/// the picture's sampled roll call) count as unknown when `missed` of the
/// `sampled` ones did not answer: the share `(missed + SAMPLE_MARGIN) /
/// sampled` of them, rounded up, all of them if that is more. The rest count
/// on this side. Every member of the sample that is on this side counts
/// exactly (answered or not), so the estimate only places the rest.
fn estimate(unsampled: usize, missed: usize, sampled: usize) -> usize {
    if unsampled == 0 {
        return 0;
    }
    let silent = missed.saturating_add(SAMPLE_MARGIN);
    if sampled == 0 || silent >= sampled {
        return unsampled;
    }
    // unsampled * silent / sampled, rounded up, without overflow: both
    // factors are at most the table's size.
    let n = (unsampled as u128 * silent as u128).div_ceil(sampled as u128);
    usize::try_from(n).map_or(unsampled, |n| n.min(unsampled))
}

#[cfg(test)]
mod tests {
    use super::{estimate, SAMPLE_MARGIN};

    #[test]
    fn the_estimate_errs_toward_unknown_and_stays_within_the_rest() {
        // Nothing to place, or nothing sampled to go on.
        assert_eq!(estimate(0, 5, 128), 0);
        assert_eq!(estimate(1000, 0, 0), 1000);
        // A whole sample answered: the margin's share of the rest, rounded up.
        assert_eq!(estimate(1000, 0, 128), (1000 * SAMPLE_MARGIN).div_ceil(128));
        assert_eq!(estimate(1, 0, 128), 1);
        // Each member of the sample that missed the call adds its share.
        assert_eq!(estimate(1280, 12, 128), 200);
        // Never more than the rest, however many missed.
        assert_eq!(estimate(1000, 120, 128), 1000);
        assert_eq!(estimate(usize::MAX, usize::MAX, 128), usize::MAX);
        assert_eq!(estimate(usize::MAX, 0, usize::MAX), SAMPLE_MARGIN);
    }
}
