//! Routers over a service key's listing: round robin, random, consistent
//! hashing, skipping members that are unreachable or down.
//!
//! A router follows the key's listing (the registry sends it on every
//! change, reachable members only) and the cluster's own events (a member
//! suspected or down leaves the routees the moment this member's cluster
//! says so), narrowed to the members of a role when asked. Sending picks a
//! routee without waiting for any actor: the routees are a shared snapshot.
//! A tell that a routee cannot take (its member unreachable or down, its
//! queue full, the actor gone) was not sent, so the router tries the next
//! routee: still at most once.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use actix_cluster_remote::{AskError, RemoteHandle, RemoteMessage, RemoteRef, ServiceKey};

mod rendezvous;
mod view;

use self::view::{Routees, Slot, View};

/// How a router picks a routee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// Each routee in turn ([`Router::tell`], [`Router::ask`]).
    #[default]
    RoundRobin,
    /// A routee picked at random, uniformly ([`Router::tell`],
    /// [`Router::ask`]).
    Random,
    /// By the message's [`RouteKey`], rendezvous hashing
    /// ([`Router::tell_keyed`], [`Router::ask_keyed`]): a key goes to the
    /// same routee while the routees stay the same, and a routee that leaves
    /// moves only its own keys.
    ConsistentHash,
}

/// The key a message is routed by under [`Routing::ConsistentHash`]: e.g.
/// a hash of an entity id, so that one entity's messages meet one routee.
pub trait RouteKey {
    /// The message's key.
    fn route_key(&self) -> u64;
}

/// A router's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterConfig {
    /// How a routee is picked. Default: round robin.
    pub routing: Routing,
    /// Only actors on members with this role. Default: any member.
    pub role: Option<String>,
}

/// Why a router did not deliver a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No routee now: nothing listed under the key (on reachable members
    /// of the role), or the first listing has not arrived yet.
    #[error("no routee")]
    NoRoutees,
    /// `tell` or `ask` on a [`Routing::ConsistentHash`] router: use
    /// `tell_keyed` or `ask_keyed`.
    #[error("a consistent-hash router routes by key: use tell_keyed or ask_keyed")]
    NeedsKey,
    /// The message itself was refused (over the size limit, or it does not
    /// encode): not sent.
    #[error("the message was refused: {0}")]
    Rejected(AskError),
    /// Every routee was tried and none could take it (the last one's
    /// reason): not sent.
    #[error("no routee could take the message: {0}")]
    Unavailable(AskError),
    /// The ask was sent to a routee and failed there (or its answer did not
    /// come in time); it may have been handled.
    #[error("the ask failed: {0}")]
    Ask(AskError),
}

struct Inner<M: RemoteMessage> {
    remote: RemoteHandle,
    routing: Routing,
    slot: Arc<Slot<M>>,
    /// Round robin's counter.
    next: AtomicU64,
    /// Random's state (SplitMix64).
    seed: AtomicU64,
    /// Keeps the view running while the router lives.
    _view: Addr<View<M>>,
}

/// A router to the actors listed under a service key. Cheap to clone; every
/// clone routes over the same routees (and round robin's one counter).
pub struct Router<M: RemoteMessage> {
    inner: Arc<Inner<M>>,
}

impl<M: RemoteMessage> Clone for Router<M> {
    fn clone(&self) -> Self {
        Router {
            inner: self.inner.clone(),
        }
    }
}

impl<M: RemoteMessage> fmt::Debug for Router<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Router({:?}, {} routees)",
            self.inner.routing,
            self.snapshot().refs.len()
        )
    }
}

/// A seed that differs between routers and processes.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    static ROUTERS: AtomicU64 = AtomicU64::new(0);
    let n = ROUTERS.fetch_add(1, Ordering::Relaxed);
    rendezvous::mix(nanos ^ (u64::from(std::process::id()) << 32) ^ n)
}

impl<M: RemoteMessage> Router<M> {
    /// Starts a router on this member over `key`'s listing. Call it from
    /// inside the actix `System` of `remote`. The routees fill in as the
    /// first listing arrives (a few milliseconds); until then sends answer
    /// [`RouteError::NoRoutees`].
    pub fn start(remote: &RemoteHandle, key: ServiceKey<M>, config: RouterConfig) -> Router<M> {
        let slot: Arc<Slot<M>> = Arc::new(RwLock::new(Arc::new(Routees {
            refs: Vec::new(),
            hashes: Vec::new(),
        })));
        let view = View::start(remote, &key, config.role, &slot);
        Router {
            inner: Arc::new(Inner {
                remote: remote.clone(),
                routing: config.routing,
                slot,
                next: AtomicU64::new(0),
                seed: AtomicU64::new(seed()),
                _view: view,
            }),
        }
    }

