//! Protocol configuration, with presets and validation.
//!
//! The formulas below are the contract documented in `docs/PROTOCOL.md`; keep them
//! in step.

use std::time::Duration;

use crate::codec::Keyring;
use crate::downing_policy::DowningConfig;
use crate::error::ConfigError;

/// Tuning of the membership protocol. Start from a preset ([`Config::lan`], the
/// default, [`Config::wan`] or [`Config::local`]) and change fields; call
/// [`Config::validate`] (the core does) to get an error that names a bad field.
///
/// With `N` the number of live members this node knows (itself included):
///
/// * suspicion timeout, minimum: `suspicion_mult * max(1, log10(N)) * probe_interval`;
/// * suspicion timeout, maximum: `suspicion_max_timeout_mult * minimum`;
/// * retransmit limit of one update: `retransmit_mult * ceil(log10(N + 1))`;
/// * push-pull period: `push_pull_interval * scale(N)`, `scale = 1` up to 32
///   members, else `max(ceil(log2(N) - 5) + 1, ceil(N / 512))` (the second
///   term rules from 4,096 members on).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Cluster name; every message carries it and messages with another name are
    /// dropped and counted. Non-empty, at most 64 bytes.
    pub cluster_name: String,
    /// Time between two probes of this node (one member probed per interval,
    /// randomized round robin). Multiplied by the local-health multiplier.
    /// lan: 200 ms.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking `indirect_checks` others
    /// to probe. Multiplied by the local-health multiplier. Must be less than
    /// `probe_interval`. lan: 100 ms.
    pub probe_timeout: Duration,
    /// Number of members asked to probe indirectly (SWIM's k). lan: 8 (wan and local too).
    pub indirect_checks: usize,
    /// Suspicion timeout, minimum:
    /// `suspicion_mult * max(1, log10(N)) * probe_interval`; Lifeguard expects
    /// `suspicion_mult - 2` confirmations to reach it. lan: 5.
    pub suspicion_mult: u32,
    /// Suspicion timeout, maximum (before confirmations shrink it):
    /// `suspicion_max_timeout_mult * min`. lan: 6.
    pub suspicion_max_timeout_mult: u32,
    /// Lifeguard local health: the multiplier on probe interval and timeout
    /// ranges over `1..=awareness_max_multiplier`. lan: 8.
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
    /// (scaled up with cluster size, see PROTOCOL.md). lan: 60 s.
    pub push_pull_interval: Duration,
    /// While joining, and when alone (no other live member), how often to retry
    /// the seeds. Ten times this is also the period at which a member pings one
    /// random failed tombstone to notice a healed partition. lan: 1 s.
    pub join_retry_interval: Duration,
    /// How long a `Down` member is kept as a tombstone before `Removed`; must
    /// outlive any rumour about it. lan: 60 s.
    pub tombstone_period: Duration,
    /// Largest datagram sent or accepted, in bytes (512..=65000). Default 1400.
    pub max_datagram_size: usize,
    /// Largest stream frame (full-state exchange) sent or accepted
    /// (4 KiB..=64 MiB). Default 4 MiB.
    pub max_frame_size: usize,
    /// Most members this node holds, live and tombstones together
    /// (16..=1,000,000). News of a member beyond it is dropped and counted
    /// (`Stats::rejected_members_full`): input from the network never grows the
    /// table (nor its timers) beyond this. Default 16,384.
    pub max_members: usize,
    /// Lifeguard on (the default) or off (plain SWIM, for comparison): when
    /// off, the local-health multiplier stays 1, indirect probers send no
    /// nacks, the suspicion timeout is fixed at its minimum (no confirmations),
    /// a suspected member is not told directly, and our refinements of the
    /// same spirit are off too (confirmation probes, the last call before
    /// `Down`, skipping the verdict of a probe whose timer fired late).
    pub lifeguard: bool,
    /// Who decides that an unreachable member is `Down`, and when: see
    /// [`DowningConfig`] and `docs/PROTOCOL.md` ("Downing").
    pub downing: DowningConfig,
    /// The keys that seal every message (see [`Keyring`] and
    /// `docs/PROTOCOL.md`, "Sealed messages"): with them, a node that does
    /// not hold a key cannot join, read the member list or change anyone's
    /// status. `None` (the default): plaintext, and the cluster name is the
    /// only check on a message.
    pub keyring: Option<Keyring>,
    /// With a keyring: seal what this node sends (the default). Off only for
    /// the first step of moving a plaintext cluster to keys (every node then
    /// opens sealed messages but still sends plaintext).
    pub seal_outgoing: bool,
    /// With a keyring: accept only sealed messages (the default). Off while a
    /// cluster moves from plaintext to keys (memberlist's
    /// `GossipVerifyIncoming`): plaintext is accepted too, and still bound to
    /// its source address. Needs `seal_outgoing`.
    pub verify_incoming: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::lan()
    }
}

