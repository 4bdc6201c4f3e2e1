//! The members table: every member this node knows (itself, live members and
//! tombstones) with the indexes the protocol needs in O(1) or O(log N): live
//! members for random choice, the newest generation per address, the `Up`
//! order for the leader, and recently removed ids.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;

use crate::entry::NOT_LIVE;
pub(crate) use crate::entry::{Announced, Entry};
use crate::id::{IdKey, IdMap, IdPool, IdRef, IdSet, MemberId};
use crate::member::Status;
use crate::slots::{grow, MinOf, Slots};

mod heard;
mod keys;

use self::keys::{AtAddr, ByAddr};

/// The table. It keeps its own indexes right: every
/// change to an entry goes through [`Table::update`].
#[derive(Debug)]
pub(crate) struct Table {
    entries: Slots,
    /// The local member (not in `live`).
    local: MemberId,
    /// Live members other than the local one, for random choice.
    live: Vec<MemberId>,
    /// Live members other than the local one that are under suspicion (the
    /// downing picture walks these, not every member).
    suspected: IdSet,
    /// How many of `suspected` are `Up` or `Leaving` with their suspicion
    /// run out (kept by `insert`, `update` and `remove`, so the leader's
    /// majority test is O(1) in the common case).
    expired: usize,
    /// How many entries are `Down(Failed)`, the local one included (kept
    /// like `expired`, so a tick looking for failed tombstones skips the
    /// walk over the table when there are none).
    failed: usize,
    /// The `Up` and `Leaving` members, the local one included, by address
    /// (then id): keep-majority's count and its tie-breaker.
    counted: MinOf<ByAddr>,
    /// Newest generation seen per address.
    by_addr: HashSet<AtAddr>,
    /// `Up` members by (up number, id): the first is the leader.
    up_order: MinOf<(u64, MemberId)>,
    /// Ids removed after their tombstone period, remembered a while longer
    /// so stale rumours cannot bring them back.
    removed: IdSet,
    removed_fifo: VecDeque<(Duration, MemberId)>,
    /// Most removed ids remembered (four times `max_members`).
    max_removed: usize,
    /// Highest up number seen.
    max_up_number: u64,
    /// Ids shared with other cores of this process (see [`IdPool`]).
    pool: Option<IdPool>,
    /// First-hand evidence of members not in the table (see `heard`).
    heard_away: IdMap<Duration>,
    /// How many members have first-hand evidence on record, in the table
    /// or not (see `heard`).
    heard_len: usize,
}

impl Table {
    /// A table holding only the local member.
    pub(crate) fn new(local: Entry, max_members: usize) -> Table {
        let mut t = Table {
            entries: Slots::default(),
            local: local.id.clone(),
            live: Vec::new(),
            suspected: IdSet::default(),
            expired: 0,
            failed: 0,
            counted: MinOf::default(),
            by_addr: HashSet::new(),
            up_order: MinOf::default(),
            removed: IdSet::default(),
            removed_fifo: VecDeque::new(),
            max_removed: max_members.saturating_mul(4),
            max_up_number: 0,
            pool: None,
            heard_away: IdMap::default(),
            heard_len: 0,
        };
        t.insert(local);
        t
    }

    pub(crate) fn get(&self, id: &MemberId) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// The table's own copy of `id` when it holds the member, else `id`:
    /// ids decoded from messages are taken through this, so that every
    /// index and queue shares one allocation per member.
    pub(crate) fn canonical(&self, id: MemberId) -> MemberId {
        match (self.entries.get(&id), &self.pool) {
            (Some(held), _) => held.id.clone(),
            (None, Some(pool)) => pool.share(id),
            (None, None) => id,
        }
    }

    /// The copy of the id `r` names that [`Table::canonical`] would give,
    /// if there is one already (the table's, else the pool's): the decoder
    /// takes known ids through this rather than allocating them.
    pub(crate) fn find(&self, r: &IdRef<'_>) -> Option<MemberId> {
        match self.entries.get(r as &dyn IdKey) {
            Some(held) => Some(held.id.clone()),
            None => self.pool.as_ref().and_then(|pool| pool.find(r)),
        }
    }

    /// Takes ids through `pool` from now on.
    pub(crate) fn share_ids(&mut self, pool: IdPool) {
        self.pool = Some(pool);
    }

