//! Lifeguard local health ("awareness"): a score that rises when this node
//! shows signs of being slow itself (missed nacks, failed probes, having to
//! refute a suspicion) and falls with each successful probe. Probe interval
//! and probe timeout are multiplied by `score + 1`, so an unhealthy node probes
//! less aggressively and gives others more time before it suspects them.

use std::time::Duration;

/// The local-health score, in `0..max`.
#[derive(Clone, Debug)]
pub(crate) struct Awareness {
    score: u32,
    max: u32,
    enabled: bool,
}

impl Awareness {
    /// `max` is `Config::awareness_max_multiplier`; when `enabled` is false the
    /// score stays 0 (plain SWIM).
    pub(crate) fn new(max: u32, enabled: bool) -> Self {
        Awareness {
            score: 0,
            max: max.max(1),
            enabled,
        }
    }

    /// Adds `delta` (negative for good news), clamped to `0..max`.
    pub(crate) fn apply(&mut self, delta: i64) {
        if !self.enabled {
            return;
        }
        let s = (i64::from(self.score) + delta).clamp(0, i64::from(self.max) - 1);
        if s as u32 != self.score {
            tracing::debug!(from = self.score, to = s, "local health score changed");
        }
        self.score = s as u32;
    }

    /// The current score (0 is healthy).
    #[cfg(test)]
    pub(crate) fn score(&self) -> u32 {
        self.score
    }

    /// The multiplier on probe interval and timeout: `score + 1`.
    pub(crate) fn multiplier(&self) -> u32 {
        self.score + 1
    }

    /// `d` scaled by the multiplier.
    pub(crate) fn scale(&self, d: Duration) -> Duration {
        d * self.multiplier()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rises_and_falls_within_bounds() {
        let mut a = Awareness::new(8, true);
        assert_eq!(a.multiplier(), 1);
        a.apply(-1);
        assert_eq!(a.score(), 0, "never below zero");
        a.apply(3);
        assert_eq!(a.multiplier(), 4);
        assert_eq!(
            a.scale(Duration::from_millis(100)),
            Duration::from_millis(400)
        );
        a.apply(100);
        assert_eq!(a.score(), 7, "capped at max - 1");
        assert_eq!(a.multiplier(), 8);
        for _ in 0..7 {
            a.apply(-1);
        }
        assert_eq!(a.multiplier(), 1);
    }

    #[test]
    fn disabled_stays_healthy() {
        let mut a = Awareness::new(8, false);
        a.apply(5);
        assert_eq!(a.multiplier(), 1);
    }
}
