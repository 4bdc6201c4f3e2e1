//! The manager: one actor per singleton on every member. It follows
//! membership ([`View`]), starts the instance when this member is the host
//! and nothing may run elsewhere, stops it (through its mailbox, waiting for
//! `stopped`) when it must go, and tells the other managers.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{AddLeaveGuard, Cluster, ClusterEvent, Event, MemberId, Subscribe};
use actix_cluster_remote::{ActorAddr, Listing, RemoteHandle, RemoteRef};
use tracing::{debug, info, info_span, warn};

use super::peer::{managers_key, News, Peer};
use super::proxy::ProxyControl;
use super::view::{Change, View};
use super::{SingletonConfig, SingletonStart, SingletonStatus, StopSingleton};

/// How often a stopping instance is checked for having stopped.
const STOP_POLL: Duration = Duration::from_millis(2);
/// How often the manager checks what it waits for (a host that may still
/// run, an etcd claim).
const TICK: Duration = Duration::from_millis(250);
/// How often a running instance's claim is checked.
const CLAIM_CHECK: Duration = Duration::from_secs(1);

/// Makes the instance.
pub(crate) type Factory<A> = Box<dyn Fn(SingletonStart) -> Addr<A>>;

/// Deregistrations of the instance's listings, run when it stops.
pub(crate) type Served = Rc<RefCell<Vec<Box<dyn FnOnce()>>>>;

/// The instance on this member.
pub(crate) enum Instance<A: Actor> {
    /// None here.
    Idle,
    /// The claim is being taken (with a claim store only).
    Claiming,
    /// Running.
    Running {
        addr: Addr<A>,
        token: Option<i64>,
        served: Served,
    },
    /// Told to stop; waiting for its `stopped`.
    Stopping { addr: Addr<A>, token: Option<i64> },
    /// Stopped; the claim is being released (nothing starts meanwhile, so
    /// a late release never deletes a new claim of this member).
    Releasing,
}

/// See the module docs.
pub(crate) struct Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    pub(super) remote: RemoteHandle,
    pub(super) config: SingletonConfig,
    factory: Factory<A>,
    pub(super) view: View,
    /// This manager's own reference (served for [`Peer`]).
    pub(super) me_ref: Option<RemoteRef<Peer>>,
    /// The other managers, from the registry.
    pub(super) peers: Vec<RemoteRef<Peer>>,
    pub(super) instance: Instance<A>,
    /// The host as announced (by this manager or another), with its token.
    pub(super) announced: Option<(MemberId, Option<i64>)>,
    /// A member that is handing over: proxies hold messages for it.
    pub(super) paused_by: Option<MemberId>,
    pub(super) proxies: Vec<Box<dyn ProxyControl + Send>>,
    /// Polls a stopping instance.
    stop_poll: Option<SpawnHandle>,
    /// A handover waiting for every manager to be known.
    pub(super) peer_wait: Option<SpawnHandle>,
    /// Ticks so far (for the periodic announcement).
    pub(super) ticks: u32,
    /// The holder name under which the claim was taken (this member's id
    /// then; it changes on a rebirth).
    pub(super) claimed_as: Option<String>,
    /// This member hands over: it never hosts again.
    pub(super) retiring: bool,
    /// Waiting for the handover to be done.
    pub(super) handover_waiters: Vec<tokio::sync::oneshot::Sender<()>>,
    pub(super) span: tracing::Span,
}

