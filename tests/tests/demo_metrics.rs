//! `GET /metrics` of three real cluster-monitor processes against a real etcd:
//! the text parses (prometheus-parse), every documented family is there with
//! its type, and the values agree with the cluster: three members Up, probes
//! acked with round-trip times, traffic both ways on UDP, etcd reachable and
//! the lease renewed; a garbage datagram shows up as a decode error.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use actix_cluster_tests::demo::{members, wait_for, with_status, Monitor, TempDir};
use actix_cluster_tests::etcd::{fresh_cluster_name, Etcd};
use actix_cluster_tests::metrics::{histogram_count, kind, samples, scrape, sum};

const T: Duration = Duration::from_secs(30);

/// Every family the README documents, with its type.
const FAMILIES: &[(&str, &str)] = &[
    ("actix_cluster_members", "gauge"),
    ("actix_cluster_subscribers", "gauge"),
    ("actix_cluster_subscriber_events_dropped_total", "counter"),
    ("actix_cluster_pending_timers", "gauge"),
    ("actix_cluster_probes_total", "counter"),
    ("actix_cluster_probes_failed_total", "counter"),
    ("actix_cluster_suspicions_raised_total", "counter"),
    ("actix_cluster_suspicions_refuted_total", "counter"),
    ("actix_cluster_downing_decisions_total", "counter"),
    ("actix_cluster_roll_call_pings_total", "counter"),
    ("actix_cluster_decode_errors_total", "counter"),
    ("actix_cluster_sent_messages_total", "counter"),
    ("actix_cluster_received_messages_total", "counter"),
    ("actix_cluster_sent_bytes_total", "counter"),
    ("actix_cluster_received_bytes_total", "counter"),
    ("actix_cluster_send_failures_total", "counter"),
    ("actix_cluster_rejected_packets_total", "counter"),
    ("actix_cluster_leader_changes_total", "counter"),
    ("actix_cluster_rebirths_total", "counter"),
    ("actix_cluster_member_events_total", "counter"),
    ("actix_cluster_probe_rtt_seconds", "histogram"),
    ("actix_cluster_handling_seconds", "gauge"),
    ("actix_cluster_etcd_reachable", "gauge"),
    ("actix_cluster_etcd_registered", "gauge"),
    ("actix_cluster_etcd_registered_members", "gauge"),
    ("actix_cluster_etcd_seeds", "gauge"),
    ("actix_cluster_etcd_ignored_keys", "gauge"),
    ("actix_cluster_etcd_lease_renewals_total", "counter"),
    ("actix_cluster_etcd_child_restarts_total", "counter"),
    ("actix_cluster_etcd_compacted_relists_total", "counter"),
    ("cluster_monitor_event_streams", "gauge"),
    ("cluster_monitor_event_streams_closed_slow_total", "counter"),
];

