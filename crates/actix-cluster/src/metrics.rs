//! Metrics through the [`metrics`] facade (cargo feature `metrics`): the
//! `Cluster` actor publishes its counters and gauges every
//! [`INTERVAL`] from its own snapshots ([`ClusterStats`], the member table),
//! and counts some events as they are published. Names follow the Prometheus
//! conventions (`actix_cluster_...`, `_total` for counters, units in the
//! name); `docs/OPERATING.md`, "Metrics", lists every one.
//!
//! Nothing is recorded unless the application installs a recorder (e.g.
//! `metrics-exporter-prometheus`). The series carry no per-instance label:
//! run one `Cluster` per process when you export them.

use std::time::Duration;

use actix_cluster_proto::{DownReason, Event, MemberInfo, Stats as ProtocolStats, Status};
use metrics::Unit;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

use crate::messages::{ClusterStats, TransportStats};

/// How often the snapshots are published.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// The member statuses, as the `status` label spells them.
const STATUSES: [&str; 4] = ["joining", "up", "leaving", "down"];

/// What the periodic publication remembers between ticks.
pub(crate) struct Publisher {
    /// The downing strategy's name (the `strategy` label).
    strategy: String,
    /// `probes_acked` at the last tick: the round-trip times after it are new.
    probes_acked: u64,
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Joining => "joining",
        Status::Up => "up",
        Status::Leaving => "leaving",
        Status::Down(_) => "down",
    }
}

impl Publisher {
    /// Registers every metric with the recorder; the actor then hands the
    /// publisher its snapshots every [`INTERVAL`].
    pub(crate) fn start(strategy: String) -> Self {
        describe();
        // The event counters exist (at 0) before their first event.
        counter!("actix_cluster_leader_changes_total").increment(0);
        counter!("actix_cluster_rebirths_total").increment(0);
        Publisher {
            strategy,
            probes_acked: 0,
        }
    }

    /// Publishes one tick's snapshots: the actor's counters and the member
    /// table.
    pub(crate) fn publish(&mut self, stats: &ClusterStats, members: &[MemberInfo]) {
        publish_members(members);
        gauge!("actix_cluster_subscribers").set(stats.subscribers as f64);
        counter!("actix_cluster_subscriber_events_dropped_total")
            .absolute(stats.subscriber_events_dropped);
        gauge!("actix_cluster_pending_timers").set(stats.pending_timers as f64);
        self.publish_protocol(&stats.protocol);
        publish_traffic(&stats.transport);
        publish_rejections(&stats.protocol, &stats.transport);
        publish_handling(stats);
        self.publish_rtts(&stats.protocol);
    }

    fn publish_protocol(&self, p: &ProtocolStats) {
        counter!("actix_cluster_probes_total").absolute(p.probes_sent);
        counter!("actix_cluster_probes_failed_total").absolute(p.probes_failed);
        counter!("actix_cluster_suspicions_raised_total").absolute(p.suspicions_raised);
        counter!("actix_cluster_suspicions_refuted_total").absolute(p.refutations);
        for (outcome, n) in [
            ("survived", p.downing_survived),
            ("fenced", p.downing_fenced),
            ("arbitrated", p.downing_arbitrated),
        ] {
            counter!("actix_cluster_downing_decisions_total", "strategy" => self.strategy.clone(), "outcome" => outcome)
                .absolute(n);
        }
        counter!("actix_cluster_roll_call_pings_total").absolute(p.roll_call_pings);
        counter!("actix_cluster_decode_errors_total").absolute(p.rejected_malformed);
    }

    /// The round-trip times acked since the last tick (the core keeps the
    /// last few; more than that in one interval are not all recorded).
    fn publish_rtts(&mut self, p: &ProtocolStats) {
        let new = p.probes_acked.saturating_sub(self.probes_acked);
        let new = usize::try_from(new).unwrap_or(usize::MAX);
        let kept = &p.recent_probe_rtts;
        let rtt = histogram!("actix_cluster_probe_rtt_seconds");
        for d in &kept[kept.len().saturating_sub(new)..] {
            rtt.record(d.as_secs_f64());
        }
        self.probes_acked = p.probes_acked;
    }
}

