//! The system extension: one call starts discovery for the running `Cluster`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use actix::prelude::*;
use actix_cluster::Cluster;

use crate::config::DiscoveryConfig;
use crate::discovery::DiscoveryActor;
use crate::error::ConfigError;

fn registry() -> &'static Mutex<HashMap<usize, Addr<DiscoveryActor>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<usize, Addr<DiscoveryActor>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// etcd discovery as an extension of the current actix `System`: at most one
/// [`DiscoveryActor`] per system, found again with [`ClusterDiscovery::get`].
pub struct ClusterDiscovery;

impl ClusterDiscovery {
    /// Validates `config` and starts discovery for `cluster` on the current
    /// arbiter: registers this member in etcd, joins the seeds found there or
    /// forms the cluster. Returns the existing actor when discovery already
    /// runs in this system. Must be called from within an actix `System`.
    pub fn start(
        cluster: Addr<Cluster>,
        config: DiscoveryConfig,
    ) -> Result<Addr<DiscoveryActor>, ConfigError> {
        config.validate()?;
        let system = System::current().id();
        let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, addr| addr.connected());
        if let Some(addr) = map.get(&system) {
            return Ok(addr.clone());
        }
        let addr = DiscoveryActor::new(cluster, config).start();
        map.insert(system, addr.clone());
        Ok(addr)
    }

    /// The discovery actor of the current `System`, if started.
    pub fn get() -> Option<Addr<DiscoveryActor>> {
        let system = System::try_current()?.id();
        let map = registry().lock().unwrap_or_else(|p| p.into_inner());
        map.get(&system).filter(|a| a.connected()).cloned()
    }
}