#[test]
fn metrics_of_a_three_process_cluster() {
    let etcd = Etcd::start();
    let logs = TempDir::new("metrics");
    let cluster = fresh_cluster_name("metrics");
    let endpoints = etcd.endpoints();
    let mut nodes = vec![Monitor::start(
        "frontend", "frontend", &cluster, &endpoints, &logs.0,
    )];
    for i in 1..=2 {
        nodes.push(Monitor::start(
            "backend",
            &format!("backend-{i}"),
            &cluster,
            &endpoints,
            &logs.0,
        ));
    }
    for node in &mut nodes {
        node.wait_ready(T);
    }
    for node in &nodes {
        wait_for(&format!("{} to see 3 members Up", node.name), T, || {
            let api = members(node.http)?;
            let up = with_status(&api, "up", None).len();
            (up == 3).then_some(()).ok_or(api.to_string())
        });
    }

    for node in &nodes {
        // Wait until the periodic publication has caught up with the cluster
        // (it runs every second): three members Up and reachable, some probes
        // acked, the lease renewed once.
        let s = wait_for(
            &format!("{}'s /metrics to show the cluster", node.name),
            T,
            || {
                let s = scrape(node.http)?;
                let up = sum(
                    &s,
                    "actix_cluster_members",
                    &[("status", "up"), ("reachable", "true")],
                );
                let rtts = histogram_count(&s, "actix_cluster_probe_rtt_seconds");
                let renewals = sum(&s, "actix_cluster_etcd_lease_renewals_total", &[]);
                match (up, rtts, renewals) {
                    (Some(up), Some(rtts), Some(renewals))
                        if up == 3.0 && rtts > 0.0 && renewals > 0.0 =>
                    {
                        Ok(s)
                    }
                    other => Err(format!("members up, probe RTT count, renewals: {other:?}")),
                }
            },
        );
        let who = &node.name;
        for (family, ty) in FAMILIES {
            let found = samples(&s, family, &[]);
            assert!(!found.is_empty(), "{who}: family {family} missing");
            for x in found {
                assert_eq!(kind(&x.value), *ty, "{who}: {family} {:?}", x.labels);
            }
            assert!(s.docs.contains_key(*family), "{who}: {family} has no HELP");
        }
        // Members by status and reachability: every combination is there.
        for status in ["joining", "up", "leaving", "down"] {
            for reachable in ["true", "false"] {
                let labels = [("status", status), ("reachable", reachable)];
                let n = sum(&s, "actix_cluster_members", &labels);
                let want = if (status, reachable) == ("up", "true") {
                    3.0
                } else {
                    0.0
                };
                assert_eq!(n, Some(want), "{who}: members {labels:?}");
            }
        }
        let one = |name: &str, labels: &[(&str, &str)]| {
            sum(&s, name, labels).unwrap_or_else(|| panic!("{who}: {name} {labels:?} missing"))
        };
        assert!(one("actix_cluster_probes_total", &[]) > 0.0, "{who}");
        assert!(
            one("actix_cluster_sent_messages_total", &[("channel", "udp")]) > 0.0,
            "{who}"
        );
        assert!(
            one(
                "actix_cluster_received_messages_total",
                &[("channel", "udp")]
            ) > 0.0,
            "{who}"
        );
        assert!(
            one("actix_cluster_sent_bytes_total", &[("channel", "udp")]) > 0.0,
            "{who}"
        );
        assert!(
            one("actix_cluster_received_bytes_total", &[("channel", "udp")]) > 0.0,
            "{who}"
        );
        // Bytes are at least the messages' count (no datagram is empty).
        assert!(
            one("actix_cluster_sent_bytes_total", &[("channel", "udp")])
                >= one("actix_cluster_sent_messages_total", &[("channel", "udp")]),
            "{who}"
        );
        // Joining took at least one stream frame, in one direction or the other.
        assert!(
            one("actix_cluster_sent_messages_total", &[("channel", "tcp")])
                + one(
                    "actix_cluster_received_messages_total",
                    &[("channel", "tcp")]
                )
                > 0.0,
            "{who}"
        );
        assert!(
            one("actix_cluster_leader_changes_total", &[]) >= 1.0,
            "{who}"
        );
        let slowest = one(
            "actix_cluster_handling_seconds",
            &[("channel", "udp"), ("quantile", "1")],
        );
        assert!(slowest > 0.0, "{who}: datagrams were handled");
        assert!(
            one("actix_cluster_member_events_total", &[("event", "up")]) >= 3.0,
            "{who}"
        );
        assert_eq!(one("actix_cluster_decode_errors_total", &[]), 0.0, "{who}");
        assert_eq!(one("actix_cluster_rebirths_total", &[]), 0.0, "{who}");
        for outcome in ["survived", "fenced", "arbitrated"] {
            let labels = [("strategy", "lease-majority"), ("outcome", outcome)];
            assert_eq!(
                one("actix_cluster_downing_decisions_total", &labels),
                0.0,
                "{who}"
            );
        }
        for reason in [
            "malformed",
            "wrong_cluster",
            "version",
            "unauthenticated",
            "plaintext",
            "source",
            "members_full",
            "too_many_records",
            "oversized_datagram",
            "oversized_frame",
            "frame_read_error",
            "connection_limit",
        ] {
            one(
                "actix_cluster_rejected_packets_total",
                &[("reason", reason)],
            );
        }
        assert_eq!(one("actix_cluster_etcd_reachable", &[]), 1.0, "{who}");
        assert_eq!(one("actix_cluster_etcd_registered", &[]), 1.0, "{who}");
        for child in ["lease_keeper", "seed_watcher"] {
            let restarts = one(
                "actix_cluster_etcd_child_restarts_total",
                &[("child", child)],
            );
            assert_eq!(restarts, 0.0, "{who}: {child}");
        }
        assert!(
            one("actix_cluster_subscribers", &[]) >= 2.0,
            "{who}: listener and discovery"
        );
        let dropped = one("actix_cluster_subscriber_events_dropped_total", &[]);
        assert_eq!(dropped, 0.0, "{who}: no subscriber lags");
    }

    // A datagram that is not ours: one more decode error and one more
    // malformed rejection on that node, nothing else changes.
    let target = &nodes[1];
    let api = members(target.http).unwrap();
    let gossip: SocketAddr = api["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == api["self"])
        .and_then(|m| m["address"].as_str())
        .and_then(|a| a.parse().ok())
        .expect("the node's own gossip address");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"certainly not a cluster message", gossip)
        .unwrap();
    wait_for("the garbage datagram to be counted", T, || {
        let s = scrape(target.http)?;
        let errors = sum(&s, "actix_cluster_decode_errors_total", &[]);
        let malformed = sum(
            &s,
            "actix_cluster_rejected_packets_total",
            &[("reason", "malformed")],
        );
        match (errors, malformed) {
            (Some(e), Some(m)) if e >= 1.0 && m >= 1.0 => Ok(()),
            other => Err(format!("decode errors, malformed: {other:?}")),
        }
    });
}
