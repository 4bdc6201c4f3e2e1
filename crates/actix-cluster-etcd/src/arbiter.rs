//! etcd as the arbiter of downing decisions.
//!
//! One primitive, a single etcd transaction, so etcd's linearizable key-value
//! store decides and no two callers can both win:
//!
//! - **The downing lease** (`<prefix>/<cluster>/downing/lease`). After a
//!   partition, every member of each side calls [`EtcdArbiter::acquire`] with
//!   the members of its side. The first transaction to create the key wins for
//!   its side and writes the side's members into it; the key is bound to a
//!   lease of its own (`hold_for`), so it is released by itself after that
//!   time. While it is held, a side that holds a strict majority of the last
//!   winners (or exactly half of them, including their lowest id) wins again
//!   (the same side asking again, or what is left of it after a crash) and
//!   every other side loses. The surviving side's leader keeps the recorded
//!   side current as members rejoin or go down ([`EtcdArbiter::refresh`]). A side that cannot reach etcd
//!   gets an error, never a win.
//! - **The probe** ([`EtcdArbiter::probe`]): one linearizable read, deciding
//!   nothing. A minority side probes while it waits its turn to ask, bounded
//!   by `arbiter_probe_timeout_ms`; when etcd does not answer in time, the
//!   side cannot win and fences itself without waiting for its turn.
//!
//! Leadership (the `leader` key and its fencing token) is in `leadership.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix_cluster::MemberId;
use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use tracing::{debug, info};

use crate::client::{bounded, connect};
use crate::config::DiscoveryConfig;
use crate::error::DiscoveryError;
use crate::keys::Keys;
use crate::span::MemberSpan;

/// What [`EtcdArbiter::acquire`] decided for a side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The side holds the downing lease: it survives. `holder` is the member
    /// whose transaction created the key (this caller or another member of the
    /// same side), `revision` the key's create revision.
    Won {
        /// The member that holds the key.
        holder: String,
        /// The create revision of the key.
        revision: i64,
    },
    /// Another side holds the lease: this side must fence itself.
    Lost {
        /// The member that holds the key (not in this side).
        holder: String,
    },
}

impl Verdict {
    /// True for [`Verdict::Won`].
    pub fn won(&self) -> bool {
        matches!(self, Verdict::Won { .. })
    }
}

/// The etcd arbiter of one cluster (keys under `<prefix>/<cluster>/`). Every
/// request is bounded by the configured request timeout.
#[derive(Clone)]
pub struct EtcdArbiter {
    pub(crate) client: Client,
    pub(crate) config: Arc<DiscoveryConfig>,
    pub(crate) keys: Keys,
}

impl std::fmt::Debug for EtcdArbiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdArbiter")
            .field("endpoints", &self.config.endpoints)
            .field("root", &self.keys.root)
            .finish()
    }
}

impl EtcdArbiter {
    /// Connects to the configured endpoints (lazily: an unreachable etcd shows
    /// up as an error of the first request, not here, unless the connection
    /// itself times out).
    pub async fn connect(config: DiscoveryConfig) -> Result<Self, DiscoveryError> {
        let client = connect(&config).await?;
        Ok(Self::with_client(client, config))
    }

    /// An arbiter over an existing client.
    pub fn with_client(client: Client, config: DiscoveryConfig) -> Self {
        let keys = Keys::new(&config);
        EtcdArbiter {
            client,
            config: Arc::new(config),
            keys,
        }
    }

    /// Tries to win the downing lease for `side` (the members of the caller's
    /// side, `decider` among them). The key holds the members of the side that
    /// won last, bound to a lease of `hold_for` (rounded up to whole seconds, at
    /// least 2 s). The side wins when the key is absent (one transaction
    /// creates it), or when the side holds a strict majority of the members
    /// that won last: the same side asking again, or what is left of it after
    /// some of its members crashed. Two parts of the last winning side can never
    /// both hold a majority of it. Winning writes this side into the key with a
    /// fresh lease (only if nobody changed it meanwhile).
    pub async fn acquire(
        &self,
        decider: &str,
        side: &BTreeSet<String>,
        hold_for: Duration,
    ) -> Result<Verdict, DiscoveryError> {
        let ttl = hold_for.as_secs_f64().ceil().max(2.0) as i64;
        let mut lease_client = self.client.lease_client();
        let lease = bounded(
            &self.config,
            "grant downing lease",
            lease_client.grant(ttl, None),
        )
        .await?
        .id();
        let verdict = self.try_acquire(decider, side, lease).await;
        if !matches!(verdict, Ok(Verdict::Won { .. })) {
            self.revoke_quietly(lease).await;
        }
        verdict
    }

