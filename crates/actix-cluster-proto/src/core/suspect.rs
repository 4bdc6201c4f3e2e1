//! Suspicion: raising and confirming a suspicion (Lifeguard's shrinking
//! timeout, see `crate::suspicion`), the last call before a suspect is given up,
//! and the expiry that marks the member confirmed unreachable. A suspicion is
//! an observation (the member is reported `Unreachable`): the downing decision
//! (`core::decision`) is what may turn it into `Down`.

use std::time::Duration;

use rand::Rng;
use tracing::{debug, info, trace};

use super::timer::TimerKind;
use super::{Channel, Core};
use crate::event::Event;
use crate::id::{Incarnation, MemberId};
use crate::member::Status;
use crate::suspicion::Suspicion;

impl Core {
    /// A suspicion of `id` at `inc` raised or confirmed by `from`.
    pub(super) fn apply_suspect(
        &mut self,
        now: Duration,
        id: &MemberId,
        inc: Incarnation,
        from: &MemberId,
    ) {
        let Some(e) = self.table.get(id) else {
            return;
        };
        if !e.is_live() || inc < e.incarnation {
            return;
        }
        if let Some(s) = e.suspicion.as_ref() {
            if s.incarnation == inc {
                self.confirm_suspicion(now, id, from);
                return;
            }
            if inc < s.incarnation {
                return;
            }
        }
        self.raise_suspicion(now, id, inc, from);
    }

    /// Lifeguard's suspicion parameters for a cluster of `n`: confirmations
    /// wanted, minimum and maximum timeout.
    fn suspicion_bounds(&self, n: usize) -> (u32, Duration, Duration) {
        let lifeguard = self.config.lifeguard;
        let k = if lifeguard {
            let k = self.config.suspicion_mult.saturating_sub(2);
            if (n as u32).saturating_sub(2) < k {
                0
            } else {
                k
            }
        } else {
            0
        };
        let min = self.config.suspicion_min_timeout(n);
        let max = if lifeguard {
            self.config.suspicion_max_timeout(n)
        } else {
            min
        };
        (k, min, max)
    }

    /// Another member confirms the suspicion we hold: its timeout may shrink.
    fn confirm_suspicion(&mut self, now: Duration, id: &MemberId, from: &MemberId) {
        let local = &self.local;
        let outcome = self.table.update(id, |e| {
            let s = e.suspicion.as_mut()?;
            let observers = s.observers();
            let counted = s.confirm(from);
            if !counted || s.last_call {
                // Beyond the confirmations the timeout needs, or the timer
                // already ran out (a shorter timeout would cut the last call
                // short): only the downing picture may change. It sees a
                // suspect's observers only as one or more than one (see
                // `picture`): a third observer changes nothing, and
                // restarting the stability clock for it would put off the
                // decision as long as news of the suspect still spreads (a
                // roll call's pings and acks carry it right before it).
                return Some(None).filter(|_| observers == 1 && s.observers() == 2);
            }
            // A record names one suspecter. Once this node has seen the
            // suspect silent itself, it names itself: the others may not know
            // of its observation yet, while the one that confirmed told them
            // itself. Naming the last confirmer instead, a node's own
            // observation could be overwritten before it reached anyone, and
            // a small side's suspicions then ran unconfirmed to Lifeguard's
            // longest timeout.
            if e.suspecter.as_ref() != Some(local) {
                e.suspecter = Some(from.clone());
            }
            Some(Some(s.deadline()))
        });
        let deadline = match outcome.flatten() {
            Some(Some(deadline)) => deadline,
            Some(None) => {
                self.picture_changed();
                return;
            }
            None => return,
        };
        self.schedule(
            TimerKind::Suspicion { id: id.clone() },
            deadline.saturating_sub(now),
        );
        trace!(member = %self.local, suspect = %id, %from, "suspicion confirmed");
        self.broadcasts.push(id);
        self.picture_changed();
    }

    /// A new suspicion (or one at a newer incarnation).
    fn raise_suspicion(&mut self, now: Duration, id: &MemberId, inc: Incarnation, from: &MemberId) {
        let n = self.cluster_size();
        let (k, min, max) = self.suspicion_bounds(n);
        let Some((deadline, announce, info)) = self.table.update(id, |e| {
            e.incarnation = inc;
            let s = Suspicion::new(inc, from.clone(), now, k, min, max);
            let deadline = s.deadline();
            e.suspicion = Some(Box::new(s));
            e.suspecter = Some(from.clone());
            let announce = e.announced.up() && !e.announced.unreachable();
            if announce {
                e.announced = e.announced.with_unreachable(true);
            }
            (deadline, announce, e.info())
        }) else {
            return;
        };
        self.schedule(
            TimerKind::Suspicion { id: id.clone() },
            deadline.saturating_sub(now),
        );
        debug!(member = %self.local, suspect = %id, %from, inc, "suspect");
        self.eager = true;
        self.picture_changed();
        if announce {
            self.emit(Event::Unreachable(info));
        }
        self.broadcasts.push(id);
        // Lifeguard, faster confirmation: about k + 1 members that hear of a
        // suspicion probe the suspect next, so a dead member collects its
        // confirmations within a probe interval or two.
        if self.config.lifeguard && from != &self.local && n > 2 {
            let p = (f64::from(k) + 1.0) / (n as f64 - 2.0);
            if self.rng.gen_bool(p.min(1.0)) {
                self.priority_probe = Some(id.clone());
            }
        }
        self.note_flap(id, inc, from);
    }