    pub(crate) fn contains(&self, id: &MemberId) -> bool {
        self.entries.contains(id)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Marks `id` as heard from (see [`Entry::heard`]); not part of its
    /// record, so its encoding stays.
    pub(crate) fn mark_heard(&mut self, id: &MemberId) {
        if let Some(e) = self.entries.get_mut(id) {
            e.heard = true;
        }
    }

    /// How many members are held (live and tombstones, this node included).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Highest up number seen.
    pub(crate) fn max_up_number(&self) -> u64 {
        self.max_up_number
    }

    /// Inserts a new entry (not the local member: see [`Table::replace_local`]).
    pub(crate) fn insert(&mut self, mut e: Entry) {
        e.id = self.canonical(e.id);
        let id = e.id.clone();
        let newer = match self.by_addr.get(&id.addr) {
            Some(cur) => cur.0.generation < id.generation,
            None => true,
        };
        if newer {
            self.by_addr.replace(AtAddr(id.clone()));
        }
        self.max_up_number = self.max_up_number.max(e.up_number);
        let live = e.is_live();
        let up = e.status == Status::Up;
        let upn = e.up_number;
        let suspected = e.suspicion.is_some();
        let expired = expired_suspect(&e);
        let counted = counts(&e);
        if let Some(old) = self.entries.get(&id) {
            // Its place among the live members goes to its successor.
            e.live_at = old.live_at;
            e.set_heard_at(old.heard_at());
        } else if let Some(at) = self.heard_away.remove(&id) {
            e.set_heard_at(Some(at));
        }
        let failed = is_failed(&e);
        if let Some(old) = self.entries.insert(e) {
            if expired_suspect(&old) && old.id != self.local {
                self.expired -= 1;
            }
            if is_failed(&old) {
                self.failed -= 1;
            }
            if counts(&old) {
                let entries = &self.entries;
                self.counted
                    .remove(&ByAddr(id.clone()), || lowest_counted(entries));
            }
        }
        if expired && id != self.local {
            self.expired += 1;
        }
        if failed {
            self.failed += 1;
        }
        if counted {
            self.counted.add(ByAddr(id.clone()));
        }
        if live && id != self.local {
            self.add_live(&id);
            if suspected {
                self.suspected.insert(id.clone());
            }
        }
        if up {
            self.up_order.add((order_key(upn), id));
        }
    }

    /// A new local member (a rebirth): the old one stays as it is.
    pub(crate) fn replace_local(&mut self, e: Entry) {
        let id = e.id.clone();
        self.local = id.clone();
        self.insert(e);
        self.set_newest_at(&id);
    }

    /// Changes the entry of `id` through `change`, then puts the indexes
    /// (live set, leader order, highest up number) right and drops the cached
    /// encoding. `None` if `id` is unknown.
    pub(crate) fn update<R>(
        &mut self,
        id: &MemberId,
        change: impl FnOnce(&mut Entry) -> R,
    ) -> Option<R> {
        let e = self.entries.get_mut(id)?;
        // The indexes take the table's copy of the id (see `canonical`).
        let id = &e.id.clone();
        let was_live = e.is_live();
        let was_up = (e.status == Status::Up).then_some(e.up_number);
        let was_suspected = e.suspicion.is_some();
        let was_expired = expired_suspect(e);
        let was_counted = counts(e);
        let was_failed = is_failed(e);
        let out = change(e);
        let (failed, expired, counted) = (is_failed(e), expired_suspect(e), counts(e));
        let live = e.is_live();
        let up = (e.status == Status::Up).then_some(e.up_number);
        let suspected = e.suspicion.is_some();
        self.max_up_number = self.max_up_number.max(e.up_number);
        match (was_failed, failed) {
            (true, false) => self.failed -= 1,
            (false, true) => self.failed += 1,
            _ => {}
        }
        if was_expired != expired && id != &self.local {
            if was_expired {
                self.expired -= 1;
            } else {
                self.expired += 1;
            }
        }
        if was_counted != counted {
            if was_counted {
                let entries = &self.entries;
                self.counted
                    .remove(&ByAddr(id.clone()), || lowest_counted(entries));
            } else {
                self.counted.add(ByAddr(id.clone()));
            }
        }
        if id != &self.local && live != was_live {
            if live {
                self.add_live(id);
            } else {
                self.remove_live(id);
            }
        }
        if id != &self.local && (live && suspected) != (was_live && was_suspected) {
            if live && suspected {
                self.suspected.insert(id.clone());
            } else {
                self.suspected.remove(id);
            }
        }
        if was_up != up {
            if let Some(n) = was_up {
                let entries = &self.entries;
                self.up_order
                    .remove(&(order_key(n), id.clone()), || first_up(entries));
            }
            if let Some(n) = up {
                self.up_order.add((order_key(n), id.clone()));
            }
        }
        Some(out)
    }

    /// The encoded record of `id`. Not cached: encoding a record costs
    /// about what copying it does, and a cache per member would hold, at the
    /// peak of a cold start, an encoding of every member in every node.
    pub(crate) fn encoded(&self, id: &MemberId) -> Option<Vec<u8>> {
        self.entries.get(id).map(|e| {
            let mut out = Vec::with_capacity(64);
            e.put_record(&mut out);
            out
        })
    }

    /// Appends the encoded record of `id` to `out`; false if `id` is
    /// unknown (nothing appended).
    pub(crate) fn put_encoded(&self, id: &MemberId, out: &mut Vec<u8>) -> bool {
        match self.entries.get(id) {
            Some(e) => {
                e.put_record(out);
                true
            }
            None => false,
        }
    }

    /// Removes an entry for good (tombstone expired) and remembers its id
    /// until `remember_until`.
    pub(crate) fn remove(&mut self, id: &MemberId, now: Duration, remember_until: Duration) {
        if let Some(e) = self.entries.remove(id) {
            if let Some(at) = e.heard_at() {
                self.heard_away.insert(id.clone(), at);
            }
            self.remove_live_at(e.live_at);
            if expired_suspect(&e) && id != &self.local {
                self.expired -= 1;
            }
            if is_failed(&e) {
                self.failed -= 1;
            }
            let entries = &self.entries;
            if counts(&e) {
                self.counted
                    .remove(&ByAddr(id.clone()), || lowest_counted(entries));
            }
            if e.status == Status::Up {
                let key = (order_key(e.up_number), id.clone());
                self.up_order.remove(&key, || first_up(entries));
            }
        }
        self.suspected.remove(id);
        // The newest generation at its address is forgotten with it (the
        // id itself stays in `removed` a while longer), so the index holds
        // only addresses of members still in the table.
        if self.newest_at(&id.addr) == Some(id) {
            self.by_addr.remove(&id.addr);
        }
        self.removed.insert(id.clone());
        self.removed_fifo.push_back((remember_until, id.clone()));
        while let Some((t, _)) = self.removed_fifo.front() {
            if *t > now && self.removed_fifo.len() <= self.max_removed {
                break;
            }
            if let Some((_, old)) = self.removed_fifo.pop_front() {
                self.removed.remove(&old);
            }
        }
    }

    pub(crate) fn is_removed(&self, id: &MemberId) -> bool {
        self.removed.contains(id)
    }

    /// The newest generation seen at `addr`.
    pub(crate) fn newest_at(&self, addr: &SocketAddr) -> Option<&MemberId> {
        self.by_addr.get(addr).map(|a| &a.0)
    }

    /// Addresses with a newest generation on record (tests).
    #[cfg(test)]
    pub(crate) fn addresses(&self) -> usize {
        self.by_addr.len()
    }

    /// Records `id` as the newest generation at its address.
    pub(crate) fn set_newest_at(&mut self, id: &MemberId) {
        self.by_addr.replace(AtAddr(id.clone()));
    }

    fn add_live(&mut self, id: &MemberId) {
        let at = self.live.len() as u32;
        match self.entries.get_mut(id) {
            Some(e) if e.live_at == NOT_LIVE => e.live_at = at,
            _ => return,
        }
        grow(&mut self.live);
        self.live.push(id.clone());
    }

    fn remove_live(&mut self, id: &MemberId) {
        let Some(e) = self.entries.get_mut(id) else {
            return;
        };
        let at = std::mem::replace(&mut e.live_at, NOT_LIVE);
        self.remove_live_at(at);
    }

    /// Takes the member at `at` (if any) out of `live`; the last one takes
    /// its place.
    fn remove_live_at(&mut self, at: u32) {
        let i = at as usize;
        if at == NOT_LIVE || i >= self.live.len() {
            return;
        }
        self.live.swap_remove(i);
        if let Some(moved) = self.live.get(i) {
            if let Some(e) = self.entries.get_mut(moved) {
                e.live_at = at;
            }
        }
    }

    /// Live members other than the local one.
    pub(crate) fn live(&self) -> &[MemberId] {
        &self.live
    }

    /// The live members (not the local one) under suspicion, in the order
    /// of [`Table::live`].
    pub(crate) fn suspected(&self) -> Vec<MemberId> {
        self.suspected_entries().map(|e| e.id.clone()).collect()
    }

    /// The suspected live members' entries in no particular order (cheaper
    /// than [`Table::suspected_entries`], which sorts them).
    pub(crate) fn suspected_unordered(&self) -> impl Iterator<Item = &Entry> {
        self.suspected.iter().filter_map(|id| self.entries.get(id))
    }

    /// The entries of [`Table::suspected`], in the order of [`Table::live`]:
    /// O(S log S) for S suspects, whatever the size of the table.
    pub(crate) fn suspected_entries(&self) -> impl Iterator<Item = &Entry> {
        let mut at: Vec<(u32, &MemberId)> = self
            .suspected
            .iter()
            .filter_map(|id| {
                let at = self.entries.get(id)?.live_at;
                (at != NOT_LIVE).then_some((at, id))
            })
            .collect();
        at.sort_unstable_by_key(|(i, _)| *i);
        at.into_iter().filter_map(|(_, id)| self.entries.get(id))
    }

    /// The live members' entries, without the local member, in the order of
    /// [`Table::live`].
    pub(crate) fn live_entries(&self) -> impl Iterator<Item = &Entry> {
        self.live().iter().filter_map(|id| self.get(id))
    }

    pub(crate) fn is_live(&self, id: &MemberId) -> bool {
        self.entries.get(id).is_some_and(|e| e.live_at != NOT_LIVE)
    }

    /// Up to `n` distinct random live members (not local) that pass `keep`.
    pub(crate) fn random_live<R: Rng>(
        &self,
        rng: &mut R,
        n: usize,
        mut keep: impl FnMut(&Entry) -> bool,
    ) -> Vec<MemberId> {
        let len = self.live.len();
        let mut out: Vec<MemberId> = Vec::with_capacity(n.min(len));
        if len == 0 || n == 0 {
            return out;
        }
        // Random start, walk with a random stride co-prime enough: try up to
        // 3n random picks, then fall back to a scan.
        let mut tries = 0;
        while out.len() < n && tries < 3 * n + 3 {
            tries += 1;
            let id = &self.live[rng.gen_range(0..len)];
            if out.contains(id) {
                continue;
            }
            if let Some(e) = self.entries.get(id) {
                if keep(e) {
                    out.push(id.clone());
                }
            }
        }
        if out.len() < n && len <= 4 * n + 16 {
            for id in &self.live {
                if out.len() >= n {
                    break;
                }
                if out.contains(id) {
                    continue;
                }
                if let Some(e) = self.entries.get(id) {
                    if keep(e) {
                        out.push(id.clone());
                    }
                }
            }
        }
        out
    }

    /// The leader: the first `Up` member by (up number, id).
    pub(crate) fn leader(&self) -> Option<&MemberId> {
        self.up_order.first().map(|(_, id)| id)
    }

    /// How many other live members are `Up` or `Leaving` with their
    /// suspicion run out.
    pub(crate) fn expired_suspects(&self) -> usize {
        self.expired
    }

    /// How many entries are `Down(Failed)`, the local one included.
    pub(crate) fn failed(&self) -> usize {
        self.failed
    }

    /// How many members are `Up` or `Leaving`, the local one included.
    pub(crate) fn counted(&self) -> usize {
        self.counted.len()
    }

    /// Whether the `Up` or `Leaving` member with the lowest address (then
    /// id) is one whose suspicion ran out here.
    pub(crate) fn lowest_counted_expired(&self) -> bool {
        self.counted.first().is_some_and(|ByAddr(id)| {
            id != &self.local && self.entries.get(id).is_some_and(expired_suspect)
        })
    }
}

/// The `Up` or `Leaving` member with the lowest address (then id), found
/// by a walk over the table (when the one known leaves).
fn lowest_counted(entries: &Slots) -> Option<ByAddr> {
    entries
        .values()
        .filter(|e| counts(e))
        .map(|e| ByAddr(e.id.clone()))
        .min()
}

/// The first `Up` member by (up number, id): the leader, found by a walk
/// over the table (when the one known leaves `Up`).
fn first_up(entries: &Slots) -> Option<(u64, MemberId)> {
    entries
        .values()
        .filter(|e| e.status == Status::Up)
        .map(|e| (order_key(e.up_number), e.id.clone()))
        .min()
}

/// Sort key of an up number: 0 (unknown) sorts last.
fn order_key(n: u64) -> u64 {
    if n == 0 {
        u64::MAX
    } else {
        n
    }
}

/// A member down as failed (not left, not fenced).
fn is_failed(e: &Entry) -> bool {
    e.status == Status::Down(crate::DownReason::Failed)
}

/// An `Up` or `Leaving` member: one keep-majority counts.
fn counts(e: &Entry) -> bool {
    matches!(e.status, Status::Up | Status::Leaving)
}

/// A live `Up` or `Leaving` member whose suspicion has run out: counted
/// against this node's side by the leader's majority test.
fn expired_suspect(e: &Entry) -> bool {
    e.is_live() && counts(e) && e.suspicion.as_ref().is_some_and(|s| s.expired)
}
