//! Sealed messages: the keyring, tampering, wrong and removed keys, forged
//! records against a keyed cluster, rotation and the plaintext rollout.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::codec::{self, encode, prefix, Body, Message, Record, Sealer, SALT_LEN};
use crate::{DecodeError, DownReason, Key, KeyError, Keyring, SEAL_OVERHEAD};

fn key(b: u8) -> Key {
    Key::from_bytes([b; 32])
}

fn ring(keys: &[u8]) -> Keyring {
    Keyring::from_keys("test", keys.iter().map(|b| key(*b)).collect()).unwrap()
}

fn keyed(keys: &[u8]) -> Config {
    Config::local().with_keyring(ring(keys))
}

/// A plaintext gossip message from `sender` carrying `updates`.
fn gossip(sender: MemberId, updates: Vec<Record>) -> Vec<u8> {
    encode(
        &prefix("default"),
        &Message {
            sender,
            body: Body::Gossip { updates },
        },
    )
}

fn record(id: MemberId, status: Status, incarnation: u32, up_number: u64) -> Record {
    Record {
        id,
        incarnation,
        status,
        suspect: None,
        up_number,
        roles: BTreeSet::new(),
        metadata: if matches!(status, Status::Down(_)) {
            BTreeMap::new()
        } else {
            [("http".to_owned(), "10.0.0.1:80".to_owned())].into()
        },
    }
}

fn seal(keys: &Keyring, plain: &[u8]) -> Vec<u8> {
    let mut s = Sealer::new([7; SALT_LEN]);
    s.seal(keys, plain, prefix("default").len()).unwrap()
}

fn open(keys: Option<&Keyring>, bytes: &[u8]) -> Result<(Message, bool), DecodeError> {
    codec::decode_keyed(
        bytes,
        "default",
        1400,
        usize::MAX,
        keys,
        false,
        &codec::unknown,
    )
}

#[test]
fn keys_parse_with_errors_that_name_the_field() {
    let k = key(1);
    let text = format!(" {} ,{}\n", k.to_base64(), key(2).to_base64());
    let r = Keyring::parse("CLUSTER_SECRET_KEYS", &text).unwrap();
    assert_eq!(r.ids(), vec![k.id(), key(2).id()]);
    assert_eq!(r.primary(), &k);
    let no_pad = k.to_base64().trim_end_matches('=').to_owned();
    assert_eq!(Key::from_base64("f", &no_pad).unwrap(), k);
    for (bad, says) in [
        ("", "no key given"),
        ("not base64!", "key 1: a key is not valid base64"),
        ("AAAA", "key 1: a key decodes to 3 bytes"),
    ] {
        let e = Keyring::parse("CLUSTER_SECRET_KEYS", bad).unwrap_err();
        assert_eq!(e.field, "CLUSTER_SECRET_KEYS");
        assert!(e.reason.starts_with(says), "{bad:?}: {}", e.reason);
    }
    let e = Keyring::parse("F", &format!("{},xx", k.to_base64())).unwrap_err();
    assert!(e.reason.starts_with("key 2:"), "{}", e.reason);
    // The key never shows in Debug.
    assert!(!format!("{k:?}").contains(&k.to_base64()));
}

#[test]
fn keyring_rotation_rules() {
    let mut r = ring(&[1]);
    assert_eq!(r.install(key(2)), Ok(key(2).id()));
    assert_eq!(r.install(key(2)), Ok(key(2).id()), "idempotent");
    assert_eq!(r.remove(key(1).id()), Err(KeyError::Primary(key(1).id())));
    r.use_primary(key(2).id()).unwrap();
    assert_eq!(r.primary(), &key(2));
    r.remove(key(1).id()).unwrap();
    assert_eq!(r.ids(), vec![key(2).id()]);
    assert_eq!(r.remove(key(1).id()), Err(KeyError::Unknown(key(1).id())));
    assert_eq!(
        r.use_primary(key(9).id()),
        Err(KeyError::Unknown(key(9).id()))
    );
    for b in 10..30 {
        let _ = r.install(key(b));
    }
    assert_eq!(r.ids().len(), crate::MAX_KEYS);
    assert_eq!(r.install(key(99)), Err(KeyError::Full(crate::MAX_KEYS)));
}

