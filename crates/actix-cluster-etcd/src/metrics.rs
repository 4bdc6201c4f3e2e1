//! Metrics through the [`metrics`] facade (cargo feature `metrics`): the
//! discovery actor publishes its [`DiscoveryStatus`] every [`INTERVAL`] as
//! `actix_cluster_etcd_...` gauges and counters (listed in docs/OPERATING.md,
//! "Metrics"). Nothing is recorded unless the application installs a
//! recorder.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, gauge};

use crate::status::DiscoveryStatus;

/// How often the status is published.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Publishes one snapshot of the status.
pub(crate) fn publish(s: &DiscoveryStatus) {
    gauge!("actix_cluster_etcd_reachable").set(flag(s.etcd_reachable));
    gauge!("actix_cluster_etcd_registered").set(flag(s.registered));
    gauge!("actix_cluster_etcd_registered_members").set(s.registered_members as f64);
    gauge!("actix_cluster_etcd_seeds").set(s.seeds.len() as f64);
    gauge!("actix_cluster_etcd_ignored_keys").set(s.ignored_keys.len() as f64);
    counter!("actix_cluster_etcd_lease_renewals_total").absolute(s.lease_renewals);
    counter!("actix_cluster_etcd_child_restarts_total", "child" => "lease_keeper")
        .absolute(u64::from(s.lease_keeper_restarts));
    counter!("actix_cluster_etcd_child_restarts_total", "child" => "seed_watcher")
        .absolute(u64::from(s.seed_watcher_restarts));
    counter!("actix_cluster_etcd_compacted_relists_total").absolute(u64::from(s.compacted_relists));
}

/// Registers every metric's help text with the recorder.
pub(crate) fn describe() {
    describe_gauge!(
        "actix_cluster_etcd_reachable",
        "1 while the last etcd request succeeded"
    );
    describe_gauge!(
        "actix_cluster_etcd_registered",
        "1 while this member's registration is in etcd"
    );
    describe_gauge!(
        "actix_cluster_etcd_registered_members",
        "Registrations seen under the cluster's prefix (this one included)"
    );
    describe_gauge!(
        "actix_cluster_etcd_seeds",
        "Seed addresses from etcd (members Up, without this one)"
    );
    describe_gauge!(
        "actix_cluster_etcd_ignored_keys",
        "Keys under the cluster's prefix that are not ours (at most 64 counted)"
    );
    describe_counter!(
        "actix_cluster_etcd_lease_renewals_total",
        "Keep-alive answers renewing this member's lease"
    );
    describe_counter!(
        "actix_cluster_etcd_child_restarts_total",
        "Restarts of the discovery's children (lease_keeper, seed_watcher) after a failure"
    );
    describe_counter!(
        "actix_cluster_etcd_compacted_relists_total",
        "Times the watcher found its revision compacted and listed again"
    );
}
