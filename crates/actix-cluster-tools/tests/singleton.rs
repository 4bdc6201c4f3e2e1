//! The cluster singleton on loopback actix systems (each node a thread with
//! its own `System`, `Cluster` and remote layer): where it starts, how it
//! moves on a handover and after a kill, and what its proxy delivers.

#[path = "../../actix-cluster-remote/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{ClusterEvent, DownReason, Event, MemberId, Subscribe};
use actix_cluster_tools::singleton::{ProxyStats, SingletonProxy, SingletonStart};
use actix_cluster_tools::{ClusterSingleton, SingletonConfig, SingletonHandle, StopSingleton};
use common::{serial, wait_until, Node};
use serde::{Deserialize, Serialize};

/// What the instances and observers write, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Started(String),
    Stopped(String),
    /// `observer` saw `member` down by the downing decision.
    Down {
        observer: String,
        member: String,
    },
    /// The member fenced itself (its side lost the downing decision).
    Fenced(String),
}

/// The log of one move: started on `from`, stopped there, then started on
/// `to` (never two at once).
fn moved(from: &str, to: &str) -> Vec<Entry> {
    vec![
        Entry::Started(from.into()),
        Entry::Stopped(from.into()),
        Entry::Started(to.into()),
    ]
}

type Log = Arc<Mutex<Vec<Entry>>>;
type Received = Arc<Mutex<Vec<(String, u64)>>>;

#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
struct Work(u64);
actix_cluster_remote::remote_message!(Work, name = "test.singleton.Work", version = 1);

/// The singleton under test: logs its start and stop, records its work.
struct Instance {
    node: String,
    log: Log,
    received: Received,
    /// How long it takes to stop once told (its cleanup).
    stop_delay: Duration,
}

impl Actor for Instance {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.log
            .lock()
            .unwrap()
            .push(Entry::Started(self.node.clone()));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log
            .lock()
            .unwrap()
            .push(Entry::Stopped(self.node.clone()));
    }
}

impl Handler<StopSingleton> for Instance {
    type Result = ();

    fn handle(&mut self, _: StopSingleton, ctx: &mut Context<Self>) {
        if self.stop_delay.is_zero() {
            ctx.stop();
        } else {
            ctx.run_later(self.stop_delay, |_, ctx| ctx.stop());
        }
    }
}

impl Handler<Work> for Instance {
    type Result = ();

    fn handle(&mut self, Work(n): Work, _: &mut Context<Self>) {
        self.received.lock().unwrap().push((self.node.clone(), n));
    }
}

struct Test {
    log: Log,
    received: Received,
    /// The instance started last.
    last: Arc<Mutex<Option<Addr<Instance>>>>,
    /// How long each instance takes to stop.
    stop_delay: Duration,
}

impl Test {
    fn new() -> Self {
        Test {
            log: Log::default(),
            received: Received::default(),
            last: Arc::default(),
            stop_delay: Duration::ZERO,
        }
    }

    /// Instances that take `delay` to stop once told.
    fn slow_to_stop(delay: Duration) -> Self {
        Test {
            stop_delay: delay,
            ..Test::new()
        }
    }

    /// Starts the manager on `node` (named `name` in the logs).
    fn manager(&self, node: &Node, name: &str, config: SingletonConfig) -> SingletonHandle {
        let (log, received, name) = (self.log.clone(), self.received.clone(), name.to_owned());
        let (last, stop_delay) = (self.last.clone(), self.stop_delay);
        node.run(move |remote| async move {
            ClusterSingleton::start(&remote, config, move |start: SingletonStart| {
                let addr = Instance {
                    node: name.clone(),
                    log: log.clone(),
                    received: received.clone(),
                    stop_delay,
                }
                .start();
                start.serve::<Work, _>(&addr);
                *last.lock().unwrap() = Some(addr.clone());
                addr
            })
        })
    }

    fn log(&self) -> Vec<Entry> {
        self.log.lock().unwrap().clone()
    }