#[test]
fn sealed_messages_open_only_intact_and_with_an_installed_key() {
    let keys = ring(&[1, 2]);
    let plain = gossip(id(1, 1), vec![record(id(2, 1), Status::Up, 3, 2)]);
    let sealed = seal(&keys, &plain);
    assert_eq!(sealed.len(), plain.len() + SEAL_OVERHEAD);
    assert_eq!(&sealed[4..8], &key(1).id().0.to_be_bytes(), "key id");
    let (msg, was_sealed) = open(Some(&keys), &sealed).unwrap();
    assert!(was_sealed);
    assert_eq!(codec::encode(&prefix("default"), &msg), plain);
    // The body is not readable on the wire.
    assert!(
        !sealed.windows(2).any(|w| w == b"n2"),
        "member names hidden"
    );

    // Every flipped byte, every truncation: rejected, nothing decoded.
    for i in 0..sealed.len() {
        let mut b = sealed.clone();
        b[i] ^= 0x20;
        assert!(open(Some(&keys), &b).is_err(), "flip at {i}");
    }
    for n in 0..sealed.len() {
        assert!(open(Some(&keys), &sealed[..n]).is_err(), "truncated to {n}");
    }
    let past_header = 8 + 1 + "default".len();
    for n in past_header..sealed.len() {
        assert!(
            matches!(
                open(Some(&keys), &sealed[..n]),
                Err(DecodeError::Unauthenticated(_))
            ),
            "truncated to {n}"
        );
    }
    // Wrong key, removed key, no key, another cluster.
    let wrong = ring(&[3]);
    assert!(matches!(
        open(Some(&wrong), &sealed),
        Err(DecodeError::Unauthenticated(_))
    ));
    let mut removed = keys.clone();
    removed.use_primary(key(2).id()).unwrap();
    removed.remove(key(1).id()).unwrap();
    assert!(matches!(
        open(Some(&removed), &sealed),
        Err(DecodeError::Unauthenticated(_))
    ));
    assert!(matches!(
        open(None, &sealed),
        Err(DecodeError::Unauthenticated(_))
    ));
    assert!(matches!(
        codec::decode_keyed(
            &sealed,
            "other",
            1400,
            usize::MAX,
            Some(&keys),
            false,
            &codec::unknown
        ),
        Err(DecodeError::WrongCluster(_))
    ));
    // A key id swapped for the other installed key's: the tag fails.
    let mut b = sealed.clone();
    b[4..8].copy_from_slice(&key(2).id().0.to_be_bytes());
    assert!(matches!(
        open(Some(&keys), &b),
        Err(DecodeError::Unauthenticated(_))
    ));
    // Plaintext is refused when only sealed messages are accepted.
    assert_eq!(open(Some(&keys), &plain), Err(DecodeError::Plaintext));
}

#[test]
fn nonces_never_repeat_within_a_sealer() {
    let keys = ring(&[1]);
    let plain = gossip(id(1, 1), vec![]);
    let mut s = Sealer::new([9; SALT_LEN]);
    let p = prefix("default").len();
    let nonce_at = 8 + p - 4;
    let mut seen = BTreeSet::new();
    for _ in 0..1000 {
        let b = s.seal(&keys, &plain, p).unwrap();
        assert!(seen.insert(b[nonce_at..nonce_at + 16].to_vec()));
    }
}

