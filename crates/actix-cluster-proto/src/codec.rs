//! Wire format: versioned, bounded, never panics.
//!
//! Every message, datagram or stream frame, is
//!
//! ```text
//! magic "AC" | version u8 (=1) | flags u8 | cluster name (u8 len + bytes)
//! | kind u8 | sender MemberId | body
//! ```
//!
//! `flags` bit 0 (authenticated) and bit 1 (encrypted) are reserved for the key
//! set a later version adds; when either is set a `u32` key id follows the
//! flags. This build sets no flag and rejects messages that do. See
//! `docs/PROTOCOL.md` for the bodies.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::error::DecodeError;
use crate::id::{Incarnation, MemberId};
use crate::limits::{
    MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_TOTAL, MAX_METADATA_VALUE_LEN,
    MAX_NAME_LEN, MAX_ROLES, MAX_ROLE_LEN,
};
use crate::member::{DownReason, Status};

/// First two bytes of every message.
pub(crate) const MAGIC: [u8; 2] = *b"AC";
/// The protocol version this build speaks.
pub(crate) const VERSION: u8 = 1;
/// Reserved flag: the message carries an authentication tag (not yet used).
pub(crate) const FLAG_AUTHENTICATED: u8 = 0x01;
/// Reserved flag: the body is encrypted (not yet used).
pub(crate) const FLAG_ENCRYPTED: u8 = 0x02;
/// Most piggybacked updates in one message.
pub(crate) const MAX_UPDATES: usize = 255;
/// Smallest possible encoded record, used to bound counts before allocating.
const MIN_RECORD_LEN: usize = 20;

const KIND_PING: u8 = 1;
const KIND_ACK: u8 = 2;
const KIND_PING_REQ: u8 = 3;
const KIND_NACK: u8 = 4;
const KIND_GOSSIP: u8 = 5;
const KIND_JOIN_REQUEST: u8 = 6;
const KIND_JOIN_ACK: u8 = 7;
const KIND_PUSH_PULL: u8 = 8;
const KIND_WHO_ARE_YOU: u8 = 9;

const STATUS_MASK: u8 = 0x07;
const RECORD_SUSPECT: u8 = 0x08;

/// One member's state as gossiped: the unit of dissemination and of the full
/// state exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) id: MemberId,
    pub(crate) incarnation: Incarnation,
    pub(crate) status: Status,
    /// Who suspects it, when suspected at this incarnation.
    pub(crate) suspect: Option<MemberId>,
    /// Order in which the member became `Up` (0: never). Leader = lowest.
    pub(crate) up_number: u64,
    /// Roles (empty for `Down` records: not sent).
    pub(crate) roles: BTreeSet<String>,
    /// Metadata (empty for `Down` records: not sent).
    pub(crate) metadata: BTreeMap<String, String>,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) sender: MemberId,
    pub(crate) body: Body,
}

/// Message bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// Direct probe of the member at the destination address with generation
    /// `target_gen`.
    Ping {
        seq: u32,
        target_gen: u64,
        /// The target's incarnation as the sender knows it: a target that is
        /// further along answers with its own record.
        target_inc: Incarnation,
        updates: Vec<Record>,
    },
    /// Answer to a ping (or a relayed answer to a ping-req).
    Ack { seq: u32, updates: Vec<Record> },
    /// Please probe `target` for me and relay its ack with `seq`.
    PingReq {
        seq: u32,
        target: MemberId,
        updates: Vec<Record>,
    },
    /// Lifeguard: I tried `seq`'s target for you and got no answer.
    Nack { seq: u32, updates: Vec<Record> },
    /// Just updates (gossip tick, leave broadcast, direct suspicion).
    Gossip { updates: Vec<Record> },
    /// Stream: let me in; my own record.
    JoinRequest { record: Record },
    /// Stream: the answer to a join, with the full state. `accepted` is true
    /// when the responder is `Up` (the joiner may then announce itself `Up`).
    JoinAck {
        accepted: bool,
        members: Vec<Record>,
    },
    /// Stream: full-state exchange; the receiver of a request (`reply ==
    /// false`) answers with its own state.
    PushPull { reply: bool, members: Vec<Record> },
    /// Datagram: "I got a message from you but do not know you": the
    /// receiver answers with a Gossip carrying its own record.
    WhoAreYou,
}

