//! A cluster singleton: one instance of an actor in the cluster, its
//! manager, its fencing, and its proxy.
//!
//! [`ClusterSingleton::start`] starts a manager on this member (call it on
//! every member, with the same [`SingletonConfig::name`]). The managers
//! agree on the host without talking: the oldest `Up` member (of
//! [`SingletonConfig::role`]) in each one's view, the one with the lowest
//! up number (the order in which members became `Up`). Only there the factory runs, given a
//! [`SingletonStart`] with the host and, with a [`SingletonClaim`] (etcd), the
//! fencing token.
//!
//! - **Graceful leave**: `Leave` (the manager is the `Cluster`'s leave
//!   guard, so the leave waits for its handover), or
//!   [`SingletonHandle::hand_over`] ahead of it. The proxies everywhere pause,
//!   the instance stops (its `stopped` has run), the next oldest is told and
//!   starts it at once. Only a `System` stopped without `Leave` leaves the
//!   order to [`SingletonConfig::left_grace`].
//! - **Crash or partition**: a new instance starts only once the old host is
//!   `Down` by the downing decision (never on a suspicion); the old host
//!   stops its own instance as soon as its side names no leader or it is
//!   fenced.
//! - **Proxy**: [`SingletonHandle::proxy`] delivers to the instance wherever
//!   it is and buffers while there is none.
//!
//! `docs/REMOTE.md` ("Singleton") states exactly when the singleton can be
//! absent and what keeps it from running twice.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use actix_cluster::MemberId;
use actix_cluster_remote::{RemoteHandle, RemoteMessage, ServiceKey};

mod claim;
#[cfg(feature = "etcd")]
mod etcd;
mod handover;
mod manager;
mod peer;
mod proxy;
mod view;

pub use self::claim::{ClaimFuture, Claimed, SingletonClaim};
#[cfg(feature = "etcd")]
pub use self::etcd::EtcdClaim;
pub use self::proxy::{ProxyStats, SingletonProxy};

use self::handover::HandOver;
use self::manager::{AddProxy, GetStatus, Manager};

/// The settings of one singleton.
#[derive(Clone)]
pub struct SingletonConfig {
    /// The singleton's name, the same on every member; it names the
    /// managers' and the instance's service keys, and the etcd claim.
    pub name: String,
    /// Only members with this role host it; `None`: any member. Start the
    /// manager on every member all the same: the proxies there need it.
    pub role: Option<String>,
    /// How many messages a proxy holds while there is no instance (default
    /// 1000); when full, the oldest is dropped and counted.
    pub buffer: usize,
    /// How long a new host waits after the old host left without its stop
    /// announcement reaching this member (default 1 s). After a `Leave` that
    /// happens only to a manager that did not answer the handover in time,
    /// and the leave went out after the stop: the wait is late, never
    /// doubled. After a `System` stopped without `Leave` (no handover: the
    /// leave goes out as it stops) the old instance's teardown must end
    /// within it. A handover does not wait.
    pub left_grace: Duration,
    /// How long a handover waits for each peer's answer (default 1 s).
    pub peer_timeout: Duration,
    /// A fenced claim the instance must hold to run (etcd: see
    /// `SingletonClaim`); `None`: the downing decision alone decides.
    pub claim: Option<Arc<dyn SingletonClaim>>,
}

impl SingletonConfig {
    /// The defaults for a singleton called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        SingletonConfig {
            name: name.into(),
            role: None,
            buffer: 1000,
            left_grace: Duration::from_secs(1),
            peer_timeout: Duration::from_secs(1),
            claim: None,
        }
    }

    /// Limits the singleton to members with `role`.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Sets the proxies' buffer (at least 1).
    pub fn with_buffer(mut self, buffer: usize) -> Self {
        self.buffer = buffer.max(1);
        self
    }

    /// Requires a fenced claim to run (see [`SingletonClaim`]).
    pub fn with_claim(mut self, claim: Arc<dyn SingletonClaim>) -> Self {
        self.claim = Some(claim);
        self
    }
}

impl fmt::Debug for SingletonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingletonConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("buffer", &self.buffer)
            .field("left_grace", &self.left_grace)
            .field("claim", &self.claim.is_some())
            .finish()
    }
}

/// Given to the factory when this member starts the instance.
pub struct SingletonStart {
    /// This member, the host.
    pub host: MemberId,
    /// The fencing token of the claim (with a [`SingletonClaim`]): larger for
    /// every later instance; pass it with every external write, and let the
    /// resource refuse writes with a smaller token than it has seen. `None`
    /// without a claim.
    pub token: Option<i64>,
    remote: RemoteHandle,
    name: String,
    served: manager::Served,
}

