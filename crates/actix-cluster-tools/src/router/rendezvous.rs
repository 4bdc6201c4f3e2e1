//! Rendezvous (highest random weight) hashing: a key goes to the routee
//! with the highest score of (key, routee). A routee that leaves takes only
//! its own keys with it (each moves to its next-highest routee); one that
//! joins takes only the keys it now scores highest for; nothing else moves.
//!
//! The scores use fixed functions (FNV-1a over the routee's address, a
//! SplitMix64 finalizer), not `std`'s hasher, so every member, every build
//! and every version ranks alike.

use actix_cluster_remote::ActorAddr;

/// A routee's fixed hash: its member (name, address, generation) and actor.
pub(super) fn routee_hash(addr: &ActorAddr) -> u64 {
    let mut h = Fnv::default();
    h.write(addr.member.name.as_bytes());
    h.write(&[0xff]);
    h.write(addr.member.addr.to_string().as_bytes());
    h.write(&addr.member.generation.to_le_bytes());
    h.write(&addr.actor.0.to_le_bytes());
    h.0
}

/// The score of a key for a routee (by its [`routee_hash`]).
pub(super) fn score(key: u64, routee: u64) -> u64 {
    mix(mix(key) ^ routee)
}

/// Indexes into `routees` (their hashes), best first for `key`.
pub(super) fn ranked(key: u64, routees: &[u64]) -> Vec<usize> {
    let mut order: Vec<(u64, usize)> = routees
        .iter()
        .enumerate()
        .map(|(i, h)| (score(key, *h), i))
        .collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    order.into_iter().map(|(_, i)| i).collect()
}

/// The best routee for `key`, without sorting.
pub(super) fn best(key: u64, routees: &[u64]) -> Option<usize> {
    routees
        .iter()
        .enumerate()
        .max_by_key(|(i, h)| (score(key, **h), *i))
        .map(|(i, _)| i)
}

/// SplitMix64's finalizer: a bijection that spreads every input bit.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routees(n: u64) -> Vec<u64> {
        (0..n).map(|i| mix(i + 1000)).collect()
    }

    #[test]
    fn the_best_is_the_first_ranked_and_keys_stay_put() {
        let r = routees(5);
        for key in 0..1000 {
            assert_eq!(best(key, &r), Some(ranked(key, &r)[0]));
            assert_eq!(best(key, &r), best(key, &r));
        }
        assert_eq!(best(1, &[]), None);
    }

    #[test]
    fn a_leaving_routee_moves_only_its_own_keys_to_their_second_choice() {
        let r = routees(5);
        let gone = 2;
        let rest: Vec<u64> = r
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != gone)
            .map(|(_, h)| *h)
            .collect();
        let mut moved = 0;
        for key in 0..10_000u64 {
            let before = r[best(key, &r).unwrap()];
            let after = rest[best(key, &rest).unwrap()];
            if before == r[gone] {
                moved += 1;
                assert_eq!(after, r[ranked(key, &r)[1]]);
            } else {
                assert_eq!(after, before, "key {key} moved without need");
            }
        }
        // Its share: about a fifth.
        assert!((1500..2500).contains(&moved), "{moved}");
    }

    #[test]
    fn keys_spread_about_evenly() {
        let r = routees(4);
        let mut counts = [0u32; 4];
        for key in 0..40_000u64 {
            counts[best(key, &r).unwrap()] += 1;
        }
        for c in counts {
            assert!((8_000..12_000).contains(&c), "{counts:?}");
        }
    }
}
