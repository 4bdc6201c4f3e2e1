//! The hub: one actor per topic on a member with subscribers. Listed under
//! the topic's key while it has subscribers; hands each message it receives
//! to every one of them, in the order it receives them.

use std::time::Duration;

use actix::prelude::*;
use actix_cluster_remote::{RemoteHandle, RemoteRef, ServiceKey};

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

pub(super) struct Hub<M: TopicMessage> {
    remote: RemoteHandle,
    key: ServiceKey<M>,
    /// Its own reference, served for `M` when it starts.
    me: Option<RemoteRef<M>>,
    subscribers: Vec<Recipient<M>>,
    /// Whether it is listed under the key now.
    listed: bool,
}

impl<M: TopicMessage> Hub<M> {
    pub(super) fn new(remote: RemoteHandle, key: ServiceKey<M>) -> Self {
        Hub {
            remote,
            key,
            me: None,
            subscribers: Vec::new(),
            listed: false,
        }
    }

    /// Lists the hub while it has subscribers, and only then.
    fn relist(&mut self) {
        let Some(me) = &self.me else {
            return;
        };
        let want = !self.subscribers.is_empty();
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

    /// Drops subscribers whose actor stopped.
    fn sweep(&mut self) {
        self.subscribers.retain(Recipient::connected);
        self.relist();
    }
}

impl<M: TopicMessage> Actor for Hub<M> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(self.remote.serve::<M, Self>(ctx.address()));
        self.relist();
        ctx.run_interval(SWEEP, |hub, _| hub.sweep());
    }
}

impl<M: TopicMessage> Handler<Subscribe<M>> for Hub<M> {
    type Result = ();

    fn handle(&mut self, Subscribe(to): Subscribe<M>, _: &mut Context<Self>) {
        if !self.subscribers.contains(&to) {
            self.subscribers.push(to);
        }
        self.sweep();
    }
}

impl<M: TopicMessage> Handler<Unsubscribe<M>> for Hub<M> {
    type Result = ();

    fn handle(&mut self, Unsubscribe(to): Unsubscribe<M>, _: &mut Context<Self>) {
        self.subscribers.retain(|s| *s != to);
        self.sweep();
    }
}

impl<M: TopicMessage> Handler<M> for Hub<M> {
    type Result = ();

    /// Hands the message to every subscriber. One whose mailbox is full is
    /// waited for, and the hub takes its next message only then: a slow
    /// subscriber slows the hub (and, through the remote layer's bounded
    /// queues, its publishers) instead of growing a queue, and keeps its
    /// order.
    fn handle(&mut self, msg: M, ctx: &mut Context<Self>) {
        let mut waits = Vec::new();
        let mut stopped = false;
        let last = self.subscribers.len().saturating_sub(1);
        let mut msg = Some(msg);
        for (i, to) in self.subscribers.iter().enumerate() {
            let copy = if i == last { msg.take() } else { msg.clone() };
            let Some(copy) = copy else {
                break;
            };
            match to.try_send(copy) {
                Ok(()) => {}
                Err(SendError::Full(copy)) => waits.push(to.send(copy)),
                Err(SendError::Closed(_)) => stopped = true,
            }
        }
        if stopped {
            self.sweep();
        }
        if !waits.is_empty() {
            let all = futures::future::join_all(waits);
            ctx.wait(fut::wrap_future::<_, Self>(all).map(|_, _, _| ()));
        }
    }
}
