//! Metrics through the [`metrics`] facade (cargo feature `metrics`): the
//! `Remote` actor publishes its counters and gauges every second; each
//! answered ask records its latency. Names follow the Prometheus conventions
//! (`actix_cluster_remote_...`); `docs/REMOTE.md` lists every one.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, Unit};

use crate::stats::RemoteStats;

/// Registers the descriptions (once, at start).
pub(crate) fn describe() {
    describe_counter!(
        "actix_cluster_remote_messages_total",
        "Envelopes written (direction=sent) or read (direction=received)"
    );
    describe_counter!(
        "actix_cluster_remote_bytes_total",
        Unit::Bytes,
        "Bytes of sealed frames written or read, length prefixes included"
    );
    describe_counter!(
        "actix_cluster_remote_dropped_total",
        "Messages dropped, by reason (queue_full, oversize, undeliverable, stale_member, refused_frame, late_reply, reply_lost)"
    );
    describe_counter!(
        "actix_cluster_remote_connections_total",
        "Connections that completed (result=opened) or failed (result=refused) their handshake"
    );
    describe_gauge!(
        "actix_cluster_remote_queue_depth",
        "Envelopes waiting in the outbound lanes, all members"
    );
    describe_gauge!("actix_cluster_remote_peers", "Members with a remote link");
    describe_gauge!(
        "actix_cluster_remote_watches",
        "Watches this member holds (side=watching) and of its actors (side=watched)"
    );
    describe_histogram!(
        "actix_cluster_remote_ask_seconds",
        Unit::Seconds,
        "Time from an ask to its answer (answered asks only)"
    );
}

/// What the actor hands over every second besides the counters.
pub(crate) struct Gauges {
    pub(crate) queue_depth: usize,
    pub(crate) peers: usize,
    pub(crate) watching: usize,
    pub(crate) watched: usize,
}

/// Publishes one tick.
pub(crate) fn publish(s: &RemoteStats, g: &Gauges) {
    let dir = |d: &'static str| [("direction", d)];
    counter!("actix_cluster_remote_messages_total", &dir("sent")).absolute(s.sent_messages);
    counter!("actix_cluster_remote_messages_total", &dir("received")).absolute(s.received_messages);
    counter!("actix_cluster_remote_bytes_total", &dir("sent")).absolute(s.sent_bytes);
    counter!("actix_cluster_remote_bytes_total", &dir("received")).absolute(s.received_bytes);
    for (reason, v) in [
        ("queue_full", s.dropped_queue_full),
        ("oversize", s.dropped_oversize),
        ("undeliverable", s.dropped_undeliverable),
        ("stale_member", s.dropped_stale_member),
        ("refused_frame", s.frames_refused),
        ("late_reply", s.late_replies),
        ("reply_lost", s.replies_lost),
    ] {
        counter!("actix_cluster_remote_dropped_total", "reason" => reason).absolute(v);
    }
    counter!("actix_cluster_remote_connections_total", "result" => "opened")
        .absolute(s.connections_opened);
    counter!("actix_cluster_remote_connections_total", "result" => "refused")
        .absolute(s.handshakes_refused);
    gauge!("actix_cluster_remote_queue_depth").set(g.queue_depth as f64);
    gauge!("actix_cluster_remote_peers").set(g.peers as f64);
    gauge!("actix_cluster_remote_watches", "side" => "watching").set(g.watching as f64);
    gauge!("actix_cluster_remote_watches", "side" => "watched").set(g.watched as f64);
}

/// Records one answered ask.
pub(crate) fn ask_answered(elapsed: std::time::Duration) {
    metrics::histogram!("actix_cluster_remote_ask_seconds").record(elapsed.as_secs_f64());
}
