//! Sealed messages on real sockets: strangers without the key (or with a
//! wrong one) cannot join or read the member list, rotation at run time keeps
//! the cluster converged, a plaintext cluster moves to keys in steps.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use actix_cluster::{
    ClusterConfig, ClusterStats, GetKeys, InstallKey, Key, Keyring, MemberId, ProtocolConfig,
    RemoveKey, UsePrimary,
};
use actix_cluster_proto::{Command, Core, LocalMember, Output};
use common::*;

fn key(b: u8) -> Key {
    Key::from_bytes([b; 32])
}

fn keyed(name: &str, keys: &[u8]) -> ClusterConfig {
    let ring = Keyring::from_keys("test", keys.iter().map(|b| key(*b)).collect()).unwrap();
    config(name, local0()).with_keyring(ring)
}

/// A node in one of the rollout steps: keys installed, sealing or not,
/// plaintext accepted.
fn rollout(name: &str, seal_outgoing: bool) -> ClusterConfig {
    let mut c = keyed(name, &[1]);
    c.protocol.seal_outgoing = seal_outgoing;
    c.protocol.verify_incoming = false;
    c
}

/// Waits (within the deadline) until `pred` holds on `node`'s counters.
fn wait_stats(node: &Node, what: &str, pred: impl Fn(&ClusterStats) -> bool) -> ClusterStats {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let s = node.stats();
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Messages a core with `protocol` config sends when it joins through `to`
/// (built with the pure core, no sockets), with the sender at `me`.
fn join_bytes(protocol: ProtocolConfig, me: SocketAddr, to: SocketAddr) -> Vec<Vec<u8>> {
    let local = LocalMember {
        id: MemberId::new("ghost", me, 1),
        roles: Default::default(),
        metadata: Default::default(),
    };
    let mut core = Core::new(local, protocol, 7).unwrap();
    core.handle_command(Duration::ZERO, Command::Join { seeds: vec![to] });
    let mut sent = Vec::new();
    while let Some(out) = core.poll_output() {
        if let Output::Send { bytes, .. } = out {
            sent.push(bytes);
        }
    }
    sent
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// Nothing is waiting to be read on `s` (the peer never answered).
fn assert_no_answer(s: &mut TcpStream) {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok(0) => {}
        other => panic!("the member answered a stranger: {other:?}"),
    }
}

#[test]
fn strangers_without_the_key_cannot_join_or_read_the_member_list() {
    let _guard = serial();
    let first = Node::join(keyed("k-0", &[1]), &[]);
    let seed = first.addr();
    let nodes = vec![first, Node::join(keyed("k-1", &[1]), &[seed])];
    wait_all_up(&nodes, &ids(&nodes));

    // A node without keys and one with a wrong key try to join.
    let plain = Node::join(config("plain", local0()), &[seed]);
    let wrong = Node::join(keyed("wrong", &[2]), &[seed]);
    wait_stats(&nodes[0], "the strangers' joins rejected", |s| {
        s.protocol.rejected_plaintext > 0 && s.protocol.rejected_unauthenticated > 0
    });

    // Raw: a plaintext push-pull request over TCP, and a datagram sealed with
    // a wrong key. Both are counted; neither is answered.
    let before = nodes[0].stats().protocol;
    let mut tcp = TcpStream::connect(seed).unwrap();
    let me = tcp.local_addr().unwrap();
    let plain_join = join_bytes(ProtocolConfig::local(), me, seed);
    tcp.write_all(&frame(&plain_join[0])).unwrap();
    let wrong_key = join_bytes(keyed("x", &[3]).protocol, me, seed);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(&wrong_key[0], seed).unwrap();
    wait_stats(&nodes[0], "the raw messages rejected", |s| {
        s.protocol.rejected_plaintext > before.rejected_plaintext
            && s.protocol.rejected_unauthenticated > before.rejected_unauthenticated
    });
    assert_no_answer(&mut tcp);

    for n in &nodes {
        assert_eq!(n.members().len(), 2, "no stranger in {}'s view", n.id());
    }
    assert_eq!(
        plain.members().len(),
        1,
        "the plaintext node learned nobody"
    );
    assert_eq!(
        wrong.members().len(),
        1,
        "the wrong-key node learned nobody"
    );
    for n in &nodes {
        assert!(downs(&n.log.snapshot()).is_empty());
    }
}

#[test]
fn rotation_at_run_time_keeps_a_cluster_converged() {
    let _guard = serial();
    let first = Node::join(keyed("r-0", &[1]), &[]);
    let seed = first.addr();
    let mut nodes = vec![first];
    for i in 1..3 {
        nodes.push(Node::join(keyed(&format!("r-{i}"), &[1]), &[seed]));
    }
    wait_all_up(&nodes, &ids(&nodes));
    let (old, new) = (key(1).id(), key(2).id());
    for n in &nodes {
        assert_eq!(n.ask(InstallKey(key(2))).unwrap(), new);
    }
    for n in &nodes {
        n.ask(UsePrimary(new)).unwrap();
    }
    for n in &nodes {
        assert!(n.ask(RemoveKey(new)).is_err(), "the primary stays");
        n.ask(RemoveKey(old)).unwrap();
        assert_eq!(n.ask(GetKeys), vec![new]);
    }
    // A member with only the new key joins: the cluster speaks it.
    nodes.push(Node::join(keyed("r-3", &[2]), &[seed]));
    wait_all_up(&nodes, &ids(&nodes));
    // One with only the old key is a stranger now.
    let stale = Node::join(keyed("stale", &[1]), &[seed]);
    wait_stats(&nodes[0], "the old key rejected", |s| {
        s.protocol.rejected_unauthenticated > 0
    });
    assert_eq!(stale.members().len(), 1);
    for n in &nodes {
        assert_eq!(n.members().len(), 4);
        assert!(
            downs(&n.log.snapshot()).is_empty(),
            "nobody went down at {}",
            n.id()
        );
    }
}

#[test]
fn a_mixed_plaintext_and_keyed_rollout_converges() {
    let _guard = serial();
    // Step 1 beside plaintext nodes: keys installed, plaintext still sent.
    let first = Node::join(config("m-0", local0()), &[]);
    let seed = first.addr();
    let mut nodes = vec![first, Node::join(config("m-1", local0()), &[seed])];
    nodes.push(Node::join(rollout("m-2", false), &[seed]));
    wait_all_up(&nodes, &ids(&nodes));
    // Step 2 beside step 1: sealing, plaintext still accepted.
    let first = Node::join(rollout("s-0", false), &[]);
    let seed = first.addr();
    let mut later = vec![first, Node::join(rollout("s-1", true), &[seed])];
    later.push(Node::join(rollout("s-2", true), &[seed]));
    wait_all_up(&later, &ids(&later));
    let s = later[1].stats().protocol;
    assert_eq!(s.rejected_unauthenticated, 0, "{s:?}");
    for n in nodes.iter().chain(&later) {
        assert!(downs(&n.log.snapshot()).is_empty());
    }
}