/// Longest cluster name, in bytes.
pub(crate) const MAX_CLUSTER_NAME: usize = 64;

impl Config {
    /// A LAN preset: the default. Tuned for fast detection (crash to `Down`
    /// everywhere in a few seconds at up to 1000 members) at about 7 kbit/s of
    /// idle traffic per member at 1000 members; see `docs/PROTOCOL.md`.
    pub fn lan() -> Self {
        Config {
            cluster_name: "default".to_owned(),
            probe_interval: Duration::from_millis(200),
            probe_timeout: Duration::from_millis(100),
            indirect_checks: 8,
            suspicion_mult: 5,
            suspicion_max_timeout_mult: 6,
            awareness_max_multiplier: 8,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            push_pull_interval: Duration::from_secs(60),
            join_retry_interval: Duration::from_secs(1),
            tombstone_period: Duration::from_secs(60),
            max_datagram_size: 1400,
            max_frame_size: 4 * 1024 * 1024,
            max_members: 16_384,
            lifeguard: true,
            downing: DowningConfig::lan(),
            keyring: None,
            seal_outgoing: true,
            verify_incoming: true,
        }
    }

    /// A WAN preset: slower, more tolerant of latency and loss.
    pub fn wan() -> Self {
        Config {
            probe_interval: Duration::from_secs(3),
            probe_timeout: Duration::from_millis(1500),
            suspicion_mult: 4,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            push_pull_interval: Duration::from_secs(60),
            join_retry_interval: Duration::from_secs(2),
            tombstone_period: Duration::from_secs(300),
            downing: DowningConfig {
                stable_after: Duration::from_secs(5),
                max_pause: Duration::from_secs(15),
                ..DowningConfig::lan()
            },
            ..Config::lan()
        }
    }

    /// A fast preset for tests on loopback.
    pub fn local() -> Self {
        Config {
            probe_interval: Duration::from_millis(100),
            probe_timeout: Duration::from_millis(50),
            suspicion_mult: 3,
            gossip_interval: Duration::from_millis(50),
            push_pull_interval: Duration::from_secs(5),
            join_retry_interval: Duration::from_millis(200),
            tombstone_period: Duration::from_secs(10),
            downing: DowningConfig {
                stable_after: Duration::from_millis(300),
                max_pause: Duration::from_secs(1),
                acquire_delay_for_minority: Duration::from_millis(500),
                ..DowningConfig::lan()
            },
            ..Config::lan()
        }
    }

    /// Returns this config with Lifeguard switched on or off (see
    /// [`Config::lifeguard`]).
    pub fn with_lifeguard(mut self, on: bool) -> Self {
        self.lifeguard = on;
        self
    }

