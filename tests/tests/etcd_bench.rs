//! Measures the time from a node's process start to its own `MemberUp`, when it
//! forms a new cluster and when it joins an existing one, against a real etcd.
//! Ignored by default (figures, not assertions):
//!
//! ```text
//! cargo test --release -p actix-cluster-tests --test etcd_bench -- --ignored --nocapture
//! ```

use std::time::Duration;

use actix_cluster_tests::etcd::{fresh_prefix, Etcd};
use actix_cluster_tests::node::{Node, NodeSpec};

const NODE: &str = env!("CARGO_BIN_EXE_etcd-node");
const REPS: usize = 15;

fn up_ms(node: &Node) -> u64 {
    let line = node
        .wait_for(Duration::from_secs(30), |v| v["kind"] == "up_self")
        .unwrap_or_else(|| panic!("{} never Up (log {})", node.name, node.log.display()));
    line["ms"].as_u64().expect("ms")
}

fn summary(what: &str, mut ms: Vec<u64>) {
    ms.sort();
    let median = ms[ms.len() / 2];
    eprintln!(
        "{what}: median {median} ms, min {} ms, max {} ms over {} runs ({:?})",
        ms[0],
        ms[ms.len() - 1],
        ms.len(),
        ms
    );
}

#[test]
#[ignore = "benchmark: prints figures"]
fn time_from_start_to_own_member_up() {
    let etcd = Etcd::start();
    eprintln!("etcd backend: {:?}", etcd.backend());
    let mut form = Vec::new();
    let mut join = Vec::new();
    for rep in 0..REPS {
        let prefix = fresh_prefix(&format!("bench{rep}"));
        let spec = |name: &str| {
            NodeSpec::new(NODE, name, &etcd.endpoints(), &prefix).with_env("ETCD_LEASE_TTL", "10")
        };
        // Forming: nobody registered under this prefix.
        let first = Node::spawn(&spec("former"));
        form.push(up_ms(&first));
        // Joining: the former is Up and marked Up in etcd.
        let mut first = first;
        first.wait_status(Duration::from_secs(30), |s| s["member_up"] == true);
        let joiner = Node::spawn(&spec("joiner"));
        let ms = up_ms(&joiner);
        if ms > 500 {
            eprintln!("slow join ({ms} ms): log {}", joiner.log.display());
        }
        join.push(ms);
    }
    summary("form a new cluster (start -> own MemberUp)", form);
    summary("join an existing cluster (start -> own MemberUp)", join);
}
