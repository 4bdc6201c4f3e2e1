//! The manager's conversations: the news from other managers, the
//! handover before a leave, the wait for a host that may still run, and the
//! fenced claim.

use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::BeforeLeave;
use actix_cluster_remote::RemoteRef;
use futures::future::join_all;
use tracing::{debug, info, warn};

use super::claim::{ClaimError, Claimed};
use super::manager::{Instance, Manager};
use super::peer::{News, Peer};
use super::view::Change;
use super::StopSingleton;

/// Every this many ticks (5 s) the host announces its instance again.
const REANNOUNCE_TICKS: u32 = 20;

/// How often a handover checks whether every manager is known.
const PEER_POLL: Duration = Duration::from_millis(5);

impl<A> Handler<Peer> for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Result = bool;

    fn handle(&mut self, Peer { from, news }: Peer, ctx: &mut Context<Self>) -> bool {
        let member = from.member;
        debug!(parent: &self.span, %member, ?news, "singleton news");
        match news {
            News::Started { token } => {
                if self.view.started(member.clone()) == Change::Decide {
                    if self.paused_by.as_ref() == Some(&member) {
                        self.paused_by = None;
                    }
                    self.announced = Some((member, token));
                    self.decide(ctx);
                }
                true
            }
            News::Stopped { retire } => {
                self.view.stopped(&member, retire);
                if self.announced.as_ref().map(|(h, _)| h) == Some(&member) {
                    self.announced = None;
                }
                if self.paused_by.as_ref() == Some(&member) {
                    self.paused_by = None;
                }
                self.decide(ctx);
                true
            }
            News::Retiring => {
                self.view.retiring(member.clone());
                self.paused_by = Some(member);
                self.decide(ctx);
                true
            }
            News::Running => {
                self.hosting() || matches!(self.instance, Instance::Claiming | Instance::Releasing)
            }
        }
    }
}

/// Hands the singleton over (see `SingletonHandle::hand_over`).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct HandOver;

impl<A> Handler<HandOver> for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: HandOver, ctx: &mut Context<Self>) -> Self::Result {
        let done = self.hand_over(ctx);
        Box::pin(async move {
            let _ = done.await;
        })
    }
}

/// A plain `Leave` waits for this (the manager is a leave guard): the same
/// handover, so the leave goes out only once the instance has stopped and
/// every manager was told.
impl<A> Handler<BeforeLeave> for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: BeforeLeave, ctx: &mut Context<Self>) -> Self::Result {
        let done = self.hand_over(ctx);
        Box::pin(async move {
            let _ = done.await;
        })
    }
}

impl<A> Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    /// Retires this manager and hands the instance over (once; a second call
    /// waits for the same end): pause every proxy, stop the instance, wait
    /// for its `stopped`, release the claim, tell every manager, each step
    /// acknowledged. Resolves when done.
    fn hand_over(&mut self, ctx: &mut Context<Self>) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.handover_waiters.push(tx);
        let first = !self.retiring;
        self.retiring = true;
        self.view.retire_self();
        info!(parent: &self.span, hosting = self.hosting(), first, "handing the singleton over");
        match &self.instance {
            Instance::Running { .. } if first => {
                // Every proxy holds its messages first, so that everything
                // sent before reaches the instance before it stops.
                self.paused_by = self.view.me().cloned();
                self.steer_proxies();
                self.when_peers_known(ctx, |act, ctx| {
                    let asks = act.ask_all(News::Retiring);
                    ctx.spawn(
                        fut::wrap_future::<_, Self>(asks).map(|_, act, ctx| act.stop_instance(ctx)),
                    );
                });
            }
            // Its stop ends with the announcement and the answer.
            Instance::Running { .. } | Instance::Stopping { .. } | Instance::Releasing => {}
            // Nothing runs here (any more): say so again, acknowledged (a
            // `Leave` after `hand_over` costs one round trip).
            Instance::Idle | Instance::Claiming => {
                self.when_peers_known(ctx, |act, ctx| act.stopped_announce(ctx));
            }
        }
        rx
    }
}

