//! The queue of membership updates waiting to be piggybacked.
//!
//! One entry per member (a newer update about a member replaces the queued
//! one). Updates sent fewer times go first, and among those the newest; an
//! update is dropped after `limit` transmissions.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::id::{IdMap, MemberId};

/// The piggyback queue.
#[derive(Debug, Default)]
pub(crate) struct Broadcasts {
    /// member -> (transmits, order)
    entries: IdMap<(u32, u64)>,
    /// (transmits, newest first) -> member; the order numbers are unique, so
    /// the key alone orders the queue and moving an update along clones no
    /// id.
    order: BTreeMap<(u32, Reverse<u64>), MemberId>,
    next: u64,
}

impl Broadcasts {
    /// Queues (or re-queues with zero transmissions) an update about `id`.
    pub(crate) fn push(&mut self, id: &MemberId) {
        self.next += 1;
        let fresh = (0, self.next);
        let moved = match self.entries.get_mut(id) {
            Some(e) => {
                let (t, o) = std::mem::replace(e, fresh);
                self.order.remove(&(t, Reverse(o)))
            }
            None => {
                self.entries.insert(id.clone(), fresh);
                None
            }
        };
        let id = moved.unwrap_or_else(|| id.clone());
        self.order.insert((0, Reverse(self.next)), id);
    }

    /// Forgets the update about `id`.
    pub(crate) fn remove(&mut self, id: &MemberId) {
        if let Some((t, o)) = self.entries.remove(id) {
            self.order.remove(&(t, Reverse(o)));
        }
    }

    /// Number of queued updates.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Transmissions so far of the update about `id`.
    #[cfg(test)]
    pub(crate) fn transmits(&self, id: &MemberId) -> Option<u32> {
        self.entries.get(id).map(|e| e.0)
    }

    /// Offers queued updates in priority order to `take`, which returns
    /// `Some(true)` when it used the update, `Some(false)` when it did not
    /// (e.g. too big; the next one is tried), `None` to stop. Each used update
    /// counts one transmission and is dropped after `limit`.
    pub(crate) fn select(&mut self, limit: u32, mut take: impl FnMut(&MemberId) -> Option<bool>) {
        let mut used = Vec::new();
        for (key, id) in self.order.iter() {
            match take(id) {
                Some(true) => used.push(*key),
                Some(false) => continue,
                None => break,
            }
        }
        for (t, o) in used {
            let Some(id) = self.order.remove(&(t, o)) else {
                continue;
            };
            if t + 1 >= limit {
                self.entries.remove(&id);
                crate::id::trim(&mut self.entries);
            } else {
                if let Some(e) = self.entries.get_mut(&id) {
                    e.0 = t + 1;
                }
                self.order.insert((t + 1, o), id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> MemberId {
        crate::tests::id(n, 1)
    }

    #[test]
    fn dropped_after_limit_transmissions() {
        let mut q = Broadcasts::default();
        q.push(&id(1));
        for i in 0..4 {
            assert_eq!(q.transmits(&id(1)), Some(i));
            q.select(4, |_| Some(true));
        }
        assert!(q.is_empty());
    }

    #[test]
    fn least_sent_then_newest_first_and_requeue_resets() {
        let mut q = Broadcasts::default();
        q.push(&id(1));
        q.push(&id(2));
        let mut seen = Vec::new();
        q.select(10, |m| {
            seen.push(m.clone());
            Some(true)
        });
        assert_eq!(seen, vec![id(2), id(1)]);
        q.push(&id(3));
        q.push(&id(1)); // newer news about 1: back to zero transmissions
        let mut first = None;
        q.select(10, |m| {
            first = Some(m.clone());
            None
        });
        assert_eq!(first, Some(id(1)));
        assert_eq!(q.transmits(&id(1)), Some(0));
        assert_eq!(q.len(), 3);
        // Skipped updates keep their count.
        q.select(10, |m| Some(m == &id(3)));
        assert_eq!(q.transmits(&id(3)), Some(1));
        assert_eq!(q.transmits(&id(2)), Some(1));
    }
}
