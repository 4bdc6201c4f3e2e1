//! Hostile input on real sockets: garbage and truncated datagrams, random and
//! oversized stream frames, another cluster's messages, an unknown protocol
//! version. The cluster must keep working, mark nobody down, and count the
//! rejections.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use actix_cluster::{ClusterStats, MemberId, ProtocolConfig};
use actix_cluster_proto::{Command, Core, LocalMember, Output};
use common::*;
use rand::{Rng, RngCore, SeedableRng};

/// A valid join request frame from a member that never joins (built with the
/// pure core, no sockets): the raw material for truncations.
fn valid_join_bytes(cluster_name: &str, to: SocketAddr) -> Vec<u8> {
    let me = MemberId::new("ghost", "127.0.0.1:9".parse().unwrap(), 1);
    let config = ProtocolConfig {
        cluster_name: cluster_name.into(),
        ..ProtocolConfig::local()
    };
    let local = LocalMember {
        id: me,
        roles: ["r".to_string()].into(),
        metadata: [("k".to_string(), "v".to_string())].into(),
    };
    let mut core = Core::new(local, config, 7).unwrap();
    core.handle_command(Duration::ZERO, Command::Join { seeds: vec![to] });
    let mut sent = Vec::new();
    while let Some(out) = core.poll_output() {
        if let Output::Send { bytes, .. } = out {
            sent.push(bytes);
        }
    }
    sent.into_iter()
        .max_by_key(Vec::len)
        .expect("a join sends something")
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// Waits (with the deadline) until the peer closed the connection.
fn assert_closed_by_peer(mut s: TcpStream) {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 16];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => assert!(start.elapsed() < DEADLINE, "connection never closed"),
        }
    }
}

/// UDP may drop what the receiver has no buffer for: repeat `send` until the
/// node's counters show `seen`, within the deadline.
fn send_until_counted(
    node: &Node,
    what: &str,
    send: impl Fn(),
    seen: impl Fn(&ClusterStats) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        send();
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            if seen(&node.stats()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            Instant::now() < deadline,
            "{what} never counted: {:?}",
            node.stats()
        );
    }
}

#[test]
fn hostile_input_is_rejected_and_counted_and_the_cluster_keeps_working() {
    let _serial = serial();
    let mut nodes = cluster("hostile", 3);
    wait_all_up(&nodes, &ids(&nodes));
    let cluster_name = ProtocolConfig::local().cluster_name;
    let targets: Vec<SocketAddr> = nodes.iter().map(|n| n.addr()).collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5eed);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();

    // Another cluster on the same machine, joining through our nodes: every
    // message it sends carries the wrong name.
    let intruder = Node::join(
        config("intruder", local0()).with_cluster_name("someone-else"),
        &targets,
    );

    let join = valid_join_bytes(&cluster_name, targets[0]);
    let foreign = valid_join_bytes("someone-else", targets[0]);
    let mut future_version = join.clone();
    future_version[2] = 0xEE; // magic "AC", then the version byte

    for &to in &targets {
        let node = nodes.iter().find(|n| n.addr() == to).unwrap();
        let bad = Bad {
            join: &join,
            foreign: &foreign,
            future_version: &future_version,
        };
        datagram_attacks(node, &udp, &mut rng, to, &bad);
        frame_attacks(&mut rng, to, &bad);
    }

    // A connection flood from one address: beyond its share of the slots,
    // new ones are closed at once (and counted) instead of piling up.
    let flood: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(targets[0]).unwrap())
        .collect();
    let deadline = Instant::now() + DEADLINE;
    while nodes[0].stats().transport.connections_rejected < 16 {
        assert!(Instant::now() < deadline, "{:?}", nodes[0].stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(flood);

    // The cluster still works: a new member joins and everyone sees it.
    let newcomer = Node::join(config("hostile-3", local0()), &targets);
    nodes.push(newcomer);
    wait_all_up(&nodes, &ids(&nodes));

    // Nobody was marked down, nobody let the ghost or the intruder in.
    for node in &nodes {
        let recs = node.log.snapshot();
        assert!(downs(&recs).is_empty(), "{}: {recs:#?}", node.id());
        for m in node.members() {
            assert!(
                ids(&nodes).contains(&m.id),
                "{} knows a stranger: {m:?}",
                node.id()
            );
        }
    }
    assert_eq!(intruder.members().len(), 1, "the intruder stays alone");

    // The rejections were counted where they happened.
    for node in &nodes[..3] {
        let stats = node.stats();
        let p = &stats.protocol;
        let t = &stats.transport;
        assert!(p.rejected_malformed > 0, "{stats:?}");
        assert!(p.rejected_version > 0, "{stats:?}");
        assert!(p.rejected_wrong_cluster > 0, "{stats:?}");
        assert!(t.datagrams_oversized > 0, "{stats:?}");
        assert_eq!(t.frames_oversized, 1, "{stats:?}");
        assert!(t.frame_read_errors >= 1, "{stats:?}");
        // The core said "rejected" and the actor closed the connection.
        assert!(t.connections_closed_rejected > 0, "{stats:?}");
    }
    intruder.kill();
    for node in nodes {
        node.leave();
    }
}

/// The valid and invalid messages the attacks are made of.
struct Bad<'a> {
    join: &'a [u8],
    foreign: &'a [u8],
    future_version: &'a [u8],
}

