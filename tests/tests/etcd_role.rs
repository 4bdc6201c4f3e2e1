//! The etcd role the README's "Security" section documents: a user whose role
//! may read and write only its cluster's prefix runs a node (registers, comes
//! Up); with the same credentials, a node under another prefix is refused.

use std::time::Duration;

use actix_cluster_tests::etcd::{fresh_prefix, Etcd};
use actix_cluster_tests::node::{wait_until, Node, NodeSpec};

const NODE: &str = env!("CARGO_BIN_EXE_etcd-node");
const LONG: Duration = Duration::from_secs(30);

#[test]
fn a_user_limited_to_its_prefix_runs_a_node() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("role");
    let other = fresh_prefix("other");
    let root = "--user=root:rootpw";
    etcd.ctl(&["user", "add", "root:rootpw"]).unwrap();
    etcd.ctl(&["auth", "enable"]).unwrap();
    // The role of the README: read and write under `<prefix>/`, nothing else.
    let range = format!("{prefix}/");
    for args in [
        vec![root, "role", "add", "actix-cluster-demo"],
        vec![
            root,
            "role",
            "grant-permission",
            "actix-cluster-demo",
            "--prefix=true",
            "readwrite",
            &range,
        ],
        vec![root, "user", "add", "demo:demopw"],
        vec![root, "user", "grant-role", "demo", "actix-cluster-demo"],
    ] {
        etcd.ctl(&args)
            .unwrap_or_else(|e| panic!("etcdctl {args:?}: {e}"));
    }
    let spec = |prefix: &str, name: &str| {
        NodeSpec::new(NODE, name, &etcd.endpoints(), prefix)
            .with_env("ETCD_USER", "demo")
            .with_env("ETCD_PASSWORD", "demopw")
    };
    let node = Node::spawn(&spec(&prefix, "r0"));
    assert!(
        node.wait_event("up", &node.id, LONG),
        "log {}",
        node.log.display()
    );
    let key = format!("{prefix}/etcd-test/members/{}", node.id);
    wait_until(LONG, "registered with the limited user", || {
        etcd.ctl(&[root, "get", "--prefix", "--keys-only", &range])
            .is_ok_and(|out| out.contains(&key))
    });
    // The same user under another prefix: refused, it keeps trying.
    let mut outside = Node::spawn(&spec(&other, "r1"));
    let st = outside.wait_status(LONG, |s| s["restarts"].as_u64() >= Some(2));
    assert_eq!(st["registered"], false, "{st}");
    assert!(
        st["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("permission denied"),
        "the error says why: {st}"
    );
}
