//! Wire format: versioned, bounded, never panics.
//!
//! Every message, datagram or stream frame, is
//!
//! ```text
//! magic "AC" | version u8 (=1) | flags u8 | cluster name (u8 len + bytes)
//! | kind u8 | sender MemberId | body
//! ```
//!
//! `flags` bit 0 (authenticated) and bit 1 (encrypted) go together: such a
//! message is sealed (`seal.rs`): a `u32` key id follows the flags, and
//! everything after the cluster name is a nonce, the ciphertext of
//! `kind | sender | body` and a tag. See `docs/PROTOCOL.md` for the bodies
//! and the sealing.

mod builder;
mod decode;
mod encode;
mod put;
mod seal;

use std::collections::{BTreeMap, BTreeSet};

use crate::id::{Incarnation, MemberId};
use crate::member::Status;

pub(crate) use self::builder::{Builder, FullState, StateHead};
#[cfg(test)]
pub(crate) use self::decode::decode;
pub(crate) use self::decode::decode_keyed;
#[cfg(test)]
pub(crate) use self::decode::unknown;
#[cfg(test)]
pub(crate) use self::encode::record_bytes;
pub(crate) use self::encode::{down_record, encode, prefix, put_record_parts, start, RecordParts};
pub(crate) use self::put::put_id;
pub use self::seal::{Key, KeyId, Keyring, KEY_LEN, MAX_KEYS, SEAL_OVERHEAD};
pub(crate) use self::seal::{Sealer, SALT_LEN};

/// First two bytes of every message.
pub(crate) const MAGIC: [u8; 2] = *b"AC";
/// The protocol version this build speaks.
pub(crate) const VERSION: u8 = 1;
/// Header flag: the message carries an authentication tag (with `FLAG_ENCRYPTED`: sealed).
pub(crate) const FLAG_AUTHENTICATED: u8 = 0x01;
/// Header flag: the body is encrypted (with `FLAG_AUTHENTICATED`: sealed).
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