/// Random, truncated, oversized, foreign and future-version datagrams.
fn datagram_attacks(
    node: &Node,
    udp: &UdpSocket,
    rng: &mut rand::rngs::SmallRng,
    to: SocketAddr,
    bad: &Bad<'_>,
) {
    // Random datagrams, some with a plausible header to get past the magic.
    for i in 0..200 {
        if i % 20 == 0 {
            // Pace the flood a little: the point is the decoder, not the
            // kernel's receive buffer.
            std::thread::sleep(Duration::from_millis(2));
        }
        let len = rng.gen_range(0..1400);
        let mut d = vec![0u8; len];
        rng.fill_bytes(&mut d);
        if i % 2 == 0 && len > 8 {
            let head = &bad.join[..bad.join.len().min(len / 2)];
            d[..head.len()].copy_from_slice(head);
        }
        udp.send_to(&d, to).unwrap();
    }
    // Every truncation of a valid message, as datagrams.
    for cut in 0..bad.join.len() {
        if cut % 20 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        udp.send_to(&bad.join[..cut], to).unwrap();
    }
    // Oversized datagram (dropped before the core).
    send_until_counted(
        node,
        "oversized datagram",
        || {
            udp.send_to(&[0xAB; 4000], to).unwrap();
        },
        |s| s.transport.datagrams_oversized > 0,
    );
    // Wrong cluster and unknown version, as datagrams and frames.
    send_until_counted(
        node,
        "unknown version datagram",
        || {
            udp.send_to(bad.future_version, to).unwrap();
        },
        |s| s.protocol.rejected_version > 0,
    );
    udp.send_to(bad.foreign, to).unwrap();
}

/// Rejected frames (each closes its connection), a frame cut short and a
/// 4 GiB length prefix.
fn frame_attacks(rng: &mut rand::rngs::SmallRng, to: SocketAddr, bad: &Bad<'_>) {
    // Each rejected frame closes its connection: one connection each.
    let alone = |body: &[u8]| {
        let mut s = TcpStream::connect(to).unwrap();
        let _ = s.write_all(&frame(body));
        assert_closed_by_peer(s);
    };
    alone(bad.foreign);
    alone(bad.future_version);
    // Truncations of a valid frame body, each in a well-formed frame.
    for cut in 0..bad.join.len() {
        alone(&bad.join[..cut]);
    }
    // Random frames.
    for _ in 0..50 {
        let mut body = vec![0u8; rng.gen_range(0..2000)];
        rng.fill_bytes(&mut body);
        alone(&body);
    }

    // A frame cut short by the connection closing.
    let mut s = TcpStream::connect(to).unwrap();
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(&[1, 2, 3]).unwrap();
    drop(s);

    // A 4 GiB length prefix: refused before allocating, connection closed.
    let mut s = TcpStream::connect(to).unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let _ = s.write_all(&[0u8; 64]);
    assert_closed_by_peer(s);
}
