//! How this node finds the cluster: etcd discovery, fixed seeds, or alone.

use std::net::SocketAddr;

use actix::Addr;
use actix_cluster::{Cluster, Form, Join};
use serde_json::{json, Value};

use crate::config::Settings;

/// The discovery in use, queried by `GET /api/discovery`.
#[derive(Clone)]
pub(crate) enum Discovery {
    /// Joined through fixed seed addresses.
    Seeds(Vec<SocketAddr>),
    /// Formed a cluster alone.
    Alone,
}

impl Discovery {
    /// Starts discovery for the running cluster.
    pub(crate) async fn start(
        settings: &Settings,
        cluster: &Addr<Cluster>,
    ) -> anyhow::Result<Discovery> {
        if !settings.cluster_seeds.is_empty() {
            cluster.send(Join(settings.cluster_seeds.clone())).await?;
            return Ok(Discovery::Seeds(settings.cluster_seeds.clone()));
        }
        cluster.send(Form).await?;
        Ok(Discovery::Alone)
    }

    /// Status as JSON.
    pub(crate) async fn status(&self) -> Value {
        match self {
            Discovery::Seeds(seeds) => json!({"mode": "seeds", "seeds": seeds}),
            Discovery::Alone => json!({"mode": "alone"}),
        }
    }

    /// Stops discovery at shutdown.
    pub(crate) async fn stop(&self) {}
}