/// Members by status and reachability; every combination is set, so a status
/// nobody has reads 0 rather than disappearing.
fn publish_members(members: &[MemberInfo]) {
    for status in STATUSES {
        for reachable in [true, false] {
            let n = members
                .iter()
                .filter(|m| status_label(m.status) == status && m.reachable == reachable)
                .count();
            gauge!("actix_cluster_members", "status" => status, "reachable" => if reachable { "true" } else { "false" })
                .set(n as f64);
        }
    }
}

/// Messages and bytes in and out, by channel.
fn publish_traffic(t: &TransportStats) {
    for (channel, sent, received, sent_bytes, received_bytes, failed) in [
        (
            "udp",
            t.datagrams_sent,
            t.datagrams_received,
            t.datagram_bytes_sent,
            t.datagram_bytes_received,
            t.datagrams_send_failed,
        ),
        (
            "tcp",
            t.frames_sent,
            t.frames_received,
            t.frame_bytes_sent,
            t.frame_bytes_received,
            t.frames_dropped,
        ),
    ] {
        counter!("actix_cluster_sent_messages_total", "channel" => channel).absolute(sent);
        counter!("actix_cluster_received_messages_total", "channel" => channel).absolute(received);
        counter!("actix_cluster_sent_bytes_total", "channel" => channel).absolute(sent_bytes);
        counter!("actix_cluster_received_bytes_total", "channel" => channel)
            .absolute(received_bytes);
        counter!("actix_cluster_send_failures_total", "channel" => channel).absolute(failed);
    }
}

/// What the protocol and the transport rejected, by reason.
fn publish_rejections(p: &ProtocolStats, t: &TransportStats) {
    for (reason, n) in [
        ("malformed", p.rejected_malformed),
        ("wrong_cluster", p.rejected_wrong_cluster),
        ("version", p.rejected_version),
        ("unauthenticated", p.rejected_unauthenticated),
        ("plaintext", p.rejected_plaintext),
        ("source", p.rejected_source),
        ("members_full", p.rejected_members_full),
        ("too_many_records", p.rejected_too_many_records),
        ("oversized_datagram", t.datagrams_oversized),
        ("oversized_frame", t.frames_oversized),
        ("frame_read_error", t.frame_read_errors),
        ("connection_limit", t.connections_rejected),
    ] {
        counter!("actix_cluster_rejected_packets_total", "reason" => reason).absolute(n);
    }
}

/// How long the actor took to handle each incoming datagram and frame, since
/// the start (the actor's own histogram, as quantiles).
fn publish_handling(stats: &ClusterStats) {
    for (channel, h) in [
        ("udp", &stats.datagram_handling),
        ("tcp", &stats.frame_handling),
    ] {
        for (quantile, d) in [("0.5", h.p50()), ("0.99", h.p99()), ("1", h.max())] {
            gauge!("actix_cluster_handling_seconds", "channel" => channel, "quantile" => quantile)
                .set(d.as_secs_f64());
        }
    }
}

/// Counts what only the events tell: rebirths, leader changes, and every
/// membership event by kind.
pub(crate) fn on_event(event: &Event) {
    let kind = match event {
        Event::Joined(_) => "joined",
        Event::Up(_) => "up",
        Event::Unreachable(_) => "unreachable",
        Event::Reachable(_) => "reachable",
        Event::Leaving(_) => "leaving",
        Event::Updated(_) => "updated",
        Event::Down {
            reason: DownReason::Left,
            ..
        } => "down_left",
        Event::Down {
            reason: DownReason::Failed,
            ..
        } => "down_failed",
        Event::Down {
            reason: DownReason::Fenced,
            ..
        } => "down_fenced",
        Event::Removed(_) => "removed",
        Event::LeaderChanged(_) => {
            counter!("actix_cluster_leader_changes_total").increment(1);
            "leader_changed"
        }
        Event::SelfChanged { .. } => {
            counter!("actix_cluster_rebirths_total").increment(1);
            "self_changed"
        }
    };
    counter!("actix_cluster_member_events_total", "event" => kind).increment(1);
}

