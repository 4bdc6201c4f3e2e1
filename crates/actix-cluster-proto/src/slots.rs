//! Where the members table keeps its entries: one dense vector of
//! [`Entry`], found by id through an index that holds only slot numbers
//! (four bytes per member), hashed by the id's keyed hash (see
//! [`MemberId`]). A hash map keyed by ids would hold the id and the entry
//! once per bucket, and half its buckets may be empty: at ten thousand
//! members per node and ten thousand simulated nodes, that is most of the
//! memory of a simulation.
//!
//! Also the two orders the table needs only the first of (the leader, the
//! lowest address counted by keep-majority), kept as a count and a minimum
//! rather than as ordered sets of ids ([`MinOf`]).

use hashbrown::HashTable;

use crate::entry::Entry;
use crate::id::{IdKey, MemberId};

/// The entries, in no particular order, and their index by id.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    entries: Vec<Entry>,
    index: HashTable<u32>,
}

impl Slots {
    /// The slot holding the member `key` names.
    fn find<K: IdKey + ?Sized>(&self, key: &K) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(key.key_hash(), |&s| key.names(&entries[s as usize].id))
            .map(|&s| s as usize)
    }

    pub(crate) fn get<K: IdKey + ?Sized>(&self, key: &K) -> Option<&Entry> {
        self.find(key).map(|s| &self.entries[s])
    }

    pub(crate) fn get_mut(&mut self, id: &MemberId) -> Option<&mut Entry> {
        self.find(id).map(|s| &mut self.entries[s])
    }

    pub(crate) fn contains(&self, id: &MemberId) -> bool {
        self.find(id).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn values(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Puts `e` in the slot of its id, giving back the entry it replaces.
    pub(crate) fn insert(&mut self, e: Entry) -> Option<Entry> {
        if let Some(s) = self.find(&e.id) {
            return Some(std::mem::replace(&mut self.entries[s], e));
        }
        let slot = u32::try_from(self.entries.len()).expect("fewer than 2^32 members");
        let hash = e.id.key_hash();
        grow(&mut self.entries);
        self.entries.push(e);
        let entries = &self.entries;
        self.index
            .insert_unique(hash, slot, |&s| entries[s as usize].id.key_hash());
        None
    }

    /// Takes the entry of `id` out; the last entry moves into its slot.
    pub(crate) fn remove(&mut self, id: &MemberId) -> Option<Entry> {
        let at = self.find(id)?;
        let hash = id.key_hash();
        if let Ok(found) = self.index.find_entry(hash, |&s| s as usize == at) {
            found.remove();
        }
        let last = self.entries.len() - 1;
        let e = self.entries.swap_remove(at);
        if at != last {
            let moved = self.entries[at].id.key_hash();
            if let Some(s) = self.index.find_mut(moved, |&s| s as usize == last) {
                *s = at as u32;
            }
        }
        Some(e)
    }
}

/// Grows a vector that is full by an eighth (at least 8), not by doubling:
/// the tables of a simulation stop growing at the cluster's size, and a
/// doubled vector would leave up to half its room unused for good. Still
/// amortized constant time per push.
pub(crate) fn grow<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 8).max(8));
    }
}

/// How many items a set holds and its least one, without the set: the
/// least is found again by a walk over the table (through `rescan`) only
/// when it leaves, which in a membership table is rare (the leader or the
/// lowest address going away), so the ordered sets of ids these replace
/// (two words per member each, and the B-tree's room) are not needed.
#[derive(Debug)]
pub(crate) struct MinOf<K> {
    count: usize,
    min: Option<K>,
}

impl<K> Default for MinOf<K> {
    fn default() -> Self {
        MinOf {
            count: 0,
            min: None,
        }
    }
}

impl<K: Ord> MinOf<K> {
    /// `k` joined the set.
    pub(crate) fn add(&mut self, k: K) {
        self.count += 1;
        if self.min.as_ref().is_none_or(|m| k < *m) {
            self.min = Some(k);
        }
    }

    /// `k` left the set (the table already says so): if it was the least,
    /// `rescan` finds the new least.
    pub(crate) fn remove(&mut self, k: &K, rescan: impl FnOnce() -> Option<K>) {
        self.count = self.count.saturating_sub(1);
        if self.min.as_ref() == Some(k) {
            self.min = rescan();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn first(&self) -> Option<&K> {
        self.min.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::IdRef;
    use crate::member::Status;

    fn id(n: usize) -> MemberId {
        crate::tests::id(n, 1)
    }

    /// Removing from the middle moves the last entry into the hole; every
    /// member is still found by its id, held or borrowed, and the removed
    /// ones are not.
    #[test]
    fn every_member_is_found_after_removals() {
        let mut s = Slots::default();
        for n in 0..100 {
            assert!(s.insert(Entry::new(id(n), Status::Up)).is_none());
        }
        assert!(s.insert(Entry::new(id(7), Status::Joining)).is_some());
        assert_eq!(s.len(), 100);
        for n in (0..100).step_by(3) {
            assert!(s.remove(&id(n)).is_some_and(|e| e.id == id(n)));
            assert!(s.remove(&id(n)).is_none());
        }
        for n in 0..100 {
            let want = id(n);
            let held = s.get(&want);
            let r = IdRef::new(&want.name, want.addr, want.generation);
            let borrowed = s.get(&r as &dyn IdKey);
            assert_eq!(held.is_some(), n % 3 != 0, "{n}");
            assert_eq!(borrowed.map(|e| &e.id), held.map(|e| &e.id));
        }
        assert_eq!(s.values().count(), s.len());
    }

    /// The least is found again when it leaves, and only then.
    #[test]
    fn min_of_rescans_only_when_the_least_leaves() {
        let mut m = MinOf::default();
        for k in [5, 3, 9] {
            m.add(k);
        }
        assert_eq!((m.len(), m.first()), (3, Some(&3)));
        m.remove(&9, || unreachable!("not the least"));
        m.remove(&3, || Some(5));
        assert_eq!((m.len(), m.first()), (1, Some(&5)));
        m.remove(&5, || None);
        assert_eq!((m.len(), m.first()), (0, None));
    }
}
