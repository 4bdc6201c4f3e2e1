//! Fresh randomness and generations: what makes a member started in this
//! process new to the cluster.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_cluster_proto::Generation;

/// The last generation handed out in this process: generations only grow.
static LAST_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Fresh randomness from the OS (seeds the core's RNG and the generation).
pub(crate) fn random_u64() -> u64 {
    use rand::{RngCore, SeedableRng};
    rand::rngs::SmallRng::from_entropy().next_u64()
}

/// A generation new to this process start: microseconds since the UNIX epoch
/// with random low bits, strictly increasing within the process.
pub(crate) fn new_generation() -> Generation {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let candidate = (micros << 8) | (random_u64() & 0xff);
    let mut last = LAST_GENERATION.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(last + 1);
        match LAST_GENERATION.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}
