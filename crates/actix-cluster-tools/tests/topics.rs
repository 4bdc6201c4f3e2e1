//! Pub-sub topics between loopback nodes (each a thread with its own actix
//! `System`, `Cluster` and `Remote`, like a process).

#[path = "../../actix-cluster-remote/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use actix_cluster_proto::MemberId;
use actix_cluster_tools::{Topic, Topics, PUBLISH_BACKLOG};
use common::*;
use serde::{Deserialize, Serialize};

/// A numbered message from a named publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
struct Tick {
    from: String,
    seq: u64,
}
actix_cluster_remote::remote_message!(Tick, name = "tools.test.Tick", version = 1);

const TICKS: Topic<Tick> = Topic::new("ticks");

type Seen = Arc<Mutex<Vec<Tick>>>;

/// Records what it gets; stops on `Stop`.
struct Recorder(Seen);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<Tick> for Recorder {
    type Result = ();

    fn handle(&mut self, tick: Tick, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(tick);
    }
}

impl Handler<Stop> for Recorder {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

fn start_topics(node: &Node) -> Topics {
    node.run(|r| async move { Topics::start(&r) })
}

/// Subscribes a new recorder on `node`; answers what it records and its
/// address.
fn subscriber(node: &Node, topics: &Topics) -> (Seen, Addr<Recorder>) {
    let seen = Seen::default();
    let (s, t) = (seen.clone(), topics.clone());
    let addr = node.run(move |_| async move {
        let addr = Recorder(s).start();
        t.subscribe(&TICKS, addr.clone().recipient());
        addr
    });
    (seen, addr)
}

/// The members with subscribers as `node`'s publishing side sees them.
fn members(node: &Node, topics: &Topics) -> Vec<MemberId> {
    let t = topics.clone();
    let mut m = node.run(move |_| async move { t.members(&TICKS) });
    m.sort();
    m
}

fn publish(node: &Node, topics: &Topics, from: &str, seqs: std::ops::Range<u64>) {
    let (t, from) = (topics.clone(), from.to_owned());
    node.run(move |_| async move {
        for seq in seqs {
            t.publish(
                &TICKS,
                Tick {
                    from: from.clone(),
                    seq,
                },
            )
            .expect("published to every member with subscribers");
        }
    });
}

fn received(node: &Node) -> u64 {
    node.remote.stats().received_messages
}

#[test]
fn every_subscriber_gets_every_message_once_in_order_per_publisher() {
    let _g = serial();
    let nodes = cluster(4, Some(9));
    let topics: Vec<Topics> = nodes.iter().map(start_topics).collect();
    // n1 has two subscribers, n2 three, n3 one, n4 none.
    let mut seen = Vec::new();
    for (i, count) in [2, 3, 1, 0].into_iter().enumerate() {
        for _ in 0..count {
            seen.push(subscriber(&nodes[i], &topics[i]).0);
        }
    }
    let with_subscribers: Vec<MemberId> = {
        let mut m: Vec<MemberId> = nodes[..3].iter().map(|n| n.remote.local_member()).collect();
        m.sort();
        m
    };
    for (node, t) in nodes.iter().zip(&topics) {
        wait_until("three members with subscribers", || {
            members(node, t) == with_subscribers
        });
    }
    let n4_before = received(&nodes[3]);
    // Three publishers, one of them the member without subscribers. Each
    // ends with a last message (seq 200) so that, once it arrives, anything
    // doubled before it would have arrived too.
    let publishers = [(0, "n1"), (1, "n2"), (3, "n4")];
    for (i, name) in publishers {
        publish(&nodes[i], &topics[i], name, 0..201);
    }
    for s in &seen {
        wait_until("every publisher's last message", || {
            let got = s.lock().unwrap();
            publishers
                .iter()
                .all(|(_, p)| got.iter().any(|t| t.from == *p && t.seq == 200))
        });
    }
    for s in &seen {
        let got = s.lock().unwrap();
        assert_eq!(got.len(), 3 * 201, "each message once");
        for (_, p) in publishers {
            let seqs: Vec<u64> = got.iter().filter(|t| t.from == p).map(|t| t.seq).collect();
            assert_eq!(seqs, (0..201).collect::<Vec<_>>(), "in order from {p}");
        }
    }
    // The member without subscribers got none of the 603 messages (what
    // it received in that time is the registry's and the others' control
    // traffic, a handful of envelopes).
    let n4_got = received(&nodes[3]) - n4_before;
    assert!(n4_got < 100, "n4 received {n4_got} envelopes");
}

#[test]
fn a_subscription_leaves_with_its_actor_an_unsubscribe_and_its_member() {
    let _g = serial();
    let mut nodes = cluster(3, Some(9));
    let topics: Vec<Topics> = nodes.iter().map(start_topics).collect();
    let ids: Vec<MemberId> = nodes.iter().map(|n| n.remote.local_member()).collect();
    let id = |i: usize| ids[i].clone();
    let (stopped_seen, stopped) = subscriber(&nodes[1], &topics[1]);
    let (kept_seen, _kept) = subscriber(&nodes[1], &topics[1]);
    let (_, _n3_sub) = subscriber(&nodes[2], &topics[2]);
    let mut both = vec![id(1), id(2)];
    both.sort();
    wait_until("n2 and n3 listed", || {
        members(&nodes[0], &topics[0]) == both
    });
    // One of n2's two subscribers stops: the other still gets messages,
    // and n2 stays listed.
    stopped.do_send(Stop);
    wait_until("the subscriber stopped", || !stopped.connected());
    publish(&nodes[0], &topics[0], "n1", 0..1);
    wait_until("the kept subscriber's message", || {
        kept_seen.lock().unwrap().len() == 1
    });
    assert!(stopped_seen.lock().unwrap().is_empty());
    assert_eq!(members(&nodes[0], &topics[0]), both);
    // The last subscriber on n2 unsubscribes: n2 leaves the listing.
    let (t, recipient) = (topics[1].clone(), _kept.clone().recipient());
    nodes[1].run(move |_| async move { t.unsubscribe(&TICKS, &recipient) });
    wait_until("n2 unlisted", || members(&nodes[0], &topics[0]) == [id(2)]);
    // n2 subscribes again, then its subscriber stops: listed, then not.
    let (_, again) = subscriber(&nodes[1], &topics[1]);
    wait_until("n2 listed again", || members(&nodes[0], &topics[0]) == both);
    again.do_send(Stop);
    wait_until("n2 unlisted after its subscriber stopped", || {
        members(&nodes[0], &topics[0]) == [id(2)]
    });
    // n3 leaves the cluster: its subscription goes with it.
    nodes.pop().expect("n3").stop();
    wait_until("nobody listed", || {
        members(&nodes[0], &topics[0]).is_empty()
    });
}

#[test]
fn messages_published_before_the_first_listing_are_kept_in_order() {
    let _g = serial();
    let nodes = cluster(2, Some(9));
    let t2 = start_topics(&nodes[1]);
    let (seen, _sub) = subscriber(&nodes[1], &t2);
    let t1 = start_topics(&nodes[0]);
    // Wait until n2's hub is listed on n1 through another route than the
    // topic's own state (which does not exist on n1 yet).
    let key = actix_cluster_remote::ServiceKey::<Tick>::new("topic/ticks");
    wait_until("n2's hub listed on n1", || {
        let key = key.clone();
        nodes[0].run(move |r| async move { r.find(&key).await.len() }) == 1
    });
    // The first publish on n1 makes its topic state: no listing yet, so
    // these wait in the backlog (up to its bound) and go out, in order,
    // when it comes.
    let t = t1.clone();
    let over = nodes[0].run(move |_| async move {
        let tick = |seq| Tick {
            from: "n1".into(),
            seq,
        };
        for seq in 0..PUBLISH_BACKLOG as u64 {
            t.publish(&TICKS, tick(seq)).expect("held in the backlog");
        }
        t.publish(&TICKS, tick(PUBLISH_BACKLOG as u64))
    });
    assert_eq!(over, Err(actix_cluster_tools::PublishError::Backlog));
    wait_until("the backlog", || {
        seen.lock().unwrap().len() == PUBLISH_BACKLOG
    });
    let seqs: Vec<u64> = seen.lock().unwrap().iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (0..PUBLISH_BACKLOG as u64).collect::<Vec<_>>());
}

