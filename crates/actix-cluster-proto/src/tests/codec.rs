//! Codec round trips and every malformed-input path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::codec::{self, decode, encode, prefix, Body, Message, Record};
use crate::{DecodeError, DownReason};

fn v6() -> MemberId {
    let a: SocketAddr = "[fe80::1%3]:7946".parse().unwrap();
    MemberId::new("six", a, 0xdead_beef)
}

fn rec(status: Status, suspect: bool) -> Record {
    Record {
        // Outside the test clusters' addresses (a valid record about a real
        // member's address with a newer generation would be a forged
        // restart, which only authentication can stop).
        id: MemberId::new("n1", addr(61), 7),
        incarnation: 300,
        status,
        suspect: suspect.then(v6),
        up_number: 1 << 40,
        roles: if matches!(status, Status::Down(_)) {
            BTreeSet::new()
        } else {
            ["a", "bb"].iter().map(|s| s.to_string()).collect()
        },
        metadata: if matches!(status, Status::Down(_)) {
            BTreeMap::new()
        } else {
            [
                ("k".to_owned(), "v".to_owned()),
                ("http".to_owned(), "é".to_owned()),
            ]
            .into()
        },
    }
}

fn all_records() -> Vec<Record> {
    vec![
        rec(Status::Joining, false),
        rec(Status::Up, true),
        rec(Status::Leaving, false),
        rec(Status::Down(DownReason::Failed), false),
        rec(Status::Down(DownReason::Left), false),
    ]
}

fn all_messages() -> Vec<Message> {
    let u = all_records();
    let bodies = vec![
        Body::Ping {
            seq: 7,
            target_gen: u64::MAX,
            target_inc: 77_777,
            updates: u.clone(),
        },
        Body::Ack {
            seq: u32::MAX,
            updates: vec![],
        },
        Body::PingReq {
            seq: 1,
            target: v6(),
            updates: u.clone(),
        },
        Body::Nack {
            seq: 2,
            updates: u[..1].to_vec(),
        },
        Body::Gossip { updates: u.clone() },
        Body::JoinRequest {
            record: u[0].clone(),
        },
        Body::JoinAck {
            accepted: true,
            members: u.clone(),
        },
        Body::JoinAck {
            accepted: false,
            members: vec![],
        },
        Body::PushPull {
            reply: false,
            members: u.clone(),
        },
        Body::PushPull {
            reply: true,
            members: u,
        },
        Body::WhoAreYou,
    ];
    bodies
        .into_iter()
        .map(|body| Message {
            sender: MemberId::new("n2", addr(62), 9),
            body,
        })
        .collect()
}

#[test]
fn round_trip_every_message_type() {
    let p = prefix("default");
    for m in all_messages() {
        let b = encode(&p, &m);
        assert_eq!(decode(&b, "default", 1 << 20), Ok(m.clone()), "{m:?}");
    }
}

/// Ids the receiver holds are taken from it (no copy decoded); the others
/// are decoded as new ones.
#[test]
fn known_ids_are_shared_not_decoded_again() {
    let (sender, about, unknown) = (id(1, 1), id(2, 1), id(3, 1));
    let mut known = rec(Status::Up, false);
    known.id = about.clone();
    let mut other = rec(Status::Up, false);
    other.id = unknown.clone();
    let msg = Message {
        sender: sender.clone(),
        body: Body::Gossip {
            updates: vec![known, other],
        },
    };
    let bytes = encode(&prefix("default"), &msg);
    let held = [sender.clone(), about.clone()];
    let find =
        |r: &crate::id::IdRef<'_>| held.iter().find(|h| MemberId::from_ref(r) == **h).cloned();
    let (got, _) =
        codec::decode_keyed(&bytes, "default", 1400, usize::MAX, None, true, &find).unwrap();
    assert_eq!(got, msg);
    assert!(got.sender.same(&sender));
    let Body::Gossip { updates } = &got.body else {
        panic!("not a gossip: {got:?}");
    };
    assert!(updates[0].id.same(&about));
    assert!(!updates[1].id.same(&unknown));
    assert_eq!(updates[1].id, unknown);
}

