//! The local member's life: start, join (with retries), form, becoming `Up`,
//! leaving, metadata updates, and the reconnect tick that asks lost seeds and
//! failed members in again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use tracing::{info, warn};

use super::timer::TimerKind;
use super::{Channel, Core};
use crate::codec::Body;
use crate::event::Event;
use crate::id::{Incarnation, MemberId};
use crate::limits;
use crate::member::{DownReason, Status};
use crate::members::Announced;

/// Where the local member is in its life. (Its status, `Joining` or `Up` and
/// so on, is in the table; this is what the node itself was asked to do.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Neither Join nor Form yet: messages are ignored.
    Idle,
    /// Joining with our own address as the first seed: forms the cluster
    /// alone if no seed answers within one join retry interval.
    FirstSeed,
    /// Joined or formed (the local member may still be `Joining`).
    Running,
    /// Left gracefully: answers probes and requests with its leave only.
    Left,
}

impl Phase {
    /// Join or Form was called.
    pub(super) fn started(self) -> bool {
        self != Phase::Idle
    }

    /// Left gracefully.
    pub(super) fn left(self) -> bool {
        self == Phase::Left
    }
}

impl Core {
    /// The first Join or Form: publish ourselves, start the periodic timers.
    fn start(&mut self) {
        if self.phase.started() {
            return;
        }
        self.phase = Phase::Running;
        let id = self.local.clone();
        if let Some(info) = self.table.update(&id, |e| {
            e.announced = Announced::Joined;
            e.info()
        }) {
            self.emit(Event::Joined(info));
        }
        let d = self.jitter(self.config.probe_interval);
        self.schedule(TimerKind::Probe, d);
        let d = self.jitter(self.config.gossip_interval);
        self.schedule(TimerKind::Gossip, d);
        let d = self.jitter(self.config.push_pull_interval);
        self.schedule(TimerKind::PushPull, d);
        let d = self.jitter(self.reconnect_interval());
        self.schedule(TimerKind::Reconnect, d);
    }

    fn reconnect_interval(&self) -> Duration {
        self.config.join_retry_interval * 10
    }

    /// A random duration in `(0, d]`.
    pub(super) fn jitter(&mut self, d: Duration) -> Duration {
        let f: f64 = self.rng.gen_range(0.05..=1.0);
        d.mul_f64(f)
    }

    pub(super) fn join(&mut self, seeds: Vec<SocketAddr>) {
        if self.phase.left() {
            warn!(member = %self.local, "join after leave ignored");
            return;
        }
        let first_is_me = seeds.first() == Some(&self.local.addr);
        self.start();
        if first_is_me && self.local_status() == Status::Joining {
            self.phase = Phase::FirstSeed;
        }
        for s in seeds {
            if s != self.local.addr && !self.seeds.contains(&s) {
                self.seeds.push(s);
            }
        }
        info!(member = %self.local, seeds = ?self.seeds, "joining");
        if self.seeds.is_empty() && self.phase == Phase::FirstSeed {
            self.become_up();
            return;
        }
        self.send_join_requests();
        self.schedule(TimerKind::Join, self.config.join_retry_interval);
    }

    /// Our join request, as a stream frame.
    fn join_request(&self) -> Vec<u8> {
        let record = self.local_entry().record();
        self.encode(Body::JoinRequest { record })
    }

    /// Sends our join request to every seed and rejoin target.
    pub(super) fn send_join_requests(&mut self) {
        let bytes = self.join_request();
        // After a fence, only the side that won may take us back (our own
        // side may not have decided yet), for a tombstone period at least.
        let fenced_recently = self
            .fenced
            .as_ref()
            .is_some_and(|(at, _)| self.now < *at + self.config.tombstone_period);
        let mut targets = if fenced_recently {
            Vec::new()
        } else {
            self.seeds.clone()
        };
        for r in &self.rejoin {
            if !targets.contains(r) {
                targets.push(*r);
            }
        }
        for t in targets {
            if t != self.local.addr {
                self.send(t, Channel::Stream, bytes.clone());
            }
        }
    }

    pub(super) fn form(&mut self) {
        if self.phase.left() {
            return;
        }
        self.start();
        if self.local_status() == Status::Joining {
            info!(member = %self.local, "forming a new cluster");
            self.become_up();
        }
    }

    /// The local member becomes `Up`: incarnation + 1, next up number (both
    /// saturating: the network sets the largest up number and incarnation we
    /// know, and `Up` supersedes `Joining` at an equal incarnation).
    pub(super) fn become_up(&mut self) {
        let id = self.local.clone();
        let upn = self.table.max_up_number().saturating_add(1);
        if self.local_status() != Status::Joining {
            return;
        }
        let Some(info) = self.table.update(&id, |e| {
            e.status = Status::Up;
            e.incarnation = e.incarnation.saturating_add(1);
            e.up_number = upn;
            e.announced = e.announced.with_up();
            e.info()
        }) else {
            return;
        };
        if self.phase == Phase::FirstSeed {
            self.phase = Phase::Running;
        }
        self.rejoin.clear();
        self.fenced = None;
        // A new member decides on nothing it observed before it was one.
        self.forget_suspicions();
        info!(member = %self.local, up_number = upn, "local member is up");
        self.emit(Event::Up(info));
        // Rejoined after a fence: the members held back are shown again.
        self.confirm_all();
        self.broadcasts.push(&id);
        self.check_leader();
    }

