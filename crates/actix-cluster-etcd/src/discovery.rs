//! `DiscoveryActor`: starts and supervises the `LeaseKeeper` and the
//! `SeedWatcher`, and reports the discovery status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{
    Cluster, ClusterEvent, DownReason, Event, GetSelf, Join, MemberId, SelfInfo, SetArbiter,
    Subscribe,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::arbiter::LeaseArbiter;
use crate::config::DiscoveryConfig;
use crate::error::DiscoveryError;
use crate::keys::Registration;
use crate::lease_keeper::LeaseKeeper;
use crate::seed_watcher::SeedWatcher;
use crate::span::MemberSpan;
use crate::status::DiscoveryStatus;
#[cfg(feature = "testing")]
use crate::supervision::InjectFailure;
use crate::supervision::{Child, ChildReport, Control, Revoke, Run};

/// Ask for the [`DiscoveryStatus`].
#[derive(Clone, Copy, Debug, Message)]
#[rtype(result = "DiscoveryStatus")]
pub struct GetStatus;

/// Makes a child fail as if etcd had returned an unexpected error. A test
/// hook, only with the `testing` feature: **for testing** the supervision: the child stops, its supervisor restarts it, and
/// the [`DiscoveryActor`] resumes it after a jittered backoff and counts the
/// restart in [`DiscoveryStatus`].
#[derive(Clone, Copy, Debug, Message)]
#[rtype(result = "()")]
#[cfg(feature = "testing")]
pub struct FailChild(pub Child);

/// Cuts a child's restart backoff short: a child that failed and is waiting to
/// be restarted starts again now (e.g. once an operator knows etcd is back). A
/// child that is running is left alone.
#[derive(Clone, Copy, Debug, Message)]
#[rtype(result = "()")]
pub struct RetryNow(pub Child);

/// Leave etcd now: revoke the lease (the registration vanishes at once) and
/// never register again. Resolves once the revoke is done or has failed
/// (bounded by the request timeout). Sent automatically when this member is
/// seen `Leaving` or `Down(Left)`; send it yourself before exiting if you do not
/// use the cluster's graceful leave.
#[derive(Clone, Copy, Debug, Message)]
#[rtype(result = "()")]
pub struct Deregister;

#[derive(Default)]
struct Backoff {
    attempt: u32,
    pending: Option<SpawnHandle>,
    last_failure: Option<Instant>,
}

/// Discovery for one [`Cluster`]: subscribes to its events, starts the
/// [`LeaseKeeper`] and the [`SeedWatcher`] under actix supervision
/// ([`Supervisor::start`]), restarts a failed child after a jittered
/// exponential backoff (between `backoff_min_ms` and `backoff_max_ms`), and
/// answers [`GetStatus`]. Start it with
/// [`ClusterDiscovery::start`](crate::ClusterDiscovery::start).
pub struct DiscoveryActor {
    pub(crate) cluster: Addr<Cluster>,
    pub(crate) config: Arc<DiscoveryConfig>,
    pub(crate) me: Option<MemberId>,
    /// The started children's `Run`, indexed by [`Child`].
    runs: [Option<Recipient<Run>>; 2],
    /// The started children's test hook, indexed by [`Child`].
    #[cfg(feature = "testing")]
    fails: [Option<Recipient<InjectFailure>>; 2],
    /// The keeper's revoke, for a graceful leave.
    revoke: Option<Recipient<Revoke>>,
    control: watch::Sender<Control>,
    pub(crate) status: DiscoveryStatus,
    backoff: [Backoff; 2],
    listed_once: bool,
    fallback_sent: bool,
    rng: SmallRng,
    /// Leadership in etcd: whether this member is the leader in its view, and
    /// the fencing token granted for the lease it was claimed with.
    pub(crate) leading: bool,
    pub(crate) claimed: Option<(i64, i64)>,
    /// The span of every log line: this member's id once known, followed
    /// across rebirths; shared with the children and the arbiter.
    pub(crate) span: MemberSpan,
}

