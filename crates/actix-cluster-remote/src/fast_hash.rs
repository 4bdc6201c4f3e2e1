//! A fast hasher for the maps on the message path (links by member, local
//! actors by number, handlers by type tag, asks by correlation).
//!
//! SipHash guards a map against keys an attacker chooses to collide; every
//! key inserted into these maps is chosen by this process or comes from the
//! authenticated membership, and a lookup with a hostile key costs one probe
//! like any other. So the multiply-rotate hash (as in rustc's FxHash) is
//! enough, and several times cheaper per message.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher; see the module docs.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with the fast hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_alike_and_a_map_works() {
        let mut m: FastMap<(u64, String), u32> = FastMap::default();
        for i in 0..1000u64 {
            m.insert((i, format!("n{i}")), i as u32);
        }
        for i in 0..1000u64 {
            assert_eq!(m.get(&(i, format!("n{i}"))), Some(&(i as u32)));
        }
        assert_eq!(m.get(&(1, "n2".into())), None);
    }
}
