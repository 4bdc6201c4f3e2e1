//! Every ask error, each with the connection still up afterwards.

mod common;

use std::time::Duration;

use actix::prelude::*;
use actix_cluster_remote::{ActorAddr, ActorId, AskError, RemoteRef};
use common::*;
use serde::{Deserialize, Serialize};

/// A message node 2 has no handler for.
#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "u64")]
struct Unknown(u64);
actix_cluster_remote::remote_message!(Unknown => u64, name = "test.Unknown", version = 1);

/// `Ping`'s name with another version.
#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "u64")]
struct PingV2(u64, u64);
actix_cluster_remote::remote_message!(PingV2 => u64, name = "test.Ping", version = 2);

/// A message with a payload of any size.
#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "u64")]
struct Blob(Vec<u8>);
actix_cluster_remote::remote_message!(Blob => u64, name = "test.Blob", version = 1);

/// Answers a blob with its length, slowly when asked to.
struct Sink;
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<Blob> for Sink {
    type Result = ResponseFuture<u64>;
    fn handle(&mut self, Blob(b): Blob, _: &mut Context<Self>) -> Self::Result {
        Box::pin(async move {
            if b.first() == Some(&0xEE) {
                actix_rt::time::sleep(Duration::from_secs(3)).await;
            }
            b.len() as u64
        })
    }
}

fn ask<M>(node: &Node, to: &RemoteRef<M>, msg: M, timeout: Duration) -> Result<M::Reply, AskError>
where
    M: actix_cluster_remote::RemoteMessage,
{
    let to = to.clone();
    node.run(move |r| async move { r.ask_timeout(&to, msg, timeout).await })
}

fn still_up(nodes: &[Node], echo: &RemoteRef<Ping>) {
    assert_eq!(
        ask(&nodes[0], echo, Ping(1), DEADLINE),
        Ok(1),
        "connection still up"
    );
}

#[test]
fn unknown_type_version_actor_and_oversize_each_answer_with_the_connection_up() {
    let _g = serial();
    // n2 accepts smaller payloads than n1 sends.
    let n1 = Node::start("n1", Some(7), &[]);
    let n2 = Node::start_with("n2", Some(7), &[n1.addr], |mut c| {
        c.max_message_size = 1000;
        c
    });
    let nodes = [n1, n2];
    for n in &nodes {
        wait_until("both up", || n.remote_members() == 2);
    }
    let (echo_ref, _a) = echo(&nodes[1], 0);
    let blob: RemoteRef<Blob> = nodes[1].run(|r| async move { r.serve(Sink.start()) });
    let t = DEADLINE;

    let unknown = ask(&nodes[0], &typed::<Unknown>(&echo_ref), Unknown(1), t);
    assert!(
        matches!(unknown, Err(AskError::Rejected(ref s)) if s.contains("UnknownType")),
        "{unknown:?}"
    );
    still_up(&nodes, &echo_ref);

    let v2 = ask(&nodes[0], &typed::<PingV2>(&echo_ref), PingV2(1, 2), t);
    assert!(
        matches!(v2, Err(AskError::Rejected(ref s)) if s.contains("UnknownVersion")),
        "{v2:?}"
    );
    still_up(&nodes, &echo_ref);

    let nobody = RemoteRef::<Ping>::new(ActorAddr {
        member: echo_ref.member().clone(),
        actor: ActorId(999_999),
    });
    assert_eq!(
        ask(&nodes[0], &nobody, Ping(1), t),
        Err(AskError::NoSuchActor)
    );
    still_up(&nodes, &echo_ref);

    // Over the receiver's limit (n1 would send it): refused there.
    let big = ask(&nodes[0], &blob, Blob(vec![1; 5000]), t);
    assert!(
        matches!(big, Err(AskError::Rejected(ref s)) if s.contains("Oversize")),
        "{big:?}"
    );
    still_up(&nodes, &echo_ref);
    assert_eq!(ask(&nodes[0], &blob, Blob(vec![1; 500]), t), Ok(500));

    // Over the sender's own limit: refused before it is sent.
    let huge = ask(&nodes[0], &blob, Blob(vec![1; 300 * 1024]), t);
    assert!(matches!(huge, Err(AskError::Rejected(_))), "{huge:?}");

    // No answer in time.
    let slow = ask(
        &nodes[0],
        &blob,
        Blob(vec![0xEE]),
        Duration::from_millis(200),
    );
    assert_eq!(slow, Err(AskError::Timeout));
    still_up(&nodes, &echo_ref);
    assert!(nodes[0].remote.stats().dropped_oversize >= 2);
    assert!(nodes[1].remote.stats().dropped_undeliverable >= 3);
}

