//! Ids as the keys of the table's address index and keep-majority's order.

use std::cmp::Ordering;
use std::net::SocketAddr;

use crate::id::MemberId;

/// An id that hashes and compares as its address: the index of the newest
/// generation per address holds one word per address and is looked up by
/// the address itself.
#[derive(Clone, Debug)]
pub(super) struct AtAddr(pub(super) MemberId);

impl PartialEq for AtAddr {
    fn eq(&self, other: &Self) -> bool {
        self.0.addr == other.0.addr
    }
}

impl Eq for AtAddr {}

impl std::hash::Hash for AtAddr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.addr.hash(state);
    }
}

impl std::borrow::Borrow<SocketAddr> for AtAddr {
    fn borrow(&self) -> &SocketAddr {
        &self.0.addr
    }
}

/// An id ordered by its address first (then the id): keep-majority's
/// count and its tie-breaker, one word per member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ByAddr(pub(super) MemberId);

impl PartialOrd for ByAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByAddr {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.addr, &self.0).cmp(&(other.0.addr, &other.0))
    }
}
