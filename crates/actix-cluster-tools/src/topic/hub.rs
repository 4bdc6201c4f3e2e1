//! The hub: one actor per topic on a member with subscribers. It keeps the
//! subscriber list and the registration (listed under the topic's key while
//! it has subscribers); the messages themselves do not pass through its
//! mailbox: the remote layer hands each one to [`fan_out`], which gives it
//! to every subscriber in the order it arrives.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use actix_cluster_remote::{RemoteHandle, RemoteRef, ServiceKey, TellWait};

use super::TopicMessage;

/// How often a hub looks for subscribers that stopped without a message
/// finding them (so that a member whose last subscriber stopped leaves the
/// listing even when nothing is published).
const SWEEP: Duration = Duration::from_millis(250);

/// Adds a local subscriber.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Subscribe<M: TopicMessage>(pub(super) Recipient<M>);

/// Removes a local subscriber.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Unsubscribe<M: TopicMessage>(pub(super) Recipient<M>);

type Subscribers<M> = Arc<RwLock<Vec<Recipient<M>>>>;

pub(super) struct Hub<M: TopicMessage> {
    remote: RemoteHandle,
    key: ServiceKey<M>,
    /// Its reference, served for `M` (by `fan_out`) when it starts.
    me: Option<RemoteRef<M>>,
    /// Written by the hub, read by `fan_out` for every message.
    subscribers: Subscribers<M>,
    /// Whether it is listed under the key now.
    listed: bool,
}

impl<M: TopicMessage> Hub<M> {
    pub(super) fn new(remote: RemoteHandle, key: ServiceKey<M>) -> Self {
        Hub {
            remote,
            key,
            me: None,
            subscribers: Subscribers::default(),
            listed: false,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Recipient<M>>> {
        self.subscribers.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops subscribers whose actor stopped; lists the hub while it has
    /// subscribers, and only then.
    fn sweep(&mut self) {
        let want = {
            let mut subscribers = self.write();
            subscribers.retain(Recipient::connected);
            !subscribers.is_empty()
        };
        let Some(me) = &self.me else {
            return;
        };
        if want == self.listed {
            return;
        }
        self.listed = want;
        tracing::debug!(
            member = %self.remote.local_member(),
            key = self.key.name(),
            listed = want,
            "topic hub"
        );
        if want {
            self.remote.register(&self.key, me);
        } else {
            self.remote.deregister(&self.key, me);
        }
    }
}

/// Hands a message to every subscriber, in the order messages arrive. One
/// whose mailbox is full gets it queued past the limit when it comes from
/// this member (like a local tell); from another member, the connection's
/// reader waits until each full mailbox has room before the next message:
/// a slow subscriber slows its senders (through the remote layer's bounded
/// lanes) instead of growing a queue, and keeps its order.
fn fan_out<M: TopicMessage>(subscribers: &Subscribers<M>, msg: M, local: bool) -> Option<TellWait> {
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    let mut waits = Vec::new();
    let last = subscribers.len().saturating_sub(1);
    let mut msg = Some(msg);
    for (i, to) in subscribers.iter().enumerate() {
        let copy = if i == last { msg.take() } else { msg.clone() };
        let Some(copy) = copy else {
            break;
        };
        match to.try_send(copy) {
            Ok(()) | Err(SendError::Closed(_)) => {}
            Err(SendError::Full(copy)) if local => to.do_send(copy),
            Err(SendError::Full(copy)) => waits.push(to.send(copy)),
        }
    }
    if waits.is_empty() {
        return None;
    }
    Some(Box::pin(async move {
        futures::future::join_all(waits).await;
    }))
}

impl<M: TopicMessage> Actor for Hub<M> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let addr = ctx.address();
        let subscribers = self.subscribers.clone();
        self.me = Some(self.remote.serve_tells(
            move || addr.connected(),
            move |msg, local| fan_out(&subscribers, msg, local),
        ));
        self.sweep();
        ctx.run_interval(SWEEP, |hub, _| hub.sweep());
    }
}

impl<M: TopicMessage> Handler<Subscribe<M>> for Hub<M> {
    type Result = ();

    fn handle(&mut self, Subscribe(to): Subscribe<M>, _: &mut Context<Self>) {
        {
            let mut subscribers = self.write();
            if !subscribers.contains(&to) {
                subscribers.push(to);
            }
        }
        self.sweep();
    }
}

impl<M: TopicMessage> Handler<Unsubscribe<M>> for Hub<M> {
    type Result = ();

    fn handle(&mut self, Unsubscribe(to): Unsubscribe<M>, _: &mut Context<Self>) {
        self.write().retain(|s| *s != to);
        self.sweep();
    }
}