/// Records slowly: a mailbox of one, so most deliveries find it full.
struct Slow(Seen);

impl Actor for Slow {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1);
    }
}

impl Handler<Tick> for Slow {
    type Result = ();

    fn handle(&mut self, tick: Tick, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(tick);
    }
}

#[test]
fn a_subscriber_with_a_full_mailbox_is_waited_for_not_skipped() {
    let _g = serial();
    let nodes = cluster(2, Some(9));
    let topics: Vec<Topics> = nodes.iter().map(start_topics).collect();
    let seen = Seen::default();
    let (s, t) = (seen.clone(), topics[1].clone());
    nodes[1].run(move |_| async move {
        t.subscribe(&TICKS, Slow(s).start().recipient());
    });
    let (fast_seen, _fast) = subscriber(&nodes[1], &topics[1]);
    wait_until("n2 listed", || members(&nodes[0], &topics[0]).len() == 1);
    publish(&nodes[0], &topics[0], "n1", 0..500);
    for s in [&seen, &fast_seen] {
        wait_until("all 500", || s.lock().unwrap().len() == 500);
        let seqs: Vec<u64> = s.lock().unwrap().iter().map(|t| t.seq).collect();
        assert_eq!(seqs, (0..500).collect::<Vec<_>>());
    }
}