impl DiscoveryActor {
    pub(crate) fn new(cluster: Addr<Cluster>, config: DiscoveryConfig) -> Self {
        let span = MemberSpan::starting(&config.cluster_name);
        DiscoveryActor {
            cluster,
            config: Arc::new(config),
            me: None,
            runs: [None, None],
            #[cfg(feature = "testing")]
            fails: [None, None],
            revoke: None,
            control: watch::channel(Control::default()).0,
            status: DiscoveryStatus::default(),
            backoff: Default::default(),
            listed_once: false,
            fallback_sent: false,
            rng: SmallRng::from_entropy(),
            leading: false,
            claimed: None,
            span,
        }
    }

    fn start_children(&mut self, info: SelfInfo, ctx: &mut Context<Self>) {
        let me: Recipient<ChildReport> = ctx.address().recipient();
        let registration = Registration::for_self(&info);
        let id = info.id.clone();
        self.me = Some(info.id);
        self.set_control(|c| c.registration = Some(registration.clone()));
        let (config, control, parent) = (self.config.clone(), self.control.clone(), me.clone());
        let span = self.span.clone();
        let keeper = Supervisor::start(move |_| {
            LeaseKeeper::new(config, registration, parent, control, span)
        });
        let (config, control, cluster) = (
            self.config.clone(),
            self.control.clone(),
            self.cluster.clone(),
        );
        let span = self.span.clone();
        let watcher =
            Supervisor::start(move |_| SeedWatcher::new(config, id, cluster, me, control, span));
        self.revoke = Some(keeper.clone().recipient());
        #[cfg(feature = "testing")]
        {
            self.fails = [
                Some(keeper.clone().recipient()),
                Some(watcher.clone().recipient()),
            ];
        }
        self.runs = [Some(keeper.recipient()), Some(watcher.recipient())];
        self.resume(Child::LeaseKeeper);
        self.resume(Child::SeedWatcher);
    }

    /// Starts a child's next session (at start, after its backoff, or at once
    /// on [`RetryNow`]).
    fn resume(&mut self, child: Child) {
        self.backoff[child as usize].pending = None;
        if let Some(run) = &self.runs[child as usize] {
            run.do_send(Run);
        }
    }

    fn backoff_delay(&mut self, child: Child) -> Duration {
        let b = &mut self.backoff[child as usize];
        let min = self.config.backoff_min_ms.max(1);
        let max = self.config.backoff_max_ms.max(min);
        // A child that ran fine for a while starts again from the minimum.
        if let Some(t) = b.last_failure {
            if t.elapsed() > Duration::from_millis(max.saturating_mul(4)) {
                b.attempt = 0;
            }
        }
        let attempt = b.attempt;
        b.attempt = b.attempt.saturating_add(1);
        b.last_failure = Some(Instant::now());
        jittered_backoff(min, max, attempt, &mut self.rng)
    }

    fn set_control(&self, f: impl FnOnce(&mut Control)) {
        self.control.send_modify(f);
    }

    /// A child failed: count it, note whether etcd looks away, fall back to
    /// the configured seeds if etcd was never listed, and restart the child
    /// after its backoff.
    fn child_failed(&mut self, child: Child, error: DiscoveryError, ctx: &mut Context<Self>) {
        let delay = self.backoff_delay(child);
        self.status.restarts += 1;
        match child {
            Child::LeaseKeeper => {
                self.status.lease_keeper_restarts += 1;
                if matches!(error, DiscoveryError::LeaseLost(_)) {
                    self.status.registered = false;
                    self.status.lease_id = None;
                    self.set_control(|c| c.lease = None);
                }
            }
            Child::SeedWatcher => self.status.seed_watcher_restarts += 1,
        }
        // An injected failure says nothing about etcd.
        #[cfg(feature = "testing")]
        let injected = matches!(error, DiscoveryError::Injected);
        #[cfg(not(feature = "testing"))]
        let injected = false;
        if !injected {
            self.status.etcd_reachable = false;
        }
        warn!(
            ?child,
            endpoints = ?self.config.endpoints,
            %error,
            retry_in_ms = delay.as_millis() as u64,
            "etcd discovery child failed; restarting it after backoff"
        );
        self.status.last_error = Some(error.to_string());
        if child == Child::SeedWatcher
            && !self.listed_once
            && !self.fallback_sent
            && !self.config.fallback_seeds.is_empty()
        {
            self.fallback_sent = true;
            info!(
                seeds = ?self.config.fallback_seeds,
                "etcd unreachable at start: joining through the fallback seeds meanwhile"
            );
            self.cluster
                .do_send(Join(self.config.fallback_seeds.clone()));
        }
        let b = &mut self.backoff[child as usize];
        if let Some(h) = b.pending.take() {
            ctx.cancel_future(h);
        }
        let handle = ctx.run_later(delay, move |act, _| {
            let _span = act.span.enter();
            debug!(?child, "resuming child after backoff");
            act.resume(child);
        });
        self.backoff[child as usize].pending = Some(handle);
    }