impl<A> Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    pub(crate) fn new(remote: RemoteHandle, config: SingletonConfig, factory: Factory<A>) -> Self {
        let mut view = View::new(config.role.clone());
        let me = remote.local_member();
        let span = info_span!("singleton", name = %config.name, member = %me);
        view.set_me(me);
        Manager {
            remote,
            config,
            factory,
            view,
            me_ref: None,
            peers: Vec::new(),
            instance: Instance::Idle,
            announced: None,
            paused_by: None,
            proxies: Vec::new(),
            stop_poll: None,
            peer_wait: None,
            ticks: 0,
            claimed_as: None,
            retiring: false,
            handover_waiters: Vec::new(),
            span,
        }
    }

    /// This manager's address for peers (its member as it is now).
    pub(super) fn from(&self) -> Option<ActorAddr> {
        let me = self.me_ref.as_ref()?;
        Some(ActorAddr {
            member: self.remote.local_member(),
            actor: me.addr().actor,
        })
    }

    pub(super) fn token(&self) -> Option<i64> {
        match &self.instance {
            Instance::Running { token, .. } | Instance::Stopping { token, .. } => *token,
            _ => None,
        }
    }

    /// Whether an instance runs (or is stopping) here.
    pub(super) fn hosting(&self) -> bool {
        matches!(
            self.instance,
            Instance::Running { .. } | Instance::Stopping { .. }
        )
    }

    pub(super) fn status(&self) -> SingletonStatus {
        let here = matches!(self.instance, Instance::Running { .. });
        let (host, token) = match &self.announced {
            Some((h, t)) => (Some(h.clone()), *t),
            None => (None, None),
        };
        SingletonStatus { host, token, here }
    }

    /// Tells this member's proxies where the instance is.
    pub(super) fn steer_proxies(&mut self) {
        let host = self.announced.as_ref().map(|(h, _)| h.clone());
        let stopping_here = matches!(self.instance, Instance::Stopping { .. });
        let paused = stopping_here || (host.is_some() && self.paused_by == host);
        self.proxies.retain(|p| p.set(host.as_ref(), paused));
    }

    /// Decides again: start, keep or stop the instance here.
    pub(super) fn decide(&mut self, ctx: &mut Context<Self>) {
        match &self.instance {
            Instance::Idle if self.view.may_start() && !self.retiring && self.me_ref.is_some() => {
                if self.config.claim.is_some() {
                    self.instance = Instance::Claiming;
                    self.claim(ctx);
                } else {
                    self.start_instance(None);
                }
            }
            Instance::Running { .. } if !self.view.should_run() || self.retiring => {
                self.stop_instance(ctx);
            }
            _ => {}
        }
        self.steer_proxies();
    }

    /// Runs the factory and tells everyone.
    pub(super) fn start_instance(&mut self, token: Option<i64>) {
        let Some(me) = self.view.me().cloned() else {
            return;
        };
        let served: Served = Rc::default();
        let start = SingletonStart {
            host: me.clone(),
            token,
            remote: self.remote.clone(),
            name: self.config.name.clone(),
            served: served.clone(),
        };
        let addr = (self.factory)(start);
        info!(parent: &self.span, ?token, "singleton started here");
        self.instance = Instance::Running {
            addr,
            token,
            served,
        };
        self.announced = Some((me, token));
        self.paused_by = None;
        self.broadcast(News::Started { token });
        self.steer_proxies();
    }

    /// Tells the instance to stop and waits for its `stopped`; then
    /// releases the claim and tells everyone.
    pub(super) fn stop_instance(&mut self, ctx: &mut Context<Self>) {
        let Instance::Running {
            addr,
            token,
            served,
        } = std::mem::replace(&mut self.instance, Instance::Idle)
        else {
            return;
        };
        info!(parent: &self.span, "stopping the singleton here");
        addr.do_send(StopSingleton);
        for deregister in served.borrow_mut().drain(..) {
            deregister();
        }
        self.instance = Instance::Stopping { addr, token };
        self.steer_proxies();
        let poll = ctx.run_interval(STOP_POLL, |act, ctx| {
            let stopped = match &act.instance {
                Instance::Stopping { addr, .. } => !addr.connected(),
                _ => true,
            };
            if stopped {
                act.stopped(ctx);
            }
        });
        self.stop_poll = Some(poll);
    }

    /// The instance has stopped.
    fn stopped(&mut self, ctx: &mut Context<Self>) {
        if let Some(poll) = self.stop_poll.take() {
            ctx.cancel_future(poll);
        }
        let token = self.token();
        if !matches!(self.instance, Instance::Stopping { .. }) {
            return;
        }
        self.instance = Instance::Releasing;
        info!(parent: &self.span, "the singleton stopped here");
        if self.announced.as_ref().map(|(h, _)| Some(h)) == Some(self.view.me()) {
            self.announced = None;
        }
        // The others hear of the stop once the claim is released, so that
        // the next host finds the key free.
        self.release_claim(token, ctx, |act, ctx| {
            act.instance = Instance::Idle;
            act.stopped_announce(ctx);
            act.decide(ctx);
        });
    }

    /// Tells one peer (fire and forget).
    pub(super) fn tell(&self, to: &RemoteRef<Peer>, news: News) {
        let Some(from) = self.from() else { return };
        if let Err(e) = self.remote.tell(to, Peer { from, news }) {
            debug!(parent: &self.span, peer = %to.member(), error = %e, "singleton news not sent");
        }
    }

    /// Tells every other manager.
    pub(super) fn broadcast(&self, news: News) {
        for peer in &self.peers {
            self.tell(peer, news.clone());
        }
    }
}

