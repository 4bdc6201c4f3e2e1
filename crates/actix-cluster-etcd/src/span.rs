//! The span every log line of discovery runs in: `etcd_discovery` with the
//! member id (`member`, the field name the `Cluster`'s own `cluster` span uses).
//!
//! One [`MemberSpan`] is shared by the [`DiscoveryActor`](crate::DiscoveryActor),
//! its children and the arbiter it installs. Until the member id is known
//! (between `ClusterDiscovery::start` and the `Cluster`'s answer to `GetSelf`)
//! the span has the cluster's name (`cluster`) and no `member` field. When the
//! member is reborn with a new id (`Event::SelfChanged`), the span is replaced
//! by a new root span with the new id, and every actor and running future
//! that holds the handle follows it at its next poll.

use std::future::Future;
use std::sync::{Arc, Mutex};

use actix_cluster::MemberId;
use tracing::span::EnteredSpan;
use tracing::Span;

/// The current discovery span, shared and replaceable.
#[derive(Clone, Debug)]
pub(crate) struct MemberSpan(Arc<Mutex<Span>>);

impl MemberSpan {
    /// The span before the member id is known: the cluster's name only.
    pub(crate) fn starting(cluster_name: &str) -> Self {
        MemberSpan(Arc::new(Mutex::new(tracing::info_span!(
            parent: None,
            "etcd_discovery",
            cluster = %cluster_name
        ))))
    }

    /// From now on, the span of member `id` (a new root span, so it does not
    /// nest under the span of an earlier id).
    pub(crate) fn follow(&self, id: &MemberId) {
        *self.lock() = tracing::info_span!(parent: None, "etcd_discovery", member = %id);
    }

    /// Enters the current span until the guard is dropped.
    pub(crate) fn enter(&self) -> EnteredSpan {
        self.lock().clone().entered()
    }

    /// Runs `fut` inside the span as it is at each poll, so a future that
    /// outlives a rebirth logs with the new id.
    pub(crate) fn instrument<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> {
        let span = self.clone();
        let mut fut = Box::pin(fut);
        futures::future::poll_fn(move |cx| {
            let _entered = span.enter();
            fut.as_mut().poll(cx)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Span> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