#[test]
fn a_full_lane_costs_that_member_only() {
    use actix_cluster_tools::PublishError;
    let _g = serial();
    // n1's lanes hold 16 envelopes, and its publishing task does not yield:
    // the lane to n2 fills after 16 messages and stays full meanwhile.
    let n1 = Node::start_with("n1", Some(9), &[], |c| actix_cluster_remote::RemoteConfig {
        outbound_queue: 16,
        ..c
    });
    let n2 = Node::start("n2", Some(9), &[n1.addr]);
    let nodes = [n1, n2];
    for node in &nodes {
        wait_until("both Up with a remote port", || node.remote_members() == 2);
    }
    let topics: Vec<Topics> = nodes.iter().map(start_topics).collect();
    let (local, _l) = subscriber(&nodes[0], &topics[0]);
    let (remote, _r) = subscriber(&nodes[1], &topics[1]);
    wait_until("both listed", || members(&nodes[0], &topics[0]).len() == 2);
    let t = topics[0].clone();
    let results = nodes[0].run(move |_| async move {
        (0..100)
            .map(|seq| {
                let from = "n1".to_owned();
                t.publish(&TICKS, Tick { from, seq })
            })
            .collect::<Vec<_>>()
    });
    assert!(results[..16].iter().all(Result::is_ok));
    for r in &results[16..] {
        match r {
            Err(PublishError::Missed {
                missed: 1,
                of: 2,
                cause,
            }) => {
                assert_eq!(*cause, actix_cluster_remote::AskError::QueueFull)
            }
            other => panic!("expected n2 to miss it: {other:?}"),
        }
    }
    wait_until("all 100 on n1", || local.lock().unwrap().len() == 100);
    wait_until("16 on n2", || remote.lock().unwrap().len() == 16);
    // One more, once the lane has drained, reaches both: nothing else came.
    publish(&nodes[0], &topics[0], "n1", 100..101);
    wait_until("the last on n2", || remote.lock().unwrap().len() == 17);
    let seqs: Vec<u64> = remote.lock().unwrap().iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (0..16).chain(100..101).collect::<Vec<_>>());
}

/// Another message type, to use a topic name that `Tick` already has.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
struct Other;
actix_cluster_remote::remote_message!(Other, name = "tools.test.Other", version = 1);

#[test]
fn an_oversize_message_a_name_too_long_or_taken_is_refused() {
    use actix_cluster_tools::{PublishError, MAX_TOPIC_NAME};
    let _g = serial();
    let nodes = cluster(1, Some(9));
    let topics = start_topics(&nodes[0]);
    let (seen, _sub) = subscriber(&nodes[0], &topics);
    wait_until("listed", || members(&nodes[0], &topics).len() == 1);
    let t = topics.clone();
    let oversize = nodes[0].run(move |_| async move {
        let from = "x".repeat(300 * 1024);
        t.publish(&TICKS, Tick { from, seq: 0 })
    });
    assert!(
        matches!(oversize, Err(PublishError::Rejected(_))),
        "{oversize:?}"
    );
    let answers = nodes[0].run(move |_| async move {
        let long = Topic::<Tick>::named("x".repeat(MAX_TOPIC_NAME + 1));
        let tick = Tick {
            from: "n1".into(),
            seq: 0,
        };
        let too_long = topics.publish(&long, tick.clone());
        let first = topics.publish(&TICKS, tick);
        let taken = topics.publish(&Topic::<Other>::new("ticks"), Other);
        (too_long, first, taken)
    });
    assert_eq!(
        answers.0,
        Err(PublishError::NameTooLong(MAX_TOPIC_NAME + 1))
    );
    assert_eq!(answers.1, Ok(()));
    assert_eq!(answers.2, Err(PublishError::WrongType("ticks".into())));
    wait_until("the one message that went", || {
        seen.lock().unwrap().len() == 1
    });
}