    async fn try_acquire(
        &self,
        decider: &str,
        side: &BTreeSet<String>,
        lease: i64,
    ) -> Result<Verdict, DiscoveryError> {
        let key = self.keys.downing_lease();
        let value = serde_json::to_string(side).expect("a set of strings serializes");
        // The members of a side ask at once: each round one of them rewrites
        // the key and the others find it changed. They read it again, and it
        // holds their own side now, so they win too; a side of n needs at
        // most n rounds. (Taking a change as a loss fenced members of the
        // winning side.)
        let mut last_holder = String::new();
        for _round in 0..=side.len() {
            let held = self
                .create_or_read(key.clone(), &value, lease, "downing txn")
                .await?;
            let (last, mod_revision) = match held {
                Held::Created(revision) => {
                    info!(decider, revision, "won the downing lease");
                    return Ok(Verdict::Won {
                        holder: decider.to_owned(),
                        revision,
                    });
                }
                Held::By(last, _, mod_revision) => (last, mod_revision),
            };
            let winners: BTreeSet<String> = serde_json::from_str(&last).unwrap_or_default();
            let ours = winners.intersection(side).count();
            let holder = winners.iter().next().cloned().unwrap_or(last);
            if !holds_winners(side, &winners) {
                info!(decider, %holder, ours, of = winners.len(), "another side holds the downing lease");
                return Ok(Verdict::Lost { holder });
            }
            // Our side is what is left of the last winners: take the key over.
            let txn = Txn::new()
                .when(vec![Compare::mod_revision(
                    key.clone(),
                    CompareOp::Equal,
                    mod_revision,
                )])
                .and_then(vec![TxnOp::put(
                    key.clone(),
                    value.clone(),
                    Some(PutOptions::new().with_lease(lease)),
                )]);
            let mut kv = self.client.kv_client();
            let resp = bounded(&self.config, "downing renewal txn", kv.txn(txn)).await?;
            if resp.succeeded() {
                let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
                debug!(
                    decider,
                    ours,
                    of = winners.len(),
                    "our side holds the downing lease again"
                );
                return Ok(Verdict::Won {
                    holder: decider.to_owned(),
                    revision,
                });
            }
            debug!(
                decider,
                "the downing lease changed while we asked: reading it again"
            );
            last_holder = holder;
        }
        info!(
            decider,
            "the downing lease kept changing while we asked: lost"
        );
        Ok(Verdict::Lost {
            holder: last_holder,
        })
    }

