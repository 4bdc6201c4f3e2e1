//! The ticker's fenced external resource: two etcd keys the singleton writes
//! with every tick, guarded by its fencing token.
//!
//! `<prefix>/<cluster>/app/ticker/token` holds the token of the last accepted
//! write (20 digits, zero-padded, so etcd's byte-wise comparison is the
//! numeric one) and `.../ticker/tick` holds `<ticks> <member id>`. A write is
//! one transaction: *if the stored token is greater than mine, change
//! nothing (refused); else put both keys*. A missing key fails etcd's value
//! comparison, so the first write is accepted. A stale instance (its member
//! downed and fenced, a newer one started elsewhere with a larger token) can
//! therefore never overwrite a newer instance's write, whatever the timing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_cluster_etcd::DiscoveryConfig;
use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use tokio::sync::mpsc;

/// Writes waiting for etcd at most (the oldest wait; newer ones are dropped
/// and counted as not sent).
const QUEUE: usize = 4;

/// One write of the fenced resource.
#[derive(Debug, Clone)]
pub(crate) struct FencedWrite {
    /// The writer's fencing token.
    pub(crate) token: i64,
    /// The tick count it writes.
    pub(crate) ticks: u64,
    /// The writer's member id.
    pub(crate) member: String,
}

/// What the fence did, for `GET /api/singleton`.
#[derive(Debug, Default)]
pub(crate) struct FenceCounts {
    /// Writes etcd accepted.
    pub(crate) accepted: AtomicU64,
    /// Writes etcd refused (a larger token was stored).
    pub(crate) refused: AtomicU64,
    /// Writes that failed (etcd unreachable, timeout) or were dropped.
    pub(crate) failed: AtomicU64,
}

/// The writer's end: queues writes for the task that sends them in order.
#[derive(Clone)]
pub(crate) struct Fence {
    tx: mpsc::Sender<FencedWrite>,
    pub(crate) counts: Arc<FenceCounts>,
}

/// The token key's value: the token, zero-padded to 20 digits.
pub(crate) fn token_value(token: i64) -> String {
    format!("{:020}", token.max(0))
}

/// The fenced transaction for `w` on the keys under `prefix`
/// (`<prefix>/<cluster>/app/`, where discovery leaves the application's
/// keys alone).
pub(crate) fn fenced_txn(prefix: &str, w: &FencedWrite) -> Txn {
    let token_key = format!("{prefix}ticker/token");
    let tick_key = format!("{prefix}ticker/tick");
    let mine = token_value(w.token);
    Txn::new()
        .when([Compare::value(
            token_key.as_str(),
            CompareOp::Greater,
            mine.as_str(),
        )])
        .or_else([
            TxnOp::put(token_key.as_str(), mine.as_str(), None),
            TxnOp::put(tick_key, format!("{} {}", w.ticks, w.member), None),
        ])
}

impl Fence {
    /// Starts the writer task for the cluster's etcd; `None` without etcd.
    pub(crate) fn start(config: Option<&DiscoveryConfig>) -> Option<Fence> {
        let config = config?.clone();
        let (tx, rx) = mpsc::channel(QUEUE);
        let counts = Arc::new(FenceCounts::default());
        actix_rt::spawn(write_loop(config, rx, counts.clone()));
        Some(Fence { tx, counts })
    }

    /// Queues a write; a full queue drops it (counted as failed).
    pub(crate) fn write(&self, w: FencedWrite) {
        if self.tx.try_send(w).is_err() {
            self.counts.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn write_loop(
    config: DiscoveryConfig,
    mut rx: mpsc::Receiver<FencedWrite>,
    counts: Arc<FenceCounts>,
) {
    let prefix = config.app_prefix();
    let mut client: Option<Client> = None;
    while let Some(w) = rx.recv().await {
        if client.is_none() {
            match config.connect().await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "fence: cannot connect to etcd");
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let txn = fenced_txn(&prefix, &w);
        match tokio::time::timeout(config.request_timeout(), c.txn(txn)).await {
            Ok(Ok(resp)) if resp.succeeded() => {
                counts.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    token = w.token,
                    ticks = w.ticks,
                    "fence: write refused, a larger token is stored"
                );
            }
            Ok(Ok(_)) => {
                counts.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "fence: write failed");
            }
            Err(_) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("fence: write timed out");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_compare_like_numbers() {
        assert!(token_value(9) < token_value(10));
        assert!(token_value(99) < token_value(100));
        assert_eq!(token_value(42).len(), 20);
        assert_eq!(token_value(i64::MAX).len(), 20);
        assert!(token_value(i64::MAX - 1) < token_value(i64::MAX));
    }
}
