//! The remote layer's counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated from every task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent_messages: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) sent_frames: AtomicU64,
    pub(crate) received_messages: AtomicU64,
    pub(crate) received_bytes: AtomicU64,
    pub(crate) received_frames: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_oversize: AtomicU64,
    pub(crate) dropped_undeliverable: AtomicU64,
    pub(crate) dropped_stale_member: AtomicU64,
    pub(crate) frames_refused: AtomicU64,
    pub(crate) late_replies: AtomicU64,
    pub(crate) replies_lost: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) handshakes_refused: AtomicU64,
}

/// A snapshot of the remote layer's counters (`GetRemoteStats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteStats {
    /// Envelopes written to connections (tells, asks, replies, control).
    pub sent_messages: u64,
    /// Bytes written, sealed frames with their length prefixes.
    pub sent_bytes: u64,
    /// Frames written (each batches one or more envelopes).
    pub sent_frames: u64,
    /// Envelopes read from connections.
    pub received_messages: u64,
    /// Bytes read.
    pub received_bytes: u64,
    /// Frames read.
    pub received_frames: u64,
    /// Messages refused at the sender because a lane was full.
    pub dropped_queue_full: u64,
    /// Messages over the size limit (at the sender or the receiver).
    pub dropped_oversize: u64,
    /// Received messages for no actor, an unknown type or version, or an
    /// undecodable payload (the sender of an ask is told).
    pub dropped_undeliverable: u64,
    /// Frames from a member generation that is no longer current.
    pub dropped_stale_member: u64,
    /// Frames that did not open or could not be read.
    pub frames_refused: u64,
    /// Answers that came after their ask ended (timeout, member down).
    pub late_replies: u64,
    /// Answers that could not be queued back to the asker.
    pub replies_lost: u64,
    /// Connections that completed the handshake.
    pub connections_opened: u64,
    /// Connections refused during the handshake.
    pub handshakes_refused: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RemoteStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RemoteStats {
            sent_messages: g(&self.sent_messages),
            sent_bytes: g(&self.sent_bytes),
            sent_frames: g(&self.sent_frames),
            received_messages: g(&self.received_messages),
            received_bytes: g(&self.received_bytes),
            received_frames: g(&self.received_frames),
            dropped_queue_full: g(&self.dropped_queue_full),
            dropped_oversize: g(&self.dropped_oversize),
            dropped_undeliverable: g(&self.dropped_undeliverable),
            dropped_stale_member: g(&self.dropped_stale_member),
            frames_refused: g(&self.frames_refused),
            late_replies: g(&self.late_replies),
            replies_lost: g(&self.replies_lost),
            connections_opened: g(&self.connections_opened),
            handshakes_refused: g(&self.handshakes_refused),
        }
    }
}
