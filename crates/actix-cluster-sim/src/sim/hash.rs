//! A small stable hash (FNV-1a, 64 bit) for run fingerprints: unlike std's
//! `DefaultHasher` its output is specified and never changes between releases.

use std::net::SocketAddr;

/// FNV-1a 64-bit hasher.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

impl Fnv {
    /// A fresh hasher.
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Feeds bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Feeds a u64 (little endian).
    pub(crate) fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    /// Feeds an address (IP octets and port).
    pub(crate) fn write_addr(&mut self, a: SocketAddr) {
        match a {
            SocketAddr::V4(v4) => self.write(&v4.ip().octets()),
            SocketAddr::V6(v6) => self.write(&v6.ip().octets()),
        }
        self.write(&a.port().to_le_bytes());
    }

    /// The hash so far.
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}
