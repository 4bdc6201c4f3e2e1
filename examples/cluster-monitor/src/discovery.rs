//! How this node finds the cluster: etcd discovery, fixed seeds, or alone.

use std::net::SocketAddr;
use std::time::Duration;

use actix::Addr;
use actix_cluster::{Cluster, Form, Join};
use actix_cluster_etcd::{ClusterDiscovery, Deregister, DiscoveryActor, GetStatus};
use anyhow::Context as _;
use serde_json::{json, Value};

use crate::settings::Settings;

/// The discovery in use, queried by `GET /api/discovery`.
#[derive(Clone)]
pub(crate) enum Discovery {
    /// etcd discovery (`actix-cluster-etcd`).
    Etcd {
        actor: Addr<DiscoveryActor>,
        endpoints: Vec<String>,
        cluster: String,
    },
    /// Joined through fixed seed addresses.
    Seeds {
        seeds: Vec<SocketAddr>,
        cluster: String,
    },
    /// Formed a cluster alone.
    Alone { cluster: String },
}

impl Discovery {
    /// Starts discovery for the running cluster.
    pub(crate) async fn start(
        settings: &Settings,
        cluster: &Addr<Cluster>,
    ) -> anyhow::Result<Discovery> {
        let name = settings.cluster_name.clone();
        if let Some(config) = &settings.etcd {
            let endpoints = config.endpoints.clone();
            tracing::info!(?endpoints, prefix = %config.prefix, "starting etcd discovery");
            let actor = ClusterDiscovery::start(cluster.clone(), config.clone())
                .context("etcd discovery (ETCD_* variables)")?;
            return Ok(Discovery::Etcd {
                actor,
                endpoints,
                cluster: name,
            });
        }
        if !settings.cluster_seeds.is_empty() {
            tracing::info!(seeds = ?settings.cluster_seeds, "no etcd: joining the seeds");
            cluster.send(Join(settings.cluster_seeds.clone())).await?;
            return Ok(Discovery::Seeds {
                seeds: settings.cluster_seeds.clone(),
                cluster: name,
            });
        }
        tracing::info!("no etcd and no seeds: forming a cluster alone");
        cluster.send(Form).await?;
        Ok(Discovery::Alone { cluster: name })
    }

    /// Status as JSON.
    pub(crate) async fn status(&self) -> Value {
        match self {
            Discovery::Etcd {
                actor,
                endpoints,
                cluster,
            } => {
                let status = tokio::time::timeout(Duration::from_secs(2), actor.send(GetStatus))
                    .await
                    .ok()
                    .and_then(Result::ok);
                let mut value = status
                    .and_then(|s| serde_json::to_value(s).ok())
                    .unwrap_or_else(|| json!({"error": "discovery actor did not answer"}));
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("mode".into(), json!("etcd"));
                    obj.insert("cluster".into(), json!(cluster));
                    obj.insert("endpoints".into(), json!(endpoints));
                }
                value
            }
            Discovery::Seeds { seeds, cluster } => {
                json!({"mode": "seeds", "cluster": cluster, "seeds": seeds})
            }
            Discovery::Alone { cluster } => json!({"mode": "alone", "cluster": cluster}),
        }
    }

    /// Leaves etcd at shutdown (revokes the lease, so the key vanishes at once).
    pub(crate) async fn stop(&self) {
        if let Discovery::Etcd { actor, .. } = self {
            let _ = actor.send(Deregister).await;
        }
    }
}
