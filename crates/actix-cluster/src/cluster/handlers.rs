//! The `Cluster` actor's message handlers: commands (join, form, leave,
//! metadata, keys, the arbiter and the fencing token) and queries.

use std::sync::atomic::Ordering;

use actix::prelude::*;
use actix_cluster_proto::{Command, Event, KeyId, Status};
use tokio::sync::oneshot;

use super::Cluster;
use crate::arbiter::SetArbiter;
use crate::error::ClusterError;
use crate::messages::{
    Abort, AddLeaveGuard, ClusterStats, Form, GetKeyring, GetKeys, GetLeader, GetLeadership,
    GetMembers, GetSelf, GetStats, InstallKey, Join, Leave, RemoveKey, SelfInfo, SetFencingToken,
    Subscribe, UpdateMetadata, UsePrimary,
};
use crate::subscription::{Membership, Subscription, Target};
use crate::transport::Refused;

impl Handler<Subscribe> for Cluster {
    type Result = ();

    /// Snapshot and registration happen in this one handler, so nothing is lost
    /// or doubled between the current state and the later events.
    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) {
        let _enter = self.span.clone().entered();
        let up: Vec<_> = self
            .core
            .members()
            .into_iter()
            .filter(|m| m.status == Status::Up)
            .collect();
        // Every `Up` first, then (for an `events` recipient) which of them
        // are unreachable, then the leader.
        let mut snapshot = Vec::new();
        if msg.member_up.is_some() || msg.events.is_some() {
            snapshot.extend(up.iter().map(|m| Event::Up(m.clone())));
        }
        if msg.events.is_some() {
            snapshot.extend(
                up.iter()
                    .filter(|m| !m.reachable)
                    .map(|m| Event::Unreachable(m.clone())),
            );
            if let Some(leader) = self.core.leader() {
                snapshot.push(Event::LeaderChanged(Some(leader)));
            }
        }
        let target = Target {
            up: msg.member_up,
            down: msg.member_down,
            events: msg.events,
        };
        let membership = Membership {
            members: ctx.address().recipient(),
            leader: ctx.address().recipient(),
        };
        let started = Subscription::start(
            target,
            snapshot,
            self.subscriber_buffer,
            membership,
            self.subscriber_dropped.clone(),
        );
        self.subs.extend(started);
    }
}

impl Handler<Join> for Cluster {
    type Result = ();

    fn handle(&mut self, Join(seeds): Join, ctx: &mut Context<Self>) {
        let _enter = self.span.clone().entered();
        tracing::info!(?seeds, "joining");
        let now = self.now();
        self.core.handle_command(now, Command::Join { seeds });
        self.drain(ctx);
    }
}

impl Handler<Form> for Cluster {
    type Result = ();

    fn handle(&mut self, _: Form, ctx: &mut Context<Self>) {
        let _enter = self.span.clone().entered();
        tracing::info!("forming a new cluster");
        let now = self.now();
        self.core.handle_command(now, Command::Form);
        self.drain(ctx);
    }
}

impl Handler<Leave> for Cluster {
    type Result = ResponseActFuture<Self, ()>;

    /// The guards first (this member stays `Up` meanwhile), then the leave.
    fn handle(&mut self, _: Leave, _ctx: &mut Context<Self>) -> Self::Result {
        let guards = self.departure.ask_guards();
        Box::pin(
            guards
                .into_actor(self)
                .then(|(), act, ctx| act.leave_now(ctx)),
        )
    }
}

impl Cluster {
    /// Starts the leave and waits until it reached the others (bounded).
    fn leave_now(&mut self, ctx: &mut Context<Self>) -> ResponseActFuture<Self, ()> {
        let _enter = self.span.clone().entered();
        let alone = !self.has_peers();
        self.start_leave(ctx);
        if alone {
            self.departure.done();
        }
        let (tx, rx) = oneshot::channel();
        self.departure.wait(tx);
        let bound = self.leave_bound();
        Box::pin(
            async move {
                let _ = tokio::time::timeout(bound, rx).await;
            }
            .into_actor(self)
            .map(|(), act, _ctx| {
                // Past the bound, stop waiting: the datagrams went out anyway.
                act.departure.done();
            }),
        )
    }
}

impl Handler<AddLeaveGuard> for Cluster {
    type Result = ();

    fn handle(&mut self, AddLeaveGuard(guard): AddLeaveGuard, _: &mut Context<Self>) {
        self.departure.add_guard(guard);
    }
}

impl Handler<UpdateMetadata> for Cluster {
    type Result = Result<(), ClusterError>;

