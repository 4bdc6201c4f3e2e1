//! The core's pending timers, by deadline on the core's clock. The actor arms
//! one actix timer for the earliest, so the cost of a wake-up does not grow
//! with the number of pending timers; this type decides when that timer must
//! be (re)armed and which timers are due.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::SpawnHandle;

/// Timers (the core's `Timer`s), by deadline; one actix timer is armed for
/// the first.
pub(crate) struct Deadlines<T> {
    /// Pending timers by (deadline, arrival): equal deadlines fire in the
    /// order they were scheduled.
    queue: BTreeMap<(Duration, u64), T>,
    /// The arrival number of the last timer queued.
    seq: u64,
    /// The deadline the armed actix timer is for, and its handle.
    armed: Option<(Duration, SpawnHandle)>,
}

impl<T> Default for Deadlines<T> {
    fn default() -> Self {
        Deadlines {
            queue: BTreeMap::new(),
            seq: 0,
            armed: None,
        }
    }
}

impl<T> Deadlines<T> {
    /// Queues `timer` for `at`.
    pub(crate) fn push(&mut self, at: Duration, timer: T) {
        self.seq += 1;
        self.queue.insert((at, self.seq), timer);
    }

    /// Timers pending.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// When the actix timer must be armed anew: the earliest deadline, and
    /// the handle of the timer armed for a later one (to cancel). `None`
    /// when nothing is pending or the armed timer comes first anyway.
    pub(crate) fn arm_for(&mut self) -> Option<(Duration, Option<SpawnHandle>)> {
        let &(first, _) = self.queue.keys().next()?;
        match self.armed {
            Some((armed, _)) if armed <= first => None,
            _ => Some((first, self.armed.take().map(|(_, handle)| handle))),
        }
    }

    /// The actix timer for `at` was armed with `handle`.
    pub(crate) fn armed(&mut self, at: Duration, handle: SpawnHandle) {
        self.armed = Some((at, handle));
    }

    /// The armed actix timer went off.
    pub(crate) fn fired(&mut self) {
        self.armed = None;
    }

    /// The first timer due at `now`, taken off the queue.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<T> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_timer_is_armed_for_the_earliest_deadline_only() {
        let mut d = Deadlines::<u32>::default();
        assert!(d.arm_for().is_none(), "nothing pending, nothing to arm");
        let handle = SpawnHandle::default();
        d.push(ms(20), 0);
        assert_eq!(d.arm_for(), Some((ms(20), None)));
        d.armed(ms(20), handle);
        // A later deadline leaves the armed timer alone.
        d.push(ms(30), 0);
        assert_eq!(d.arm_for(), None);
        // An earlier one re-arms it, handing back the handle to cancel.
        d.push(ms(10), 0);
        assert_eq!(d.arm_for(), Some((ms(10), Some(handle))));
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn due_timers_come_in_deadline_order() {
        let mut d = Deadlines::<u32>::default();
        d.push(ms(30), 3);
        d.push(ms(10), 1);
        d.push(ms(10), 2);
        assert!(d.pop_due(ms(9)).is_none());
        // Equal deadlines in the order they were queued.
        assert_eq!(d.pop_due(ms(10)), Some(1));
        assert_eq!(d.pop_due(ms(10)), Some(2));
        assert!(d.pop_due(ms(29)).is_none());
        assert_eq!(d.len(), 1);
        d.fired();
        assert_eq!(d.arm_for(), Some((ms(30), None)));
    }
}