impl<A> Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    /// Whether the manager of every other `Up` member is known (a member
    /// that just joined may not be listed yet: a handover must reach it).
    fn peers_known(&self) -> bool {
        let me = self.view.me();
        self.view
            .up_members()
            .filter(|m| Some(*m) != me)
            .all(|m| self.peers.iter().any(|p| p.member() == m))
    }

    /// Runs `then` once every other `Up` member's manager is known, or after
    /// the peer timeout (a member without a manager is not waited for
    /// longer).
    fn when_peers_known(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        if self.peers_known() {
            return then(self, ctx);
        }
        let deadline = Instant::now() + self.config.peer_timeout;
        let mut then = Some(then);
        let wait = ctx.run_interval(PEER_POLL, move |act, ctx| {
            if !act.peers_known() && Instant::now() < deadline {
                return;
            }
            if let Some(wait) = act.peer_wait.take() {
                ctx.cancel_future(wait);
            }
            if let Some(then) = then.take() {
                then(act, ctx);
            }
        });
        self.peer_wait = Some(wait);
    }

    /// Asks every other manager, each bounded by the peer timeout; resolves
    /// when all answered or timed out.
    fn ask_all(&self, news: News) -> impl std::future::Future<Output = ()> + 'static {
        let from = self.from();
        let timeout = self.config.peer_timeout;
        let asks: Vec<_> = self
            .peers
            .iter()
            .map(|peer| {
                let (remote, peer, from, news) = (
                    self.remote.clone(),
                    peer.clone(),
                    from.clone(),
                    news.clone(),
                );
                async move {
                    let Some(from) = from else { return };
                    if let Err(e) = remote
                        .ask_timeout(&peer, Peer { from, news }, timeout)
                        .await
                    {
                        debug!(peer = %peer.member(), error = %e, "singleton peer did not answer");
                    }
                }
            })
            .collect();
        async move {
            join_all(asks).await;
        }
    }

    /// Tells the others that nothing runs here (any more); when handing
    /// over, waits for their answers and then answers the handover.
    pub(super) fn stopped_announce(&mut self, ctx: &mut Context<Self>) {
        if !self.retiring {
            self.broadcast(News::Stopped { retire: false });
            return;
        }
        let asks = self.ask_all(News::Stopped { retire: true });
        ctx.spawn(fut::wrap_future::<_, Self>(asks).map(|_, act, _| {
            info!(parent: &act.span, "singleton handed over");
            for waiter in act.handover_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }));
    }

    /// Every tick: an instance that stopped by itself is taken as stopped
    /// (and started again while this member is the host); the host
    /// announces itself again every
    /// `REANNOUNCE_TICKS`; a host-to-be that waits for another member's instance
    /// asks that member whether it still runs one (its `Stopped` may have
    /// been lost); an idle host-to-be retries its claim.
    pub(super) fn tick(&mut self, ctx: &mut Context<Self>) {
        // The host says so again now and then: a lost announcement only
        // leaves another member's status behind for a while.
        self.ticks = self.ticks.wrapping_add(1);
        if let Instance::Running { addr, .. } = &self.instance {
            if !addr.connected() {
                // It stopped by itself: it is gone like after a stop, and
                // starts again if this member is still the host.
                warn!(parent: &self.span, "the singleton stopped by itself");
                self.stop_instance(ctx);
            }
        }
        if self.ticks.is_multiple_of(REANNOUNCE_TICKS) {
            if let Instance::Running { token, .. } = &self.instance {
                let token = *token;
                self.broadcast(News::Started { token });
            }
        }
        if self.retiring || self.view.target() != self.view.me() {
            return;
        }
        if matches!(self.instance, Instance::Idle) && self.view.may_start() {
            self.decide(ctx);
            return;
        }
        let waiting: Vec<RemoteRef<Peer>> = self
            .peers
            .iter()
            .filter(|p| self.view.running().contains(p.member()))
            .cloned()
            .collect();
        for peer in waiting {
            let (remote, from, timeout) =
                (self.remote.clone(), self.from(), self.config.peer_timeout);
            let Some(from) = from else { return };
            let member = peer.member().clone();
            let ask = async move {
                let msg = Peer {
                    from,
                    news: News::Running,
                };
                remote.ask_timeout(&peer, msg, timeout).await
            };
            ctx.spawn(
                fut::wrap_future::<_, Self>(ask).map(move |answer, act, ctx| {
                    if answer == Ok(false) && act.view.stopped(&member, false) == Change::Decide {
                        debug!(parent: &act.span, %member, "that member runs no instance");
                        act.decide(ctx);
                    }
                }),
            );
        }
    }

    /// Takes the claim, then starts (with its token) if still due.
    pub(super) fn claim(&mut self, ctx: &mut Context<Self>) {
        let (Some(claim), Some(me)) = (self.config.claim.clone(), self.view.me().cloned()) else {
            return;
        };
        let (name, holder) = (self.config.name.clone(), me.to_string());
        self.claimed_as = Some(holder.clone());
        let work = async move { claim.claim(&name, &holder).await };
        ctx.spawn(fut::wrap_future::<_, Self>(work).map(|res, act, ctx| act.claimed(res, ctx)));
    }

    fn claimed(&mut self, res: Result<Claimed, ClaimError>, ctx: &mut Context<Self>) {
        if !matches!(self.instance, Instance::Claiming) {
            return;
        }
        self.instance = Instance::Idle;
        match res {
            Ok(Claimed::Token(token)) if self.view.may_start() && !self.retiring => {
                self.start_instance(Some(token));
            }
            Ok(Claimed::Token(token)) => self.release_claim(Some(token), ctx, |_, _| {}),
            Ok(Claimed::HeldBy(holder)) => self.displace(holder, ctx),
            Err(e) => warn!(parent: &self.span, error = %e, "singleton claim failed; retrying"),
        }
        self.steer_proxies();
    }

    /// The claim is held by `holder`: displaced only once that member is
    /// down in this view (not `Up`, and not possibly still running).
    fn displace(&mut self, holder: String, ctx: &mut Context<Self>) {
        let Some(claim) = self.config.claim.clone() else {
            return;
        };
        if !self.view.may_displace(&holder) {
            debug!(parent: &self.span, %holder, "the claim is held by a live member; waiting");
            return;
        }
        info!(parent: &self.span, %holder, "displacing the claim of a member that is down");
        let name = self.config.name.clone();
        let work = async move { claim.release(&name, &holder).await };
        ctx.spawn(fut::wrap_future::<_, Self>(work).map(|res, act, ctx| {
            if let Err(e) = res {
                warn!(parent: &act.span, error = %e, "singleton claim not displaced");
            }
            act.decide(ctx);
        }));
    }

    /// Gives the claim up once nothing runs here, then runs `then` (at
    /// once without a claim; after etcd answered, or failed to, with one).
    pub(super) fn release_claim(
        &mut self,
        token: Option<i64>,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let (Some(claim), Some(holder)) = (self.config.claim.clone(), self.claimed_as.take())
        else {
            return then(self, ctx);
        };
        let name = self.config.name.clone();
        let work = async move { claim.release(&name, &holder).await };
        ctx.spawn(fut::wrap_future::<_, Self>(work).map(move |res, act, ctx| {
            match res {
                Ok(_) => debug!(parent: &act.span, ?token, "singleton claim released"),
                Err(e) => warn!(parent: &act.span, error = %e, "singleton claim not released; its lease ends it"),
            }
            then(act, ctx);
        }));
    }

    /// Every second: a running instance whose claim is gone (its lease
    /// expired, or another member displaced it) stops.
    pub(super) fn check_claim(&mut self, ctx: &mut Context<Self>) {
        let (Some(claim), Some(holder)) = (self.config.claim.clone(), self.claimed_as.clone())
        else {
            return;
        };
        let Instance::Running {
            token: Some(token), ..
        } = &self.instance
        else {
            return;
        };
        let (name, token) = (self.config.name.clone(), *token);
        let work = async move { claim.holds(&name, &holder, token).await };
        ctx.spawn(
            fut::wrap_future::<_, Self>(work).map(move |res, act, ctx| match res {
                Ok(true) => {}
                Ok(false) => {
                    warn!(parent: &act.span, token, "the singleton's claim is gone: stopping it");
                    if act.token() == Some(token) {
                        act.stop_instance(ctx);
                    }
                }
                Err(e) => debug!(parent: &act.span, error = %e, "singleton claim not checked"),
            }),
        );
    }
}