    /// Records `side` as the winning side while the downing lease is held and
    /// `side` holds it (a strict majority of the winners recorded, or exactly
    /// half of them including their lowest id): the surviving side's leader calls
    /// this when the side's membership changes (members reborn after a
    /// decision rejoin it, downed ones leave it), so the next decision within
    /// the hold compares against the side as it is, not as it was. Keeps the
    /// key's lease (the hold is not extended). True when the key was rewritten;
    /// false when it is absent or held by another side.
    pub async fn refresh(
        &self,
        decider: &str,
        side: &BTreeSet<String>,
    ) -> Result<bool, DiscoveryError> {
        let key = self.keys.downing_lease();
        let mut kv = self.client.kv_client();
        let resp = bounded(&self.config, "get downing lease", kv.get(key.clone(), None)).await?;
        let Some(held) = resp.kvs().first() else {
            return Ok(false);
        };
        let winners: BTreeSet<String> = serde_json::from_slice(held.value()).unwrap_or_default();
        if winners == *side {
            return Ok(true);
        }
        if !holds_winners(side, &winners) {
            return Ok(false);
        }
        let value = serde_json::to_string(side).expect("a set of strings serializes");
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(
                key.clone(),
                CompareOp::Equal,
                held.mod_revision(),
            )])
            .and_then(vec![TxnOp::put(
                key,
                value,
                Some(PutOptions::new().with_lease(held.lease())),
            )]);
        let done = bounded(&self.config, "downing refresh txn", kv.txn(txn))
            .await?
            .succeeded();
        debug!(
            decider,
            members = side.len(),
            done,
            "recorded the surviving side"
        );
        Ok(done)
    }

    /// Whether etcd answers: one linearizable read of the downing lease key
    /// (its count only), so a quorum of etcd answered, as a decision needs.
    /// Decides nothing; bounded by the request timeout.
    pub async fn probe(&self) -> Result<(), DiscoveryError> {
        let mut kv = self.client.kv_client();
        let only_count = GetOptions::new().with_count_only();
        bounded(
            &self.config,
            "arbiter probe",
            kv.get(self.keys.downing_lease(), Some(only_count)),
        )
        .await?;
        Ok(())
    }

    /// Connects to the endpoints of `config` and [probes](Self::probe), all
    /// within `arbiter_probe_timeout_ms` (whatever the connect and request
    /// timeouts): what a minority side does while it waits its turn to ask.
    /// [`DiscoveryError::Timeout`]`("arbiter probe")` when that bound ran
    /// out.
    pub async fn reachable(config: DiscoveryConfig) -> Result<(), DiscoveryError> {
        let within = config.arbiter_probe_timeout();
        let probe = async move { Self::connect(config).await?.probe().await };
        tokio::time::timeout(within, probe)
            .await
            .unwrap_or(Err(DiscoveryError::Timeout("arbiter probe")))
    }

    /// One transaction: creates `key` = `value` bound to `lease` if the key
    /// does not exist, else reads who holds it.
    pub(crate) async fn create_or_read(
        &self,
        key: String,
        value: &str,
        lease: i64,
        what: &'static str,
    ) -> Result<Held, DiscoveryError> {
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then(vec![TxnOp::put(
                key.clone(),
                value,
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else(vec![TxnOp::get(key, None)]);
        let mut kv = self.client.kv_client();
        let resp = bounded(&self.config, what, kv.txn(txn)).await?;
        if resp.succeeded() {
            // The key's create revision is the transaction's revision.
            return Ok(Held::Created(
                resp.header().map(|h| h.revision()).unwrap_or(0),
            ));
        }
        // The compare and the get run in one transaction: the key is there.
        let (holder, revision, modified) = first_get(&resp.op_responses()).ok_or(
            DiscoveryError::Unexpected("a create-if-absent txn failed its compare but read no key"),
        )?;
        Ok(Held::By(holder, revision, modified))
    }

    async fn revoke_quietly(&self, lease: i64) {
        let mut lease_client = self.client.lease_client();
        if let Err(e) = bounded(&self.config, "revoke", lease_client.revoke(lease)).await {
            debug!(lease, error = %e, "unused downing lease not revoked; it expires by itself");
        }
    }
}

/// How long a side that won keeps the downing lease (then it is released by
/// itself). Long enough for the losing side to see it and fence itself.
pub(crate) const HOLD_DOWNING_LEASE: Duration = Duration::from_secs(20);

/// [`actix_cluster::DowningArbiter`] over etcd, which [`DiscoveryActor`](crate::DiscoveryActor)
/// installs in its `Cluster`: a lease-majority decision is one
/// [`EtcdArbiter::acquire`] (each call connects anew: decisions are rare).
/// Its calls run in discovery's member span.
pub(crate) struct LeaseArbiter {
    config: DiscoveryConfig,
    span: MemberSpan,
}

impl LeaseArbiter {
    pub(crate) fn new(config: DiscoveryConfig, span: MemberSpan) -> Self {
        LeaseArbiter { config, span }
    }
}

impl LeaseArbiter {
    /// Connects and runs `call` with the decider and side as strings.
    fn call<F, Fut>(
        &self,
        decider: &MemberId,
        side: &[MemberId],
        call: F,
    ) -> actix_cluster::ArbiterFuture
    where
        F: FnOnce(EtcdArbiter, String, BTreeSet<String>) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<bool, DiscoveryError>> + 'static,
    {
        let config = self.config.clone();
        let decider = decider.to_string();
        let side: BTreeSet<String> = side.iter().map(MemberId::to_string).collect();
        Box::pin(self.span.instrument(async move {
            let arbiter = EtcdArbiter::connect(config)
                .await
                .map_err(|e| e.to_string())?;
            call(arbiter, decider, side)
                .await
                .map_err(|e| e.to_string())
        }))
    }
}

impl actix_cluster::DowningArbiter for LeaseArbiter {
    fn acquire(&self, decider: &MemberId, side: &[MemberId]) -> actix_cluster::ArbiterFuture {
        self.call(decider, side, |a, decider, side| async move {
            a.acquire(&decider, &side, HOLD_DOWNING_LEASE)
                .await
                .map(|v| v.won())
        })
    }

    fn refresh(&self, decider: &MemberId, side: &[MemberId]) -> actix_cluster::ArbiterFuture {
        self.call(decider, side, |a, decider, side| async move {
            a.refresh(&decider, &side).await
        })
    }

    fn probe(&self) -> actix_cluster::ProbeFuture {
        let config = self.config.clone();
        Box::pin(self.span.instrument(async move {
            EtcdArbiter::reachable(config)
                .await
                .map_err(|e| e.to_string())
        }))
    }
}

/// Whether `side` is what survives of the last winning side `winners`: a
/// strict majority of it, or exactly half of it including its lowest id (so an
/// even split still leaves one side, and only one, that can win). Two disjoint
/// sides never both qualify.
fn holds_winners(side: &BTreeSet<String>, winners: &BTreeSet<String>) -> bool {
    let ours = winners.intersection(side).count();
    match (ours * 2).cmp(&winners.len()) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => winners.iter().next().is_some_and(|w| side.contains(w)),
        std::cmp::Ordering::Less => false,
    }
}

/// What a create-if-absent transaction found.
pub(crate) enum Held {
    /// This call created the key, at this revision.
    Created(i64),
    /// The key exists: its value (the holder), create and mod revisions.
    By(String, i64, i64),
}

/// The value, create and mod revision of the first key read by a
/// transaction's get.
fn first_get(ops: &[TxnOpResponse]) -> Option<(String, i64, i64)> {
    ops.iter().find_map(|op| match op {
        TxnOpResponse::Get(get) => get.kvs().first().map(|kv| {
            (
                String::from_utf8_lossy(kv.value()).into_owned(),
                kv.create_revision(),
                kv.mod_revision(),
            )
        }),
        _ => None,
    })
}
