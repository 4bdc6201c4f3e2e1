//! The downing decision: the one place that decides a member is
//! `Down(Failed)` on a reachability picture (besides a newer process taking
//! its address, see [`Core::replaced`], and a member that refutes every
//! suspicion, see `flap`), and where this node fences itself when its side
//! loses.
//!
//! Suspicions are observations. Once nothing is *pending* (every suspected
//! member's suspicion has run out, last call included, and it has been
//! suspected for at least `max_pause` plus the time a refutation needs to
//! reach everyone, [`Config::refutation_spread`](crate::Config::refutation_spread)) and the picture has not changed for
//! `stable_after`, the suspected members reported by enough observers are this
//! side's *unreachable* set, and the strategy decides. A suspect reported by a
//! single observer while others reach it is not unreachable (indirectly
//! connected: nobody downs it); a node that cannot reach anybody is its own
//! only observer, finds itself in a minority and fences itself. The members
//! nobody suspects count on this side only on first-hand evidence (see
//! [`Core::note_heard`] and the roll call): a node that missed the news of the other
//! side's suspects must not count them on its own. A node in poor local
//! health (Lifeguard) may have missed refutations: it downs only suspects
//! proven dead until its own probes are answered again (`may_down`).

use std::collections::HashSet;
use std::time::Duration;

use tracing::{debug, info, warn};

use super::arbiter::Arbitration;
use super::timer::TimerKind;
use super::{Core, Output};
use crate::downing_policy::{DowningStrategy, OnFenced, Picture, Seen, SideVerdict};
use crate::id::MemberId;
use crate::member::{DownReason, Status};
use crate::members::Entry;
use crate::suspicion::Suspicion;

/// A member as the strategy sees it: `Up` and `Leaving` members count for the
/// sizes of sides, `Joining` ones do not.
pub(super) fn seen(e: &Entry) -> Seen {
    Seen {
        id: e.id.clone(),
        up_number: e.up_number,
        counts: matches!(e.status, Status::Up | Status::Leaving),
    }
}

/// What the picture says now.
pub(super) enum State {
    /// Nothing to decide.
    Calm,
    /// Something is pending or the picture is too young: look again then.
    Wait(Duration),
    /// Decide on this picture.
    Ready(Picture),
    /// Ping these members first (no first-hand evidence of them is fresh),
    /// then look again once nothing is pending (the second value).
    RollCall(Vec<MemberId>, Duration),
    /// The roll call's sample cannot settle the verdict (it differs with the
    /// members it stands for counted as estimated and all as reachable): call
    /// every one of these, and count exactly from then on.
    CallEveryone(Vec<MemberId>),
}

impl Core {
    /// The reachability picture changed (a suspicion raised, confirmed, run
    /// out or cleared, a member down): restart the stability clock and look
    /// again once it may be stable.
    pub(super) fn picture_changed(&mut self) {
        self.picture_since = self.now;
        self.check_leader();
        if self.arbitration.as_ref().is_some_and(|a| !a.flap) {
            self.arbitration = None;
            debug!(member = %self.local, "picture changed: arbitration request dropped");
        }
        // Looked at a roll call's lead early: a roll call, if the picture
        // needs one then, is answered by the time it is stable.
        let after = self.config.downing.stable_after - self.roll_call_lead();
        self.schedule_decision(after);
    }

    pub(super) fn schedule_decision(&mut self, after: Duration) {
        self.decide_due = self.now + after;
        self.schedule(TimerKind::Decide, after);
    }

    /// The decision timer fired.
    pub(super) fn decide_tick(&mut self, now: Duration) {
        if !matches!(self.local_status(), Status::Up | Status::Leaving) || self.phase.left() {
            return;
        }
        if now > self.decide_due + self.config.probe_interval {
            debug!(member = %self.local, late = ?(now - self.decide_due), "stalled: downing decision postponed");
            self.after_stall(now);
            return;
        }
        let picture = match self.picture(now) {
            State::Calm => return,
            State::Wait(at) => {
                self.schedule_decision(at.saturating_sub(now));
                return;
            }
            State::Ready(p) => p,
            State::RollCall(ids, ready) => {
                self.send_roll_call(now, &ids, ready);
                return;
            }
            State::CallEveryone(ids) => {
                debug!(member = %self.local, "roll call sample too close to call: calling everyone");
                self.roll_call_sample = None;
                self.send_roll_call(now, &ids, now);
                return;
            }
        };
        let mut picture = picture;
        let verdict = self.verdict(&picture);
        if self.may_down(&mut picture, verdict) {
            self.carry_out(&picture, verdict);
        }
    }