    pub(super) fn leave(&mut self) {
        if !self.phase.started() || self.phase.left() {
            return;
        }
        let id = self.local.clone();
        let Some(info) = self.table.update(&id, |e| {
            // `Leaving` supersedes `Up` at an equal incarnation: saturating
            // is enough here.
            e.incarnation = e.incarnation.saturating_add(1);
            e.status = Status::Leaving;
            e.announced = e.announced.with_leaving();
            e.info()
        }) else {
            return;
        };
        info!(member = %self.local, "leaving");
        self.emit(Event::Leaving(info));
        self.check_leader();
        self.phase = Phase::Left;
        self.set_down(&id, DownReason::Left);
        // Tell everyone directly, twice over (datagrams may be lost), then
        // keep gossiping it while this node still runs.
        let rec = self.record_bytes(&id).unwrap_or_default();
        let targets: Vec<MemberId> = self.table.live().to_vec();
        for round in 0..2 {
            for t in &targets {
                let mut b = self.gossip_builder(self.datagram_budget());
                b.push(&rec);
                if round == 0 {
                    self.fill(&mut b, None);
                }
                let bytes = b.finish();
                self.send(t.addr, Channel::Datagram, bytes);
            }
        }
        self.probe = None;
    }

    pub(super) fn update_metadata(&mut self, m: BTreeMap<String, String>) {
        if let Err(e) = limits::validate_metadata(&m) {
            warn!(member = %self.local, error = %e, "metadata update refused");
            return;
        }
        if self.phase.left() {
            return;
        }
        if self.local_entry().incarnation == Incarnation::MAX {
            // No newer incarnation to announce it with (a record drove ours
            // to the top; with keys, only a member could): the others would
            // never take it. Refused, not wrapped around.
            warn!(member = %self.local, "metadata update refused: this member's incarnation is exhausted (a restart takes a new generation)");
            return;
        }
        let id = self.local.clone();
        let updated = self.table.update(&id, |e| {
            let changed = e.set_metadata(m);
            e.incarnation = e.incarnation.saturating_add(1);
            changed.then(|| e.info())
        });
        if let Some(Some(info)) = updated {
            self.emit(Event::Updated(info));
        }
        self.broadcasts.push(&id);
    }

    /// Join retry: ask the seeds again while joining (or form as first
    /// seed); an `Up` member alone asks its seeds again too.
    pub(super) fn join_tick(&mut self) {
        if self.phase.left() {
            return;
        }
        self.schedule(TimerKind::Join, self.config.join_retry_interval);
        match self.local_status() {
            Status::Joining => {
                if self.phase == Phase::FirstSeed {
                    info!(member = %self.local, "no seed answered: forming the cluster as first seed");
                    self.become_up();
                } else {
                    if !self.rejoin.is_empty() {
                        self.pick_rejoin_targets();
                    }
                    self.send_join_requests();
                }
            }
            Status::Up if self.table.live().is_empty() && !self.seeds.is_empty() => {
                self.send_join_requests();
            }
            _ => {}
        }
    }

    pub(super) fn reconnect_tick(&mut self) {
        if self.phase.left() {
            return;
        }
        let d = self.reconnect_interval();
        self.schedule(TimerKind::Reconnect, d);
        // Seeds that are not live members (e.g. forgotten during a long
        // partition): ask them in again. Their answer tells us if we were
        // declared down meanwhile (we then rejoin as a new generation).
        if self.local_status() == Status::Up {
            let table = &self.table;
            // A seed whose newest generation is live is live (the common
            // case, one lookup); only the others are looked for among all
            // live members, so the tick is not O(members) when all is well.
            let is_live = |a: &SocketAddr| {
                table.newest_at(a).is_some_and(|id| table.is_live(id))
                    || table.live().iter().any(|m| m.addr == *a)
            };
            let lost: Vec<SocketAddr> =
                self.seeds.iter().copied().filter(|a| !is_live(a)).collect();
            if !lost.is_empty() && !table.live().is_empty() {
                let to = lost[self.rng.gen_range(0..lost.len())];
                let bytes = self.join_request();
                self.send(to, Channel::Stream, bytes);
            }
        }
        // Ping one random failed tombstone: if it answers, a partition healed
        // (the zombie check on either side then starts the merge).
        if self.table.failed() == 0 {
            return;
        }
        let mut failed: Vec<MemberId> = self
            .table
            .entries()
            .filter(|e| {
                e.status == Status::Down(DownReason::Failed)
                    && e.id != self.local
                    && e.announced.joined()
            })
            .map(|e| e.id.clone())
            .collect();
        // The table is a HashMap: sort so the seeded pick is deterministic.
        failed.sort();
        if failed.is_empty() {
            return;
        }
        let target = failed[self.rng.gen_range(0..failed.len())].clone();
        let seq = self.seq();
        let rec = self.record_bytes(&target);
        self.send_ping(&target, seq, rec);
    }
}
