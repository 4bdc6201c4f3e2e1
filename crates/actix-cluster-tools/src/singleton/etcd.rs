//! The singleton's claim in etcd (feature `etcd`): the key
//! `<prefix>/<cluster>/singleton/<name>`, bound to this member's
//! registration lease, its create revision the fencing token.

use std::sync::Arc;

use actix::prelude::*;
use actix_cluster_etcd::{
    ClaimError as EtcdClaimError, DiscoveryActor, DiscoveryConfig, DiscoveryError, EtcdArbiter,
    GetStatus,
};

use super::claim::{ClaimError, ClaimFuture, Claimed, SingletonClaim};

/// A [`SingletonClaim`] in etcd, bound to the registration lease of this
/// member's etcd discovery: the key goes when the member leaves (its lease
/// is revoked) or its lease expires (dead, or cut off from etcd for the
/// lease's TTL).
#[derive(Clone, Debug)]
pub struct EtcdClaim {
    arbiter: EtcdArbiter,
    discovery: Addr<DiscoveryActor>,
}

impl EtcdClaim {
    /// Connects to etcd with discovery's settings; `discovery` is this
    /// member's discovery actor (`ClusterDiscovery::start`).
    pub async fn connect(
        config: DiscoveryConfig,
        discovery: Addr<DiscoveryActor>,
    ) -> Result<Arc<Self>, DiscoveryError> {
        let arbiter = EtcdArbiter::connect(config).await?;
        Ok(Arc::new(EtcdClaim { arbiter, discovery }))
    }
}

fn store(e: impl std::fmt::Display) -> ClaimError {
    ClaimError(e.to_string())
}

impl SingletonClaim for EtcdClaim {
    fn claim(&self, name: &str, holder: &str) -> ClaimFuture<Claimed> {
        let (this, name, holder) = (self.clone(), name.to_owned(), holder.to_owned());
        Box::pin(async move {
            let status = this.discovery.send(GetStatus).await.map_err(store)?;
            let lease = status
                .lease_id
                .ok_or_else(|| ClaimError("this member is not registered in etcd yet".into()))?;
            match this.arbiter.claim_key(&name, &holder, lease).await {
                Ok(token) => Ok(Claimed::Token(token.0)),
                Err(EtcdClaimError::Held { holder, .. }) => Ok(Claimed::HeldBy(holder)),
                Err(EtcdClaimError::Etcd(e)) => Err(store(e)),
            }
        })
    }

    fn release(&self, name: &str, holder: &str) -> ClaimFuture<bool> {
        let (this, name, holder) = (self.clone(), name.to_owned(), holder.to_owned());
        Box::pin(async move {
            this.arbiter
                .release_key(&name, &holder)
                .await
                .map_err(store)
        })
    }

    fn holds(&self, name: &str, holder: &str, token: i64) -> ClaimFuture<bool> {
        let (this, name, holder) = (self.clone(), name.to_owned(), holder.to_owned());
        Box::pin(async move {
            let held = this.arbiter.key_holder(&name).await.map_err(store)?;
            Ok(held.is_some_and(|(h, t)| h == holder && t.0 == token))
        })
    }
}
