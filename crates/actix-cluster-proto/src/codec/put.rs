//! The encoding primitives every message is made of: varints, short strings
//! and member ids. The builders and the message encoder both write with
//! these; this file uses neither, so the imports run one way.

use std::net::SocketAddr;

use crate::id::MemberId;

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_short_str(out: &mut Vec<u8>, s: &str) {
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
