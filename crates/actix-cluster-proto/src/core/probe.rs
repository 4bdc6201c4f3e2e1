//! Failure detection: probe rounds (direct ping, then indirect pings through
//! helpers), the relays we run for others' ping-reqs, and the one function
//! that builds a Ping. A failed probe raises a suspicion (see `suspect`); it
//! never decides `Down` itself.

use std::net::SocketAddr;
use std::time::Duration;

use rand::seq::SliceRandom;
use tracing::{debug, trace};

use super::timer::TimerKind;
use super::Core;
use crate::codec::Body;
use crate::id::{Incarnation, MemberId};
use crate::member::Status;

/// The probe in flight.
#[derive(Debug)]
pub(super) struct Probe {
    seq: u32,
    pub(super) target: MemberId,
    /// When the ping went out, and when the verdict was due.
    sent: Duration,
    due: Duration,
    /// Direct ack deadline (for local health).
    direct_deadline: Duration,
    acked: bool,
    /// Helpers asked to probe indirectly (and when), and the nacks
    /// (Lifeguard). Only the missing nacks of helpers this node heard from
    /// while it waited count against its health: a member known only from
    /// others' records, or one silent since a cut, proves nothing.
    helpers: Vec<MemberId>,
    asked: Duration,
    nacks: usize,
}

/// A ping we send on behalf of another member (ping-req).
#[derive(Debug)]
pub(super) struct Relay {
    /// Who asked, and under which sequence number.
    origin: SocketAddr,
    seq: u32,
    /// How much longer a late ack is still relayed once the nack has gone
    /// (zero: the relay ends with the nack).
    after_nack: Duration,
    nacked: bool,
}

impl Core {
    /// The probe timer fired: judge the last probe, then probe the next member.
    pub(super) fn probe_tick(&mut self, now: Duration) {
        if self.phase.left() {
            return;
        }
        let interval = self.awareness.scale(self.config.probe_interval);
        self.schedule(TimerKind::Probe, interval);
        if self
            .last_probe_tick
            .is_some_and(|last| now > last + interval * 3)
        {
            // This node (or its driver) stalled: the silence it saw meanwhile
            // proves nothing; give the others time to be heard again.
            self.after_stall(now);
        }
        self.last_probe_tick = Some(now);
        self.check_silence(now);
        if self.phase.left() {
            return;
        }
        if let Some(p) = self.probe.take() {
            if !p.acked {
                if self.config.lifeguard && now > p.due + (p.due - p.sent) {
                    // This timer fired far too late: this node (or its
                    // driver) stalled, so the silence proves nothing about
                    // the target. Count it against our own health only.
                    debug!(member = %self.local, target = %p.target, late = ?(now - p.due), "stalled: probe verdict skipped");
                    self.awareness.apply(1);
                } else {
                    self.probe_failed(now, p);
                }
            }
        }
        let target = match self.priority_probe.take() {
            Some(id) if self.table.is_live(&id) => Some(id),
            _ => self.next_probe_target(),
        };
        let Some(target) = target else {
            return;
        };
        let seq = self.seq();
        let first = self.suspicion_news(&target);
        self.send_ping(&target, seq, first);
        self.stats.probes_sent += 1;
        let timeout = self.awareness.scale(self.config.probe_timeout);
        self.probe = Some(Probe {
            seq,
            target,
            sent: now,
            due: now + interval,
            direct_deadline: now + timeout,
            acked: false,
            helpers: Vec::new(),
            asked: now,
            nacks: 0,
        });
        self.schedule(TimerKind::ProbeTimeout { seq }, timeout);
    }

