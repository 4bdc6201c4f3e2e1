//! Merging what others say into the table: gossiped records (the status
//! precedence itself is [`precedence`]), what others say about us (refutation,
//! rebirth), new members, and [`Core::set_down`], the one function through
//! which any member goes `Down`.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use tracing::{debug, info, warn};

use super::timer::TimerKind;
use super::Core;
use crate::codec::{self, Record};
use crate::event::Event;
use crate::id::{Incarnation, MemberId};
use crate::member::{precedence, DownReason, Precedence, Status};
use crate::members::{Announced, Entry};

/// Removed ids are remembered (not gossiped) this many tombstone periods.
const REMEMBER_REMOVED: u32 = 10;

impl Core {
    /// Merges records that came from `sender`.
    pub(super) fn apply_all(&mut self, now: Duration, sender: &MemberId, records: Vec<Record>) {
        if sender != &self.local && self.table.get(sender).is_some_and(|e| !e.is_live()) {
            // A member we hold down (it is told so, see `zombie_news`): its
            // view is stale, its verdicts are not ours to apply.
            return;
        }
        // Before any record can make us reborn: a newer generation at our own
        // address means ours is taken as stale (see `above_own`).
        let mine = &self.local;
        if let Some(top) = records
            .iter()
            .filter(|r| r.id.addr == mine.addr && r.id.generation > mine.generation)
            .map(|r| r.id.generation)
            .max()
        {
            self.above_own = self.above_own.max(top);
        }
        for mut r in records {
            r.id = self.table.canonical(r.id);
            r.suspect = r.suspect.map(|s| self.table.canonical(s));
            self.apply_record(now, sender, r);
        }
    }

    /// Merges one record (from `sender`) into the table, publishing the events
    /// it implies.
    pub(super) fn apply_record(&mut self, now: Duration, sender: &MemberId, rec: Record) {
        if rec.id == self.local {
            self.apply_about_self(now, sender, rec);
            return;
        }
        if rec.id.addr == self.local.addr {
            // Another generation at our own address: an earlier life of
            // ours (stale) or a misconfigured twin. Ignore.
            return;
        }
        if self.table.is_removed(&rec.id) {
            return;
        }
        // The newest generation known at its address (cloned only when this
        // record supersedes it: the common case, news about a member we
        // know, copies nothing).
        let newest_gen = self.table.newest_at(&rec.id.addr).map(|n| n.generation);
        if let Some(newest_gen) = newest_gen {
            if newest_gen > rec.id.generation && !self.table.contains(&rec.id) {
                // A stale rumour about an older process at that address.
                return;
            }
            if newest_gen < rec.id.generation {
                // A newer process at that address: the old one is gone.
                let newest = self.table.newest_at(&rec.id.addr).cloned();
                self.table.set_newest_at(&rec.id);
                if let Some(newest) = newest {
                    if self.table.get(&newest).is_some_and(Entry::is_live) {
                        self.replaced(&newest, &rec.id);
                    }
                }
            }
        }
        let held = self.table.get(&rec.id).map(|e| (e.status, e.incarnation));
        let suspect = match rec.status {
            Status::Down(_) => None,
            _ => rec.suspect.as_ref().map(|from| (rec.incarnation, from)),
        };
        let verdict = held.map(|held| precedence(held, (rec.status, rec.incarnation)));
        if let Some(Precedence::Stale) = verdict {
            if self.from_state && held != Some((rec.status, rec.incarnation)) {
                // The full state's sender knows less of it than we do.
                self.state_behind = true;
            }
            // Nothing new about it (most gossip): only its suspicion may be.
            if let Some((inc, from)) = suspect {
                self.apply_suspect(now, &rec.id, inc, from);
            }
            return;
        }
        let suspect = suspect.map(|(inc, from)| (inc, from.clone()));
        let id = rec.id.clone();
        if held.is_none() && self.table.len() >= self.config.max_members {
            if self.stats.rejected_members_full == 0 {
                warn!(member = %self.local, max = self.config.max_members, new = %id, "member table full (max_members): news of new members is dropped");
            }
            self.stats.rejected_members_full += 1;
            return;
        }
        match verdict {
            None => match rec.status {
                Status::Down(reason) => self.set_down(&id, reason),
                _ => self.add_member(rec),
            },
            Some(Precedence::Stale) => {}
            Some(Precedence::Newer(status)) => self.apply_newer(rec, status),
            Some(Precedence::Down(reason)) => self.set_down(&id, reason),
        }
        if let Some((inc, from)) = suspect {
            self.apply_suspect(now, &id, inc, &from);
        }
    }