impl fmt::Debug for SingletonStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingletonStart")
            .field("host", &self.host)
            .field("token", &self.token)
            .finish()
    }
}

impl SingletonStart {
    /// Makes the instance reachable for `M` through every member's
    /// [`SingletonProxy<M>`]: serves it and lists it under the singleton's
    /// key for `M`. Call it in the factory, once per message type the
    /// proxies send; the listing goes when the instance stops.
    pub fn serve<M, A>(&self, addr: &Addr<A>)
    where
        M: RemoteMessage + Message<Result = <M as RemoteMessage>::Reply>,
        A: Actor + Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let key = instance_key::<M>(&self.name);
        let reference = self.remote.serve::<M, A>(addr.clone());
        self.remote.register(&key, &reference);
        let remote = self.remote.clone();
        self.served
            .borrow_mut()
            .push(Box::new(move || remote.deregister(&key, &reference)));
    }
}

/// The service key under which the instance is listed for `M`.
pub(crate) fn instance_key<M: RemoteMessage>(name: &str) -> ServiceKey<M> {
    ServiceKey::named(format!("actix-cluster-tools.singleton/{name}/{}", M::NAME))
}

/// Sent to the instance to stop it (its handler stops the actor:
/// `ctx.stop()`, after any cleanup). It comes through the instance's
/// mailbox, so every message queued before it is handled first; the manager
/// then waits until the actor has stopped (its `stopped` has run) before
/// anything else starts elsewhere.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopSingleton;

/// Where the singleton runs, as this member knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingletonStatus {
    /// The member running the instance (this one when `here`), as announced
    /// by its manager; `None` while there is none.
    pub host: Option<MemberId>,
    /// The instance's fencing token (with a claim), when known.
    pub token: Option<i64>,
    /// The instance runs on this member.
    pub here: bool,
}

/// Starts singleton managers.
#[derive(Debug)]
pub struct ClusterSingleton;

impl ClusterSingleton {
    /// Starts the manager of `config.name` on this member (a manager on
    /// every member, optionally limited to a role); the manager calls
    /// `factory` when this member is to host the instance, and stops the
    /// instance with [`StopSingleton`] when it must go. Must be called in the
    /// actix `System` of a running `Cluster` and its remote layer.
    pub fn start<A>(
        remote: &RemoteHandle,
        config: SingletonConfig,
        factory: impl Fn(SingletonStart) -> Addr<A> + 'static,
    ) -> SingletonHandle
    where
        A: Actor<Context = Context<A>> + Handler<StopSingleton>,
    {
        let buffer = config.buffer;
        let name = config.name.clone();
        let manager = Manager::new(remote.clone(), config, Box::new(factory)).start();
        SingletonHandle {
            remote: remote.clone(),
            name,
            buffer,
            hand_over: manager.clone().recipient(),
            status: manager.clone().recipient(),
            add_proxy: manager.recipient(),
        }
    }
}

/// A handle on this member's singleton manager; cheap to clone.
#[derive(Clone)]
pub struct SingletonHandle {
    remote: RemoteHandle,
    name: String,
    buffer: usize,
    hand_over: Recipient<HandOver>,
    status: Recipient<GetStatus>,
    add_proxy: Recipient<AddProxy>,
}

impl fmt::Debug for SingletonHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SingletonHandle({})", self.name)
    }
}

impl SingletonHandle {
    /// Where the singleton runs, as this member knows it.
    pub async fn status(&self) -> SingletonStatus {
        let none = SingletonStatus {
            host: None,
            token: None,
            here: false,
        };
        self.status.send(GetStatus).await.unwrap_or(none)
    }

    /// A proxy for `M`: delivers to the instance wherever it runs (the
    /// instance must be served for `M`, see [`SingletonStart::serve`]),
    /// buffers while there is none.
    pub fn proxy<M: RemoteMessage>(&self) -> SingletonProxy<M> {
        let proxy = SingletonProxy::new(&self.remote, &self.name, self.buffer);
        self.add_proxy.do_send(AddProxy(proxy.control()));
        proxy
    }

    /// Hands the singleton over before this member leaves: this manager
    /// never hosts again; if the instance runs here, every member's proxies
    /// pause, the instance stops (its `stopped` has run), and the others are
    /// told, so the next oldest starts it at once. Resolves when done; then
    /// send `Leave` to the `Cluster` (or stop the `System`). A plain `Leave`
    /// runs the same handover first (the manager is a leave guard): call
    /// this to hand over earlier, or before stopping the `System` without
    /// `Leave`.
    pub async fn hand_over(&self) {
        let _ = self.hand_over.send(HandOver).await;
    }
}
