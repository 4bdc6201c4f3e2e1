//! The envelope codec: the plaintext inside one sealed remote frame.
//!
//! A frame batches envelopes, so that many small messages cost one seal, one
//! write and one read:
//!
//! ```text
//! frame    = format:u8 (= 1) count:u16 envelope{count}
//! envelope = kind:u8 to:varint tag:u32 version:u16 correlation:varint len:varint payload[len]
//! ```
//!
//! Integers are little-endian; `varint` is LEB128 of at most 10 bytes. A
//! decoder reads only within the frame it was given and never allocates for
//! the payloads (they are borrowed). An envelope whose payload exceeds the
//! limit is skipped and reported with its correlation, so that the sender's
//! ask fails with `Rejected` while the envelopes after it are still read; an
//! envelope that cannot be framed (a length beyond the frame) ends the frame,
//! because nothing after it can be located: the connection is never closed
//! for either.

use crate::message::TypeTag;
use crate::reference::ActorId;

/// The frame format this build writes and reads.
pub const FORMAT: u8 = 1;
/// The frame header: format and count.
pub const FRAME_HEADER: usize = 3;
/// The largest envelope header: kind, two varints of 10, tag, version, a
/// varint of 5 for the length.
pub const MAX_ENVELOPE_HEADER: usize = 1 + 10 + 4 + 2 + 10 + 5;

/// What an envelope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A one-way message (at most once).
    Tell = 1,
    /// A question; the answer comes back as `Reply` or `Failure` with the same
    /// correlation.
    Ask = 2,
    /// The answer to an ask.
    Reply = 3,
    /// An ask or tell that could not be delivered; the payload is a
    /// [`crate::Failure`].
    Failure = 4,
    /// Watch, unwatch, terminated and registry records.
    Control = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Tell,
            2 => Kind::Ask,
            3 => Kind::Reply,
            4 => Kind::Failure,
            5 => Kind::Control,
            _ => return None,
        })
    }
}

/// One decoded envelope; the payload borrows the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// What it is.
    pub kind: Kind,
    /// The recipient actor on the receiving member (0 for replies and control).
    pub to: ActorId,
    /// The payload's type and version.
    pub tag: TypeTag,
    /// Pairs an ask with its reply or failure (0 for tells).
    pub correlation: u64,
    /// The serialized message.
    pub payload: &'a [u8],
}

/// Why an envelope or a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The frame's format byte is not one this build reads; the frame is dropped.
    #[error("frame format {0} is not supported (this build reads {FORMAT})")]
    Format(u8),
    /// The frame ended inside a header or a length; the rest of the frame is dropped.
    #[error("frame truncated: {0}")]
    Truncated(&'static str),
    /// An unknown kind byte; the rest of the frame is dropped (its layout is unknown).
    #[error("unknown envelope kind {0}")]
    Kind(u8),
    /// A payload over the limit; that envelope only is skipped.
    #[error("payload of {len} bytes exceeds the limit of {limit} (correlation {correlation})")]
    Oversize {
        /// The declared length.
        len: u64,
        /// The limit.
        limit: usize,
        /// The kind, so that an oversize ask can be answered.
        kind: Kind,
        /// The correlation, so that an oversize ask can be answered.
        correlation: u64,
    },
    /// The frame holds more or fewer envelopes than its count says.
    #[error("frame count {count} does not match its contents")]
    Count {
        /// The declared count.
        count: u16,
    },
}

/// Appends envelopes to one frame up to a size limit.
#[derive(Debug)]
pub struct FrameBuilder {
    buf: Vec<u8>,
    /// Where the frame starts in `buf` (room for a transport's prefix).
    start: usize,
    count: u16,
    max_frame: usize,
}

