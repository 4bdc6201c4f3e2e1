//! Connection slots under attack: idle connections and connections that send
//! only empty frames, from many addresses at once, must not keep members out.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// Opens `n` connections to `to` from 127.0.0.2, 127.0.0.3, ... (so a
/// per-address limit does not stop them), each bound to its own source.
async fn hold(to: SocketAddr, n: u8) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for i in 0..n {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i));
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
        if let Ok(s) = socket.connect(to).await {
            held.push(s);
        }
    }
    held
}

#[test]
fn joins_get_through_while_every_slot_is_held() {
    let _serial = serial();
    let mut nodes = cluster("slots", 2);
    wait_all_up(&nodes, &ids(&nodes));
    let seed = nodes[0].addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // 64 idle connections and 32 that send 4-byte empty frames (a length
    // prefix of 0), again and again, from 96 addresses.
    let idle = rt.block_on(hold(seed, 64));
    let mut empties = Vec::new();
    empties.extend(rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..32u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2 + i));
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(ip, 0)).unwrap();
            if let Ok(s) = socket.connect(seed).await {
                v.push(s);
            }
        }
        v
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let attack = std::thread::spawn({
        let stop = stop.clone();
        move || {
            rt.block_on(async move {
                let deadline = Instant::now() + DEADLINE;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    for s in empties.iter_mut() {
                        let _ = s.write_all(&0u32.to_be_bytes()).await;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                drop(idle);
            })
        }
    });

    // A newcomer joins through the attacked seed, and everyone sees it.
    let newcomer = Node::join(config("slots-2", local0()), &[seed]);
    nodes.push(newcomer);
    wait_all_up(&nodes, &ids(&nodes));

    let t = nodes[0].stats().transport;
    assert!(
        t.connections_closed_rejected > 0 || t.connections_evicted > 0 || t.frame_read_errors > 0,
        "the attack was not met: {t:?}"
    );
    for node in &nodes {
        assert!(downs(&node.log.snapshot()).is_empty(), "{}", node.id());
    }
    stop.store(true, Ordering::Relaxed);
    attack.join().unwrap();
    for node in nodes {
        node.leave();
    }
}

#[test]
fn members_behind_one_address_get_in_beyond_its_share_of_slots() {
    let _serial = serial();
    // Every member is on 127.0.0.1, and the seed takes at most 2 incoming
    // connections from one address. Connections never close by themselves
    // here (idle timeout 1 h): each joiner's connection to the seed stays
    // open and idle after its join request, so the later joiners get in only
    // if an idle connection from their address makes room for them.
    let long_idle = |mut c: actix_cluster::ClusterConfig| {
        c.transport.idle_timeout = Duration::from_secs(3600);
        c
    };
    let mut seed_config = long_idle(config("share-0", local0()));
    seed_config.transport.max_incoming_per_ip = 2;
    let first = Node::join(seed_config, &[]);
    let seed = first.addr();
    let mut nodes = vec![first];
    for i in 1..=5 {
        let joiner = Node::join(long_idle(config(&format!("share-{i}"), local0())), &[seed]);
        nodes.push(joiner);
    }
    wait_all_up(&nodes, &ids(&nodes));

    let t = nodes[0].stats().transport;
    assert!(t.connections_evicted > 0, "{t:?}");
    for node in &nodes {
        assert!(downs(&node.log.snapshot()).is_empty(), "{}", node.id());
    }
    for node in nodes {
        node.leave();
    }
}

/// A framed join request of a member called `name` whose listener is
/// `listener`, for the seed `seed` (built with the pure core, no sockets).
fn join_frame(name: &str, listener: SocketAddr, seed: SocketAddr) -> Vec<u8> {
    use actix_cluster_proto::{Channel, Command, Core, LocalMember, Output};
    let local = LocalMember {
        id: actix_cluster::MemberId::new(name, listener, 1),
        roles: Default::default(),
        metadata: Default::default(),
    };
    let mut core = Core::new(local, actix_cluster::ProtocolConfig::local(), 7).unwrap();
    core.handle_command(Duration::ZERO, Command::Join { seeds: vec![seed] });
    while let Some(out) = core.poll_output() {
        if let Output::Send {
            channel: Channel::Stream,
            bytes,
            ..
        } = out
        {
            let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            return framed;
        }
    }
    panic!("a join sends a join request");
}

#[test]
fn joins_get_through_while_forged_joiners_hold_every_writer() {
    let _serial = serial();
    // The seed may write to at most 8 peers at once.
    let mut seed_config = config("writers-0", local0());
    seed_config.transport.max_outgoing = 8;
    let first = Node::join(seed_config, &[]);
    let seed = first.addr();
    let mut nodes = vec![first];
    nodes.push(Node::join(config("writers-1", local0()), &[seed]));
    wait_all_up(&nodes, &ids(&nodes));

    // 24 joiners from 24 addresses, each naming a listener on its own
    // address that accepts connections but never reads: every join answer
    // goes to a writer that then sits idle.
    let mut holes = Vec::new();
    for i in 0..24u8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 2, 2 + i));
        let hole = std::net::TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
        let listener = hole.local_addr().unwrap();
        // From the listener's own address: a plaintext join must come from
        // its member's host.
        let mut conn = connect_from(ip, seed).expect("connect to the seed");
        std::io::Write::write_all(
            &mut conn,
            &join_frame(&format!("ghost-{i}"), listener, seed),
        )
        .unwrap();
        holes.push((hole, conn));
    }
    let evicted = || nodes[0].stats().transport.writers_evicted;
    let deadline = Instant::now() + DEADLINE;
    while evicted() == 0 {
        assert!(
            Instant::now() < deadline,
            "no writer was evicted: {:?}",
            nodes[0].stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // A real newcomer still joins through that seed, and everyone sees it.
    let newcomer = Node::join(config("writers-2", local0()), &[seed]);
    nodes.push(newcomer);
    wait_all_up(&nodes, &ids(&nodes));
    drop(holes);
    for node in nodes {
        node.leave();
    }
}

/// A blocking TCP connection to `to` from source address `ip`.
fn connect_from(ip: IpAddr, to: SocketAddr) -> Option<std::net::TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(async {
        let socket = TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::new(ip, 0)).ok()?;
        socket.connect(to).await.ok()
    })?;
    let s = s.into_std().ok()?;
    s.set_nonblocking(false).ok()?;
    Some(s)
}
