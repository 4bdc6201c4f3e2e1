//! Encoding: the message prefix, records and whole messages (the
//! primitives they are written with are in `put`).

use super::builder::{Builder, FullState, StateHead};
use super::put::{put_id, put_short_str, put_varint};
use super::{
    Body, Message, Record, KIND_JOIN_REQUEST, KIND_WHO_ARE_YOU, MAGIC, MAX_UPDATES, RECORD_SUSPECT,
    VERSION,
};
use std::collections::{BTreeMap, BTreeSet};

use crate::id::{Incarnation, MemberId};
use crate::limits::{MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_LEN, MAX_ROLES};
use crate::member::{DownReason, Status};

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

fn status_code(s: Status) -> u8 {
    match s {
        Status::Joining => 0,
        Status::Up => 1,
        Status::Leaving => 2,
        Status::Down(DownReason::Failed) => 3,
        Status::Down(DownReason::Left) => 4,
        Status::Down(DownReason::Fenced) => 5,
    }
}

/// Appends an encoded record.
pub(crate) fn put_record(out: &mut Vec<u8>, r: &Record) {
    put_record_parts(
        out,
        RecordParts {
            id: &r.id,
            incarnation: r.incarnation,
            status: r.status,
            suspect: r.suspect.as_ref(),
            up_number: r.up_number,
            roles: &r.roles,
            metadata: &r.metadata,
        },
    );
}

/// A record's fields, borrowed from wherever they are held: an entry of the
/// table is encoded from these without a [`Record`] made of it.
pub(crate) struct RecordParts<'a> {
    pub(crate) id: &'a MemberId,
    pub(crate) incarnation: Incarnation,
    pub(crate) status: Status,
    pub(crate) suspect: Option<&'a MemberId>,
    pub(crate) up_number: u64,
    pub(crate) roles: &'a BTreeSet<String>,
    pub(crate) metadata: &'a BTreeMap<String, String>,
}

/// Appends an encoded record (see [`put_record`]).
pub(crate) fn put_record_parts(out: &mut Vec<u8>, r: RecordParts<'_>) {
    put_id(out, r.id);
    let mut flags = status_code(r.status);
    if r.suspect.is_some() {
        flags |= RECORD_SUSPECT;
    }
    out.push(flags);
    put_varint(out, u64::from(r.incarnation));
    put_varint(out, r.up_number);
    if let Some(s) = r.suspect {
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
        Body::JoinAck { accepted, members } => full_state(
            prefix,
            &sender,
            StateHead::JoinAck {
                accepted: *accepted,
            },
            members,
        ),
        Body::PushPull { reply, members } => full_state(
            prefix,
            &sender,
            StateHead::PushPull { reply: *reply },
            members,
        ),
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

/// A whole full-state message (callers bound `members`).
fn full_state(prefix: &[u8], sender: &[u8], head: StateHead, members: &[Record]) -> Vec<u8> {
    let mut state = FullState::new(prefix, sender, head, usize::MAX);
    for m in members {
        state.add(&record_bytes(m));
    }
    state.finish()
}

/// A `Down(Failed)` record for a member not kept (superseded or removed), to
/// tell a zombie it is gone.
pub(crate) fn down_record(id: &MemberId) -> Vec<u8> {
    record_bytes(&Record {
        id: id.clone(),
        incarnation: 0,
        status: Status::Down(DownReason::Failed),
        suspect: None,
        up_number: 0,
        roles: Default::default(),
        metadata: Default::default(),
    })
}
