//! Discovery against a stock etcd (the harness passes no gRPC keep-alive
//! flags): a quiet node keeps its watch and its lease keep-alive streams.
//!
//! etcd closes a connection whose client pings more often than its
//! `--grpc-keepalive-min-time` (5 s by default) or pings with no stream open
//! (`GOAWAY too_many_pings`); the watch and the lease stream on it break, and
//! discovery restarts its children. Recovering hides it, so this test asserts
//! that no child restarted. The test command runs it against etcd 3.4 and,
//! with `ACTIX_CLUSTER_ETCD_BIN`, against etcd 3.5.

use std::time::Duration;

use actix_cluster_tests::etcd::{etcd_version, fresh_prefix, Etcd};
use actix_cluster_tests::node::{Node, NodeSpec};
use serde_json::Value;

const NODE: &str = env!("CARGO_BIN_EXE_etcd-node");
const LONG: Duration = Duration::from_secs(30);
/// The production lease TTL (`DiscoveryConfig`'s default), in seconds.
const TTL: u64 = 10;
/// The quiet run, at least: 30 s, and past the first progress request of the
/// quiet watch (after three TTLs) and its answer.
const QUIET_SECS: u64 = 3 * TTL + 10;
const QUIET: Duration = Duration::from_secs(QUIET_SECS);
/// Lease renewals to wait for: one every TTL/3, the first at once, so this
/// many span the quiet run.
const RENEWALS: u64 = 3 * QUIET_SECS / TTL + 1;

fn restarts(s: &Value) -> (u64, u64) {
    (
        s["seed_watcher_restarts"].as_u64().unwrap_or(u64::MAX),
        s["lease_keeper_restarts"].as_u64().unwrap_or(u64::MAX),
    )
}

/// A node with discovery's production timing (TTL, timeouts, keep-alive
/// interval all default), so it pings etcd exactly as a user's node does.
fn production_spec(etcd: &Etcd, prefix: &str, name: &str) -> NodeSpec {
    let mut spec = NodeSpec::new(NODE, name, &etcd.endpoints(), prefix);
    spec.env.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "ETCD_LEASE_TTL" | "ETCD_CONNECT_TIMEOUT_MS" | "ETCD_REQUEST_TIMEOUT_MS"
        )
    });
    spec
}

#[test]
fn a_quiet_node_keeps_its_etcd_streams_for_40_s() {
    let etcd = Etcd::start();
    let version = etcd_version();
    let prefix = fresh_prefix("quiet");
    let mut node = Node::spawn(&production_spec(&etcd, &prefix, "quiet"));
    node.wait_status(LONG, |s| s["registered"] == true && s["member_up"] == true);
    // The lease renewals are the clock; a restart ends the wait early.
    let s = node.wait_status(QUIET + LONG, |s| {
        s["lease_renewals"].as_u64().unwrap_or(0) >= RENEWALS || restarts(s) != (0, 0)
    });
    let (watcher, keeper) = restarts(&s);
    eprintln!(
        "etcd {version}: after {:.1} s, seed watcher restarts {watcher}, lease keeper restarts {keeper}, \
         lease renewals {}, last error {}",
        node.age().as_secs_f64(),
        s["lease_renewals"],
        s["last_error"]
    );
    assert_eq!(
        (watcher, keeper),
        (0, 0),
        "etcd {version}: discovery children restarted (seed watcher, lease keeper); last error {}; log {}",
        s["last_error"],
        node.log.display()
    );
    assert!(node.age() >= QUIET, "the quiet run lasted {:?}", node.age());

    // The watch still delivers: a second node registers and joins. Its Up
    // comes over the cluster (it tells the member that let it in), which may
    // be before its registration comes over the watch, so each is waited on.
    let second = Node::spawn(&production_spec(&etcd, &prefix, "second"));
    assert!(
        node.wait_event("up", &second.id, LONG),
        "etcd {version}: the quiet node never saw the second one Up (log {})",
        node.log.display()
    );
    let s = node.wait_status(LONG, |s| {
        s["registered_members"] == 2 || restarts(s) != (0, 0)
    });
    assert_eq!(restarts(&s), (0, 0), "etcd {version}: {s}");
    assert_eq!(s["registered_members"], 2, "etcd {version}: {s}");
}