impl Body {
    fn kind(&self) -> u8 {
        match self {
            Body::Ping { .. } => KIND_PING,
            Body::Ack { .. } => KIND_ACK,
            Body::PingReq { .. } => KIND_PING_REQ,
            Body::Nack { .. } => KIND_NACK,
            Body::Gossip { .. } => KIND_GOSSIP,
            Body::JoinRequest { .. } => KIND_JOIN_REQUEST,
            Body::JoinAck { .. } => KIND_JOIN_ACK,
            Body::PushPull { .. } => KIND_PUSH_PULL,
            Body::WhoAreYou => KIND_WHO_ARE_YOU,
        }
    }

    /// Whether this body may travel in a datagram (else stream only). Gossip
    /// travels on both.
    pub(crate) fn datagram_ok(&self) -> bool {
        matches!(
            self,
            Body::Ping { .. }
                | Body::Ack { .. }
                | Body::PingReq { .. }
                | Body::Nack { .. }
                | Body::Gossip { .. }
                | Body::WhoAreYou
        )
    }

    /// Whether this body may travel in a stream frame.
    pub(crate) fn stream_ok(&self) -> bool {
        matches!(
            self,
            Body::Gossip { .. }
                | Body::JoinRequest { .. }
                | Body::JoinAck { .. }
                | Body::PushPull { .. }
        )
    }
}

// ---------------------------------------------------------------- encoding

/// The constant start of every message of a cluster: magic, version, flags,
/// cluster name.
pub(crate) fn prefix(cluster_name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + cluster_name.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(0);
    let name = cluster_name.as_bytes();
    let n = name.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&name[..n]);
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_short_str(out: &mut Vec<u8>, s: &str) {
    // Callers validate lengths; clamp defensively on a char boundary.
    let mut n = s.len().min(255);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    out.push(n as u8);
    out.extend_from_slice(&s.as_bytes()[..n]);
}

/// Appends an encoded member id.
pub(crate) fn put_id(out: &mut Vec<u8>, id: &MemberId) {
    put_short_str(out, &id.name);
    match id.addr {
        SocketAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        SocketAddr::V6(a) => {
            out.push(6);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
            out.extend_from_slice(&a.flowinfo().to_be_bytes());
            out.extend_from_slice(&a.scope_id().to_be_bytes());
        }
    }
    out.extend_from_slice(&id.generation.to_le_bytes());
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Joining => 0,
        Status::Up => 1,
        Status::Leaving => 2,
        Status::Down(DownReason::Failed) => 3,
        Status::Down(DownReason::Left) => 4,
    }
}

/// Appends an encoded record.
pub(crate) fn put_record(out: &mut Vec<u8>, r: &Record) {
    put_id(out, &r.id);
    let mut flags = status_code(r.status);
    if r.suspect.is_some() {
        flags |= RECORD_SUSPECT;
    }
    out.push(flags);
    put_varint(out, u64::from(r.incarnation));
    put_varint(out, r.up_number);
    if let Some(s) = &r.suspect {
        put_id(out, s);
    }
    if !matches!(r.status, Status::Down(_)) {
        let roles = r.roles.iter().take(MAX_ROLES);
        out.push(roles.len() as u8);
        for role in roles {
            put_short_str(out, role);
        }
        let meta = r.metadata.iter().take(MAX_METADATA_ENTRIES);
        out.push(meta.len() as u8);
        for (k, v) in meta {
            put_short_str(out, k);
            let n = v.len().min(MAX_METADATA_VALUE_LEN);
            let mut n = n;
            while !v.is_char_boundary(n) {
                n -= 1;
            }
            out.extend_from_slice(&(n as u16).to_be_bytes());
            out.extend_from_slice(&v.as_bytes()[..n]);
        }
    }
}

/// Encodes a record alone (for size checks and caching).
pub(crate) fn record_bytes(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_record(&mut out, r);
    out
}

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