/// Registers every metric's help text and unit with the recorder.
fn describe() {
    describe_membership();
    describe_traffic();
    describe_events();
}

/// The member table, subscribers, timers and the protocol's own counters.
fn describe_membership() {
    describe_gauge!(
        "actix_cluster_members",
        "Members in this node's view (itself included, down members until removed), by status and reachability"
    );
    describe_gauge!(
        "actix_cluster_subscribers",
        "Live subscriptions to the Cluster actor"
    );
    describe_counter!(
        "actix_cluster_subscriber_events_dropped_total",
        "Events not queued for a subscriber that was subscriber_buffer events behind (it gets a fresh snapshot)"
    );
    describe_gauge!(
        "actix_cluster_pending_timers",
        "The protocol core's pending timers"
    );
    describe_counter!(
        "actix_cluster_probes_total",
        "Probe rounds started by this node"
    );
    describe_counter!(
        "actix_cluster_probes_failed_total",
        "Probe rounds that ended without any ack, direct or indirect"
    );
    describe_counter!(
        "actix_cluster_suspicions_raised_total",
        "Suspicions this node raised"
    );
    describe_counter!(
        "actix_cluster_suspicions_refuted_total",
        "Suspicions of this node that it refuted"
    );
    describe_counter!(
        "actix_cluster_downing_decisions_total",
        "Downing decisions taken by this node, by strategy and outcome (survived, fenced, arbitrated)"
    );
    describe_counter!(
        "actix_cluster_roll_call_pings_total",
        "Pings of the roll calls before this node's downing decisions"
    );
    describe_counter!(
        "actix_cluster_decode_errors_total",
        "Messages that failed to decode"
    );
}

/// Messages, bytes and rejections.
fn describe_traffic() {
    describe_counter!(
        "actix_cluster_sent_messages_total",
        "Datagrams (udp) and stream frames (tcp) sent"
    );
    describe_counter!(
        "actix_cluster_received_messages_total",
        "Datagrams (udp) and stream frames (tcp) received and handed to the protocol"
    );
    describe_counter!(
        "actix_cluster_sent_bytes_total",
        Unit::Bytes,
        "Bytes of datagrams (udp) and stream frames (tcp) sent"
    );
    describe_counter!(
        "actix_cluster_received_bytes_total",
        Unit::Bytes,
        "Bytes of datagrams (udp) and stream frames (tcp) received"
    );
    describe_counter!(
        "actix_cluster_send_failures_total",
        "Datagrams that could not be sent (udp) and stream frames dropped (tcp)"
    );
    describe_counter!(
        "actix_cluster_rejected_packets_total",
        "Datagrams, frames and connections rejected, by reason"
    );
}

/// Events, and the time the actor takes to handle its input.
fn describe_events() {
    describe_counter!(
        "actix_cluster_leader_changes_total",
        "Changes of the leader this node sees"
    );
    describe_counter!(
        "actix_cluster_rebirths_total",
        "Times this node rejoined as a new member"
    );
    describe_counter!(
        "actix_cluster_member_events_total",
        "Membership events published by this node, by kind"
    );
    describe_gauge!(
        "actix_cluster_handling_seconds",
        Unit::Seconds,
        "Time the Cluster actor took to handle an incoming datagram (udp) or frame (tcp) since the start: the 0.5 and 0.99 quantiles and the maximum (1)"
    );
    describe_histogram!(
        "actix_cluster_probe_rtt_seconds",
        Unit::Seconds,
        "Round-trip time of acked probes, from the first ping to the first ack"
    );
}