impl FrameBuilder {
    /// An empty frame that will not grow past `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self::with_headroom(0, max_frame)
    }

    /// Like [`FrameBuilder::new`], with `headroom` zero bytes before the
    /// frame in the finished buffer, so that a transport can write its length
    /// prefix there and seal in place instead of copying the frame.
    pub fn with_headroom(headroom: usize, max_frame: usize) -> Self {
        let mut buf = Vec::with_capacity(headroom + FRAME_HEADER + max_frame.min(16 * 1024));
        buf.resize(headroom, 0);
        buf.extend_from_slice(&[FORMAT, 0, 0]);
        FrameBuilder {
            buf,
            start: headroom,
            count: 0,
            max_frame,
        }
    }

    /// The size of an envelope with this payload, at most.
    pub fn envelope_size(payload_len: usize) -> usize {
        MAX_ENVELOPE_HEADER + payload_len
    }

    /// Adds an envelope if it fits; `false` if the frame is full (the caller
    /// sends this frame and starts another).
    pub fn push(&mut self, env: &Envelope<'_>) -> bool {
        let needed = Self::envelope_size(env.payload.len());
        if self.count == u16::MAX || self.buf.len() - self.start + needed > self.max_frame {
            return false;
        }
        self.buf.push(env.kind as u8);
        put_varint(&mut self.buf, env.to.0);
        self.buf.extend_from_slice(&env.tag.name_hash.to_le_bytes());
        self.buf.extend_from_slice(&env.tag.version.to_le_bytes());
        put_varint(&mut self.buf, env.correlation);
        put_varint(&mut self.buf, env.payload.len() as u64);
        self.buf.extend_from_slice(env.payload);
        self.count += 1;
        true
    }

    /// How many envelopes the frame holds.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the frame holds no envelope.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded frame (after the headroom, if any).
    pub fn finish(mut self) -> Vec<u8> {
        let at = self.start + 1;
        self.buf[at..at + 2].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// Reads the envelopes of one frame, in order.
///
/// Yields `Err(Oversize)` for a payload over `max_payload` and goes on with
/// the next envelope; yields one other `Err` and then ends when the frame
/// cannot be read further.
#[derive(Debug)]
pub struct FrameReader<'a> {
    rest: &'a [u8],
    left: u16,
    count: u16,
    max_payload: usize,
    done: bool,
}

impl<'a> FrameReader<'a> {
    /// Starts reading a frame.
    pub fn new(frame: &'a [u8], max_payload: usize) -> Result<Self, EnvelopeError> {
        let [format, c0, c1, rest @ ..] = frame else {
            return Err(EnvelopeError::Truncated("frame header"));
        };
        if *format != FORMAT {
            return Err(EnvelopeError::Format(*format));
        }
        let count = u16::from_le_bytes([*c0, *c1]);
        Ok(FrameReader {
            rest,
            left: count,
            count,
            max_payload,
            done: false,
        })
    }