#[test]
fn the_wire_nonce_is_salt_then_counter_and_the_overhead_is_36_bytes() {
    assert_eq!(SEAL_OVERHEAD, 36);
    let keys = ring(&[1]);
    let plain = gossip(id(1, 1), vec![]);
    let mut s = Sealer::new(*b"saltsalt");
    let p = prefix("default").len();
    let nonce_at = 8 + p - 4;
    for counter in 1..=3u64 {
        let b = s.seal(&keys, &plain, p).unwrap();
        assert_eq!(b.len(), plain.len() + SEAL_OVERHEAD);
        assert_eq!(&b[nonce_at..nonce_at + 8], b"saltsalt");
        assert_eq!(b[nonce_at + 8..nonce_at + 16], counter.to_be_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic the sealed-frame parser or any decoder,
    /// with or without keys, plaintext accepted or not.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let keys = ring(&[1]);
        for accept in [true, false] {
            let _ = codec::decode_keyed(&bytes, "default", 1400, usize::MAX, Some(&keys), accept, &codec::unknown);
            let _ = codec::decode_keyed(&bytes, "default", 1400, usize::MAX, None, accept, &codec::unknown);
        }
    }

    /// Every body decoder: a valid header and sender, any kind, arbitrary
    /// body bytes; never a panic, and nothing but a plaintext message.
    #[test]
    fn arbitrary_bodies_never_panic(
        kind in 0u8..12,
        body in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let mut b = prefix("default");
        b.push(kind);
        codec::put_id(&mut b, &id(1, 1));
        b.extend_from_slice(&body);
        for limit in [1400, 1 << 20] {
            if let Ok((msg, sealed)) = codec::decode_keyed(&b, "default", limit, usize::MAX, None, true, &codec::unknown) {
                prop_assert!(!sealed);
                prop_assert_eq!(msg.sender, id(1, 1));
            }
        }
    }

    /// A header that looks sealed followed by arbitrary bytes never opens.
    #[test]
    fn forged_sealed_frames_never_open(
        key_id in any::<u32>(),
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let keys = ring(&[1]);
        let mut b = b"AC\x01\x03".to_vec();
        b.extend_from_slice(&key_id.to_be_bytes());
        b.push(7);
        b.extend_from_slice(b"default");
        b.extend_from_slice(&tail);
        prop_assert!(matches!(
            codec::decode_keyed(&b, "default", 1400, usize::MAX, Some(&keys), true, &codec::unknown),
            Err(DecodeError::Unauthenticated(_))
        ));
    }

    /// Any edit of a sealed message (flip, insert, delete) is rejected.
    #[test]
    fn edited_sealed_messages_never_open(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let keys = ring(&[1]);
        let plain = gossip(id(1, 1), vec![record(id(2, 1), Status::Up, 3, 2)]);
        let sealed = seal(&keys, &plain);
        let mut b = sealed.clone();
        for (at, v, op) in edits {
            if b.is_empty() { break; }
            let at = at % b.len();
            match op {
                0 => b[at] ^= v | 1,
                1 => b.insert(at, v),
                _ => { b.remove(at); }
            }
        }
        prop_assume!(b != sealed);
        prop_assert!(codec::decode_keyed(&b, "default", 1400, usize::MAX, Some(&keys), false, &codec::unknown).is_err());
    }
}

/// Node `i` of `net` is replaced by a fresh core with `config` (same
/// generation 1, not yet started).
fn reconfigure(net: &mut Net, i: usize, config: Config) {
    net.cores[i] = Core::new(local(i, 1), config, 1000 + i as u64).unwrap();
}

fn no_failures(net: &Net, n: usize) {
    for i in 0..n {
        for j in 0..n {
            let names = net.names(i, net.cores[j].local_id());
            assert!(
                !names.contains(&"down-failed") && !names.contains(&"unreachable"),
                "{i} about {j}: {names:?}"
            );
        }
    }
}

#[test]
fn strangers_without_the_key_cannot_join_or_read_the_members() {
    // Nodes 0..3 keyed; 3 has no keys; 4 has a wrong key.
    let mut net = Net::new(5, keyed(&[1]), 11);
    reconfigure(&mut net, 3, Config::local());
    reconfigure(&mut net, 4, keyed(&[2]));
    net.form_and_join();
    let ok = net.run_until_cond(Duration::from_secs(10), |n| {
        (0..3).all(|i| (0..3).all(|j| n.status(i, n.cores[j].local_id()) == Some(Status::Up)))
    });
    assert!(ok, "the keyed nodes converge");
    net.run_for(Duration::from_secs(3));
    for i in 0..3 {
        assert_eq!(net.cores[i].members().len(), 3, "no stranger in {i}'s view");
    }
    for s in 3..5 {
        assert_eq!(net.cores[s].members().len(), 1, "{s} learned nobody");
        let me = net.cores[s].local_id().clone();
        assert_eq!(
            net.status(s, &me),
            Some(Status::Joining),
            "{s}: {:?}",
            net.cores[s].members()
        );
    }
    let st = net.cores[0].stats();
    assert!(st.rejected_plaintext > 0, "{st:?}");
    assert!(st.rejected_unauthenticated > 0, "{st:?}");
}

/// The forgeries as frames: gossip, a join ack and a push-pull, each in
/// plaintext and sealed with a key the cluster does not hold.
fn forged_frames(
    victim: &MemberId,
    forged_member: &MemberId,
    forgeries: &[Record],
    attacker: SocketAddr,
) -> Vec<(Channel, Vec<u8>)> {
    let wrong = ring(&[2]);
    let g = gossip(victim.clone(), forgeries.to_vec());
    let join_ack = encode(
        &prefix("default"),
        &Message {
            sender: forged_member.clone(),
            body: Body::JoinAck {
                accepted: true,
                members: forgeries.to_vec(),
            },
        },
    );
    let push_pull = encode(
        &prefix("default"),
        &Message {
            sender: MemberId::new("evil", attacker, 1),
            body: Body::PushPull {
                reply: false,
                members: vec![],
            },
        },
    );
    vec![
        (Channel::Datagram, g.clone()),
        (Channel::Datagram, seal(&wrong, &g)),
        (Channel::Stream, join_ack.clone()),
        (Channel::Stream, seal(&wrong, &join_ack)),
        (Channel::Stream, push_pull.clone()),
        (Channel::Stream, seal(&wrong, &push_pull)),
    ]
}

#[test]
fn forged_records_have_no_effect_on_a_keyed_cluster() {
    let mut net = Net::new(3, keyed(&[1]), 12);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(10), Net::converged));
    let victim = net.cores[1].local_id().clone();
    let oldest = net.cores[0].local_id().clone();
    let forged_member = MemberId::new("evil", addr(40), 1);
    let forgeries = vec![
        record(victim.clone(), Status::Down(DownReason::Failed), 50, 0),
        record(victim.clone(), Status::Leaving, u32::MAX, 2),
        record(victim.clone(), Status::Down(DownReason::Left), 50, 0),
        record(
            MemberId::new("n1", victim.addr, u64::MAX),
            Status::Up,
            u32::MAX,
            1,
        ),
        record(forged_member.clone(), Status::Up, 0, 1),
        record(
            oldest.clone(),
            Status::Down(DownReason::Failed),
            u32::MAX,
            0,
        ),
    ];
    let attacker = addr(41);
    let frames = forged_frames(&victim, &forged_member, &forgeries, attacker);
    for round in 0..20 {
        let now = net.now;
        for i in 0..3 {
            for (channel, bytes) in &frames {
                // Spoofed as the victim's own address, and from the attacker.
                for from in [victim.addr, attacker] {
                    match channel {
                        Channel::Datagram => net.cores[i].handle_datagram(now, from, bytes),
                        Channel::Stream => net.cores[i].handle_stream(now, from, bytes),
                    };
                }
            }
            net.drain(i);
        }
        if round % 5 == 0 {
            net.run_for(Duration::from_millis(200));
        }
    }
    net.run_for(Duration::from_secs(3));
    assert!(net.converged());
    no_failures(&net, 3);
    for i in 0..3 {
        assert_eq!(net.cores[i].members().len(), 3, "no forged member at {i}");
        assert_eq!(net.cores[i].leader(), Some(oldest.clone()));
        assert!(net.cores[i].stats().rejected_plaintext >= 60);
        assert!(net.cores[i].stats().rejected_unauthenticated >= 60);
    }
    assert_eq!(
        net.sent_to.get(&attacker),
        None,
        "nothing was sent to the attacker"
    );
}