#[test]
fn a_full_lane_is_queue_full_to_the_sender_and_the_connection_stays_up() {
    let _g = serial();
    let n1 = Node::start_with("n1", Some(7), &[], |mut c| {
        c.outbound_queue = 1;
        c
    });
    let n2 = Node::start("n2", Some(7), &[n1.addr]);
    let nodes = [n1, n2];
    for n in &nodes {
        wait_until("both up", || n.remote_members() == 2);
    }
    let (echo_ref, _a) = echo(&nodes[1], 0);
    let target = typed::<Numbered>(&echo_ref);
    let full = nodes[0].run(move |r| async move {
        (0..10_000).any(|i| r.tell(&target, Numbered(i)) == Err(AskError::QueueFull))
    });
    assert!(full, "a lane of one never filled");
    assert!(nodes[0].remote.stats().dropped_queue_full >= 1);
    wait_until("the lane drains", || {
        ask(&nodes[0], &echo_ref, Ping(1), DEADLINE) == Ok(1)
    });
}

#[test]
fn an_ask_to_a_down_member_fails_at_once_and_a_reborn_members_refs_too() {
    let _g = serial();
    let mut nodes = cluster(2, Some(7));
    let (echo_ref, _a) = echo(&nodes[1], 0);
    std::mem::forget(_a);
    let (seen, _) = watch(&nodes[0], &echo_ref);
    nodes.pop().expect("n2").stop();
    wait_until("n2 down at n1", || !seen.lock().unwrap().is_empty());
    // The timeout is long: the answer must not wait for it.
    let started = std::time::Instant::now();
    assert_eq!(
        ask(&nodes[0], &echo_ref, Ping(1), DEADLINE),
        Err(AskError::MemberDown)
    );
    assert!(started.elapsed() < DEADLINE);
    let old = echo_ref.clone();
    assert_eq!(
        nodes[0].run(move |r| async move { r.tell(&old, Ping(1)) }),
        Err(AskError::MemberDown)
    );
    // A new process on the same address is a new member: the old references
    // still fail, the new one's work.
    let reborn = Node::start_at(
        echo_ref.member().addr,
        "n2",
        Some(7),
        &[nodes[0].addr],
        |c| c,
    );
    wait_until("the new n2 up", || nodes[0].remote_members() == 2);
    let (new_ref, _b) = echo(&reborn, 0);
    assert_eq!(new_ref.member().addr, echo_ref.member().addr);
    assert_ne!(new_ref.member(), echo_ref.member());
    assert_eq!(ask(&nodes[0], &new_ref, Ping(2), DEADLINE), Ok(2));
    assert_eq!(
        ask(&nodes[0], &echo_ref, Ping(1), DEADLINE),
        Err(AskError::MemberDown)
    );
}

#[test]
fn a_node_with_another_key_cannot_reach_or_be_listed() {
    let _g = serial();
    let nodes = cluster(2, Some(7));
    let outsider = Node::start("x", Some(8), &[nodes[0].addr]);
    let (r, _a) = echo(&outsider, 0);
    outsider.run(move |remote| async move { remote.register(&ECHO, &r) });
    let (mine, _b) = echo(&nodes[0], 0);
    nodes[0].run(move |remote| async move { remote.register(&ECHO, &mine) });
    wait_until("the own listing", || listed(&nodes[0]).len() == 1);
    // The outsider never becomes a member, so it is never a peer.
    assert!(outsider.remote_members() <= 1);
    assert_eq!(nodes[0].remote_members(), 2);
    assert_eq!(listed(&nodes[1]).len(), 1);
    assert_eq!(listed(&outsider).len(), 1);
}

#[test]
fn a_key_rotation_on_the_cluster_carries_the_remote_connections_along() {
    use actix_cluster::{InstallKey, Key, RemoveKey, UsePrimary};

    let _g = serial();
    let nodes = cluster(2, Some(7));
    let (echo_ref, _a) = echo(&nodes[1], 0);
    assert_eq!(ask(&nodes[0], &echo_ref, Ping(1), DEADLINE), Ok(1));
    let opened = |n: &Node| n.remote.stats().connections_opened;
    let before = opened(&nodes[0]) + opened(&nodes[1]);
    let old = Key::from_bytes([7; 32]).id();
    let new_key = Key::from_bytes([9; 32]);
    // The documented rotation, on every node: install, make primary, remove.
    for step in 0..3 {
        for node in &nodes {
            let cluster = node.cluster.clone();
            let key = new_key.clone();
            node.run(move |_| async move {
                match step {
                    0 => cluster.send(InstallKey(key)).await.unwrap().map(|_| ()),
                    1 => cluster.send(UsePrimary(key.id())).await.unwrap(),
                    _ => cluster.send(RemoveKey(old)).await.unwrap(),
                }
            })
            .expect("rotation step");
        }
    }
    // The connection sealed under the removed key is replaced by one under
    // the new key, and messages flow again.
    wait_until("a connection under the new key", || {
        opened(&nodes[0]) + opened(&nodes[1]) > before
    });
    wait_until("asks answered after the rotation", || {
        ask(&nodes[0], &echo_ref, Ping(2), DEADLINE) == Ok(2)
    });
}
