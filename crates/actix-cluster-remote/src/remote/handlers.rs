//! The messages the `Remote` actor takes: from its sessions (`FromPeer`),
//! from `RemoteHandle` (register, watch, find, subscribe), and the queries.

use std::collections::{BTreeMap, BTreeSet};

use actix::prelude::*;
use actix_cluster::GetMembers;
use actix_cluster_proto::MemberId;

use super::{ListingSink, Remote, ServiceSub, Terminated};
use crate::control::WatchId;
use crate::env::FromPeer;
use crate::reference::{ActorAddr, ActorId};
use crate::stats::RemoteStats;

impl Handler<FromPeer> for Remote {
    type Result = ();

    fn handle(&mut self, msg: FromPeer, _: &mut Context<Self>) {
        if !self.env().shared.has_link(&msg.member) {
            return;
        }
        match msg.control {
            None => self.connected(msg.member),
            Some(c) => self.on_control(msg.member, c),
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Register {
    pub(crate) key: String,
    pub(crate) actor: ActorId,
    pub(crate) add: bool,
}

impl Handler<Register> for Remote {
    type Result = ();

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) {
        let changed = if msg.add {
            self.env().shared.has_actor(msg.actor) && self.registry.register(&msg.key, msg.actor)
        } else {
            self.registry.deregister(&msg.key, msg.actor)
        };
        if changed {
            self.broadcast_record();
            self.notify(BTreeSet::from([msg.key]));
        }
    }
}

#[derive(Message)]
#[rtype(result = "WatchId")]
pub(crate) struct Watch {
    pub(crate) target: ActorAddr,
    pub(crate) watcher: Recipient<Terminated>,
}

impl Handler<Watch> for Remote {
    type Result = WatchId;

    fn handle(&mut self, msg: Watch, _: &mut Context<Self>) -> WatchId {
        self.watch(msg.target, msg.watcher)
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Unwatch(pub(crate) WatchId);

impl Handler<Unwatch> for Remote {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _: &mut Context<Self>) {
        self.unwatch(msg.0);
    }
}

#[derive(Message)]
#[rtype(result = "Vec<ActorAddr>")]
pub(crate) struct Find {
    pub(crate) key: String,
    pub(crate) include_unreachable: bool,
}

impl Handler<Find> for Remote {
    type Result = Vec<ActorAddr>;

    fn handle(&mut self, msg: Find, _: &mut Context<Self>) -> Vec<ActorAddr> {
        self.registry.listing(&msg.key, msg.include_unreachable)
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SubscribeKey {
    pub(crate) key: String,
    pub(crate) include_unreachable: bool,
    pub(crate) sink: ListingSink,
}

impl Handler<SubscribeKey> for Remote {
    type Result = ();

    fn handle(&mut self, msg: SubscribeKey, _: &mut Context<Self>) {
        let listing = self.registry.listing(&msg.key, msg.include_unreachable);
        let mut sub = ServiceSub {
            behind: false,
            include_unreachable: msg.include_unreachable,
            sink: msg.sink,
        };
        if sub.send(listing) {
            self.subs.entry(msg.key).or_default().push(sub);
        }
    }
}

/// Every service key with a listed actor, and the members that list it.
#[derive(Message)]
#[rtype(result = "BTreeMap<String, BTreeSet<MemberId>>")]
pub struct GetServices {
    /// List unreachable members too.
    pub include_unreachable: bool,
}

impl Handler<GetServices> for Remote {
    type Result = MessageResult<GetServices>;

    fn handle(&mut self, msg: GetServices, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.registry.services(msg.include_unreachable))
    }
}

/// The remote layer's counters.
#[derive(Message)]
#[rtype(result = "RemoteStats")]
pub struct GetRemoteStats;

impl Handler<GetRemoteStats> for Remote {
    type Result = MessageResult<GetRemoteStats>;

    fn handle(&mut self, _: GetRemoteStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.env().shared.counters.snapshot())
    }
}

/// Members already Up when the remote layer starts: the subscription's
/// snapshot brings them too, this only covers a race with its start.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Refresh;

impl Handler<Refresh> for Remote {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Refresh, _: &mut Context<Self>) -> Self::Result {
        Box::pin(
            self.cluster
                .send(GetMembers)
                .into_actor(self)
                .map(|members, this, _| {
                    for m in members.unwrap_or_default() {
                        this.member_up(&m);
                    }
                }),
        )
    }
}