    fn starts(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter_map(|e| match e {
                Entry::Started(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    /// Records in the log when `node` sees a member down by the decision.
    fn observe_downs(&self, node: &Node, observer: &str) {
        let (log, observer, cluster) =
            (self.log.clone(), observer.to_owned(), node.cluster.clone());
        node.run(move |_| async move {
            let watcher = DownLogger { log, observer }.start();
            cluster.do_send(Subscribe {
                events: Some(watcher.recipient()),
                ..Subscribe::default()
            });
        });
    }
}

struct DownLogger {
    log: Log,
    observer: String,
}

impl Actor for DownLogger {
    type Context = Context<Self>;
}

impl Handler<ClusterEvent> for DownLogger {
    type Result = ();

    fn handle(&mut self, ClusterEvent(event): ClusterEvent, _: &mut Context<Self>) {
        let entry = match event {
            Event::Down {
                member,
                reason: DownReason::Failed,
            } => Entry::Down {
                observer: self.observer.clone(),
                member: member.id.name.clone(),
            },
            Event::Down {
                member,
                reason: DownReason::Fenced,
            } => Entry::Fenced(member.id.name.clone()),
            _ => return,
        };
        self.log.lock().unwrap().push(entry);
    }
}

fn status_host(node: &Node, handle: &SingletonHandle) -> Option<MemberId> {
    let handle = handle.clone();
    node.run(move |_| async move { handle.status().await.host })
}

fn member_id(node: &Node) -> MemberId {
    node.run(|remote| async move { remote.local_member() })
}

fn config() -> SingletonConfig {
    SingletonConfig::new("test")
}

/// Three nodes, a manager on each; waits until `n1` runs the instance.
fn three(t: &Test) -> (Vec<Node>, Vec<SingletonHandle>) {
    let nodes = common::cluster(3, Some(7));
    let handles: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| t.manager(n, &format!("n{}", i + 1), config()))
        .collect();
    wait_until("the instance runs", || !t.starts().is_empty());
    (nodes, handles)
}

#[test]
fn the_singleton_starts_on_the_oldest_member_once_and_everyone_knows() {
    let _serial = serial();
    let t = Test::new();
    let (nodes, handles) = three(&t);
    assert_eq!(t.starts(), vec!["n1".to_owned()]);
    let n1 = member_id(&nodes[0]);
    for (node, handle) in nodes.iter().zip(&handles) {
        wait_until("every member knows the host", || {
            status_host(node, handle).as_ref() == Some(&n1)
        });
    }
    let here = {
        let h = handles[0].clone();
        nodes[0].run(move |_| async move { h.status().await.here })
    };
    assert!(here);
    // A member that joins later is younger: it never takes it over.
    let n4 = Node::start("n4", Some(7), &[nodes[0].addr]);
    let h4 = t.manager(&n4, "n4", config());
    wait_until("the new member knows the host", || {
        status_host(&n4, &h4).as_ref() == Some(&n1)
    });
    assert_eq!(t.starts(), vec!["n1".to_owned()], "it never started twice");
}

#[test]
fn a_handover_stops_the_old_instance_before_the_next_starts() {
    let _serial = serial();
    let t = Test::new();
    let (mut nodes, handles) = three(&t);
    let h1 = handles[0].clone();
    nodes[0].run(move |_| async move { h1.hand_over().await });
    nodes.remove(0).stop();
    wait_until("the instance runs on n2", || t.starts().len() == 2);
    assert_eq!(t.log(), moved("n1", "n2"));
    let n2 = member_id(&nodes[0]);
    for (node, handle) in nodes.iter().zip(&handles[1..]) {
        wait_until("every member knows the new host", || {
            status_host(node, handle).as_ref() == Some(&n2)
        });
    }
}

#[test]
fn a_plain_leave_moves_it_too_the_old_one_stopped_first() {
    let _serial = serial();
    // The instance takes longer to stop than the grace a host that left
    // without a word is given: only the handover can keep the order.
    let t = Test::slow_to_stop(Duration::from_millis(500));
    let config = || SingletonConfig {
        left_grace: Duration::from_millis(100),
        ..config()
    };
    let nodes = common::cluster(3, Some(7));
    for (i, node) in nodes.iter().enumerate() {
        t.manager(node, &format!("n{}", i + 1), config());
    }
    wait_until("the instance runs", || !t.starts().is_empty());
    // n1 leaves (no hand_over first) and its process stays.
    let cluster = nodes[0].cluster.clone();
    let left = nodes[0].run(move |_| async move { cluster.send(actix_cluster::Leave).await });
    assert!(left.is_ok());
    assert!(
        t.log().contains(&Entry::Stopped("n1".into())),
        "the leave went out before the instance stopped: {:?}",
        t.log()
    );
    wait_until("the instance runs on n2", || t.starts().len() == 2);
    assert_eq!(t.log(), moved("n1", "n2"));
}

#[test]
fn a_system_stopped_without_leave_still_moves_it_old_one_first() {
    let _serial = serial();
    // The one case left on time: no handover, the leave goes out as the
    // System stops; the next host starts once the grace ran out.
    let t = Test::new();
    let config = || SingletonConfig {
        left_grace: Duration::from_millis(200),
        ..config()
    };
    let mut nodes = common::cluster(3, Some(7));
    for (i, node) in nodes.iter().enumerate() {
        t.manager(node, &format!("n{}", i + 1), config());
    }
    wait_until("the instance runs", || !t.starts().is_empty());
    nodes.remove(0).stop_system();
    wait_until("the instance runs on n2", || t.starts().len() == 2);
    assert_eq!(t.log(), moved("n1", "n2"));
}

#[test]
fn after_a_kill_the_next_starts_only_after_the_down() {
    let _serial = serial();
    let t = Test::new();
    let (mut nodes, _handles) = three(&t);
    t.observe_downs(&nodes[1], "n2");
    nodes.remove(0).kill();
    wait_until("the instance runs on n2", || t.starts().len() == 2);
    let log = t.log();
    let down = log
        .iter()
        .position(|e| {
            *e == Entry::Down {
                observer: "n2".into(),
                member: "n1".into(),
            }
        })
        .expect("n2 saw n1 down");
    let started = log
        .iter()
        .position(|e| *e == Entry::Started("n2".into()))
        .expect("n2 started it");
    assert!(down < started, "started before the down: {log:?}");
}

fn proxy(node: &Node, handle: &SingletonHandle) -> SingletonProxy<Work> {
    let handle = handle.clone();
    node.run(move |_| async move { handle.proxy::<Work>() })
}

fn tell_all(node: &Node, proxy: &SingletonProxy<Work>, numbers: std::ops::Range<u64>) {
    let proxy = proxy.clone();
    node.run(move |_| async move {
        for n in numbers {
            proxy.tell(Work(n));
            if n % 20 == 0 {
                // Let the handover interleave with the sending.
                actix_rt::task::yield_now().await;
            }
        }
    });
}

fn stats(node: &Node, proxy: &SingletonProxy<Work>) -> ProxyStats {
    let proxy = proxy.clone();
    node.run(move |_| async move { proxy.stats() })
}

#[test]
fn the_proxy_loses_nothing_during_a_handover_and_keeps_the_order() {
    let _serial = serial();
    let t = Test::new();
    let (mut nodes, handles) = three(&t);
    let p3 = proxy(&nodes[2], &handles[2]);
    tell_all(&nodes[2], &p3, 0..200);
    let h1 = handles[0].clone();
    std::thread::scope(|s| {
        s.spawn(|| nodes[0].run(move |_| async move { h1.hand_over().await }));
        tell_all(&nodes[2], &p3, 200..1000);
    });
    nodes.remove(0).stop();
    tell_all(&nodes[1], &p3, 1000..1100);
    wait_until("every message arrived", || {
        t.received.lock().unwrap().len() >= 1100
    });
    let received = t.received.lock().unwrap().clone();
    let numbers: Vec<u64> = received.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        numbers,
        (0..1100).collect::<Vec<_>>(),
        "all, once, in order"
    );
    assert!(received.iter().any(|(node, _)| node == "n2"));
    let s = stats(&nodes[1], &p3);
    assert_eq!((s.dropped, s.refused, s.buffered), (0, 0, 0));
}

#[test]
fn the_buffer_drops_the_oldest_and_counts_then_forwards_in_order() {
    let _serial = serial();
    let t = Test::new();
    let nodes = common::cluster(2, Some(7));
    // n1 is the oldest but runs no manager yet: nothing runs the instance.
    let config = || config().with_buffer(5);
    let h2 = t.manager(&nodes[1], "n2", config());
    let p2 = proxy(&nodes[1], &h2);
    tell_all(&nodes[1], &p2, 0..8);
    let s = stats(&nodes[1], &p2);
    assert_eq!((s.buffered, s.dropped, s.forwarded), (5, 3, 0));
    assert!(t.starts().is_empty());
    // n1's manager starts it: the buffer goes to it, in order.
    t.manager(&nodes[0], "n1", config());
    wait_until("the buffer arrived", || {
        t.received.lock().unwrap().len() >= 5
    });
    let numbers: Vec<u64> = t.received.lock().unwrap().iter().map(|(_, n)| *n).collect();
    assert_eq!(numbers, vec![3, 4, 5, 6, 7]);
    assert_eq!(t.starts(), vec!["n1".to_owned()]);
    let s = stats(&nodes[1], &p2);
    assert_eq!((s.buffered, s.dropped, s.forwarded), (0, 3, 5));
}

#[test]
fn a_member_that_loses_the_downing_decision_stops_its_instance() {
    let _serial = serial();
    let t = Test::new();
    let (mut nodes, handles) = three(&t);
    t.observe_downs(&nodes[0], "n1");
    // n1 is left alone, a minority of one: it steps down, then fences
    // itself (keep-majority), and never runs the instance again.
    nodes.remove(2).kill();
    nodes.remove(1).kill();
    wait_until("n1 fenced itself", || {
        t.log().contains(&Entry::Fenced("n1".into()))
    });
    let log = t.log();
    let stopped = log.iter().position(|e| *e == Entry::Stopped("n1".into()));
    let fenced = log.iter().position(|e| *e == Entry::Fenced("n1".into()));
    assert!(
        stopped.is_some() && stopped < fenced,
        "stopped before the fence: {log:?}"
    );
    let h = handles[0].clone();
    let status = nodes[0].run(move |_| async move { h.status().await });
    assert!(!status.here);
    assert_eq!(t.starts(), vec!["n1".to_owned()]);
}

#[test]
fn an_instance_that_stops_by_itself_is_started_again_on_its_host() {
    let _serial = serial();
    let t = Test::new();
    let (nodes, _handles) = three(&t);
    let addr = t.last.lock().unwrap().clone().expect("the instance");
    // Not through the manager: the instance just stops.
    nodes[0].run(move |_| async move { addr.do_send(StopSingleton) });
    wait_until("it started again", || t.starts().len() == 2);
    assert_eq!(
        t.log(),
        vec![
            Entry::Started("n1".into()),
            Entry::Stopped("n1".into()),
            Entry::Started("n1".into()),
        ]
    );
}
