//! Decoding: bounded, never panics, never allocates more than a small
//! multiple of the input.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::seal::{self, Keyring};
use super::*;
use crate::error::DecodeError;
use crate::id::{IdRef, MemberId};
use crate::limits::{
    MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_TOTAL, MAX_METADATA_VALUE_LEN,
    MAX_NAME_LEN, MAX_ROLES, MAX_ROLE_LEN,
};
use crate::member::{DownReason, Status};

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Most member records a push-pull or join-ack may carry.
    max_records: usize,
    /// The held id of decoded parts, when the receiver has one (see
    /// [`Known`]).
    known: Known<'a>,
}

/// Finds the receiver's copy of an id from its parts as decoded: a known
/// member's id is then shared, not allocated again for every record about it.
pub(crate) type Known<'a> = &'a dyn Fn(&IdRef<'_>) -> Option<MemberId>;

/// Knows no id: every decoded id is allocated.
#[cfg(test)]
pub(crate) fn unknown(_: &IdRef<'_>) -> Option<MemberId> {
    None
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
        self.str_ref(len, what).map(str::to_owned)
    }

    fn str_ref(&mut self, len: usize, what: &'static str) -> Result<&'a str, DecodeError> {
        let b = self.take(len)?;
        std::str::from_utf8(b).map_err(|_| DecodeError::Malformed(what))
    }

    fn id(&mut self) -> Result<MemberId, DecodeError> {
        let n = usize::from(self.u8()?);
        if n == 0 || n > MAX_NAME_LEN {
            return Err(DecodeError::Malformed("member name length out of range"));
        }
        let name = self.str_ref(n, "member name is not UTF-8")?;
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
        let parts = IdRef::new(name, addr, generation);
        Ok((self.known)(&parts).unwrap_or_else(|| MemberId::from_ref(&parts)))
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
            5 => Status::Down(DownReason::Fenced),
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
        if n > self.max_records {
            return Err(DecodeError::TooManyRecords {
                count: n,
                limit: self.max_records,
            });
        }
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

    /// The body of a message of `kind`.
    fn body(&mut self, kind: u8) -> Result<Body, DecodeError> {
        Ok(match kind {
            KIND_PING => {
                let seq = self.u32()?;
                let target_gen = self.u64_le()?;
                let target_inc = u32::try_from(self.varint()?)
                    .map_err(|_| DecodeError::Malformed("incarnation exceeds 32 bits"))?;
                Body::Ping {
                    seq,
                    target_gen,
                    target_inc,
                    updates: self.updates()?,
                }
            }
            KIND_ACK => Body::Ack {
                seq: self.u32()?,
                updates: self.updates()?,
            },
            KIND_PING_REQ => {
                let seq = self.u32()?;
                let target = self.id()?;
                Body::PingReq {
                    seq,
                    target,
                    updates: self.updates()?,
                }
            }
            KIND_NACK => Body::Nack {
                seq: self.u32()?,
                updates: self.updates()?,
            },
            KIND_GOSSIP => Body::Gossip {
                updates: self.updates()?,
            },
            KIND_JOIN_REQUEST => Body::JoinRequest {
                record: self.record()?,
            },
            KIND_JOIN_ACK => {
                let accepted = self.flag()?;
                Body::JoinAck {
                    accepted,
                    members: self.records()?,
                }
            }
            KIND_PUSH_PULL => {
                let reply = self.flag()?;
                Body::PushPull {
                    reply,
                    members: self.records()?,
                }
            }
            KIND_WHO_ARE_YOU => Body::WhoAreYou,
            _ => return Err(DecodeError::Malformed("unknown message kind")),
        })
    }
}

/// Decodes one plaintext message of cluster `cluster_name` of at most
/// `limit` bytes. Never panics; never allocates more than a small multiple of
/// the input.
#[cfg(test)]
pub(crate) fn decode(
    bytes: &[u8],
    cluster_name: &str,
    limit: usize,
) -> Result<Message, DecodeError> {
    decode_keyed(bytes, cluster_name, limit, usize::MAX, None, true, &unknown).map(|(m, _)| m)
}

/// Decodes one message of cluster `cluster_name` of at most `limit` bytes
/// and `max_records` member records (push-pull, join-ack), opening it with
/// `keys` when sealed (a sealed message that does not open
/// is `Unauthenticated`, before anything of it is decoded); a plaintext
/// message is `Plaintext` unless `accept_plain`. Also says whether the
/// message was sealed. Ids are taken from `known` where it has them.
pub(crate) fn decode_keyed(
    bytes: &[u8],
    cluster_name: &str,
    limit: usize,
    max_records: usize,
    keys: Option<&Keyring>,
    accept_plain: bool,
    known: Known<'_>,
) -> Result<(Message, bool), DecodeError> {
    match seal::open(bytes, cluster_name, limit, keys)? {
        seal::Opened::Plain(rest) => {
            if !accept_plain {
                return Err(DecodeError::Plaintext);
            }
            decode_inner(rest, max_records, known).map(|m| (m, false))
        }
        seal::Opened::Sealed(plain) => decode_inner(&plain, max_records, known).map(|m| (m, true)),
    }
}

/// Decodes `kind | sender | body`, the part of a message after its header.
fn decode_inner(
    bytes: &[u8],
    max_records: usize,
    known: Known<'_>,
) -> Result<Message, DecodeError> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        max_records,
        known,
    };
    let kind = r.u8()?;
    let sender = r.id()?;
    let body = r.body(kind)?;
    if r.remaining() != 0 {
        return Err(DecodeError::Malformed("trailing bytes after the message"));
    }
    Ok(Message { sender, body })
}