    /// Restarts `child` now if it waits out its backoff (only such a child
    /// has something to cut short).
    fn retry_now(&mut self, child: Child, ctx: &mut Context<Self>) {
        if let Some(h) = self.backoff[child as usize].pending.take() {
            ctx.cancel_future(h);
            info!(?child, "restarting child now instead of after its backoff");
            self.resume(child);
        }
    }

    pub(crate) fn is_me(&self, id: &MemberId) -> bool {
        self.me.as_ref() == Some(id)
    }

    fn leave(&mut self) {
        if self.control.borrow().leaving {
            return;
        }
        self.set_control(|c| c.leaving = true);
        if let Some(r) = &self.revoke {
            r.do_send(Revoke);
        }
    }
}

/// The delay before restart number `attempt` (0-based) of a child:
/// `min * 2^attempt` capped at `max`, then a uniformly random point in
/// `[delay/2, delay]` so restarts of many nodes do not line up.
pub(crate) fn jittered_backoff(
    min_ms: u64,
    max_ms: u64,
    attempt: u32,
    rng: &mut impl Rng,
) -> Duration {
    let exp = min_ms
        .saturating_mul(1u64 << attempt.min(30))
        .min(max_ms)
        .max(1);
    Duration::from_millis(rng.gen_range(exp / 2..=exp).max(1))
}

impl Actor for DiscoveryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        #[cfg(feature = "metrics")]
        {
            crate::metrics::describe();
            ctx.run_interval(crate::metrics::INTERVAL, |act, _| {
                crate::metrics::publish(&act.status)
            });
        }
        self.cluster.do_send(Subscribe {
            member_up: None,
            member_down: None,
            events: Some(ctx.address().recipient()),
        });
        // etcd is the arbiter of lease-majority downing decisions.
        self.cluster.do_send(SetArbiter(Box::new(LeaseArbiter::new(
            (*self.config).clone(),
            self.span.clone(),
        ))));
        self.cluster
            .send(GetSelf)
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(info) => {
                    act.span.follow(&info.id);
                    let _span = act.span.enter();
                    info!(
                        member = %info.id,
                        endpoints = ?act.config.endpoints,
                        key_prefix = %act.config.cluster_prefix(),
                        "starting etcd discovery"
                    );
                    act.start_children(info, ctx);
                }
                Err(e) => {
                    let _span = act.span.enter();
                    error!(error = %e, "the Cluster actor is gone; etcd discovery stops");
                    ctx.stop();
                }
            })
            .wait(ctx);
    }
}

impl Handler<ClusterEvent> for DiscoveryActor {
    type Result = ();

    fn handle(&mut self, ClusterEvent(event): ClusterEvent, ctx: &mut Context<Self>) {
        let _span = self.span.enter();
        match &event {
            Event::Up(m) if self.is_me(&m.id) => {
                info!("this member is Up");
                self.status.member_up = true;
                self.set_control(|c| c.up = true);
                // Up again after a cut (a rejoin): the network is back, so
                // a child waiting out its backoff tries etcd now, and one
                // whose session still fails on the cut retries from the
                // smallest backoff.
                for child in [Child::LeaseKeeper, Child::SeedWatcher] {
                    self.backoff[child as usize].attempt = 0;
                    self.retry_now(child, ctx);
                }
            }
            Event::Leaving(m) if self.is_me(&m.id) => {
                self.status.member_up = false;
                self.leave();
            }
            Event::Down {
                member,
                reason: DownReason::Left,
            } if self.is_me(&member.id) => {
                self.status.member_up = false;
                self.leave();
            }
            Event::LeaderChanged(leader) => self.leader_changed(leader.as_ref(), ctx),
            Event::SelfChanged { old, new } if self.is_me(old) => {
                self.span.follow(new);
                let _new = self.span.enter();
                info!(%old, %new, "this member rejoins as a new member: following its new id");
                self.me = Some(new.clone());
                self.status.member_up = false;
                self.set_control(|c| {
                    c.up = false;
                    if let Some(r) = c.registration.as_mut() {
                        r.id = new.to_string();
                    }
                });
            }
            _ => {}
        }
    }
}

