//! Routers between loopback nodes (each a thread with its own actix
//! `System`, `Cluster` and `Remote`, like a process).

#[path = "../../actix-cluster-remote/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use actix_cluster_remote::ServiceKey;
use actix_cluster_tools::{RouteError, RouteKey, Router, RouterConfig, Routing};
use common::*;
use serde::{Deserialize, Serialize};

/// A job with a key, tagged with the round it belongs to.
#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
struct Job {
    round: u32,
    key: u64,
}
actix_cluster_remote::remote_message!(Job, name = "tools.test.Job", version = 1);

impl RouteKey for Job {
    fn route_key(&self) -> u64 {
        self.key
    }
}

const WORK: ServiceKey<Job> = ServiceKey::new("work");

/// (round, key) of every job a worker handled.
type Done = Arc<Mutex<Vec<(u32, u64)>>>;

struct Worker(Done);

impl Actor for Worker {
    type Context = Context<Self>;
}

impl Handler<Job> for Worker {
    type Result = ();

    fn handle(&mut self, job: Job, _: &mut Context<Self>) {
        self.0.lock().unwrap().push((job.round, job.key));
    }
}

/// Serves and registers a worker on every node; answers what each handles.
fn workers(nodes: &[Node]) -> Vec<Done> {
    let done: Vec<Done> = nodes.iter().map(|_| Done::default()).collect();
    for (node, d) in nodes.iter().zip(&done) {
        let d = d.clone();
        node.run(move |r| async move {
            let w = r.serve::<Job, _>(Worker(d).start());
            r.register(&WORK, &w);
        });
    }
    done
}

fn router(node: &Node, routing: Routing) -> Router<Job> {
    let config = RouterConfig {
        routing,
        role: None,
    };
    node.run(move |r| async move { Router::start(&r, WORK, config) })
}

fn routees(node: &Node, router: &Router<Job>) -> usize {
    let r = router.clone();
    node.run(move |_| async move { r.routees().len() })
}

/// Sends jobs `keys` of `round` through the router, keyed or not.
fn send(node: &Node, router: &Router<Job>, round: u32, keys: std::ops::Range<u64>, keyed: bool) {
    let r = router.clone();
    node.run(move |_| async move {
        for key in keys {
            let job = Job { round, key };
            let sent = if keyed {
                r.tell_keyed(job)
            } else {
                r.tell(job)
            };
            sent.expect("a routee took it");
        }
    });
}

fn count(done: &Done, round: u32) -> usize {
    done.lock()
        .unwrap()
        .iter()
        .filter(|(r, _)| *r == round)
        .count()
}

fn wait_for_round(done: &[Done], round: u32, n: usize) -> Vec<usize> {
    wait_until("every job of the round", || {
        done.iter().map(|d| count(d, round)).sum::<usize>() == n
    });
    done.iter().map(|d| count(d, round)).collect()
}

#[test]
fn round_robin_spreads_exactly_and_random_about_evenly() {
    let _g = serial();
    let nodes = cluster(3, Some(5));
    let done = workers(&nodes);
    let rr = router(&nodes[0], Routing::RoundRobin);
    let random = router(&nodes[1], Routing::Random);
    wait_until("three routees", || routees(&nodes[0], &rr) == 3);
    wait_until("three routees", || routees(&nodes[1], &random) == 3);
    send(&nodes[0], &rr, 1, 0..300, false);
    assert_eq!(wait_for_round(&done, 1, 300), vec![100, 100, 100]);
    // 3,000 uniform picks: 1,000 each expected, standard deviation 26; a
    // bound of 300 either side is more than 11 of them.
    send(&nodes[1], &random, 2, 0..3000, false);
    for c in wait_for_round(&done, 2, 3000) {
        assert!((700..=1300).contains(&c), "random spread {c}");
    }
    // A consistent-hash router wants keys.
    let keyed = router(&nodes[0], Routing::ConsistentHash);
    wait_until("three routees", || routees(&nodes[0], &keyed) == 3);
    let k = keyed.clone();
    let refused = nodes[0].run(move |_| async move { k.tell(Job { round: 0, key: 0 }) });
    assert_eq!(refused, Err(RouteError::NeedsKey));
}

#[test]
fn a_killed_member_is_skipped_at_once() {
    let _g = serial();
    let mut nodes = cluster(3, Some(5));
    let done = workers(&nodes);
    let rr = router(&nodes[0], Routing::RoundRobin);
    wait_until("three routees", || routees(&nodes[0], &rr) == 3);
    nodes.pop().expect("n3").kill();
    // Once the router has seen n3 unreachable (or down), nothing goes to
    // it: every job reaches n1 or n2, none is lost on the way to n3.
    wait_until("n3 no longer routed to", || routees(&nodes[0], &rr) == 2);
    send(&nodes[0], &rr, 1, 0..300, false);
    assert_eq!(wait_for_round(&done[..2], 1, 300), vec![150, 150]);
}