    /// The suspicion timer of `id` fired: a last call first (Lifeguard), then
    /// the verdict.
    pub(super) fn suspicion_expired(&mut self, id: &MemberId) {
        let Some(s) = self.table.get(id).and_then(|e| e.suspicion.as_ref()) else {
            return;
        };
        if self.config.lifeguard && !s.last_call {
            self.last_call(id);
            return;
        }
        info!(member = %self.local, suspect = %id, "suspicion timed out: member unreachable");
        let unwell = !self.healthy_enough_to_down();
        self.table.update(id, |e| {
            if let Some(s) = e.suspicion.as_mut() {
                s.expired = true;
                s.unwell = unwell;
            }
        });
        self.picture_changed();
    }

    /// Before declaring a suspect failed, probe it once more, directly (with
    /// the suspicion, so that it refutes) and through two helpers; an answer
    /// within one probe timeout withdraws our suspicion. This guards against
    /// a refutation this node missed (bursty loss).
    fn last_call(&mut self, id: &MemberId) {
        let wait = self.awareness.scale(self.config.probe_timeout);
        let called = self.table.update(id, |e| {
            e.suspicion.as_mut().map(|s| s.last_call = true).is_some()
        });
        if called != Some(true) {
            return;
        }
        self.schedule(TimerKind::Suspicion { id: id.clone() }, wait);
        let seq = self.seq();
        if let Some(old) = self.last_call_seq.insert(id.clone(), seq) {
            self.last_calls.remove(&old);
        }
        self.last_calls.insert(seq, id.clone());
        let first = self.suspicion_news(id);
        // Over the stream too: a refused connection proves the process gone
        // (see `handle_refused`), and a suspect that only TCP reaches refutes.
        if let Some(news) = first.clone() {
            let mut b = self.gossip_builder(self.datagram_budget());
            b.push(&news);
            let bytes = b.finish();
            self.send(id.addr, Channel::Stream, bytes);
        }
        self.send_ping(id, seq, first);
        let helpers = self.table.random_live(&mut self.rng, 2, |e| {
            &e.id != id && e.suspicion.is_none() && e.status != Status::Joining
        });
        self.send_ping_reqs(&helpers, seq, id);
        trace!(member = %self.local, suspect = %id, "last call");
    }

    /// Calls `id` again: its suspicion expired after a last call made while
    /// this node was in poor local health (see `may_down`). It runs again
    /// as a fresh last call, and expires again only if that goes unanswered.
    pub(super) fn call_suspect_again(&mut self, id: &MemberId) {
        let reset = self.table.update(id, |e| {
            e.suspicion.as_mut().map(|s| {
                s.expired = false;
                s.last_call = false;
                s.unwell = false;
            })
        });
        if reset.flatten().is_some() {
            debug!(member = %self.local, suspect = %id, "healthy again: calling a suspect once more");
            self.picture_changed();
            self.last_call(id);
        }
    }

    /// The answer to last call `seq`, if it is one.
    pub(super) fn last_call_answered(&mut self, seq: u32) -> bool {
        let Some(id) = self.last_calls.remove(&seq) else {
            return false;
        };
        if self.last_call_seq.get(&id) == Some(&seq) {
            self.last_call_seq.remove(&id);
        }
        self.withdraw_suspicion(&id);
        true
    }

    /// A suspect answered its last call: withdraw our suspicion (its
    /// incarnation is unchanged; gossip at the same incarnation may suspect it
    /// again, with a fresh timer).
    fn withdraw_suspicion(&mut self, id: &MemberId) {
        let Some(e) = self.table.get(id) else {
            return;
        };
        if e.suspicion.is_none() || !e.is_live() {
            return;
        }
        let Some((announce, info)) = self.table.update(id, |e| {
            e.suspicion = None;
            e.suspecter = None;
            (e.settle_reachable(), e.info())
        }) else {
            return;
        };
        self.timers.disarm(&TimerKind::Suspicion { id: id.clone() });
        self.picture_changed();
        debug!(member = %self.local, suspect = %id, "answered its last call: suspicion withdrawn");
        if announce {
            self.emit(Event::Reachable(info));
        }
    }
}
