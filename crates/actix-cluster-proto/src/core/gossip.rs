//! Dissemination: piggybacking queued updates on every datagram, gossip
//! rounds (and eager ones for urgent news), news for zombies, and the
//! full-state exchange (push-pull, join acks, the sync after a join).

use std::net::SocketAddr;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use tracing::debug;

use super::timer::TimerKind;
use super::{Channel, Core};
use crate::codec::{self, Body, Builder, FullState, StateHead};
use crate::id::MemberId;
use crate::members::Entry;

/// Room kept for the message head when deciding whether a record can ever
/// fit a datagram.
const HEAD_ROOM: usize = 400;

impl Core {
    /// Sends a datagram with `head`, piggybacking queued updates (and
    /// `first`, an encoded record put before them) within the size limit.
    pub(super) fn send_with_updates(&mut self, to: SocketAddr, head: Body, first: Option<Vec<u8>>) {
        let budget = self.datagram_budget();
        self.send_within(to, head, first, budget);
    }

    /// As [`Core::send_with_updates`] within `limit` bytes (an answer to a
    /// non-member is no larger than its request): `first` and the updates
    /// only as far as they fit; nothing at all if even the bare message does
    /// not fit (counted in `replies_withheld`).
    pub(super) fn send_within(
        &mut self,
        to: SocketAddr,
        head: Body,
        first: Option<Vec<u8>>,
        limit: usize,
    ) {
        let budget = self.datagram_budget();
        let mut b = Builder::new(&self.prefix, &self.sender, &head, limit.min(budget));
        if b.len() > limit {
            self.stats.replies_withheld += 1;
            return;
        }
        let mut cut = false;
        if let Some(f) = first {
            cut = !b.push(&f) && limit < budget;
        }
        self.fill(&mut b, None);
        if cut {
            self.stats.replies_withheld += 1;
        }
        let bytes = b.finish();
        self.send(to, Channel::Datagram, bytes);
    }

    /// Tells `to` a record directly (a gossip datagram with `record` first).
    pub(super) fn tell(&mut self, to: SocketAddr, record: Option<Vec<u8>>) {
        self.send_with_updates(to, Body::Gossip { updates: vec![] }, record);
    }

    /// Tells `to` a record within `limit` bytes; nothing if it does not fit.
    pub(super) fn tell_within(&mut self, to: SocketAddr, record: Option<Vec<u8>>, limit: usize) {
        if limit >= self.datagram_budget() {
            return self.tell(to, record);
        }
        let Some(record) = record else { return };
        let mut b = self.gossip_builder(limit);
        if b.push(&record) {
            let bytes = b.finish();
            self.send(to, Channel::Datagram, bytes);
        } else {
            self.stats.replies_withheld += 1;
        }
    }

    /// A gossip message with nothing in it yet, of at most `limit` bytes.
    pub(super) fn gossip_builder(&self, limit: usize) -> Builder {
        Builder::new(
            &self.prefix,
            &self.sender,
            &Body::Gossip { updates: vec![] },
            limit,
        )
    }

    /// Adds queued updates to `b` while they fit. Records too big for any
    /// datagram go to `oversize` (sent over a stream) when given.
    pub(super) fn fill(&mut self, b: &mut Builder, mut oversize: Option<&mut Vec<Vec<u8>>>) {
        if self.broadcasts.is_empty() {
            return;
        }
        let limit = self.config.retransmit_limit(self.cluster_size());
        let max = self.datagram_budget();
        let table = &self.table;
        let mut misses = 0;
        self.broadcasts.select(limit, |id| {
            // Encoded straight into the message; copied apart only when
            // too big for any datagram.
            let len = match b.push_with(|buf| table.put_encoded(id, buf)) {
                Ok(added) => return Some(added),
                Err(len) => len,
            };
            if len + HEAD_ROOM > max {
                if let Some(o) = oversize.as_deref_mut() {
                    if let Some(bytes) = table.encoded(id) {
                        o.push(bytes);
                        return Some(true);
                    }
                }
                return Some(false);
            }
            misses += 1;
            if misses > 8 || b.room() < 24 {
                None
            } else {
                Some(false)
            }
        });
    }

    /// Gossips urgent news at once (at most every gossip_interval / 8).
    pub(super) fn flush_eager(&mut self, now: Duration) {
        if !self.eager || !self.phase.started() {
            return;
        }
        let spacing = self.config.gossip_interval / 8;
        if self.last_eager.is_some_and(|t| now < t + spacing) {
            return;
        }
        self.eager = false;
        self.last_eager = Some(now);
        self.gossip_round();
    }

