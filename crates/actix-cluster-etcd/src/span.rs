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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::fmt::Debug;
    use std::pin::pin;
    use std::task::{Context, Poll};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    /// A field visitor collecting `name = value` as strings.
    struct Fields<'a>(&'a mut HashMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    /// Each span's parent and fields (its name as `name`), and the spans
    /// entered now, innermost last.
    #[derive(Default)]
    struct Recorded {
        spans: Vec<(Option<u64>, HashMap<String, String>)>,
        stack: Vec<u64>,
    }

    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Recorded>);

    /// An event's message, the fields of the span it ran in, and that span's
    /// parent.
    type Seen = (String, Option<HashMap<String, String>>, Option<u64>);

    thread_local! {
        /// Every event seen on this thread.
        static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
    }

    impl Recorder {
        fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut r = self.lock();
            let mut fields = HashMap::new();
            span.record(&mut Fields(&mut fields));
            fields.insert("name".to_owned(), span.metadata().name().to_owned());
            let parent = if span.is_root() {
                None
            } else {
                span.parent()
                    .map(Id::into_u64)
                    .or_else(|| r.stack.last().copied())
            };
            r.spans.push((parent, fields));
            Id::from_u64(r.spans.len() as u64)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = HashMap::new();
            event.record(&mut Fields(&mut fields));
            let r = self.lock();
            let current = r.stack.last().copied();
            let span = current.map(|id| r.spans[id as usize - 1].1.clone());
            let parent = current.and_then(|id| r.spans[id as usize - 1].0);
            let message = fields.remove("message").unwrap_or_default();
            SEEN.with(|s| s.borrow_mut().push((message, span, parent)));
        }
        fn enter(&self, span: &Id) {
            self.lock().stack.push(span.into_u64());
        }
        fn exit(&self, span: &Id) {
            let mut r = self.lock();
            if let Some(i) = r.stack.iter().rposition(|s| *s == span.into_u64()) {
                r.stack.remove(i);
            }
        }
    }

    fn id(generation: u64) -> MemberId {
        MemberId::new("node-1", ([127, 0, 0, 1], 7946).into(), generation)
    }

    /// The member field of the span the event `message` ran in, and whether
    /// that span is a root span.
    fn member_of(message: &str) -> (Option<String>, bool) {
        SEEN.with(|s| {
            let s = s.borrow();
            let (_, span, parent) = s
                .iter()
                .find(|(m, _, _)| m == message)
                .unwrap_or_else(|| panic!("no event {message:?}"));
            let span = span.as_ref().expect("the event ran in a span");
            assert_eq!(span["name"], "etcd_discovery");
            (span.get("member").cloned(), parent.is_none())
        })
    }

    #[test]
    fn lines_carry_the_cluster_then_the_member_and_a_running_future_follows_a_rebirth() {
        tracing::subscriber::with_default(Recorder::default(), || {
            let span = MemberSpan::starting("shop");
            {
                let _g = span.enter();
                tracing::info!("before the id is known");
            }
            let outer = tracing::info_span!("caller");
            let _outer = outer.enter();
            span.follow(&id(1));
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let mut fut = pin!(span.instrument(async move {
                tracing::info!("first id");
                let _ = rx.await;
                tracing::info!("after the rebirth");
            }));
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            span.follow(&id(2));
            tx.send(()).expect("the future waits");
            assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(()));
        });

        SEEN.with(|s| {
            let s = s.borrow();
            let (_, before, _) = &s[0];
            let before = before.as_ref().expect("in a span");
            assert_eq!(before["cluster"], "shop");
            assert!(!before.contains_key("member"), "{before:?}");
        });
        // Root spans: not nested under whatever span created them.
        assert_eq!(member_of("first id"), (Some(id(1).to_string()), true));
        assert_eq!(
            member_of("after the rebirth"),
            (Some(id(2).to_string()), true)
        );
    }
}
