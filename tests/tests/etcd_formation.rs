//! Forming exactly once: nodes started at the same moment form one cluster.

use std::time::{Duration, Instant};

use actix_cluster_tests::etcd::{fresh_prefix, Etcd};
use actix_cluster_tests::node::{Node, NodeSpec};

const NODE: &str = env!("CARGO_BIN_EXE_etcd-node");

/// Starts `n` nodes at once and checks they form exactly one cluster.
fn form_once(etcd: &Etcd, rep: usize, n: usize) {
    let prefix = fresh_prefix(&format!("form{rep}"));
    let specs: Vec<NodeSpec> = (0..n)
        .map(|i| NodeSpec::new(NODE, &format!("n{i}"), &etcd.endpoints(), &prefix))
        .collect();
    // Spawn from threads so the processes start at (nearly) the same moment.
    let handles: Vec<_> = specs
        .into_iter()
        .map(|s| std::thread::spawn(move || Node::spawn(&s)))
        .collect();
    let mut nodes: Vec<Node> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
    ids.sort();
    for node in &nodes {
        for id in &ids {
            assert!(
                node.wait_event("up", id, Duration::from_secs(30)),
                "rep {rep}: {} never saw {id} up (log {})",
                node.name,
                node.log.display()
            );
        }
    }
    // Exactly one former, and everyone agrees on the member set.
    let mut formers = 0;
    for node in &mut nodes {
        let st = node.status();
        if st["formed"] == true {
            formers += 1;
        }
        assert_eq!(
            node.up_members(),
            ids,
            "rep {rep}: {} sees other members",
            node.name
        );
    }
    assert_eq!(formers, 1, "rep {rep}: exactly one node forms the cluster");
    // Nobody ever saw a member that is not one of ours.
    for node in &nodes {
        for id in node.events("up") {
            assert!(ids.contains(&id), "rep {rep}: unexpected member {id}");
        }
    }
}

#[test]
fn three_nodes_started_at_once_form_one_cluster_20_times() {
    let etcd = Etcd::start();
    let t = Instant::now();
    for rep in 0..20 {
        form_once(&etcd, rep, 3);
    }
    eprintln!("20 formations of 3 nodes in {:?}", t.elapsed());
}