    /// The next member of this round (a new shuffled round when it is over).
    /// Members already confirmed unreachable (their suspicion expired) do not
    /// take a probe slot while others remain: probing them again tells
    /// nothing, and a node whose probing is slowed (a side cut off from the
    /// rest) must see every member it cannot reach before the downing decision
    /// can be taken. Each one passed over is still told its suspicion, so a
    /// live one refutes.
    fn next_probe_target(&mut self) -> Option<MemberId> {
        let mut passed: Vec<MemberId> = Vec::new();
        let mut found = None;
        'rounds: for _ in 0..2 {
            while self.probe_idx < self.probe_list.len() {
                let id = &self.probe_list[self.probe_idx];
                self.probe_idx += 1;
                let Some(e) = self.table.get(id).filter(|e| e.is_live()) else {
                    continue;
                };
                if e.suspicion.as_ref().is_some_and(|s| s.expired) {
                    passed.push(id.clone());
                    continue;
                }
                found = Some(id.clone());
                break 'rounds;
            }
            if !passed.is_empty() {
                break;
            }
            // New round: reshuffle the live members.
            self.probe_list = self.table.live().to_vec();
            self.probe_list.shuffle(&mut self.rng);
            self.probe_idx = 0;
        }
        if found.is_none() && !passed.is_empty() {
            found = Some(passed.remove(0));
        }
        for id in passed {
            let news = self.suspicion_news(&id);
            self.tell(id.addr, news);
        }
        found
    }

    /// No direct ack for probe `seq` in time: ask helpers, and ping again.
    pub(super) fn probe_timeout(&mut self, seq: u32) {
        let Some(p) = self.probe.as_ref() else {
            return;
        };
        if p.seq != seq || p.acked {
            return;
        }
        let target = p.target.clone();
        let helpers = self
            .table
            .random_live(&mut self.rng, self.config.indirect_checks, |e| {
                e.id != target && e.suspicion.is_none() && e.status != Status::Joining
            });
        trace!(member = %self.local, %target, helpers = helpers.len(), "direct probe timed out");
        self.send_ping_reqs(&helpers, seq, &target);
        // One more direct try, in case only the first ping was lost.
        let first = self.suspicion_news(&target);
        self.send_ping(&target, seq, first);
        let now = self.now;
        if let Some(p) = self.probe.as_mut() {
            p.helpers = helpers;
            p.asked = now;
        }
    }

    /// The probe round ended without an ack: local health, then a suspicion.
    fn probe_failed(&mut self, now: Duration, p: Probe) {
        self.stats.probes_failed += 1;
        if self.config.lifeguard {
            if !p.helpers.is_empty() {
                let proven = p
                    .helpers
                    .iter()
                    .filter(|h| self.heard_since(h, p.asked))
                    .count();
                let missed = proven.saturating_sub(p.nacks);
                if missed > 0 {
                    self.awareness.apply(missed as i64);
                }
            } else if self.table.get(&p.target).is_some_and(|e| e.heard) {
                // No helper to tell us apart: the silence of a member we
                // have heard before hints at our own slowness.
                self.awareness.apply(1);
            }
        }
        let Some(e) = self.table.get(&p.target) else {
            return;
        };
        if !e.is_live() {
            return;
        }
        let inc = e.incarnation;
        self.stats.suspicions_raised += 1;
        let me = self.local.clone();
        debug!(member = %self.local, target = %p.target, "probe failed");
        self.apply_suspect(now, &p.target, inc, &me);
        if self.config.lifeguard {
            // Tell the suspect at once so it can refute.
            let rec = self.record_bytes(&p.target);
            self.tell(p.target.addr, rec);
        }
    }

    /// An ack: for our probe, a last call, or a relay we run.
    pub(super) fn on_ack(&mut self, now: Duration, seq: u32) {
        if let Some(p) = self.probe.as_mut() {
            if p.seq == seq {
                if !p.acked {
                    p.acked = true;
                    let rtt = now.saturating_sub(p.sent);
                    if now <= p.direct_deadline {
                        self.awareness.apply(-1);
                    }
                    self.stats.probe_acked(rtt);
                    // An ack relayed by a helper is first-hand evidence too:
                    // a member this side reaches now.
                    let target = p.target.clone();
                    self.note_heard(&target, now);
                }
                return;
            }
        }
        if self.last_call_answered(seq) {
            return;
        }
        if let Some(r) = self.relays.remove(&seq) {
            self.send_with_updates(
                r.origin,
                Body::Ack {
                    seq: r.seq,
                    updates: vec![],
                },
                None,
            );
        }
    }

    /// A helper could not reach our probe's target (Lifeguard).
    pub(super) fn on_nack(&mut self, seq: u32) {
        if let Some(p) = self.probe.as_mut() {
            if p.seq == seq {
                p.nacks += 1;
            }
        }
    }

    /// `sender` asks us to probe `target` under its `seq`.
    pub(super) fn on_ping_req(&mut self, sender: &MemberId, seq: u32, target: MemberId) {
        if target == self.local {
            self.send_with_updates(
                sender.addr,
                Body::Ack {
                    seq,
                    updates: vec![],
                },
                None,
            );
            return;
        }
        if !self.authenticated && !self.table.contains(&target) {
            // Unauthenticated: probe only members we know, never an address
            // the message made up.
            trace!(member = %self.local, %target, "ping-req for an unknown member ignored");
            return;
        }
        // The nack is due at 0.8 of the unscaled probe timeout, whatever
        // this node's own health: the asker waits for it only until its
        // next probe tick, one probe timeout (scaled by *its* health) after
        // it asked, and counts a nack that comes later against its own
        // health. Scaled by ours, a helper in poor health would push its
        // poor health onto every healthy member it helps. A late ack is
        // still relayed for as long as our own (scaled) timeout allows.
        let nack_after = self.config.probe_timeout.mul_f64(0.8);
        let relay_for = self.awareness.scale(self.config.probe_timeout).mul_f64(0.8);
        let rseq = self.seq();
        self.relays.insert(
            rseq,
            Relay {
                origin: sender.addr,
                seq,
                after_nack: relay_for.saturating_sub(nack_after),
                nacked: false,
            },
        );
        let first = self.suspicion_news(&target);
        self.send_ping(&target, rseq, first);
        self.schedule(TimerKind::Relay { seq: rseq }, nack_after);
    }

    /// The ping we relayed under `seq` went unanswered: nack (Lifeguard)
    /// the first time, and end the relay once it may not wait longer.
    pub(super) fn relay_expired(&mut self, seq: u32) {
        let Some(r) = self.relays.get_mut(&seq) else {
            return;
        };
        let (origin, their_seq) = (r.origin, r.seq);
        let first = !r.nacked;
        r.nacked = true;
        let rest = r.after_nack;
        if first && !rest.is_zero() {
            self.schedule(TimerKind::Relay { seq }, rest);
        } else {
            self.relays.remove(&seq);
        }
        if first && self.config.lifeguard {
            self.send_with_updates(
                origin,
                Body::Nack {
                    seq: their_seq,
                    updates: vec![],
                },
                None,
            );
        }
    }

    /// Pings `target` under `seq`, with `first` (an encoded record) ahead of
    /// the piggybacked updates.
    pub(super) fn send_ping(&mut self, target: &MemberId, seq: u32, first: Option<Vec<u8>>) {
        let head = Body::Ping {
            seq,
            target_gen: target.generation,
            target_inc: self.known_inc(target),
            updates: vec![],
        };
        self.send_with_updates(target.addr, head, first);
    }

    /// Asks each of `helpers` to ping `target` for us under `seq`.
    pub(super) fn send_ping_reqs(&mut self, helpers: &[MemberId], seq: u32, target: &MemberId) {
        for h in helpers {
            self.send_with_updates(
                h.addr,
                Body::PingReq {
                    seq,
                    target: target.clone(),
                    updates: vec![],
                },
                None,
            );
        }
    }

    /// The incarnation we know of `id` (0 if unknown).
    fn known_inc(&self, id: &MemberId) -> Incarnation {
        self.table.get(id).map_or(0, |e| e.incarnation)
    }

    /// If `target` is suspected, its record (so that a prober tells it).
    pub(super) fn suspicion_news(&mut self, target: &MemberId) -> Option<Vec<u8>> {
        if !self.config.lifeguard || self.table.get(target)?.suspicion.is_none() {
            return None;
        }
        self.record_bytes(target)
    }
}