#[test]
fn member_id_display_round_trip() {
    for m in [id(3, 0x1a2b3c), v6()] {
        let s = m.to_string();
        assert_eq!(s.parse::<MemberId>(), Ok(m));
    }
    assert_eq!(id(1, 0x1a2b3c).to_string(), "n1@127.0.0.1:7001-1a2b3c");
    assert!("nope".parse::<MemberId>().is_err());
    assert!("a@1.2.3.4:5-zz".parse::<MemberId>().is_err());
    assert!("a@nothing-12".parse::<MemberId>().is_err());
}

#[test]
fn every_truncation_is_an_error() {
    let p = prefix("default");
    for m in all_messages() {
        let b = encode(&p, &m);
        for cut in 0..b.len() {
            assert!(
                decode(&b[..cut], "default", 1 << 20).is_err(),
                "{m:?} cut at {cut}"
            );
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(
            decode(&longer, "default", 1 << 20),
            Err(DecodeError::Malformed("trailing bytes after the message"))
        );
    }
}

#[test]
fn header_errors_are_told_apart() {
    let p = prefix("default");
    let m = &all_messages()[0];
    let b = encode(&p, m);
    let mut bad = b.clone();
    bad[0] = b'X';
    assert_eq!(decode(&bad, "default", 4096), Err(DecodeError::BadMagic));
    let mut bad = b.clone();
    bad[2] = 9;
    assert_eq!(
        decode(&bad, "default", 4096),
        Err(DecodeError::UnsupportedVersion(9))
    );
    let mut bad = b.clone();
    bad[3] = codec::FLAG_AUTHENTICATED;
    assert!(matches!(
        decode(&bad, "default", 4096),
        Err(DecodeError::Malformed(_))
    ));
    bad[3] = 0x80;
    assert!(matches!(
        decode(&bad, "default", 4096),
        Err(DecodeError::Malformed(_))
    ));
    let other = encode(&prefix("other"), m);
    assert_eq!(
        decode(&other, "default", 4096),
        Err(DecodeError::WrongCluster("other".into()))
    );
    assert_eq!(
        decode(&b, "default", 10),
        Err(DecodeError::TooLarge {
            size: b.len(),
            limit: 10
        })
    );
    assert!(matches!(
        decode(&[], "default", 10),
        Err(DecodeError::Truncated { .. })
    ));
}

/// Byte offset of the first record's fields in a Gossip message.
fn gossip_with(records: &[Record]) -> (Vec<u8>, usize) {
    let p = prefix("c");
    let m = Message {
        sender: id(2, 9),
        body: Body::Gossip {
            updates: records.to_vec(),
        },
    };
    let b = encode(&p, &m);
    let mut sender = Vec::new();
    codec::put_id(&mut sender, &m.sender);
    (b, p.len() + 1 + sender.len() + 1)
}

#[test]
fn length_prefixes_larger_than_the_input_are_refused() {
    let r = rec(Status::Up, false);
    let (b, at) = gossip_with(std::slice::from_ref(&r));
    // Update count far above what the input could hold.
    let mut bad = b.clone();
    bad[at - 1] = 255;
    assert_eq!(
        decode(&bad, "c", 1 << 20),
        Err(DecodeError::Malformed("update count exceeds the input"))
    );
    // Name length beyond the input / beyond the limit.
    let mut bad = b.clone();
    bad[at] = 200;
    assert!(decode(&bad, "c", 1 << 20).is_err());
    // A full-state count of 2^60 records in a small frame.
    let p = prefix("c");
    let mut f = codec::start(&p, &[], 0);
    f.truncate(p.len());
    let m = Message {
        sender: id(2, 9),
        body: Body::PushPull {
            reply: false,
            members: vec![],
        },
    };
    let mut b = encode(&p, &m);
    b.pop(); // count 0
    b.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    assert_eq!(
        decode(&b, "c", 1 << 20),
        Err(DecodeError::Malformed("record count exceeds the input"))
    );
    // A varint that never ends / overflows.
    b.truncate(b.len() - 9);
    b.extend_from_slice(&[0xff; 11]);
    assert!(matches!(
        decode(&b, "c", 1 << 20),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn limits_on_roles_and_metadata_are_enforced_when_decoding() {
    // The encoder never writes more than the limit, so patch the count.
    let mut r = rec(Status::Up, false);
    r.roles = (0..16).map(|i| format!("r{i}")).collect();
    let (mut b, at) = gossip_with(&[r]);
    assert_eq!(decode(&b, "c", 1 << 20).map(|_| ()), Ok(()));
    let roles_at = at + 18 + 1 + 2 + 6; // id, flags, incarnation, up number
    assert_eq!(b[roles_at], 16);
    b[roles_at] = 17;
    assert_eq!(
        decode(&b, "c", 1 << 20),
        Err(DecodeError::Malformed("too many roles"))
    );
    let mut r = rec(Status::Up, false);
    r.metadata = (0..3).map(|i| (format!("k{i}"), "x".repeat(500))).collect();
    let (b, _) = gossip_with(&[r]);
    assert_eq!(
        decode(&b, "c", 1 << 20),
        Err(DecodeError::Malformed("metadata too large"))
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = SmallRng::seed_from_u64(7);
    let p = prefix("default");
    let valid: Vec<Vec<u8>> = all_messages().iter().map(|m| encode(&p, m)).collect();
    for i in 0..20_000 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            let n = rng.gen_range(0..300);
            (0..n).map(|_| rng.gen()).collect()
        } else {
            // Mutate a valid message: flip, insert, delete bytes.
            let mut b = valid[rng.gen_range(0..valid.len())].clone();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(0..b.len());
                match rng.gen_range(0..3) {
                    0 => b[at] = rng.gen(),
                    1 => b.insert(at, rng.gen()),
                    _ => {
                        b.remove(at);
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
            b
        };
        let _ = decode(&bytes, "default", 1400);
    }
}

#[test]
fn hostile_input_is_counted_and_harmless() {
    let mut net = Net::new(3, Config::local(), 21);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(5), Net::converged));
    let mut rng = SmallRng::seed_from_u64(3);
    let from = addr(50);
    let p = prefix("default");
    let valid: Vec<Vec<u8>> = all_messages().iter().map(|m| encode(&p, m)).collect();
    for round in 0..2000 {
        let now = net.now;
        let mut b = valid[round % valid.len()].clone();
        let at = rng.gen_range(4..b.len());
        b[at] ^= 0xff;
        b.truncate(rng.gen_range(1..=b.len()));
        let junk: Vec<u8> = (0..rng.gen_range(0..100)).map(|_| rng.gen()).collect();
        net.cores[0].handle_datagram(now, from, &b);
        net.cores[0].handle_stream(now, from, &junk);
        net.cores[1].handle_stream(now, from, &b);
        net.drain(0);
        net.drain(1);
        if round % 100 == 0 {
            net.run_for(Duration::from_millis(50));
        }
    }
    let before = net.cores[0].stats().clone();
    let other = encode(&prefix("other"), &all_messages()[0]);
    let now = net.now;
    // The caller learns of each rejection (and may close the connection).
    let rejected = crate::Received::Rejected;
    assert_eq!(net.cores[0].handle_datagram(now, from, &other), rejected);
    let mut v = valid[0].clone();
    v[2] = 2;
    assert_eq!(net.cores[0].handle_datagram(now, from, &v), rejected);
    let big = vec![0u8; 70_000];
    assert_eq!(net.cores[0].handle_datagram(now, from, &big), rejected);
    net.drain(0);
    let s = net.cores[0].stats().clone();
    assert_eq!(s.rejected_wrong_cluster, before.rejected_wrong_cluster + 1);
    assert_eq!(s.rejected_version, before.rejected_version + 1);
    assert_eq!(
        s.rejected_malformed,
        before.rejected_malformed + 1,
        "too large"
    );
    assert!(s.rejected_malformed > 1000, "{s:?}");
    // The cluster keeps working; nobody real was marked down. (Some mutated
    // messages decode and mention fake members; they come and go.)
    net.run_for(Duration::from_secs(3));
    for i in 0..3 {
        for j in 0..3 {
            assert_eq!(net.status(i, &id(j, 1)), Some(Status::Up), "{i} sees {j}");
        }
    }
}

#[test]
fn datagrams_respect_the_size_limit_with_many_updates() {
    // 40 members with big metadata: queued updates exceed one datagram.
    let cfg = Config {
        max_datagram_size: 512,
        ..Config::local()
    };
    let mut net = Net::with_big_metadata(40, cfg, 5);
    net.form_and_join();
    let ok = net.run_until_cond(Duration::from_secs(20), Net::converged);
    assert!(ok, "records bigger than a 512-byte datagram still spread");
    assert!(net.datagrams > 0);
    assert_eq!(net.oversize_datagrams, 0);
}