#[test]
fn plaintext_full_state_is_not_reflected_to_a_third_party() {
    // An unkeyed cluster: a push-pull request naming a victim's address, sent
    // from the attacker, gets no answer (the sender is not at the source).
    let mut net = Net::new(2, Config::local(), 13);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(10), Net::converged));
    let victim: SocketAddr = "10.9.9.9:7000".parse().unwrap();
    let req = encode(
        &prefix("default"),
        &Message {
            sender: MemberId::new("evil", victim, 1),
            body: Body::PushPull {
                reply: false,
                members: vec![],
            },
        },
    );
    let now = net.now;
    net.cores[0].handle_stream(now, addr(41), &req);
    net.drain(0);
    assert_eq!(net.sent_to.get(&victim), None);
    assert_eq!(net.cores[0].stats().rejected_source, 1);
}

#[test]
fn rotation_at_run_time_keeps_the_cluster_converged() {
    let n = 4;
    let mut net = Net::new(n, keyed(&[1]), 14);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(10), Net::converged));
    // Install the new key everywhere, one node at a time.
    for i in 0..n {
        net.cores[i].install_key(key(2)).unwrap();
        net.run_for(Duration::from_millis(300));
    }
    // Make it primary everywhere, one at a time: the others open both.
    for i in 0..n {
        net.cores[i].use_primary(key(2).id()).unwrap();
        net.run_for(Duration::from_millis(300));
        assert!(net.converged(), "after {i} switched");
    }
    for i in 0..n {
        net.cores[i].remove_key(key(1).id()).unwrap();
        assert_eq!(net.cores[i].key_ids(), vec![key(2).id()]);
    }
    net.run_for(Duration::from_secs(3));
    assert!(net.converged());
    no_failures(&net, n);
    // A node with only the old key is now a stranger.
    let mut late = Core::new(local(9, 1), keyed(&[1]), 5).unwrap();
    let g = {
        late.handle_command(
            net.now,
            Command::Join {
                seeds: vec![addr(0)],
            },
        );
        let mut sent = None;
        while let Some(o) = late.poll_output() {
            if let Output::Send { bytes, .. } = o {
                sent.get_or_insert(bytes);
            }
        }
        sent
    };
    {
        let bytes = g.expect("a join request");
        let before = net.cores[0].stats().rejected_unauthenticated;
        let now = net.now;
        net.cores[0].handle_stream(now, addr(9), &bytes);
        assert_eq!(net.cores[0].stats().rejected_unauthenticated, before + 1);
    }
}