/// Which node handled each key of a round.
fn placement(done: &[Done], round: u32) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for (i, d) in done.iter().enumerate() {
        for (r, key) in d.lock().unwrap().iter() {
            if *r == round {
                assert!(out.insert(*key, i).is_none(), "key {key} handled twice");
            }
        }
    }
    out
}

#[test]
fn consistent_hashing_moves_only_the_keys_of_a_member_that_left() {
    let _g = serial();
    let mut nodes = cluster(3, Some(5));
    let done = workers(&nodes);
    let keyed = router(&nodes[0], Routing::ConsistentHash);
    wait_until("three routees", || routees(&nodes[0], &keyed) == 3);
    send(&nodes[0], &keyed, 1, 0..300, true);
    wait_for_round(&done, 1, 300);
    let first = placement(&done, 1);
    // Nothing changed: every key goes where it went.
    send(&nodes[0], &keyed, 2, 0..300, true);
    wait_for_round(&done, 2, 300);
    assert_eq!(placement(&done, 2), first);
    // Each node holds a share of the keys.
    for i in 0..3 {
        assert!(first.values().filter(|n| **n == i).count() > 30);
    }
    // n3 leaves: only its keys move.
    nodes.pop().expect("n3").stop();
    wait_until("two routees", || routees(&nodes[0], &keyed) == 2);
    send(&nodes[0], &keyed, 3, 0..300, true);
    wait_for_round(&done[..2], 3, 300);
    let after = placement(&done[..2], 3);
    for (key, node) in &first {
        if *node == 2 {
            assert!(after[key] < 2);
        } else {
            assert_eq!(after[key], *node, "key {key} moved without need");
        }
    }
}

#[test]
fn a_routee_that_cannot_take_a_tell_passes_it_to_the_next() {
    let _g = serial();
    // n1's lanes hold 16 envelopes: n1's sending task does not yield, so
    // its lane to n2 fills after 16 and stays full.
    let n1 = Node::start_with("n1", Some(5), &[], |c| actix_cluster_remote::RemoteConfig {
        outbound_queue: 16,
        ..c
    });
    let n2 = Node::start("n2", Some(5), &[n1.addr]);
    let nodes = [n1, n2];
    for node in &nodes {
        wait_until("both Up with a remote port", || node.remote_members() == 2);
    }
    let done = workers(&nodes);
    let rr = router(&nodes[0], Routing::RoundRobin);
    wait_until("two routees", || routees(&nodes[0], &rr) == 2);
    let before = nodes[0].remote.stats().dropped_queue_full;
    // Every tell is taken: the ones n2's full lane refuses go to n1.
    send(&nodes[0], &rr, 1, 0..200, false);
    let counts = wait_for_round(&done, 1, 200);
    assert_eq!(counts, vec![200 - 16, 16]);
    assert!(nodes[0].remote.stats().dropped_queue_full > before);
}

#[test]
fn asks_go_through_the_router_too() {
    let _g = serial();
    let nodes = cluster(2, Some(5));
    let done = workers(&nodes);
    let rr = router(&nodes[0], Routing::RoundRobin);
    let keyed = router(&nodes[0], Routing::ConsistentHash);
    wait_until("two routees", || routees(&nodes[0], &rr) == 2);
    wait_until("two routees", || routees(&nodes[0], &keyed) == 2);
    let (r, k) = (rr.clone(), keyed.clone());
    nodes[0].run(move |_| async move {
        for key in 0..10 {
            r.ask(Job { round: 1, key }).await.expect("answered");
            k.ask_keyed(Job { round: 2, key }).await.expect("answered");
            k.tell_keyed(Job { round: 3, key }).expect("taken");
        }
    });
    assert_eq!(wait_for_round(&done, 1, 10), vec![5, 5]);
    wait_for_round(&done, 3, 10);
    // An ask by key meets the routee a tell by the same key meets.
    assert_eq!(placement(&done, 2), placement(&done, 3));
}

#[test]
fn a_role_filter_routes_only_to_members_with_the_role() {
    let _g = serial();
    let n1 = Node::start_with_roles("n1", Some(5), &[], &["frontend"]);
    let seed = [n1.addr];
    let n2 = Node::start_with_roles("n2", Some(5), &seed, &["backend"]);
    let n3 = Node::start_with_roles("n3", Some(5), &seed, &["backend", "frontend"]);
    let nodes = [n1, n2, n3];
    for node in &nodes {
        wait_until("three Up with a remote port", || node.remote_members() == 3);
    }
    let done = workers(&nodes);
    let config = RouterConfig {
        routing: Routing::RoundRobin,
        role: Some("backend".into()),
    };
    let backends = nodes[0].run(move |r| async move { Router::start(&r, WORK, config) });
    let all = router(&nodes[0], Routing::RoundRobin);
    wait_until("three routees", || routees(&nodes[0], &all) == 3);
    wait_until("two backends", || routees(&nodes[0], &backends) == 2);
    send(&nodes[0], &backends, 1, 0..100, false);
    assert_eq!(wait_for_round(&done, 1, 100), vec![0, 50, 50]);
}
