//! Prometheus in the compose demo (`docker/compose.yaml`, image
//! `actix-cluster/prometheus:latest` from Debian's package): it finds every
//! node by DNS on the compose service names, scrapes each one's `/metrics`,
//! and its HTTP API answers the number of Up members; scaled up, the new
//! backend is scraped too.
//!
//! Skips (and says so) only where docker is not available.

use std::time::Duration;

use actix_cluster_tests::demo::{docker_available, ensure_demo_images, wait_for, Compose};
use actix_cluster_tests::metrics::prometheus_query;

const T: Duration = Duration::from_secs(120);

/// Waits until Prometheus has `n` targets up, and every one of them reports
/// `n` members Up and reachable.
fn wait_scraped(compose: &Compose, n: usize) {
    wait_for(&format!("Prometheus to scrape {n} nodes"), T, || {
        let up = prometheus_query(compose.prometheus, r#"up{job="cluster-monitor"}"#)?;
        let healthy = up.iter().filter(|(_, v)| *v == 1.0).count();
        if up.len() != n || healthy != n {
            return Err(format!("targets: {up:?}"));
        }
        let services: Vec<&str> = up
            .iter()
            .filter_map(|(labels, _)| labels["service"].as_str())
            .collect();
        if services.iter().filter(|s| **s == "frontend").count() != 1
            || services.iter().filter(|s| **s == "backend").count() != n - 1
        {
            return Err(format!("services: {services:?}"));
        }
        // The number of Up members, as each node reports it.
        let views = prometheus_query(
            compose.prometheus,
            r#"sum by (instance) (actix_cluster_members{job="cluster-monitor",status="up",reachable="true"})"#,
        )?;
        if views.len() == n && views.iter().all(|(_, v)| *v == n as f64) {
            Ok(())
        } else {
            Err(format!("members Up by instance: {views:?}"))
        }
    });
}

#[test]
fn prometheus_scrapes_every_node_of_the_compose_demo() {
    if !docker_available("prometheus_scrapes_every_node_of_the_compose_demo") {
        return;
    }
    ensure_demo_images();
    let compose = Compose::new("prom");

    compose.run(&["up", "-d", "--scale", "backend=3"]);
    compose.wait_members_up(4, T);
    wait_scraped(&compose, 4);

    // The frontend's own answer, through Prometheus.
    let front = prometheus_query(
        compose.prometheus,
        r#"actix_cluster_members{service="frontend",status="up",reachable="true"}"#,
    )
    .unwrap();
    assert_eq!(front.len(), 1, "{front:?}");
    assert_eq!(front[0].1, 4.0, "{front:?}");

    // A fifth node: found by DNS, scraped, and everyone counts five.
    compose.run(&["up", "-d", "--no-recreate", "--scale", "backend=4"]);
    compose.wait_members_up(5, T);
    wait_scraped(&compose, 5);
    drop(compose);
}