    /// Returns this config with another cluster name.
    pub fn with_cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = name.into();
        self
    }

    /// Returns this config sealing with `keyring` (outgoing sealed, incoming
    /// verified).
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self.seal_outgoing = true;
        self.verify_incoming = true;
        self
    }

    /// Returns the first bad field, named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cluster_name.is_empty() {
            return bad("cluster_name", "must not be empty");
        }
        if self.cluster_name.len() > MAX_CLUSTER_NAME {
            return bad(
                "cluster_name",
                format!(
                    "{} bytes long; at most {MAX_CLUSTER_NAME} bytes",
                    self.cluster_name.len()
                ),
            );
        }
        self.validate_timing()?;
        within("max_datagram_size", self.max_datagram_size, 512, 65_000)?;
        within("max_members", self.max_members, 16, 1_000_000)?;
        within(
            "max_frame_size",
            self.max_frame_size,
            4096,
            64 * 1024 * 1024,
        )?;
        if self.keyring.is_some() && self.verify_incoming && !self.seal_outgoing {
            return bad(
                "verify_incoming",
                "a node that accepts only sealed messages must seal its own \
                 (set seal_outgoing, or turn verify_incoming off for the rollout)",
            );
        }
        self.downing.validate()
    }

    /// The intervals, timeouts and multipliers.
    fn validate_timing(&self) -> Result<(), ConfigError> {
        nonzero("probe_interval", self.probe_interval)?;
        nonzero("probe_timeout", self.probe_timeout)?;
        if self.probe_timeout >= self.probe_interval {
            return bad(
                "probe_timeout",
                format!(
                    "{:?} must be less than probe_interval ({:?}): indirect probes need the rest of the interval",
                    self.probe_timeout, self.probe_interval
                ),
            );
        }
        within("indirect_checks", self.indirect_checks, 0, 16)?;
        within("suspicion_mult", self.suspicion_mult, 1, 100)?;
        within(
            "suspicion_max_timeout_mult",
            self.suspicion_max_timeout_mult,
            1,
            100,
        )?;
        within(
            "awareness_max_multiplier",
            self.awareness_max_multiplier,
            1,
            64,
        )?;
        within("retransmit_mult", self.retransmit_mult, 1, 100)?;
        nonzero("gossip_interval", self.gossip_interval)?;
        within("gossip_nodes", self.gossip_nodes, 1, 64)?;
        nonzero("push_pull_interval", self.push_pull_interval)?;
        nonzero("join_retry_interval", self.join_retry_interval)?;
        nonzero("tombstone_period", self.tombstone_period)
    }

    /// Suspicion timeout minimum for `n` live members (this one included):
    /// `suspicion_mult * max(1, log10(n)) * probe_interval`.
    pub fn suspicion_min_timeout(&self, n: usize) -> Duration {
        let scale = (n.max(1) as f64).log10().max(1.0);
        self.probe_interval
            .mul_f64(f64::from(self.suspicion_mult) * scale)
    }

    /// Suspicion timeout maximum for `n` live members:
    /// `suspicion_max_timeout_mult * suspicion_min_timeout(n)`.
    pub fn suspicion_max_timeout(&self, n: usize) -> Duration {
        self.suspicion_min_timeout(n) * self.suspicion_max_timeout_mult
    }

    /// How long a refutation takes to reach everyone in a cluster of `n`,
    /// with margin: `gossip_interval * (ceil(log_{gossip_nodes + 1}(n)) + 2)`.
    /// A member is downable only once it has been suspected for
    /// `downing.max_pause` plus this, so that a member that paused for less
    /// than the bound has refuted everywhere before anyone may down it.
    pub fn refutation_spread(&self, n: usize) -> Duration {
        let fanout = (self.gossip_nodes as f64) + 1.0;
        let rounds = (n.max(2) as f64).ln() / fanout.ln();
        self.gossip_interval * (rounds.ceil() as u32 + 2)
    }

    /// How many times one update is piggybacked for `n` live members:
    /// `retransmit_mult * ceil(log10(n + 1))`.
    pub fn retransmit_limit(&self, n: usize) -> u32 {
        let l = ((n + 1) as f64).log10().ceil().max(1.0) as u32;
        self.retransmit_mult.saturating_mul(l)
    }

    /// The push-pull period for `n` live members: `push_pull_interval * scale`,
    /// with `scale = 1` up to 32 members, else
    /// `max(ceil(log2(n) - 5) + 1, ceil(n / 512))`.
    ///
    /// An exchange sends two full states, O(n) bytes, once per period: with
    /// the logarithmic scale alone the traffic per member grew as
    /// n / log n (about 7 kbit/s of push-pull alone at 10,000 members with
    /// lan). The linear term, equal to the logarithmic one at 4,096 members
    /// and ruling above, holds it flat from there (about 3.5 kbit/s with
    /// lan's 60 s and 25-byte records). Nothing waits on push-pull to
    /// detect a failure or to let a member in: a join answer carries the
    /// full state, and the reconnect tick, not push-pull, finds a healed
    /// partition.
    pub fn push_pull_period(&self, n: usize) -> Duration {
        if n <= 32 {
            return self.push_pull_interval;
        }
        let log = ((n as f64).log2() - 5.0).ceil() as u32 + 1;
        let linear = u32::try_from(n.div_ceil(512)).unwrap_or(u32::MAX);
        self.push_pull_interval.saturating_mul(log.max(linear))
    }
}

/// A validation failure of `field`.
fn bad(field: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError {
        field,
        reason: reason.into(),
    })
}

/// `field` must be a duration above zero and at most a day.
fn nonzero(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return bad(field, "must be greater than zero");
    }
    if d > Duration::from_secs(24 * 3600) {
        return bad(field, format!("{d:?} is too long (at most 24 h)"));
    }
    Ok(())
}

/// `field` must lie in `lo..=hi`.
fn within<T>(field: &'static str, v: T, lo: T, hi: T) -> Result<(), ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if v < lo || v > hi {
        return bad(field, format!("{v} is outside {lo}..={hi}"));
    }
    Ok(())
}