    /// Lifeguard's local health guards the decision. A node whose own probes
    /// and their helpers go unanswered (score above 0) loses the messages
    /// sent to it too: it may have missed a suspect's refutation, and its
    /// suspicion may be stale while everyone else has cleared it. Such a node
    /// downs only the suspects proven dead (a refused connection), and the
    /// others once its probes are answered again: it looks again one (scaled)
    /// probe interval later. Fencing itself is not held back (a node cut off
    /// from the rest is in poor health too), nor is a node with nobody but
    /// the suspects to probe (of two members, the survivor of the other's
    /// crash: its probes have no helpers, so each failed one raises its
    /// score, which then says nothing about its own health). Whether
    /// `picture`'s verdict may be carried out now (with
    /// `picture.unreachable` cut to the proven dead).
    fn may_down(&mut self, picture: &mut Picture, verdict: SideVerdict) -> bool {
        let alone = picture.reachable.len() + picture.unknown.len() <= 1;
        if verdict == SideVerdict::Fence || alone {
            return true;
        }
        if self.healthy_enough_to_down() {
            // Healthy again after a spell in poor health: a suspect whose
            // last call went unanswered during that spell may have refuted
            // meanwhile, the refutation lost in what made this node unwell.
            // It is called again first; the decision comes back when the
            // picture changes (it answers, or its suspicion expires again).
            // Not on a side that expects to lose (a minority's delayed turn
            // at the arbiter): it downs nobody unless the arbiter lets it,
            // and holding it back would only delay its fence.
            let losing = matches!(verdict, SideVerdict::Arbitrate { delay } if !delay.is_zero());
            if losing {
                return true;
            }
            let stale = self.called_unwell(picture);
            for s in &stale {
                self.call_suspect_again(&s.id);
            }
            return stale.is_empty();
        }
        let dead = self.proven_dead(picture);
        if dead.len() == picture.unreachable.len() {
            return true;
        }
        debug!(
            member = %self.local,
            multiplier = self.awareness.multiplier(),
            proven_dead = dead.len(),
            "poor local health: downing decision postponed"
        );
        self.schedule_decision(self.awareness.scale(self.config.probe_interval));
        if dead.is_empty() || verdict != SideVerdict::Survive {
            return false;
        }
        picture.unreachable = dead;
        true
    }

    /// Whether this node's own probes and their helpers are answered
    /// (Lifeguard's score 0): the one test of local health that lets a node
    /// down members on evidence short of a refused connection, here and in
    /// flap memory (`decide_flapping`). See `may_down` for why.
    pub(super) fn healthy_enough_to_down(&self) -> bool {
        self.awareness.multiplier() == 1
    }

    /// The unreachable members of `picture` (not proven dead) whose last
    /// call went unanswered while this node was in poor health.
    fn called_unwell(&self, picture: &Picture) -> Vec<Seen> {
        self.suspects_where(picture, |x| x.unwell && !x.refused)
    }

    /// The unreachable members of `picture` whose process is known to be
    /// gone (a stream connection to them was refused).
    fn proven_dead(&self, picture: &Picture) -> Vec<Seen> {
        self.suspects_where(picture, |x| x.refused)
    }

    /// The unreachable members of `picture` whose suspicion `keep` accepts.
    fn suspects_where(&self, picture: &Picture, keep: impl Fn(&Suspicion) -> bool) -> Vec<Seen> {
        picture
            .unreachable
            .iter()
            .filter(|s| {
                self.table
                    .get(&s.id)
                    .and_then(|e| e.suspicion.as_deref())
                    .is_some_and(&keep)
            })
            .cloned()
            .collect()
    }

    /// First-hand evidence of `id` at `now`: a message from it, or an ack
    /// for it relayed by a helper. A member counts on this node's side for
    /// the decision only on such evidence younger than
    /// [`Core::fresh_window`]; gossip that nobody suspects it is not enough
    /// (a node on the smaller side of a cut that missed the news of some of
    /// the other side's suspects would count them on its own side).
    pub(super) fn note_heard(&mut self, id: &MemberId, now: Duration) {
        self.table.note_heard(id, now);
    }

    /// Whether this node has had first-hand evidence of `id` at or after
    /// `since`.
    pub(super) fn heard_since(&self, id: &MemberId, since: Duration) -> bool {
        self.table.heard_at(id).is_some_and(|at| at >= since)
    }