/// Encodes a whole message. Update lists longer than [`MAX_UPDATES`] are cut;
/// full-state lists are written whole (callers bound them).
pub(crate) fn encode(prefix: &[u8], msg: &Message) -> Vec<u8> {
    let mut sender = Vec::with_capacity(32);
    put_id(&mut sender, &msg.sender);
    match &msg.body {
        Body::Ping { updates, .. }
        | Body::Ack { updates, .. }
        | Body::PingReq { updates, .. }
        | Body::Nack { updates, .. }
        | Body::Gossip { updates } => {
            let mut b = Builder::new(prefix, &sender, &msg.body, usize::MAX);
            for u in updates.iter().take(MAX_UPDATES) {
                b.push(&record_bytes(u));
            }
            b.finish()
        }
        Body::WhoAreYou => start(prefix, &sender, KIND_WHO_ARE_YOU),
        Body::JoinRequest { record } => {
            let mut buf = start(prefix, &sender, KIND_JOIN_REQUEST);
            put_record(&mut buf, record);
            buf
        }
        Body::JoinAck { accepted, members } => {
            let mut buf = start(prefix, &sender, KIND_JOIN_ACK);
            buf.push(u8::from(*accepted));
            put_varint(&mut buf, members.len() as u64);
            for m in members {
                put_record(&mut buf, m);
            }
            buf
        }
        Body::PushPull { reply, members } => {
            let mut buf = start(prefix, &sender, KIND_PUSH_PULL);
            buf.push(u8::from(*reply));
            put_varint(&mut buf, members.len() as u64);
            for m in members {
                put_record(&mut buf, m);
            }
            buf
        }
    }
}

/// Starts a message: prefix, kind, sender.
pub(crate) fn start(prefix: &[u8], sender: &[u8], kind: u8) -> Vec<u8> {
    let mut buf = Vec::with_capacity(prefix.len() + sender.len() + 64);
    buf.extend_from_slice(prefix);
    buf.push(kind);
    buf.extend_from_slice(sender);
    buf
}

/// Kind byte of a full-state message, for callers that assemble it record by
/// record (see [`start`]).
pub(crate) fn full_state_kind(join_ack: bool) -> u8 {
    if join_ack {
        KIND_JOIN_ACK
    } else {
        KIND_PUSH_PULL
    }
}

/// Appends a varint (for callers assembling full-state messages).
pub(crate) fn push_varint(out: &mut Vec<u8>, v: u64) {
    put_varint(out, v)
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(DecodeError::Malformed("varint overflows 64 bits"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Malformed("varint longer than 10 bytes"))
    }

    fn str(&mut self, len: usize, what: &'static str) -> Result<String, DecodeError> {
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Malformed(what))
    }

    fn id(&mut self) -> Result<MemberId, DecodeError> {
        let n = usize::from(self.u8()?);
        if n == 0 || n > MAX_NAME_LEN {
            return Err(DecodeError::Malformed("member name length out of range"));
        }
        let name = self.str(n, "member name is not UTF-8")?;
        let addr = match self.u8()? {
            4 => {
                let b = self.take(4)?;
                let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                SocketAddr::V4(SocketAddrV4::new(ip, self.u16()?))
            }
            6 => {
                let b = self.take(16)?;
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                let ip = Ipv6Addr::from(o);
                let port = self.u16()?;
                let flow = self.u32()?;
                let scope = self.u32()?;
                SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope))
            }
            _ => return Err(DecodeError::Malformed("unknown address family")),
        };
        if addr.port() == 0 {
            return Err(DecodeError::Malformed("member address has port 0"));
        }
        let generation = self.u64_le()?;
        Ok(MemberId::new(name, addr, generation))
    }

    fn record(&mut self) -> Result<Record, DecodeError> {
        let id = self.id()?;
        let flags = self.u8()?;
        if flags & !(STATUS_MASK | RECORD_SUSPECT) != 0 {
            return Err(DecodeError::Malformed("unknown record flags"));
        }
        let status = match flags & STATUS_MASK {
            0 => Status::Joining,
            1 => Status::Up,
            2 => Status::Leaving,
            3 => Status::Down(DownReason::Failed),
            4 => Status::Down(DownReason::Left),
            _ => return Err(DecodeError::Malformed("unknown member status")),
        };
        let incarnation = u32::try_from(self.varint()?)
            .map_err(|_| DecodeError::Malformed("incarnation exceeds 32 bits"))?;
        let up_number = self.varint()?;
        let suspect = if flags & RECORD_SUSPECT != 0 {
            if matches!(status, Status::Down(_)) {
                return Err(DecodeError::Malformed("a down member cannot be suspect"));
            }
            Some(self.id()?)
        } else {
            None
        };
        let mut roles = BTreeSet::new();
        let mut metadata = BTreeMap::new();
        if !matches!(status, Status::Down(_)) {
            let n = usize::from(self.u8()?);
            if n > MAX_ROLES {
                return Err(DecodeError::Malformed("too many roles"));
            }
            for _ in 0..n {
                let l = usize::from(self.u8()?);
                if l == 0 || l > MAX_ROLE_LEN {
                    return Err(DecodeError::Malformed("role length out of range"));
                }
                roles.insert(self.str(l, "role is not UTF-8")?);
            }
            let n = usize::from(self.u8()?);
            if n > MAX_METADATA_ENTRIES {
                return Err(DecodeError::Malformed("too many metadata entries"));
            }
            let mut total = 0usize;
            for _ in 0..n {
                let kl = usize::from(self.u8()?);
                if kl == 0 || kl > MAX_METADATA_KEY_LEN {
                    return Err(DecodeError::Malformed("metadata key length out of range"));
                }
                let k = self.str(kl, "metadata key is not UTF-8")?;
                let vl = usize::from(self.u16()?);
                if vl > MAX_METADATA_VALUE_LEN {
                    return Err(DecodeError::Malformed("metadata value too long"));
                }
                let v = self.str(vl, "metadata value is not UTF-8")?;
                total += kl + vl;
                if total > MAX_METADATA_TOTAL {
                    return Err(DecodeError::Malformed("metadata too large"));
                }
                metadata.insert(k, v);
            }
        }
        Ok(Record {
            id,
            incarnation,
            status,
            suspect,
            up_number,
            roles,
            metadata,
        })
    }

    fn updates(&mut self) -> Result<Vec<Record>, DecodeError> {
        let n = usize::from(self.u8()?);
        if n * MIN_RECORD_LEN > self.remaining() {
            return Err(DecodeError::Malformed("update count exceeds the input"));
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.record()?);
        }
        Ok(v)
    }

    fn records(&mut self) -> Result<Vec<Record>, DecodeError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Malformed("record count"))?;
        if n > self.remaining() / MIN_RECORD_LEN {
            return Err(DecodeError::Malformed("record count exceeds the input"));
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.record()?);
        }
        Ok(v)
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Malformed("boolean out of range")),
        }
    }
}

