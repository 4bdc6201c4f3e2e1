//! Builders of the messages assembled from already encoded records: those
//! that piggyback updates within a size limit ([`Builder`]) and full-state
//! frames, join acks and push-pulls ([`FullState`]).

use super::put::{put_id, put_varint};
use super::{Body, KIND_JOIN_ACK, KIND_PUSH_PULL, MAX_UPDATES};

/// Builds a message whose body ends with a list of piggybacked updates, adding
/// updates only while the message stays within a size limit.
pub(crate) struct Builder {
    buf: Vec<u8>,
    count_pos: usize,
    count: usize,
    limit: usize,
}

impl Builder {
    /// Starts a message with `prefix` (see [`prefix`]), the sender's encoded id
    /// and the fixed part of `head` (a body whose `updates` are ignored).
    pub(crate) fn new(prefix: &[u8], sender: &[u8], head: &Body, limit: usize) -> Builder {
        let mut buf = Vec::with_capacity(limit.min(1500));
        buf.extend_from_slice(prefix);
        buf.push(head.kind());
        buf.extend_from_slice(sender);
        match head {
            Body::Ping {
                seq,
                target_gen,
                target_inc,
                ..
            } => {
                buf.extend_from_slice(&seq.to_be_bytes());
                buf.extend_from_slice(&target_gen.to_le_bytes());
                put_varint(&mut buf, u64::from(*target_inc));
            }
            Body::Ack { seq, .. } | Body::Nack { seq, .. } => {
                buf.extend_from_slice(&seq.to_be_bytes())
            }
            Body::PingReq { seq, target, .. } => {
                buf.extend_from_slice(&seq.to_be_bytes());
                put_id(&mut buf, target);
            }
            Body::Gossip { .. } => {}
            Body::JoinRequest { .. }
            | Body::JoinAck { .. }
            | Body::PushPull { .. }
            | Body::WhoAreYou => {
                debug_assert!(false, "Builder is for update-carrying messages");
            }
        }
        let count_pos = buf.len();
        buf.push(0);
        Builder {
            buf,
            count_pos,
            count: 0,
            limit,
        }
    }

    /// Bytes so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Room left, in bytes.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.buf.len())
    }

    /// Adds one encoded record if it fits; returns whether it was added.
    pub(crate) fn push(&mut self, record: &[u8]) -> bool {
        if self.count >= MAX_UPDATES || record.len() > self.room() {
            return false;
        }
        self.buf.extend_from_slice(record);
        self.count += 1;
        true
    }

    /// Adds the record `write` appends (it returns false when it has none
    /// to write) if it fits, as [`Builder::push`] does, without encoding it
    /// apart first: `Ok(true)` added, `Ok(false)` nothing to add, `Err(len)`
    /// not added, the record being `len` bytes long.
    pub(crate) fn push_with(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> Result<bool, usize> {
        let start = self.buf.len();
        if !write(&mut self.buf) {
            self.buf.truncate(start);
            return Ok(false);
        }
        let len = self.buf.len() - start;
        if self.count >= MAX_UPDATES || len > self.limit.saturating_sub(start) {
            self.buf.truncate(start);
            return Err(len);
        }
        self.count += 1;
        Ok(true)
    }

    /// Number of updates added.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The finished message.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf[self.count_pos] = self.count as u8;
        self.buf
    }
}

/// The head of a full-state frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StateHead {
    /// The answer to a join request; `accepted` when the responder is `Up`.
    JoinAck { accepted: bool },
    /// A push-pull request (`reply == false`) or its reply.
    PushPull { reply: bool },
}

/// Builds a full-state frame record by record: prefix, kind, sender, flag,
/// record count, records.
pub(crate) struct FullState {
    head: Vec<u8>,
    records: Vec<u8>,
    count: u64,
    /// Most bytes of records [`FullState::push`] accepts.
    limit: usize,
}

impl FullState {
    /// Starts a frame of at most about `max_frame` bytes from `prefix` and the
    /// sender's encoded id.
    pub(crate) fn new(prefix: &[u8], sender: &[u8], head: StateHead, max_frame: usize) -> Self {
        let (kind, flag) = match head {
            StateHead::JoinAck { accepted } => (KIND_JOIN_ACK, accepted),
            StateHead::PushPull { reply } => (KIND_PUSH_PULL, reply),
        };
        let mut buf = super::start(prefix, sender, kind);
        buf.push(u8::from(flag));
        FullState {
            head: buf,
            records: Vec::new(),
            count: 0,
            limit: max_frame.saturating_sub(prefix.len() + sender.len() + 16),
        }
    }

    /// Adds one encoded record whatever its size.
    pub(crate) fn add(&mut self, record: &[u8]) {
        self.records.extend_from_slice(record);
        self.count += 1;
    }

    /// Adds the record `write` appends (it returns false when it has none
    /// to write) if the records stay within the frame's limit: `Ok(true)`
    /// added, `Ok(false)` nothing to add, `Err(())` too big (not added).
    pub(crate) fn push_with(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> Result<bool, ()> {
        let start = self.records.len();
        if !write(&mut self.records) {
            self.records.truncate(start);
            return Ok(false);
        }
        if self.records.len() > self.limit {
            self.records.truncate(start);
            return Err(());
        }
        self.count += 1;
        Ok(true)
    }

    /// The finished frame.
    pub(crate) fn finish(self) -> Vec<u8> {
        let mut buf = self.head;
        put_varint(&mut buf, self.count);
        buf.extend_from_slice(&self.records);
        buf
    }
}
