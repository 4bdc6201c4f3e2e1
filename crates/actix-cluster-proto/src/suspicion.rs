//! Lifeguard suspicion timer: starts at a maximum and shrinks toward a minimum
//! as independent members confirm the suspicion.
//!
//! With `c` confirmations out of `k` expected, the timeout (measured from when
//! this node first heard the suspicion) is
//!
//! ```text
//! timeout(c) = max(min, max_t - (max_t - min) * ln(c + 1) / ln(k + 1))
//! ```
//!
//! so the first confirmations shrink it most. With `k == 0` the timeout is the
//! minimum at once.

use std::time::Duration;

use crate::id::{IdSet, Incarnation, MemberId};

/// One suspicion of one member, at one incarnation.
#[derive(Clone, Debug)]
pub(crate) struct Suspicion {
    /// Incarnation suspected.
    pub(crate) incarnation: Incarnation,
    /// When this node first heard of it.
    pub(crate) start: Duration,
    /// Members that independently suspect it, the origin included.
    confirmers: IdSet,
    /// Confirmations wanted (besides the origin) for the minimum timeout.
    k: u32,
    min: Duration,
    max: Duration,
    /// The last-call probe was sent (see `core::suspect`).
    pub(crate) last_call: bool,
    /// Every member that reported it (the origin included), without the
    /// cap on confirmations: the observers the downing decision counts.
    observers: IdSet,
    /// The timer ran out (after the last call): the member is confirmed
    /// unreachable from here, and the downing decision may act on it.
    pub(crate) expired: bool,
    /// A stream connection to it was refused: nothing listens at its address
    /// (its process is gone while its host is up). Proof of death, so the
    /// pause bound need not be waited for.
    pub(crate) refused: bool,
    /// The last call went unanswered while this node was in poor local
    /// health (Lifeguard score above 0): its own probes failing, that proves
    /// little, so the suspect is called again once this node is healthy,
    /// before any decision of this node downs it.
    pub(crate) unwell: bool,
}

impl Suspicion {
    /// A new suspicion raised by `origin`.
    pub(crate) fn new(
        incarnation: Incarnation,
        origin: MemberId,
        start: Duration,
        k: u32,
        min: Duration,
        max: Duration,
    ) -> Self {
        let mut confirmers = IdSet::default();
        confirmers.insert(origin);
        Suspicion {
            incarnation,
            start,
            observers: confirmers.clone(),
            confirmers,
            k,
            min,
            max: max.max(min),
            last_call: false,
            expired: false,
            refused: false,
            unwell: false,
        }
    }

    /// Records a confirmation from `from`; true if it is new (the timeout
    /// shrank, or stayed at its minimum).
    pub(crate) fn confirm(&mut self, from: &MemberId) -> bool {
        self.observers.insert(from.clone());
        if self.confirmations() >= self.k {
            return false;
        }
        self.confirmers.insert(from.clone())
    }

    /// Members that reported it, the origin included (not capped).
    pub(crate) fn observers(&self) -> usize {
        self.observers.len()
    }

    /// Independent confirmations beyond the origin.
    pub(crate) fn confirmations(&self) -> u32 {
        (self.confirmers.len() as u32).saturating_sub(1)
    }

    /// The timeout now, from `start`.
    pub(crate) fn timeout(&self) -> Duration {
        timeout(self.confirmations(), self.k, self.min, self.max)
    }

    /// When it fires.
    pub(crate) fn deadline(&self) -> Duration {
        self.start + self.timeout()
    }
}

/// Lifeguard's formula (see the module docs).
pub(crate) fn timeout(c: u32, k: u32, min: Duration, max: Duration) -> Duration {
    if k == 0 || c >= k {
        return min;
    }
    let frac = (f64::from(c) + 1.0).ln() / (f64::from(k) + 1.0).ln();
    let span = max.saturating_sub(min).as_secs_f64();
    let t = max.as_secs_f64() - span * frac;
    Duration::from_secs_f64(t.max(min.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> MemberId {
        crate::tests::id(n, 1)
    }

    #[test]
    fn shrinks_with_confirmations_from_max_to_min() {
        let min = Duration::from_secs(2);
        let max = Duration::from_secs(12);
        let mut s = Suspicion::new(0, id(1), Duration::ZERO, 3, min, max);
        assert_eq!(s.timeout(), max);
        let mut last = s.timeout();
        assert!(!s.confirm(&id(1)), "the origin does not confirm itself");
        for n in 2..=4 {
            assert!(s.confirm(&id(n)));
            assert!(s.timeout() < last, "each new confirmation shrinks it");
            last = s.timeout();
        }
        assert_eq!(s.timeout(), min);
        assert!(!s.confirm(&id(9)), "beyond k nothing changes");
        assert!(!s.confirm(&id(2)), "duplicates do not count");
        assert_eq!(s.deadline(), min);
    }

    #[test]
    fn log_scaled() {
        let min = Duration::from_secs(0);
        let max = Duration::from_secs(10);
        // One confirmation of three: ln 2 / ln 4 = 0.5 of the span.
        let t = timeout(1, 3, min, max);
        assert!((t.as_secs_f64() - 5.0).abs() < 1e-9, "{t:?}");
        assert_eq!(
            timeout(0, 0, Duration::from_secs(1), max),
            Duration::from_secs(1)
        );
    }
}