    fn handle(
        &mut self,
        UpdateMetadata(metadata): UpdateMetadata,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let _enter = self.span.clone().entered();
        // Validate before storing: refused metadata must never show in GetSelf.
        actix_cluster_proto::limits::validate_metadata(&metadata)?;
        self.metadata = metadata.clone();
        let now = self.now();
        self.core
            .handle_command(now, Command::UpdateMetadata(metadata));
        self.drain(ctx);
        Ok(())
    }
}

impl Handler<Refused> for Cluster {
    type Result = ();

    fn handle(&mut self, Refused(to): Refused, ctx: &mut Context<Self>) {
        let _enter = self.span.clone().entered();
        let now = self.now();
        self.core.handle_refused(now, to);
        self.drain(ctx);
    }
}

impl Handler<SetArbiter> for Cluster {
    type Result = ();

    fn handle(&mut self, SetArbiter(arbiter): SetArbiter, _ctx: &mut Context<Self>) {
        self.arbitration.install(arbiter);
    }
}

impl Handler<InstallKey> for Cluster {
    type Result = Result<KeyId, ClusterError>;

    fn handle(&mut self, InstallKey(key): InstallKey, _ctx: &mut Context<Self>) -> Self::Result {
        let _enter = self.span.clone().entered();
        Ok(self.core.install_key(key)?)
    }
}

impl Handler<UsePrimary> for Cluster {
    type Result = Result<(), ClusterError>;

    fn handle(&mut self, UsePrimary(id): UsePrimary, _ctx: &mut Context<Self>) -> Self::Result {
        let _enter = self.span.clone().entered();
        Ok(self.core.use_primary(id)?)
    }
}

impl Handler<RemoveKey> for Cluster {
    type Result = Result<(), ClusterError>;

    fn handle(&mut self, RemoveKey(id): RemoveKey, _ctx: &mut Context<Self>) -> Self::Result {
        let _enter = self.span.clone().entered();
        Ok(self.core.remove_key(id)?)
    }
}

impl Handler<GetKeys> for Cluster {
    type Result = MessageResult<GetKeys>;

    fn handle(&mut self, _: GetKeys, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.key_ids())
    }
}

impl Handler<GetKeyring> for Cluster {
    type Result = MessageResult<GetKeyring>;

    fn handle(&mut self, _: GetKeyring, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.keyring().cloned())
    }
}

impl Handler<GetMembers> for Cluster {
    type Result = MessageResult<GetMembers>;

    fn handle(&mut self, _: GetMembers, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.members())
    }
}

impl Handler<GetLeader> for Cluster {
    type Result = MessageResult<GetLeader>;

    fn handle(&mut self, _: GetLeader, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.leader())
    }
}

impl Handler<GetLeadership> for Cluster {
    type Result = MessageResult<GetLeadership>;

    fn handle(&mut self, _: GetLeadership, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.token
                .leadership(self.core.leader(), self.core.local_id()),
        )
    }
}

impl Handler<SetFencingToken> for Cluster {
    type Result = ();

    fn handle(&mut self, msg: SetFencingToken, _ctx: &mut Context<Self>) {
        let token = msg.token;
        if self.token.grant(self.core.leader().as_ref(), msg) {
            tracing::info!(token, "fencing token granted to this leader");
        }
    }
}

impl Handler<GetSelf> for Cluster {
    type Result = MessageResult<GetSelf>;

    fn handle(&mut self, _: GetSelf, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(SelfInfo {
            id: self.core.local_id().clone(),
            bound: self.bound,
            roles: self.roles.clone(),
            metadata: self.metadata.clone(),
        })
    }
}

impl Handler<GetStats> for Cluster {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _: GetStats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats())
    }
}

impl Cluster {
    /// The counters [`GetStats`] answers.
    pub(crate) fn stats(&mut self) -> ClusterStats {
        self.prune_subscribers();
        ClusterStats {
            protocol: self.core.stats().clone(),
            transport: self.counters.snapshot(),
            subscribers: self.subs.iter().map(Subscription::recipients).sum(),
            subscriber_events_dropped: self.subscriber_dropped.load(Ordering::Relaxed),
            pending_timers: self.timers.len(),
            datagram_handling: self.handling.0.clone(),
            frame_handling: self.handling.1.clone(),
        }
    }
}

impl Handler<Abort> for Cluster {
    type Result = ();

    fn handle(&mut self, _: Abort, ctx: &mut Context<Self>) {
        let _enter = self.span.clone().entered();
        tracing::warn!("aborting: stopping without leaving");
        self.aborted = true;
        ctx.stop();
    }
}