    /// How long first-hand evidence counts: the pause bound plus the
    /// refutation spread, the same time every suspect must have been
    /// suspected before it is downable. A member cut off from this node was
    /// last heard before the cut, so before any suspicion of its side began,
    /// and its evidence is stale by the time a decision on that side can be
    /// taken.
    pub(super) fn fresh_window(&self) -> Duration {
        self.config.downing.max_pause + self.config.refutation_spread(self.cluster_size())
    }

    /// This node (or its driver) stalled: what it observed may be stale
    /// (refutations wait in its inbox), and its own pause must not count as
    /// the silence of others. Every suspicion's pause-bound clock starts
    /// again, silence is measured from now, and the decision waits.
    pub(super) fn after_stall(&mut self, now: Duration) {
        self.last_heard = self.last_heard.max(now);
        for id in self.table.suspected() {
            self.table.update(&id, |e| {
                if let Some(s) = e.suspicion.as_mut() {
                    s.start = s.start.max(now);
                }
            });
        }
        self.picture_since = now;
        self.schedule_decision(self.config.downing.stable_after);
        self.check_leader();
    }

    /// What the strategy says about `picture`.
    pub(super) fn verdict(&self, picture: &Picture) -> SideVerdict {
        let strategy: &dyn DowningStrategy = match &self.strategy {
            Some(custom) => custom.as_ref(),
            None => &self.config.downing.strategy,
        };
        strategy.decide(picture, &self.config.downing)
    }

    /// Asks the strategy about `picture` and carries out its verdict.
    fn apply_verdict(&mut self, picture: &Picture) {
        let verdict = self.verdict(picture);
        self.carry_out(picture, verdict);
    }

    /// Carries out the strategy's `verdict` on `picture`.
    fn carry_out(&mut self, picture: &Picture, verdict: SideVerdict) {
        info!(
            member = %self.local,
            ours = picture.ours(),
            theirs = picture.theirs(),
            unknown = picture.unknown.len(),
            ?verdict,
            "downing decision"
        );
        let winners = || picture.unreachable.iter().map(|s| s.id.addr).collect();
        match verdict {
            SideVerdict::Survive => {
                self.stats.downing_survived += 1;
                self.down_unreachable(picture);
            }
            SideVerdict::Fence => self.fence(winners()),
            SideVerdict::Arbitrate { delay } => {
                self.stats.downing_arbitrated += 1;
                self.arbiter_round += 1;
                let (round, majority) = (self.arbiter_round, picture.majority());
                self.arbitration = Some(Arbitration {
                    round,
                    unreachable: picture.unreachable.iter().map(|s| s.id.clone()).collect(),
                    side: picture.reachable.iter().map(|s| s.id.clone()).collect(),
                    asked: false,
                    majority,
                    flap: false,
                });
                self.schedule(TimerKind::Arbitrate, delay);
                // The delay lets a majority that reaches the arbiter win
                // first; whether this side reaches it at all can be known
                // meanwhile, and a side that does not cannot win.
                if !majority && !delay.is_zero() {
                    self.out.push_back(Output::CheckArbiter {
                        round,
                        within: delay,
                    });
                }
            }
        }
    }

    /// Heard from nobody for the pause bound (plus the refutation spread):
    /// this node is cut off, or lost its inbound traffic. Every other member
    /// is unreachable from here, observed by this node alone; the strategy
    /// decides (keep-majority: a minority of one, so it fences). Checked on
    /// every probe tick, so a node that cannot hear does not wait for its own
    /// slowed probes to suspect everybody.
    pub(super) fn check_silence(&mut self, now: Duration) {
        if self.local_status() != Status::Up
            || self.phase.left()
            || self.arbitration.is_some()
            || self.table.live().is_empty()
        {
            return;
        }
        if !self.silent(now) {
            return;
        }
        self.check_leader();
        warn!(member = %self.local, silent = ?(now - self.last_heard), "heard from nobody: cut off");
        let picture = Picture {
            me: self.local.clone(),
            reachable: vec![seen(self.local_entry())],
            unreachable: self.table.live_entries().map(seen).collect(),
            unknown: Vec::new(),
        };
        self.apply_verdict(&picture);
    }

