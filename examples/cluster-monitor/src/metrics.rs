//! The Prometheus recorder the libraries' metrics go to
//! (`actix_cluster_...`, `actix_cluster_etcd_...`) and the demo's own
//! (`cluster_monitor_...`); `GET /metrics` (in `http`) renders it in the
//! Prometheus text format.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds (seconds) of the probe round-trip histogram: loopback to WAN.
const RTT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
];

/// How often the recorder's histograms are compacted.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder; call before the cluster starts.
pub(crate) fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("actix_cluster_probe_rtt_seconds".into()),
            &RTT_BUCKETS,
        )?
        .install_recorder()?;
    describe();
    let upkeep = handle.clone();
    actix_rt::spawn(async move {
        let mut tick = actix_rt::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

fn describe() {
    metrics::describe_gauge!(
        "cluster_monitor_event_streams",
        "Open page event streams (/api/events) on this node"
    );
    metrics::describe_counter!(
        "cluster_monitor_event_streams_closed_slow_total",
        "Page event streams closed because they fell SSE_BUFFER events behind"
    );
}