    fn snapshot(&self) -> Arc<Routees<M>> {
        self.inner
            .slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where round robin or random starts, among `n` routees.
    fn first(&self, n: usize) -> Result<usize, RouteError> {
        let draw = match self.inner.routing {
            Routing::RoundRobin => self.inner.next.fetch_add(1, Ordering::Relaxed),
            Routing::Random => rendezvous::mix(
                self.inner
                    .seed
                    .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed),
            ),
            Routing::ConsistentHash => return Err(RouteError::NeedsKey),
        };
        Ok((draw % n as u64) as usize)
    }

    /// Tells each routee of `order` in turn until one takes the message.
    fn tell_in(
        &self,
        routees: &Routees<M>,
        order: impl Iterator<Item = usize>,
        msg: &M,
    ) -> Result<(), RouteError> {
        let mut last = None;
        for i in order {
            let to = &routees.refs[i];
            match self.inner.remote.tell_ref(to, msg) {
                Ok(()) => return Ok(()),
                Err(e @ AskError::Rejected(_)) => return Err(RouteError::Rejected(e)),
                Err(e) => {
                    tracing::debug!(
                        member = %self.inner.remote.local_member(),
                        routee = %to.addr(),
                        error = %e,
                        "routee skipped"
                    );
                    last = Some(e);
                }
            }
        }
        Err(last.map_or(RouteError::NoRoutees, RouteError::Unavailable))
    }

    /// Tells one routee, picked by round robin or at random; when it cannot
    /// take the message, the next one in turn. At most once.
    pub fn tell(&self, msg: M) -> Result<(), RouteError> {
        let routees = self.snapshot();
        let n = routees.refs.len();
        if n == 0 {
            return Err(RouteError::NoRoutees);
        }
        let first = self.first(n)?;
        self.tell_in(&routees, (0..n).map(|k| (first + k) % n), &msg)
    }

    /// Asks one routee, picked by round robin or at random, with the remote
    /// layer's ask timeout. An ask is not retried on another routee (it may
    /// have been handled).
    pub async fn ask(&self, msg: M) -> Result<M::Reply, RouteError> {
        let to = {
            let routees = self.snapshot();
            let n = routees.refs.len();
            if n == 0 {
                return Err(RouteError::NoRoutees);
            }
            routees.refs[self.first(n)?].clone()
        };
        self.inner
            .remote
            .ask(&to, msg)
            .await
            .map_err(RouteError::Ask)
    }

    /// Tells the routee the message's key goes to (rendezvous hashing,
    /// whatever the router's routing); when it cannot take the message, the
    /// key's next routee. At most once.
    pub fn tell_keyed(&self, msg: M) -> Result<(), RouteError>
    where
        M: RouteKey,
    {
        let routees = self.snapshot();
        if routees.refs.is_empty() {
            return Err(RouteError::NoRoutees);
        }
        let key = msg.route_key();
        // The best routee almost always takes it: rank the rest only then.
        if let Some(best) = rendezvous::best(key, &routees.hashes) {
            match self.inner.remote.tell_ref(&routees.refs[best], &msg) {
                Ok(()) => return Ok(()),
                Err(e @ AskError::Rejected(_)) => return Err(RouteError::Rejected(e)),
                Err(_) => {}
            }
        }
        let order = rendezvous::ranked(key, &routees.hashes);
        self.tell_in(&routees, order.into_iter().skip(1), &msg)
    }

    /// Asks the routee the message's key goes to (rendezvous hashing).
    pub async fn ask_keyed(&self, msg: M) -> Result<M::Reply, RouteError>
    where
        M: RouteKey,
    {
        let to = {
            let routees = self.snapshot();
            let best =
                rendezvous::best(msg.route_key(), &routees.hashes).ok_or(RouteError::NoRoutees)?;
            routees.refs[best].clone()
        };
        self.inner
            .remote
            .ask(&to, msg)
            .await
            .map_err(RouteError::Ask)
    }

    /// The routees now: the key's listing on reachable members (of the
    /// role), in the registry's order.
    pub fn routees(&self) -> Vec<RemoteRef<M>> {
        self.snapshot().refs.clone()
    }
}