    pub(super) fn gossip_tick(&mut self) {
        self.schedule(TimerKind::Gossip, self.config.gossip_interval);
        self.gossip_round();
    }

    /// Sends queued updates to `gossip_nodes` random live members, those
    /// this node does not suspect first.
    fn gossip_round(&mut self) {
        if self.broadcasts.is_empty() {
            return;
        }
        // A suspect is likely out of reach, and every message counts toward
        // an update's retransmit limit. Sent at random, a minority's news
        // (its confirmations of its suspicions above all) went mostly into
        // the cut, so its members' suspicions often ran unconfirmed to
        // Lifeguard's longest timeout and the side fenced late. Suspects
        // still hear of their suspicion on every ping sent to them.
        let want = self.config.gossip_nodes;
        let mut targets = self
            .table
            .random_live(&mut self.rng, want, |e| e.suspicion.is_none());
        if targets.len() < want {
            let more = self
                .table
                .random_live(&mut self.rng, want - targets.len(), |e| {
                    e.suspicion.is_some()
                });
            targets.extend(more);
        }
        for to in targets {
            if self.broadcasts.is_empty() {
                break;
            }
            let mut b = self.gossip_builder(self.datagram_budget());
            let mut big = Vec::new();
            self.fill(&mut b, Some(&mut big));
            if b.count() > 0 {
                let bytes = b.finish();
                self.send(to.addr, Channel::Datagram, bytes);
            }
            if !big.is_empty() {
                let mut buf = self.gossip_builder(self.frame_budget());
                for r in &big {
                    buf.push(r);
                }
                let bytes = buf.finish();
                self.send(to.addr, Channel::Stream, bytes);
            }
        }
    }

    /// If `sender` is a member we consider gone, the record that tells it so.
    pub(super) fn zombie_news(&mut self, sender: &MemberId) -> Option<Vec<u8>> {
        if sender == &self.local {
            return None;
        }
        if let Some(e) = self.table.get(sender) {
            if !e.is_live() {
                return self.record_bytes(sender);
            }
            return None;
        }
        if self.table.is_removed(sender) {
            return Some(codec::down_record(sender));
        }
        match self.table.newest_at(&sender.addr) {
            Some(n) if n.generation > sender.generation => Some(codec::down_record(sender)),
            _ => None,
        }
    }

    /// Our full state as a stream frame with `head`, bounded by
    /// `max_frame_size`: `first`, ourselves, then live members in random
    /// order, then tombstones; what does not fit is left out.
    pub(super) fn full_state(&mut self, head: StateHead, first: Option<Vec<u8>>) -> Vec<u8> {
        let mut ids: Vec<MemberId> = self.table.live().to_vec();
        ids.shuffle(&mut self.rng);
        let mut down: Vec<MemberId> = self
            .table
            .entries()
            .filter(|e| !e.is_live() && e.id != self.local)
            .map(|e| e.id.clone())
            .collect();
        down.sort();
        let mut state = FullState::new(&self.prefix, &self.sender, head, self.frame_budget());
        if let Some(f) = first {
            state.add(&f);
        }
        let local = self.local.clone();
        for id in std::iter::once(&local).chain(ids.iter()).chain(down.iter()) {
            let table = &self.table;
            if state.push_with(|buf| table.put_encoded(id, buf)).is_err() {
                debug!(member = %self.local, "full state truncated to max_frame_size");
                break;
            }
        }
        state.finish()
    }

    /// Sends our full state over the stream to one random live member that
    /// `eligible` accepts (its answer is its own full state); false when
    /// there is none.
    pub(super) fn push_full_state_to_one(&mut self, eligible: impl Fn(&Entry) -> bool) -> bool {
        let target = self.table.random_live(&mut self.rng, 1, eligible);
        let Some(to) = target.first() else {
            return false;
        };
        let bytes = self.full_state(StateHead::PushPull { reply: false }, None);
        self.send(to.addr, Channel::Stream, bytes);
        true
    }

    pub(super) fn push_pull_tick(&mut self) {
        if self.phase.left() {
            return;
        }
        // Ticks come every push_pull_interval (jittered); each exchanges
        // with probability interval / period(N), so that members exchange
        // once per period(N) on average, follow changes of N at once, and do
        // not all exchange in the same minute after a cold start.
        let base = self.config.push_pull_interval;
        let d = base.mul_f64(self.rng.gen_range(0.5..1.5));
        self.schedule(TimerKind::PushPull, d);
        let period = self.config.push_pull_period(self.cluster_size());
        let p = base.as_secs_f64() / period.as_secs_f64().max(1e-9);
        if p < 1.0 && !self.rng.gen_bool(p) {
            return;
        }
        self.push_full_state_to_one(|_| true);
    }
}
