//! The `metrics` feature without the demo: a recorder installed by the
//! application gets the Cluster actor's families from a 2-node loopback
//! cluster, with values that agree with it (two members Up and reachable,
//! probes acked with round-trip times, datagrams both ways). Built only with
//! `--features metrics`.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};

/// A recorder that keeps every value where the test can read it (counters
/// add or take the absolute value, gauges hold the last value, histograms
/// every sample).
#[derive(Clone)]
struct TestRecorder(Arc<Registry<Key, AtomicStorage>>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// One reading: counters and gauges by `name{k=v,...}` (labels sorted), and
/// how many histogram samples were recorded, by the same name.
struct Scrape {
    values: HashMap<String, f64>,
    histograms: HashMap<String, usize>,
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    l.sort();
    format!("{name}{{{}}}", l.join(","))
}

fn name_of(key: &Key) -> String {
    let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
    series(key.name(), &labels)
}

fn scrape(recorder: &TestRecorder) -> Scrape {
    let mut values = HashMap::new();
    for (key, c) in recorder.0.get_counter_handles() {
        values.insert(name_of(&key), c.load(Ordering::SeqCst) as f64);
    }
    for (key, g) in recorder.0.get_gauge_handles() {
        values.insert(name_of(&key), f64::from_bits(g.load(Ordering::SeqCst)));
    }
    let histograms = recorder
        .0
        .get_histogram_handles()
        .into_iter()
        .map(|(key, h)| (name_of(&key), h.data().len()))
        .collect();
    Scrape { values, histograms }
}

#[test]
fn a_recorder_gets_the_cluster_families() {
    let _serial = serial();
    let recorder = TestRecorder(Arc::new(Registry::atomic()));
    metrics::set_global_recorder(recorder.clone()).expect("the first recorder of this binary");

    let nodes = cluster("metrics", 2);
    let ids: Vec<_> = nodes.iter().map(Node::id).collect();
    wait_all_up(&nodes, &ids);

    let up = series(
        "actix_cluster_members",
        &[("status", "up"), ("reachable", "true")],
    );
    let rtt = series("actix_cluster_probe_rtt_seconds", &[]);
    let deadline = Instant::now() + DEADLINE;
    let s = loop {
        let s = scrape(&recorder);
        let ready = s.values.get(&up) == Some(&2.0)
            && s.histograms.get(&rtt).is_some_and(|n| *n > 0)
            && s.values
                .get(&series("actix_cluster_probes_total", &[]))
                .is_some_and(|v| *v > 0.0);
        if ready {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed the cluster: {:?} {:?}",
            s.values,
            s.histograms
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let v = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let k = series(name, labels);
        *s.values
            .get(&k)
            .unwrap_or_else(|| panic!("{k} missing: {:?}", s.values))
    };
    for status in ["joining", "leaving", "down"] {
        for reachable in ["true", "false"] {
            let labels = [("status", status), ("reachable", reachable)];
            assert_eq!(v("actix_cluster_members", &labels), 0.0, "{labels:?}");
        }
    }
    assert_eq!(
        v(
            "actix_cluster_members",
            &[("status", "up"), ("reachable", "false")]
        ),
        0.0
    );
    assert!(v("actix_cluster_sent_messages_total", &[("channel", "udp")]) > 0.0);
    assert!(v("actix_cluster_received_bytes_total", &[("channel", "udp")]) > 0.0);
    assert!(v("actix_cluster_leader_changes_total", &[]) >= 1.0);
    assert_eq!(v("actix_cluster_rebirths_total", &[]), 0.0);
    assert_eq!(v("actix_cluster_decode_errors_total", &[]), 0.0);
    // No downing decision in a calm cluster, so no roll call.
    assert_eq!(v("actix_cluster_roll_call_pings_total", &[]), 0.0);
    assert_eq!(
        v(
            "actix_cluster_downing_decisions_total",
            &[("strategy", "keep-majority"), ("outcome", "fenced")]
        ),
        0.0
    );
    assert!(v("actix_cluster_member_events_total", &[("event", "up")]) >= 2.0);
    for n in nodes {
        n.stop();
    }
}