impl<A> Actor for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = Cluster::current() else {
            warn!(parent: &self.span, "no Cluster in this System: the singleton never runs here");
            return;
        };
        cluster.do_send(Subscribe {
            events: Some(ctx.address().recipient()),
            ..Subscribe::default()
        });
        // A plain `Leave` waits for this manager's handover.
        cluster.do_send(AddLeaveGuard(ctx.address().recipient()));
        let me_ref = self.remote.serve::<Peer, Self>(ctx.address());
        let key = managers_key(&self.config.name);
        self.remote.register(&key, &me_ref);
        self.remote.subscribe(&key, ctx.address().recipient());
        self.me_ref = Some(me_ref);
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
        ctx.run_interval(CLAIM_CHECK, |act, ctx| act.check_claim(ctx));
    }
}

impl<A> Handler<ClusterEvent> for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Result = ();

    fn handle(&mut self, ClusterEvent(event): ClusterEvent, ctx: &mut Context<Self>) {
        let change = self.view.apply(&event);
        if let Event::Down { member, .. } = &event {
            if self.announced.as_ref().map(|(h, _)| h) == Some(&member.id)
                && !self.view.running().contains(&member.id)
            {
                self.announced = None;
            }
            if self.paused_by.as_ref() == Some(&member.id) {
                self.paused_by = None;
            }
        }
        match change {
            Change::None => {}
            Change::Decide => self.decide(ctx),
            Change::SelfGone => {
                // Fenced, failed or left: the instance goes before anything
                // else happens here.
                warn!(parent: &self.span, "this member is down: stopping the singleton");
                self.stop_instance(ctx);
                self.decide(ctx);
            }
            Change::LeftUnannounced(member) => {
                debug!(parent: &self.span, %member, "the host left without a handover: waiting the grace");
                ctx.run_later(self.config.left_grace, move |act, ctx| {
                    if act.view.grace_over(&member) == Change::Decide {
                        if act.announced.as_ref().map(|(h, _)| h) == Some(&member) {
                            act.announced = None;
                        }
                        act.decide(ctx);
                    }
                });
                self.decide(ctx);
            }
        }
    }
}

impl<A> Handler<Listing<Peer>> for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Result = ();

    fn handle(&mut self, listing: Listing<Peer>, _: &mut Context<Self>) {
        let me = self.remote.local_member();
        let new: Vec<RemoteRef<Peer>> = listing
            .actors
            .into_iter()
            .filter(|r| r.member() != &me)
            .collect();
        // A manager that appeared learns where the instance runs.
        if let Instance::Running { token, .. } = &self.instance {
            let token = *token;
            for peer in new.iter().filter(|p| !self.peers.contains(p)) {
                self.tell(peer, News::Started { token });
            }
        }
        self.peers = new;
    }
}

/// Asks the manager where the singleton runs.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "SingletonStatus")]
pub(crate) struct GetStatus;

impl<A> Handler<GetStatus> for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status())
    }
}

/// Adds a proxy that the manager steers.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AddProxy(pub(crate) Box<dyn ProxyControl + Send>);

impl<A> Handler<AddProxy> for Manager<A>
where
    A: Actor<Context = Context<A>> + Handler<StopSingleton>,
{
    type Result = ();

    fn handle(&mut self, AddProxy(proxy): AddProxy, _: &mut Context<Self>) {
        self.proxies.push(proxy);
        self.steer_proxies();
    }
}
