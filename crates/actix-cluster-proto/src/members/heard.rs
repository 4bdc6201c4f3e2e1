//! First-hand evidence, per member: when this node last received a message
//! from it, or an ack for it relayed by a helper (what the downing decision
//! counts a member on this node's side by, see `core::decision`). Held in
//! the member's entry, and for members not in the table (heard before they
//! were known, or removed since) in a small map beside it, so that the
//! table needs no second map keyed by every member.
//!
//! The record is bounded as a map of every member heard from would be:
//! once as many members are on record as twice the table plus 16, the
//! evidence of every member that is not live in the table is forgotten.

use std::time::Duration;

use super::Table;
use crate::id::MemberId;

impl Table {
    /// First-hand evidence of `id` at `now`.
    pub(crate) fn note_heard(&mut self, id: &MemberId, now: Duration) {
        if let Some(e) = self.entries.get_mut(id) {
            if e.heard_at().is_some() {
                e.set_heard_at(Some(now));
                return;
            }
        } else if let Some(at) = self.heard_away.get_mut(id) {
            *at = now;
            return;
        }
        if self.heard_len >= 2 * self.len() + 16 {
            self.forget_heard_of_gone();
        }
        self.heard_len += 1;
        match self.entries.get_mut(id) {
            Some(e) => e.set_heard_at(Some(now)),
            None => {
                self.heard_away.insert(id.clone(), now);
            }
        }
    }

    /// When this node last had first-hand evidence of `id`, if on record.
    pub(crate) fn heard_at(&self, id: &MemberId) -> Option<Duration> {
        match self.entries.get(id) {
            Some(e) => e.heard_at(),
            None => self.heard_away.get(id).copied(),
        }
    }

    /// Keeps the evidence of the live members of the table only.
    fn forget_heard_of_gone(&mut self) {
        self.heard_away = Default::default();
        let gone: Vec<MemberId> = self
            .entries
            .values()
            .filter(|e| !e.is_live() && e.heard_at().is_some())
            .map(|e| e.id.clone())
            .collect();
        for id in &gone {
            if let Some(e) = self.entries.get_mut(id) {
                e.set_heard_at(None);
            }
        }
        self.heard_len = self
            .entries
            .values()
            .filter(|e| e.heard_at().is_some())
            .count();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::entry::Entry;
    use crate::member::{DownReason, Status};
    use crate::members::Table;

    fn id(n: usize) -> crate::id::MemberId {
        crate::tests::id(n, 1)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Evidence of a member follows it into the table and out of it, as a
    /// map of its own beside the table would keep it.
    #[test]
    fn evidence_outlives_the_entry_and_precedes_it() {
        let mut t = Table::new(Entry::new(id(0), Status::Up), 100);
        t.note_heard(&id(1), secs(1));
        assert_eq!(t.heard_at(&id(1)), Some(secs(1)));
        t.insert(Entry::new(id(1), Status::Up));
        assert_eq!(t.get(&id(1)).and_then(Entry::heard_at), Some(secs(1)));
        t.note_heard(&id(1), secs(2));
        t.remove(&id(1), secs(3), secs(4));
        assert_eq!(t.heard_at(&id(1)), Some(secs(2)));
        assert_eq!(t.heard_at(&id(2)), None);
    }

    /// Once twice the table plus 16 are on record, only the live members
    /// of the table keep their evidence.
    #[test]
    fn the_record_is_bounded_by_the_table() {
        let mut t = Table::new(Entry::new(id(0), Status::Up), 100);
        t.insert(Entry::new(id(1), Status::Up));
        t.insert(Entry::new(id(2), Status::Up));
        t.note_heard(&id(1), secs(1));
        t.note_heard(&id(2), secs(1));
        t.update(&id(2), |e| e.status = Status::Down(DownReason::Failed));
        // 3 members: the bound is 22 on record; 20 more are away.
        for n in 10..30 {
            t.note_heard(&id(n), secs(1));
        }
        assert_eq!(t.heard_at(&id(29)), Some(secs(1)));
        assert_eq!(t.heard_at(&id(2)), Some(secs(1)));
        t.note_heard(&id(30), secs(2));
        assert_eq!(t.heard_at(&id(1)), Some(secs(1)));
        assert_eq!(t.heard_at(&id(2)), None, "not live");
        assert_eq!(t.heard_at(&id(29)), None, "not in the table");
        assert_eq!(t.heard_at(&id(30)), Some(secs(2)));
    }
}
