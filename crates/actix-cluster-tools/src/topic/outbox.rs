//! The publishing side of a topic on one member: the hubs listed under the
//! topic's key, and the messages published before the first listing came.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use actix::prelude::*;
use actix_cluster_proto::MemberId;
use actix_cluster_remote::{Listing, RemoteHandle, RemoteRef, ServiceKey};

use super::{lock, PublishError, TopicMessage, PUBLISH_BACKLOG};

pub(super) struct Outbox<M: TopicMessage> {
    /// The hubs to send to; `None` until the first listing arrives.
    hubs: Option<Vec<RemoteRef<M>>>,
    /// Published before the first listing, sent (in order) when it comes.
    backlog: VecDeque<M>,
}

impl<M: TopicMessage> Outbox<M> {
    pub(super) fn new() -> Self {
        Outbox {
            hubs: None,
            backlog: VecDeque::new(),
        }
    }

    pub(super) fn members(&self) -> Vec<MemberId> {
        self.hubs
            .iter()
            .flatten()
            .map(|h| h.member().clone())
            .collect()
    }

    pub(super) fn publish(&mut self, remote: &RemoteHandle, msg: M) -> Result<(), PublishError> {
        match &self.hubs {
            Some(hubs) => send(remote, hubs, &msg),
            None if self.backlog.len() < PUBLISH_BACKLOG => {
                self.backlog.push_back(msg);
                Ok(())
            }
            None => Err(PublishError::Backlog),
        }
    }

    /// A new listing: from now on messages go to these hubs; a backlog goes
    /// first.
    fn listing(&mut self, remote: &RemoteHandle, hubs: Vec<RemoteRef<M>>) {
        for msg in self.backlog.drain(..) {
            if let Err(e) = send(remote, &hubs, &msg) {
                tracing::debug!(member = %remote.local_member(), error = %e, "backlog publish");
            }
        }
        self.hubs = Some(hubs);
    }
}

/// Tells every hub once (the message encoded once); the error names the
/// members that missed it.
fn send<M: TopicMessage>(
    remote: &RemoteHandle,
    hubs: &[RemoteRef<M>],
    msg: &M,
) -> Result<(), PublishError> {
    let mut missed = 0;
    let mut cause = None;
    remote
        .tell_each(hubs, msg, |hub, e| {
            tracing::debug!(member = %hub.member(), error = %e, "topic message not sent");
            missed += 1;
            cause.get_or_insert(e);
        })
        .map_err(PublishError::Rejected)?;
    match cause {
        None => Ok(()),
        Some(cause) => Err(PublishError::Missed {
            missed,
            of: hubs.len(),
            cause,
        }),
    }
}

/// Follows the topic's listing for the outbox; stops once the outbox is
/// dropped (its `Topics` is gone).
pub(super) struct Follower<M: TopicMessage> {
    remote: RemoteHandle,
    outbox: Weak<Mutex<Outbox<M>>>,
}

impl<M: TopicMessage> Follower<M> {
    pub(super) fn start(
        remote: &RemoteHandle,
        key: ServiceKey<M>,
        outbox: &Arc<Mutex<Outbox<M>>>,
    ) -> Addr<Self> {
        let addr = Follower {
            remote: remote.clone(),
            outbox: Arc::downgrade(outbox),
        }
        .start();
        remote.subscribe(&key, addr.clone().recipient());
        addr
    }
}

impl<M: TopicMessage> Actor for Follower<M> {
    type Context = Context<Self>;
}

impl<M: TopicMessage> Handler<Listing<M>> for Follower<M> {
    type Result = ();

    fn handle(&mut self, listing: Listing<M>, ctx: &mut Context<Self>) {
        match self.outbox.upgrade() {
            Some(outbox) => lock(&outbox).listing(&self.remote, listing.actors),
            None => ctx.stop(),
        }
    }
}
