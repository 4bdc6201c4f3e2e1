//! How long the `Cluster` actor takes to handle one incoming datagram or
//! stream frame, as a fixed log-bucket histogram: bounded memory, whatever
//! the traffic.

use std::time::Duration;

/// Sub-buckets per power of two (2 bits of mantissa): a bucket spans at most
/// a factor of 1.25.
const SUB_BITS: u32 = 2;
const SUB: usize = 1 << SUB_BITS;
/// Values are nanoseconds below 2^36 (about 69 s); longer ones land in the
/// last bucket.
const MAX_BITS: usize = 36;
/// Number of buckets.
const BUCKETS: usize = (MAX_BITS - 1) * SUB;

/// Handling times (from a handler's entry to the end of the core's
/// processing and of dispatching its outputs), kept as counts in fixed
/// logarithmic buckets, each spanning at most a factor of 1.25, from 1 ns to
/// about 69 s. The memory is fixed (140 counters) however many are recorded;
/// quantiles are the upper bound of their bucket (at most 25 % above the
/// true value), never above the largest time recorded.
///
/// Read it from [`ClusterStats`](crate::ClusterStats): [`p50`](Self::p50),
/// [`p99`](Self::p99), [`max`](Self::max), or the figures of an interval with
/// [`since`](Self::since) an earlier snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlingLatency {
    buckets: [u64; BUCKETS],
    count: u64,
    max: Duration,
}

impl Default for HandlingLatency {
    fn default() -> Self {
        HandlingLatency {
            buckets: [0; BUCKETS],
            count: 0,
            max: Duration::ZERO,
        }
    }
}

/// The bucket of `ns` nanoseconds.
fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros() as usize;
    let mantissa = ((ns >> (msb - SUB_BITS as usize)) as usize) & (SUB - 1);
    ((msb - SUB_BITS as usize + 1) * SUB + mantissa).min(BUCKETS - 1)
}

/// The (exclusive) upper bound of bucket `i`, in nanoseconds.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64 + 1;
    }
    let shift = i / SUB - 1;
    ((SUB + i % SUB + 1) as u64) << shift
}

impl HandlingLatency {
    /// Records one handling time.
    pub(crate) fn record(&mut self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)] += 1;
        self.count += 1;
        self.max = self.max.max(took);
    }

    /// How many handling times were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest handling time recorded (for an interval from
    /// [`since`](Self::since): the upper bound of its largest bucket).
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The median handling time (zero when nothing was recorded).
    pub fn p50(&self) -> Duration {
        self.quantile(0.5)
    }

    /// The 99th percentile handling time (zero when nothing was recorded).
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// The `q`-quantile (`q` in 0..=1, clamped) of the handling times: the
    /// upper bound of the bucket holding it, at most [`max`](Self::max).
    /// Zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_nanos(upper(i)).min(self.max);
            }
        }
        self.max
    }

    /// The handling times recorded after `earlier` (a snapshot of this same
    /// histogram taken before), for the figures of an interval. Its maximum
    /// is the upper bound of its largest non-empty bucket (at most this
    /// histogram's maximum).
    pub fn since(&self, earlier: &HandlingLatency) -> HandlingLatency {
        let mut out = HandlingLatency::default();
        for (i, (now, then)) in self.buckets.iter().zip(&earlier.buckets).enumerate() {
            let n = now.saturating_sub(*then);
            out.buckets[i] = n;
            out.count += n;
            if n > 0 {
                out.max = Duration::from_nanos(upper(i)).min(self.max);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bound_their_values() {
        let mut last = 0;
        for ns in [
            0u64,
            1,
            2,
            3,
            4,
            5,
            7,
            8,
            9,
            15,
            16,
            100,
            1_000,
            999_999,
            1 << 35,
        ] {
            let b = bucket(ns);
            assert!(b >= last, "bucket of {ns} went down");
            last = b;
            assert!(upper(b) > ns, "{ns} is below its bucket's upper bound");
            if b > 0 {
                assert!(upper(b - 1) <= ns, "{ns} is above the previous bucket");
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_recorded_times_within_a_quarter() {
        let mut h = HandlingLatency::default();
        assert_eq!(h.p99(), Duration::ZERO);
        for _ in 0..98 {
            h.record(Duration::from_micros(10));
        }
        h.record(Duration::from_millis(2));
        h.record(Duration::from_millis(3));
        assert_eq!(h.count(), 100);
        let p50 = h.p50();
        assert!(p50 >= Duration::from_micros(10) && p50 <= Duration::from_micros(13));
        let p99 = h.p99();
        assert!(p99 >= Duration::from_millis(2) && p99 <= Duration::from_micros(2500));
        assert_eq!(h.max(), Duration::from_millis(3));
        assert_eq!(h.quantile(1.0), Duration::from_millis(3));
    }

    #[test]
    fn an_interval_counts_only_what_came_after_its_start() {
        let mut h = HandlingLatency::default();
        h.record(Duration::from_millis(5));
        let before = h.clone();
        for _ in 0..10 {
            h.record(Duration::from_micros(20));
        }
        let interval = h.since(&before);
        assert_eq!(interval.count(), 10);
        assert!(interval.p99() < Duration::from_micros(26));
        assert!(interval.max() < Duration::from_micros(26));
        assert_eq!(h.since(&h).count(), 0);
    }
}