#[test]
fn rolling_restart_rotation_keeps_the_cluster_converged() {
    let n = 4;
    let mut net = Net::new(n, keyed(&[1]), 15);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(10), Net::converged));
    let mut generation = 2;
    // Each step: every node restarted in turn with the next key list.
    for keys in [&[1u8, 2][..], &[2, 1], &[2]] {
        for i in 0..n {
            net.restart_with(i, generation, keyed(keys));
            generation += 1;
            net.command(
                i,
                Command::Join {
                    seeds: vec![addr((i + 1) % n)],
                },
            );
            let ok = net.run_until_cond(Duration::from_secs(10), Net::converged);
            assert!(ok, "converged after restarting {i} with {keys:?}");
        }
    }
}

#[test]
fn a_plaintext_cluster_moves_to_keys_without_downtime() {
    let n = 4;
    let mut net = Net::new(n, Config::local(), 16);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(10), Net::converged));
    let step = |seal_outgoing: bool, verify_incoming: bool| Config {
        seal_outgoing,
        verify_incoming,
        ..keyed(&[1])
    };
    let mut generation = 2;
    // 1: keys installed, still sending plaintext; 2: sealing, plaintext
    // still accepted; 3: only sealed accepted.
    for (s, v) in [(false, false), (true, false), (true, true)] {
        for i in 0..n {
            net.restart_with(i, generation, step(s, v));
            generation += 1;
            net.command(
                i,
                Command::Join {
                    seeds: vec![addr((i + 1) % n)],
                },
            );
            let ok = net.run_until_cond(Duration::from_secs(10), Net::converged);
            assert!(ok, "converged after {i} went to seal={s} verify={v}");
        }
    }
    let st = net.cores[0].stats().clone();
    let now = net.now;
    let plain = gossip(id(2, 99), vec![]);
    net.cores[0].handle_datagram(now, addr(2), &plain);
    assert_eq!(
        net.cores[0].stats().rejected_plaintext,
        st.rejected_plaintext + 1
    );
}

#[test]
fn sealed_datagrams_stay_within_the_size_limit() {
    let cfg = Config {
        max_datagram_size: 512,
        ..keyed(&[1])
    };
    let mut net = Net::with_big_metadata(30, cfg, 17);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(20), Net::converged));
    assert_eq!(net.oversize_datagrams, 0);
}