    fn read_one(&mut self) -> Result<Envelope<'a>, EnvelopeError> {
        let mut r = Cursor(self.rest);
        let kind_byte = r.byte("kind")?;
        let kind = Kind::from_u8(kind_byte).ok_or(EnvelopeError::Kind(kind_byte))?;
        let to = ActorId(r.varint("recipient")?);
        let name_hash = u32::from_le_bytes(r.array("tag")?);
        let version = u16::from_le_bytes(r.array("version")?);
        let correlation = r.varint("correlation")?;
        let len = r.varint("payload length")?;
        let available = r.0.len() as u64;
        if len > available {
            return Err(EnvelopeError::Truncated("payload"));
        }
        // Checked against the frame above, so the cast cannot truncate.
        let len_usize = len as usize;
        let (payload, rest) = r.0.split_at(len_usize);
        self.rest = rest;
        if len_usize > self.max_payload {
            return Err(EnvelopeError::Oversize {
                len,
                limit: self.max_payload,
                kind,
                correlation,
            });
        }
        Ok(Envelope {
            kind,
            to,
            tag: TypeTag { name_hash, version },
            correlation,
            payload,
        })
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Result<Envelope<'a>, EnvelopeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return (!self.rest.is_empty())
                .then_some(Err(EnvelopeError::Count { count: self.count }));
        }
        self.left -= 1;
        match self.read_one() {
            Ok(env) => Some(Ok(env)),
            Err(e @ EnvelopeError::Oversize { .. }) => Some(Err(e)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn byte(&mut self, what: &'static str) -> Result<u8, EnvelopeError> {
        let (&b, rest) = self.0.split_first().ok_or(EnvelopeError::Truncated(what))?;
        self.0 = rest;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EnvelopeError> {
        if self.0.len() < N {
            return Err(EnvelopeError::Truncated(what));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    /// LEB128; more than 10 bytes, or bits beyond 64, are a truncated field
    /// rather than a silently wrapped number.
    fn varint(&mut self, what: &'static str) -> Result<u64, EnvelopeError> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(EnvelopeError::Truncated(what));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(EnvelopeError::Truncated(what))
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(kind: Kind, to: u64, correlation: u64, payload: &[u8]) -> Envelope<'_> {
        Envelope {
            kind,
            to: ActorId(to),
            tag: TypeTag::of("t.Msg", 3),
            correlation,
            payload,
        }
    }

    fn frame_of(envs: &[Envelope<'_>]) -> Vec<u8> {
        let mut b = FrameBuilder::new(1 << 20);
        for e in envs {
            assert!(b.push(e));
        }
        b.finish()
    }

    #[test]
    fn envelopes_round_trip_in_order() {
        let big = vec![7u8; 300];
        let envs = [
            env(Kind::Tell, 1, 0, b"one"),
            env(Kind::Ask, u64::MAX, u64::MAX, &big),
            env(Kind::Reply, 0, 42, b""),
            env(Kind::Control, 5, 0, b"c"),
        ];
        let frame = frame_of(&envs);
        let read: Vec<_> = FrameReader::new(&frame, 1024)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read, envs);
    }

    #[test]
    fn an_oversize_payload_costs_that_envelope_only() {
        let big = vec![1u8; 2000];
        let frame = frame_of(&[
            env(Kind::Tell, 1, 0, b"before"),
            env(Kind::Ask, 2, 9, &big),
            env(Kind::Tell, 3, 0, b"after"),
        ]);
        let read: Vec<_> = FrameReader::new(&frame, 1000).unwrap().collect();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].as_ref().unwrap().payload, b"before");
        assert!(matches!(
            read[1],
            Err(EnvelopeError::Oversize {
                len: 2000,
                kind: Kind::Ask,
                correlation: 9,
                ..
            })
        ));
        assert_eq!(read[2].as_ref().unwrap().payload, b"after");
    }

    #[test]
    fn a_truncated_frame_yields_what_it_can_then_one_error() {
        let frame = frame_of(&[
            env(Kind::Tell, 1, 0, b"whole"),
            env(Kind::Tell, 2, 0, b"cut"),
        ]);
        let cut = &frame[..frame.len() - 2];
        let read: Vec<_> = FrameReader::new(cut, 1000).unwrap().collect();
        assert_eq!(read.len(), 2);
        assert!(read[0].is_ok());
        assert_eq!(read[1], Err(EnvelopeError::Truncated("payload")));
    }

    #[test]
    fn unknown_formats_kinds_and_counts_are_errors() {
        assert_eq!(
            FrameReader::new(&[9, 0, 0], 10).unwrap_err(),
            EnvelopeError::Format(9)
        );
        assert!(FrameReader::new(&[FORMAT, 0], 10).is_err());
        let read: Vec<_> = FrameReader::new(&[FORMAT, 1, 0, 77], 10).unwrap().collect();
        assert_eq!(read, vec![Err(EnvelopeError::Kind(77))]);
        let mut frame = frame_of(&[env(Kind::Tell, 1, 0, b"x")]);
        frame[1] = 0;
        let read: Vec<_> = FrameReader::new(&frame, 10).unwrap().collect();
        assert_eq!(read, vec![Err(EnvelopeError::Count { count: 0 })]);
    }

    #[test]
    fn an_overlong_varint_is_refused_not_wrapped() {
        let mut frame = vec![FORMAT, 1, 0, Kind::Tell as u8];
        frame.extend_from_slice(&[0xff; 10]);
        frame.push(0x01);
        let read: Vec<_> = FrameReader::new(&frame, 10).unwrap().collect();
        assert_eq!(read, vec![Err(EnvelopeError::Truncated("recipient"))]);
    }

    #[test]
    fn headroom_comes_before_the_same_frame() {
        let e = env(Kind::Tell, 1, 0, b"x");
        let mut plain = FrameBuilder::new(100);
        let mut roomy = FrameBuilder::with_headroom(4, 100);
        assert!(plain.push(&e) && roomy.push(&e));
        let (plain, roomy) = (plain.finish(), roomy.finish());
        assert_eq!(&roomy[..4], &[0, 0, 0, 0]);
        assert_eq!(&roomy[4..], &plain[..]);
    }

    #[test]
    fn the_builder_stops_at_its_limit() {
        let payload = [0u8; 100];
        let mut b = FrameBuilder::new(FRAME_HEADER + 2 * FrameBuilder::envelope_size(100));
        assert!(b.push(&env(Kind::Tell, 1, 0, &payload)));
        assert!(b.push(&env(Kind::Tell, 1, 0, &payload)));
        assert!(!b.push(&env(Kind::Tell, 1, 0, &payload)));
        assert_eq!(b.len(), 2);
        let frame = b.finish();
        assert_eq!(FrameReader::new(&frame, 1000).unwrap().count(), 2);
    }

    #[test]
    fn any_bytes_decode_without_panic() {
        // A cheap exhaustive-ish sweep: every short frame made of a few byte values.
        let values = [0u8, 1, 2, 5, 0x7f, 0x80, 0xff];
        let mut frame = vec![FORMAT, 2, 0];
        for a in values {
            for b in values {
                for c in values {
                    frame.truncate(3);
                    frame.extend_from_slice(&[1, a, b, c, a, b, c, 0, 1, a, c]);
                    for item in FrameReader::new(&frame, 4).unwrap() {
                        let _ = item;
                    }
                }
            }
        }
    }
}