    /// What another member says about us.
    fn apply_about_self(&mut self, now: Duration, sender: &MemberId, rec: Record) {
        let me = self.local_entry();
        let (my_inc, my_status) = (me.incarnation, me.status);
        match rec.status {
            Status::Down(reason @ (DownReason::Failed | DownReason::Fenced)) => {
                if matches!(my_status, Status::Down(_) | Status::Leaving) || self.phase.left() {
                    return;
                }
                warn!(member = %self.local, "the cluster declared this member down");
                self.after_own_down(reason);
            }
            Status::Down(DownReason::Left) => {}
            _ => {
                if matches!(my_status, Status::Down(_)) {
                    return;
                }
                let suspected = rec.suspect.is_some() && rec.incarnation >= my_inc;
                let newer = rec.incarnation > my_inc;
                if suspected || newer {
                    self.refute(rec.incarnation, rec.suspect.as_ref());
                } else if rec.suspect.is_some() {
                    // An old suspicion still travels: whoever sent it missed
                    // our refutation. Answer it directly, and gossip our
                    // record again (at most once per gossip interval).
                    self.reassert(now, sender);
                }
            }
        }
    }

    /// Raise our incarnation above `inc` and tell everyone (and the
    /// suspecter directly).
    fn refute(&mut self, inc: Incarnation, suspecter: Option<&MemberId>) {
        if inc.max(self.local_entry().incarnation) == Incarnation::MAX {
            // Nothing supersedes it under this id (saturating, never
            // wrapping around to a record everyone would take as stale).
            warn!(member = %self.local, "suspected at the last incarnation: this member cannot refute it");
        }
        let id = self.local.clone();
        self.table.update(&id, |e| {
            e.incarnation = inc.max(e.incarnation).saturating_add(1);
        });
        self.stats.refutations += 1;
        self.eager = true;
        // Being suspected hints that we are slow, if a member we have heard
        // from ourselves says so; a record naming anyone else proves nothing.
        if suspecter.is_some_and(|s| self.table.get(s).is_some_and(|e| e.heard)) {
            self.awareness.apply(1);
        }
        debug!(member = %self.local, inc, "refuting suspicion");
        self.broadcasts.push(&id);
        if let Some(s) = suspecter {
            if s != &self.local {
                let me = self.own_record();
                self.tell(s.addr, me);
            }
        }
    }

    /// Tells `sender` our current record, and re-queues it for gossip
    /// (rate-limited).
    fn reassert(&mut self, now: Duration, sender: &MemberId) {
        let rec = self.own_record();
        self.tell(sender.addr, rec);
        let due = self
            .last_reassert
            .is_none_or(|t| now >= t + self.config.gossip_interval);
        if due {
            self.last_reassert = Some(now);
            let me = self.local.clone();
            self.broadcasts.push(&me);
        }
    }

    /// We are down while we still run (`reason`: the cluster declared us
    /// failed, or we fenced ourselves): become a new member (generation + 1),
    /// say so, and join again through members we know.
    pub(super) fn rebirth(&mut self, reason: DownReason) {
        let old = self.local.clone();
        self.set_down(&old, reason);
        self.schedule(
            TimerKind::Tombstone { id: old.clone() },
            self.config.tombstone_period,
        );
        let new = old.with_generation(
            old.generation
                .max(self.above_own)
                .checked_add(1)
                .unwrap_or_else(|| old.generation.saturating_add(1)),
        );
        if new.generation > old.generation.saturating_add(1) {
            warn!(member = %old, above = self.above_own, "a later generation was seen at our address (a clock step?): taking a generation above it");
        }
        let data = self.local_entry().data().clone();
        let mut me = Entry::new(new.clone(), Status::Joining);
        me.share_data(&data);
        me.announced = Announced::Joined;
        let info = me.info();
        self.local = new.clone();
        self.sender.clear();
        codec::put_id(&mut self.sender, &new);
        self.table.replace_local(me);
        self.forget_suspicions();
        warn!(member = %old, new = %new, ?reason, "rejoining as a new member");
        self.emit(Event::SelfChanged {
            old,
            new: new.clone(),
        });
        self.emit(Event::Joined(info));
        self.probe = None;
        self.pick_rejoin_targets();
        self.broadcasts.push(&new);
        self.send_join_requests();
        self.schedule(TimerKind::Join, self.config.join_retry_interval);
    }