impl Handler<ChildReport> for DiscoveryActor {
    type Result = ();

    fn handle(&mut self, report: ChildReport, ctx: &mut Context<Self>) {
        let _span = self.span.enter();
        match report {
            ChildReport::Registered { lease } => {
                self.status.etcd_reachable = true;
                self.status.registered = true;
                self.status.lease_id = Some(lease);
                self.backoff[Child::LeaseKeeper as usize].attempt = 0;
                self.set_control(|c| c.lease = Some(lease));
                self.lease_granted(lease, ctx);
            }
            ChildReport::Alive => {
                self.status.etcd_reachable = true;
                self.status.lease_renewals += 1;
            }
            ChildReport::Revoked => {
                self.status.registered = false;
                self.status.lease_id = None;
                self.status.deregistered = true;
                self.set_control(|c| c.lease = None);
            }
            ChildReport::Listed => {
                self.status.etcd_reachable = true;
                self.listed_once = true;
                self.backoff[Child::SeedWatcher as usize].attempt = 0;
            }
            ChildReport::Watched {
                revision,
                seeds,
                members,
                ignored,
            } => {
                self.status.etcd_reachable = true;
                self.status.last_revision = Some(revision);
                self.status.seeds = seeds;
                self.status.registered_members = members;
                self.status.ignored_keys = ignored;
            }
            ChildReport::Formed => self.status.formed = true,
            ChildReport::Compacted => self.status.compacted_relists += 1,
            ChildReport::OwnKeysDeleted => {
                // A new keeper session puts our keys again (same lease if alive).
                if let Some(run) = &self.runs[Child::LeaseKeeper as usize] {
                    run.do_send(Run);
                }
            }
            ChildReport::Failed { child, error } => self.child_failed(child, error, ctx),
        }
    }
}

impl Handler<GetStatus> for DiscoveryActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status.clone())
    }
}

#[cfg(feature = "testing")]
impl Handler<FailChild> for DiscoveryActor {
    type Result = ();

    fn handle(&mut self, FailChild(child): FailChild, _: &mut Context<Self>) {
        if let Some(fail) = &self.fails[child as usize] {
            fail.do_send(InjectFailure);
        }
    }
}

impl Handler<RetryNow> for DiscoveryActor {
    type Result = ();

    fn handle(&mut self, RetryNow(child): RetryNow, ctx: &mut Context<Self>) {
        let _span = self.span.enter();
        self.retry_now(child, ctx);
    }
}

impl Handler<Deregister> for DiscoveryActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Deregister, _: &mut Context<Self>) -> Self::Result {
        self.set_control(|c| c.leaving = true);
        let revoke = self.revoke.clone();
        Box::pin(async move {
            if let Some(r) = revoke {
                let _ = r.send(Revoke).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_up_to_the_cap() {
        let mut rng = SmallRng::seed_from_u64(7);
        for attempt in 0..40 {
            let exp = (100u64 << attempt.min(30)).min(5000);
            for _ in 0..50 {
                let d = jittered_backoff(100, 5000, attempt, &mut rng).as_millis() as u64;
                assert!(
                    d >= exp / 2 && d <= exp,
                    "attempt {attempt}: {d} not in [{}, {exp}]",
                    exp / 2
                );
            }
        }
        // The jitter really varies.
        let ds: std::collections::BTreeSet<_> = (0..20)
            .map(|_| jittered_backoff(100, 5000, 5, &mut rng))
            .collect();
        assert!(ds.len() > 5);
    }
}