/// Decodes one message of cluster `cluster_name` of at most `limit` bytes.
/// Never panics; never allocates more than a small multiple of the input.
pub(crate) fn decode(
    bytes: &[u8],
    cluster_name: &str,
    limit: usize,
) -> Result<Message, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let magic = r.take(2)?;
    if magic != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let flags = r.u8()?;
    if flags & (FLAG_AUTHENTICATED | FLAG_ENCRYPTED) != 0 {
        return Err(DecodeError::Malformed(
            "authenticated or encrypted message, but no key set is configured",
        ));
    }
    if flags != 0 {
        return Err(DecodeError::Malformed("unknown header flags"));
    }
    let n = usize::from(r.u8()?);
    let name = r.take(n)?;
    if name != cluster_name.as_bytes() {
        return Err(DecodeError::WrongCluster(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    let kind = r.u8()?;
    let sender = r.id()?;
    let body = match kind {
        KIND_PING => {
            let seq = r.u32()?;
            let target_gen = r.u64_le()?;
            let target_inc = u32::try_from(r.varint()?)
                .map_err(|_| DecodeError::Malformed("incarnation exceeds 32 bits"))?;
            Body::Ping {
                seq,
                target_gen,
                target_inc,
                updates: r.updates()?,
            }
        }
        KIND_ACK => Body::Ack {
            seq: r.u32()?,
            updates: r.updates()?,
        },
        KIND_PING_REQ => {
            let seq = r.u32()?;
            let target = r.id()?;
            Body::PingReq {
                seq,
                target,
                updates: r.updates()?,
            }
        }
        KIND_NACK => Body::Nack {
            seq: r.u32()?,
            updates: r.updates()?,
        },
        KIND_GOSSIP => Body::Gossip {
            updates: r.updates()?,
        },
        KIND_JOIN_REQUEST => Body::JoinRequest {
            record: r.record()?,
        },
        KIND_JOIN_ACK => {
            let accepted = r.flag()?;
            Body::JoinAck {
                accepted,
                members: r.records()?,
            }
        }
        KIND_PUSH_PULL => {
            let reply = r.flag()?;
            Body::PushPull {
                reply,
                members: r.records()?,
            }
        }
        KIND_WHO_ARE_YOU => Body::WhoAreYou,
        _ => return Err(DecodeError::Malformed("unknown message kind")),
    };
    if r.remaining() != 0 {
        return Err(DecodeError::Malformed("trailing bytes after the message"));
    }
    Ok(Message { sender, body })
}
