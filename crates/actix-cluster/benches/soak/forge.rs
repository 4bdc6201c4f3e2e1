//! The forged messages, following `docs/PROTOCOL.md` section 9.

use super::*;
use actix_cluster_proto::{Command as CoreCommand, Core, LocalMember, MemberId};

/// Records per frame of the TCP record flood.
pub(super) const FRAME_RECORDS: usize = 4000;
/// The most member records a push-pull or join ack may carry: the
/// target's `max_members` (the `lan` default).
pub(super) const RECORD_BOUND: usize = 16_384;
/// Fake members of the health poisoning.
pub(super) const POISON_MEMBERS: usize = 500;

const KIND_PING: u8 = 1;
const KIND_GOSSIP: u8 = 5;
const KIND_JOIN_REQUEST: u8 = 6;
const KIND_JOIN_ACK: u8 = 7;
const KIND_PUSH_PULL: u8 = 8;
const KIND_WHO_ARE_YOU: u8 = 9;

/// A member id: name, IPv4 address, generation.
#[derive(Clone, Debug)]
pub(super) struct Id {
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    pub(super) generation: u64,
}

/// The `n`-th fake member: its own loopback address (127.1.0.0 and up,
/// where nobody listens), so that every one is a new member.
pub(super) fn fake(n: u64) -> Id {
    let ip = Ipv4Addr::new(127, 1 + ((n >> 16) % 254) as u8, (n >> 8) as u8, n as u8);
    Id {
        name: format!("fake-{n}"),
        addr: SocketAddr::new(IpAddr::V4(ip), 7946),
        generation: 1_000 + n,
    }
}

/// Record statuses used here.
#[derive(Clone, Copy)]
pub(super) enum St {
    Joining,
    Up,
    DownFailed,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_id(out: &mut Vec<u8>, id: &Id) {
    out.push(id.name.len() as u8);
    out.extend_from_slice(id.name.as_bytes());
    match id.addr {
        SocketAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        SocketAddr::V6(_) => unreachable!("the forger uses IPv4 only"),
    }
    out.extend_from_slice(&id.generation.to_le_bytes());
}

/// A record without suspicion, roles or metadata.
pub(super) fn record(out: &mut Vec<u8>, id: &Id, status: St, incarnation: u32, up: u64) {
    put_id(out, id);
    out.push(match status {
        St::Joining => 0,
        St::Up => 1,
        St::DownFailed => 3,
    });
    varint(out, u64::from(incarnation));
    varint(out, up);
    if !matches!(status, St::DownFailed) {
        out.push(0); // roles
        out.push(0); // metadata
    }
}

fn start(kind: u8, sender: &Id) -> Vec<u8> {
    let mut out = b"AC".to_vec();
    out.push(1); // version
    out.push(0); // plaintext
    out.push(CLUSTER.len() as u8);
    out.extend_from_slice(CLUSTER.as_bytes());
    out.push(kind);
    put_id(&mut out, sender);
    out
}

/// A gossip datagram: `records` (already encoded, `count` of them).
pub(super) fn gossip(sender: &Id, count: u8, records: &[u8]) -> Vec<u8> {
    let mut out = start(KIND_GOSSIP, sender);
    out.push(count);
    out.extend_from_slice(records);
    out
}

/// A push-pull request or a join ack: a full-state frame.
pub(super) fn full_state(join_ack: bool, sender: &Id, count: u64, records: &[u8]) -> Vec<u8> {
    let mut out = start(
        if join_ack {
            KIND_JOIN_ACK
        } else {
            KIND_PUSH_PULL
        },
        sender,
    );
    out.push(u8::from(join_ack)); // accepted / not a reply
    varint(&mut out, count);
    out.extend_from_slice(records);
    out
}

pub(super) fn who_are_you(sender: &Id) -> Vec<u8> {
    start(KIND_WHO_ARE_YOU, sender)
}

/// A ping for a generation the target does not have, no updates.
pub(super) fn ping_other_generation(sender: &Id, seq: u32) -> Vec<u8> {
    let mut out = start(KIND_PING, sender);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&1u64.to_le_bytes());
    varint(&mut out, 0);
    out.push(0);
    out
}

