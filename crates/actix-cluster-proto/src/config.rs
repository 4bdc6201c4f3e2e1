//! Protocol configuration, with presets and validation.
//!
//! The formulas below are the contract documented in `docs/PROTOCOL.md`; keep them
//! in step.

use std::time::Duration;

use crate::error::ConfigError;

/// Tuning of the membership protocol. Start from a preset ([`Config::lan`], the
/// default, [`Config::wan`] or [`Config::local`]) and change fields; call
/// [`Config::validate`] (the core does) to get an error that names a bad field.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Cluster name; every message carries it and messages with another name are
    /// dropped and counted. Non-empty, at most 64 bytes.
    pub cluster_name: String,
    /// Time between two probes of this node (one member probed per interval,
    /// randomized round robin). lan: 1 s.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking `indirect_checks` others
    /// to probe. Multiplied by the local-health multiplier. lan: 500 ms.
    pub probe_timeout: Duration,
    /// Number of members asked to probe indirectly (SWIM's k). lan: 3.
    pub indirect_checks: usize,
    /// Suspicion timeout, minimum:
    /// `suspicion_mult * max(1, log10(N)) * probe_interval`. lan: 4.
    pub suspicion_mult: u32,
    /// Suspicion timeout, maximum (before confirmations shrink it):
    /// `suspicion_max_timeout_mult * min`. lan: 6.
    pub suspicion_max_timeout_mult: u32,
    /// Lifeguard local health: the multiplier on probe interval and timeout
    /// ranges over `0..=awareness_max_multiplier`. lan: 8.
    pub awareness_max_multiplier: u32,
    /// Each update is piggybacked `retransmit_mult * ceil(log10(N + 1))` times.
    /// lan: 4.
    pub retransmit_mult: u32,
    /// Interval of the gossip tick that sends pending updates to
    /// `gossip_nodes` random members. lan: 200 ms.
    pub gossip_interval: Duration,
    /// Members gossiped to per gossip tick. lan: 3.
    pub gossip_nodes: usize,
    /// Interval of the push-pull full-state exchange with one random member
    /// (scaled up with cluster size, see PROTOCOL.md). lan: 30 s.
    pub push_pull_interval: Duration,
    /// When alone (no other live member), how often to retry the seeds. lan: 1 s.
    pub join_retry_interval: Duration,
    /// How long a `Down` member is kept as a tombstone before `Removed`; must
    /// outlive any rumour about it. lan: 60 s.
    pub tombstone_period: Duration,
    /// Largest datagram sent or accepted, in bytes. Default 1400.
    pub max_datagram_size: usize,
    /// Largest stream frame (full-state exchange) sent or accepted. Default 4 MiB.
    pub max_frame_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config::lan()
    }
}

impl Config {
    /// A LAN preset: the default.
    pub fn lan() -> Self {
        Config {
            cluster_name: "default".to_owned(),
            probe_interval: Duration::from_millis(1000),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            awareness_max_multiplier: 8,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            push_pull_interval: Duration::from_secs(30),
            join_retry_interval: Duration::from_secs(1),
            tombstone_period: Duration::from_secs(60),
            max_datagram_size: 1400,
            max_frame_size: 4 * 1024 * 1024,
        }
    }

    /// A WAN preset: slower, more tolerant of latency and loss.
    pub fn wan() -> Self {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            suspicion_mult: 6,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            push_pull_interval: Duration::from_secs(60),
            join_retry_interval: Duration::from_secs(2),
            tombstone_period: Duration::from_secs(300),
            ..Config::lan()
        }
    }

    /// A fast preset for tests on loopback.
    pub fn local() -> Self {
        Config {
            probe_interval: Duration::from_millis(200),
            probe_timeout: Duration::from_millis(100),
            suspicion_mult: 3,
            gossip_interval: Duration::from_millis(50),
            push_pull_interval: Duration::from_secs(5),
            join_retry_interval: Duration::from_millis(200),
            tombstone_period: Duration::from_secs(10),
            ..Config::lan()
        }
    }

    /// Returns the first bad field, named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        todo!("validate every field, naming it in the error")
    }
}
