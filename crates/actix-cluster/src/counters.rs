//! The transport's counters: shared by the actor and its IO tasks, read as a
//! [`TransportStats`] snapshot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::messages::TransportStats;

/// Transport counters, shared with the IO tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) datagrams_received: AtomicU64,
    pub(crate) datagrams_oversized: AtomicU64,
    pub(crate) datagrams_sent: AtomicU64,
    pub(crate) datagrams_send_failed: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) frames_oversized: AtomicU64,
    pub(crate) frame_read_errors: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_dropped: AtomicU64,
    pub(crate) connections_evicted: AtomicU64,
    pub(crate) writers_evicted: AtomicU64,
    pub(crate) connections_closed_rejected: AtomicU64,
    pub(crate) datagram_bytes_received: AtomicU64,
    pub(crate) datagram_bytes_sent: AtomicU64,
    pub(crate) frame_bytes_received: AtomicU64,
    pub(crate) frame_bytes_sent: AtomicU64,
    /// Incoming connections currently open.
    pub(crate) incoming_open: AtomicUsize,
}

/// Counts one.
pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Counts `n`.
pub(crate) fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

impl Counters {
    /// The counters now.
    pub(crate) fn snapshot(&self) -> TransportStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            datagrams_received: g(&self.datagrams_received),
            datagrams_oversized: g(&self.datagrams_oversized),
            datagrams_sent: g(&self.datagrams_sent),
            datagrams_send_failed: g(&self.datagrams_send_failed),
            connections_accepted: g(&self.connections_accepted),
            connections_rejected: g(&self.connections_rejected),
            frames_received: g(&self.frames_received),
            frames_oversized: g(&self.frames_oversized),
            frame_read_errors: g(&self.frame_read_errors),
            frames_sent: g(&self.frames_sent),
            frames_dropped: g(&self.frames_dropped),
            connections_evicted: g(&self.connections_evicted),
            writers_evicted: g(&self.writers_evicted),
            connections_closed_rejected: g(&self.connections_closed_rejected),
            datagram_bytes_received: g(&self.datagram_bytes_received),
            datagram_bytes_sent: g(&self.datagram_bytes_sent),
            frame_bytes_received: g(&self.frame_bytes_received),
            frame_bytes_sent: g(&self.frame_bytes_sent),
        }
    }
}