    /// Join targets after a rebirth, picked again at every join retry: after
    /// a fence, a few of the side that won; else a few random members still
    /// `Up` in our view.
    pub(super) fn pick_rejoin_targets(&mut self) {
        if let Some((_, winners)) = &self.fenced {
            let mut w = winners.clone();
            w.shuffle(&mut self.rng);
            w.truncate(4);
            self.rejoin = w;
            return;
        }
        self.rejoin = self
            .table
            .random_live(&mut self.rng, 4, |e| e.status == Status::Up)
            .into_iter()
            .map(|m| m.addr)
            .collect();
    }

    /// A new member keeps nothing of what its earlier self observed: every
    /// suspicion is dropped (the picture starts afresh).
    pub(super) fn forget_suspicions(&mut self) {
        for id in self.table.suspected() {
            let info = self.table.update(&id, |e| {
                e.suspicion = None;
                e.suspecter = None;
                e.settle_reachable().then(|| e.info())
            });
            self.timers.disarm(&TimerKind::Suspicion { id });
            if let Some(Some(info)) = info {
                self.emit(Event::Reachable(info));
            }
        }
        self.arbitration = None;
    }

    /// This node fenced itself: it has no cluster any more, so until it has
    /// rejoined it shows no other member `Up` and reachable that it has not
    /// heard from since (an isolated node would otherwise go on showing the
    /// members it was cut off from as if nothing happened). `Unreachable` is
    /// published for those shown reachable so far.
    pub(super) fn unconfirm_all(&mut self) {
        let mut ids = self.table.live().to_vec();
        // `live` is in the order members came and went: sorted, the events
        // do not depend on that history.
        ids.sort();
        for id in ids {
            let info = self.table.update(&id, |e| {
                e.unconfirmed = true;
                let announce = e.announced.up() && !e.announced.unreachable();
                if announce {
                    e.announced = e.announced.with_unreachable(true);
                }
                announce.then(|| e.info())
            });
            if let Some(Some(info)) = info {
                self.emit(Event::Unreachable(info));
            }
        }
    }

    /// `id` was heard from after this node fenced itself, or this node has
    /// rejoined: publish what was held back (its `Up`, its `Reachable`).
    pub(super) fn confirm(&mut self, id: &MemberId) {
        if !self.table.get(id).is_some_and(|e| e.unconfirmed) {
            return;
        }
        let events = self
            .table
            .update(id, |e| {
                e.unconfirmed = false;
                let mut events = Vec::new();
                if !e.is_live() {
                    return events;
                }
                if e.status == Status::Up && !e.announced.up() && e.up_number > 0 {
                    e.announced = e.announced.with_up();
                    events.push(Event::Up(e.info()));
                }
                if e.settle_reachable() {
                    events.push(Event::Reachable(e.info()));
                }
                events
            })
            .unwrap_or_default();
        for ev in events {
            self.emit(ev);
        }
    }

    /// This node has rejoined: every member held back since its fence is
    /// shown as the cluster says it is.
    pub(super) fn confirm_all(&mut self) {
        let mut ids: Vec<MemberId> = self
            .table
            .entries()
            .filter(|e| e.unconfirmed)
            .map(|e| e.id.clone())
            .collect();
        ids.sort();
        for id in ids {
            self.confirm(&id);
        }
    }

    /// A member we did not know, from a live record. After a fence (until
    /// this node has rejoined) it is held back like the members known then
    /// (see [`Core::unconfirm_all`]): no `Up`, shown unreachable.
    fn add_member(&mut self, rec: Record) {
        let id = rec.id.clone();
        let status = rec.status;
        let has_up = rec.up_number > 0 || status == Status::Up;
        let held_back = self.fenced.is_some();
        let up = status != Status::Joining && has_up && !held_back;
        let mut e = Entry::new(id.clone(), status);
        e.incarnation = rec.incarnation;
        e.up_number = rec.up_number;
        e.set_data(rec.roles, rec.metadata);
        e.unconfirmed = held_back;
        e.announced = match (status == Status::Leaving, up) {
            (true, up) => Announced::Leaving {
                up,
                unreachable: false,
            },
            (false, true) => Announced::Up { unreachable: false },
            (false, false) => Announced::Joined,
        };
        let info = e.info();
        self.table.insert(e);
        debug!(member = %self.local, new = %id, ?status, "new member");
        self.emit(Event::Joined(info.clone()));
        if up {
            self.emit(Event::Up(info.clone()));
        }
        if status == Status::Leaving {
            self.emit(Event::Leaving(info));
        }
        // Into the rest of this probe round at a random place, in O(1):
        // append, then swap with a random not-yet-probed slot.
        let start = self.probe_idx.min(self.probe_list.len());
        self.probe_list.push(id.clone());
        let last = self.probe_list.len() - 1;
        let pos = self.rng.gen_range(start..=last);
        self.probe_list.swap(pos, last);
        self.queue_news(&id);
        self.check_leader();
    }