    /// Builds the picture, or says why not yet.
    fn picture(&self, now: Duration) -> State {
        let d = &self.config.downing;
        // Pending: a suspicion still running (its expiry changes the picture
        // and brings us back), or one younger than the pause bound, or a
        // picture younger than `stable_after`: decide when none is (`ready`),
        // and look a roll call's lead earlier.
        let mut running = false;
        let mut ready = self.picture_since + d.stable_after;
        let mut suspects: Vec<(&Entry, usize)> = Vec::new();
        let spread = self.config.refutation_spread(self.cluster_size());
        // Only the suspects (in the order of the live members), not every
        // member: this runs after every change of the picture.
        for e in self.table.suspected_entries() {
            let Some(s) = e.suspicion.as_ref() else {
                continue;
            };
            if !s.expired {
                running = true;
                break;
            }
            if !s.refused {
                ready = ready.max(s.start + d.max_pause + spread);
            }
            suspects.push((e, s.observers()));
        }
        if running || suspects.is_empty() {
            return State::Calm;
        }
        if now + self.roll_call_lead() < ready {
            return State::Wait(ready - self.roll_call_lead());
        }
        let live = self.cluster_size();
        // One observer's word is not enough while two members could observe.
        let need = 2.min(live - suspects.len());
        let (sure, unsure): (Vec<_>, Vec<_>) = suspects
            .iter()
            .partition(|(_, observers)| *observers >= need);
        if sure.is_empty() {
            return State::Calm;
        }
        let unreachable: Vec<Seen> = sure.iter().map(|(e, _)| seen(e)).collect();
        let unknown: Vec<Seen> = unsure.iter().map(|(e, _)| seen(e)).collect();
        // The rest of the members: built once per decision.
        let suspected: HashSet<&MemberId> = suspects.iter().map(|(e, _)| &e.id).collect();
        let sides = self.sides(now, &suspected);
        if !sides.aging.is_empty() {
            return State::RollCall(sides.aging, ready);
        }
        if now < ready {
            return State::Wait(ready);
        }
        self.settle(now, sides, unreachable, unknown)
    }

    /// This side survives: every unreachable member is down.
    fn down_unreachable(&mut self, picture: &Picture) {
        for s in &picture.unreachable {
            info!(member = %self.local, down = %s.id, "downing decision: unreachable member down");
            self.set_down(&s.id, DownReason::Failed);
        }
    }

    /// A stream connection to `to` was refused: if the member there is
    /// suspected, that is proof that its process is gone (a paused process
    /// still accepts connections), and it need not be waited for.
    pub(super) fn refused(&mut self, to: std::net::SocketAddr) {
        let Some(id) = self.table.newest_at(&to).cloned() else {
            return;
        };
        let marked = self.table.update(&id, |e| match e.suspicion.as_mut() {
            Some(s) if !s.refused => {
                s.refused = true;
                true
            }
            _ => false,
        });
        if marked == Some(true) {
            debug!(member = %self.local, suspect = %id, "connection refused: its process is gone");
            self.picture_changed();
        }
    }

    /// A newer process took the address of `old`: the old one is gone for
    /// certain, no decision needed.
    pub(super) fn replaced(&mut self, old: &MemberId, new: &MemberId) {
        info!(member = %self.local, %old, %new, "restarted member: old generation down");
        self.set_down(old, DownReason::Failed);
    }

    /// This side lost to `winners` (their addresses): publish our own
    /// `Down(Fenced)`, then rejoin (through the winners only: our own side may
    /// not have decided yet and must not take us back) or stop, as configured.
    pub(super) fn fence(&mut self, winners: Vec<std::net::SocketAddr>) {
        warn!(member = %self.local, on_fenced = ?self.config.downing.on_fenced, "this side lost the downing decision: fencing");
        self.stats.downing_fenced += 1;
        self.arbitration = None;
        self.fenced = Some((self.now, winners));
        let me = self.local.clone();
        self.set_down(&me, DownReason::Fenced);
        self.unconfirm_all();
        self.after_own_down(DownReason::Fenced);
    }

    /// This member is down (fenced here, or declared down by the cluster):
    /// rejoin as a new generation, or stop, as configured.
    pub(super) fn after_own_down(&mut self, reason: DownReason) {
        match self.config.downing.on_fenced {
            OnFenced::Rejoin => self.rebirth(reason),
            OnFenced::Stop => {
                let me = self.local.clone();
                self.set_down(&me, reason);
                self.phase = super::lifecycle::Phase::Left;
                self.probe = None;
            }
        }
    }
}