/// A join request (a stream message, here sent as a datagram).
pub(super) fn join_request(sender: &Id) -> Vec<u8> {
    let mut out = start(KIND_JOIN_REQUEST, sender);
    record(&mut out, sender, St::Joining, 0, 0);
    out
}

/// Feeds every forged kind to a real core and checks it is taken as
/// intended (accepted, or rejected for the intended reason).
pub(super) fn self_check() -> Result<(), String> {
    let target: SocketAddr = "127.0.0.1:7000".parse().expect("an address");
    let local = LocalMember {
        id: MemberId::new("check", target, 1),
        roles: Default::default(),
        metadata: Default::default(),
    };
    let config = ProtocolConfig {
        cluster_name: CLUSTER.into(),
        ..ProtocolConfig::lan()
    };
    let mut core = Core::new(local, config, 1).map_err(|e| e.to_string())?;
    let now = Duration::ZERO;
    core.handle_command(now, CoreCommand::Form);
    let from: SocketAddr = "127.0.0.1:7001".parse().expect("an address");
    let sender = Id {
        name: "flooder".into(),
        addr: from,
        generation: 1,
    };
    let mut recs = Vec::new();
    record(&mut recs, &fake(1), St::Up, 0, 1);
    record(&mut recs, &fake(2), St::DownFailed, 0, 0);
    let before = core.members().len();
    core.handle_datagram(now, from, &gossip(&sender, 2, &recs));
    let s = core.stats().clone();
    if s.rejected_malformed != 0 || s.messages_received != 1 {
        return Err(format!("gossip: {s:?}"));
    }
    if core.members().len() != before + 2 {
        return Err(format!("gossip added {:?}", core.members()));
    }
    let mut recs = Vec::new();
    record(&mut recs, &fake(3), St::Up, 0, 2);
    record(&mut recs, &fake(4), St::DownFailed, 0, 0);
    core.handle_stream(now, from, &full_state(false, &sender, 2, &recs));
    core.handle_stream(now, from, &full_state(true, &sender, 2, &recs));
    core.handle_datagram(now, from, &who_are_you(&sender));
    core.handle_datagram(now, from, &ping_other_generation(&sender, 1));
    let s = core.stats().clone();
    if s.rejected_malformed != 0 || s.messages_received != 5 {
        return Err(format!("full state, who-are-you, ping: {s:?}"));
    }
    if core.members().len() != before + 4 {
        return Err(format!("full state added {:?}", core.members()));
    }
    if RECORD_BOUND != ProtocolConfig::lan().max_members {
        return Err("RECORD_BOUND is not the lan preset's max_members".into());
    }
    let over = |n: u64| {
        let mut recs = Vec::new();
        for i in 0..n {
            record(&mut recs, &fake(100 + i), St::DownFailed, 0, 0);
        }
        full_state(false, &sender, n, &recs)
    };
    core.handle_stream(now, from, &over(RECORD_BOUND as u64 + 1));
    if core.stats().rejected_too_many_records != 1 {
        return Err(format!(
            "a frame of {} records was not refused: {:?}",
            RECORD_BOUND + 1,
            core.stats()
        ));
    }
    core.handle_datagram(now, from, &join_request(&sender));
    if core.stats().rejected_malformed != 1 {
        return Err("a join request as a datagram was not rejected".into());
    }
    let spoofed = Id {
        addr: "127.0.0.1:9".parse().expect("an address"),
        ..sender
    };
    core.handle_datagram(now, from, &who_are_you(&spoofed));
    if core.stats().rejected_source != 1 {
        return Err("a spoofed sender was not rejected".into());
    }
    Ok(())
}