    /// Newer news about a live member we know (see [`precedence`]); its
    /// status becomes `status`.
    fn apply_newer(&mut self, rec: Record, status: Status) {
        let id = rec.id.clone();
        let (events, refuted_any) = self
            .table
            .update(&id, |e| {
                let old = e.status;
                let changed = e.set_data(rec.roles, rec.metadata);
                e.status = status;
                e.incarnation = rec.incarnation;
                if e.up_number == 0 || (rec.up_number != 0 && rec.up_number < e.up_number) {
                    e.up_number = rec.up_number;
                }
                let mut events = Vec::new();
                let refuted_any = e
                    .suspicion
                    .as_ref()
                    .is_some_and(|s| rec.incarnation > s.incarnation);
                if refuted_any {
                    e.suspicion = None;
                    e.suspecter = None;
                    if e.settle_reachable() {
                        events.push(Event::Reachable(e.info()));
                    }
                }
                if old == Status::Joining
                    && status != Status::Joining
                    && !e.announced.up()
                    && e.up_number > 0
                    && !e.unconfirmed
                {
                    e.announced = e.announced.with_up();
                    events.push(Event::Up(e.info()));
                }
                if changed && events.iter().all(|ev| !matches!(ev, Event::Up(_))) {
                    events.push(Event::Updated(e.info()));
                }
                if status == Status::Leaving && !e.announced.leaving() {
                    e.announced = e.announced.with_leaving();
                    events.push(Event::Leaving(e.info()));
                }
                (events, refuted_any)
            })
            .unwrap_or_default();
        if refuted_any {
            self.eager = true;
            self.picture_changed();
        }
        for ev in events {
            self.emit(ev);
        }
        self.queue_news(&id);
        self.check_leader();
    }

    /// Marks a member down, with its events: the one place a member goes
    /// `Down`, whoever decided it (a suspicion that timed out, a newer
    /// generation at its address, gossip that it is down, its own leave, or a
    /// rebirth of this node). Down is terminal: a member already down stays as
    /// it is. An unknown member becomes a silent tombstone (no events), so
    /// that stale rumours cannot bring it in later.
    pub(super) fn set_down(&mut self, id: &MemberId, reason: DownReason) {
        let Some(live) = self.table.get(id).map(Entry::is_live) else {
            self.table
                .insert(Entry::new(id.clone(), Status::Down(reason)));
            self.schedule(
                TimerKind::Tombstone { id: id.clone() },
                self.config.tombstone_period,
            );
            self.broadcasts.push(id);
            return;
        };
        if !live {
            return;
        }
        let local = id == &self.local;
        let was_suspected = self.table.get(id).is_some_and(|e| e.suspicion.is_some());
        let events = self
            .table
            .update(id, |e| {
                e.status = Status::Down(reason);
                e.suspicion = None;
                e.suspecter = None;
                let mut events = Vec::new();
                if e.announced.joined() {
                    if reason == DownReason::Left && !e.announced.leaving() {
                        e.announced = e.announced.with_leaving();
                        events.push(Event::Leaving(e.info()));
                    }
                    events.push(Event::Down {
                        member: e.info(),
                        reason,
                    });
                }
                events
            })
            .unwrap_or_default();
        info!(member = %self.local, down = %id, ?reason, "member down");
        self.eager = true;
        for ev in events {
            self.emit(ev);
        }
        self.timers.disarm(&TimerKind::Suspicion { id: id.clone() });
        if self.probe.as_ref().is_some_and(|p| &p.target == id) {
            self.probe = None;
        }
        if !local {
            self.schedule(
                TimerKind::Tombstone { id: id.clone() },
                self.config.tombstone_period,
            );
        }
        self.broadcasts.push(id);
        self.check_leader();
        if was_suspected {
            self.picture_changed();
        }
    }

    /// A tombstone's time is up: forget the member (remembering its id a
    /// while longer).
    pub(super) fn tombstone_expired(&mut self, now: Duration, id: &MemberId) {
        let Some(e) = self.table.get(id) else {
            return;
        };
        if e.is_live() {
            return;
        }
        let announce = e.announced.joined();
        self.table.remove(
            id,
            now,
            now + self.config.tombstone_period * REMEMBER_REMOVED,
        );
        self.broadcasts.remove(id);
        // An unanswered last call of it is forgotten with it.
        if let Some(seq) = self.last_call_seq.remove(id) {
            self.last_calls.remove(&seq);
        }
        self.asked.remove(id);
        if announce {
            self.emit(Event::Removed(id.clone()));
        }
    }
}
