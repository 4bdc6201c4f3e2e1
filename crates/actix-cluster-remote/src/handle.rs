//! `RemoteHandle`: what application code uses: start the remote layer, make
//! local actors reachable, tell, ask, register, find, subscribe and watch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use actix_cluster::{Cluster, ClusterConfig, GetSelf, UpdateMetadata};
use tokio::net::TcpListener;

use crate::config::{RemoteConfig, RemoteConfigError};
use crate::control::WatchId;
use crate::env::Env;
use crate::envelope::Kind;
use crate::error::{AskError, FailureCode};
use crate::message::RemoteMessage;
use crate::reference::{ActorAddr, ActorId, RemoteRef};
use crate::registry::{Registry, RegistryLimits, ServiceKey};
use crate::remote::{
    Find, Refresh, Register, Remote, Sent, SubscribeKey, Terminated, Unwatch, Watch,
};
use crate::shared::{failure, Delivery, Dispatch, LocalActor, Outgoing, ReplyTo, Shared, Wait};
use crate::stats::RemoteStats;
use crate::METADATA_KEY;

/// What a handler served with [`RemoteHandle::serve_tells`] may answer for
/// a message from another member: the connection's reader awaits it before
/// it reads the next message.
pub type TellWait = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Why the remote layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] RemoteConfigError),
    /// The listener could not be bound.
    #[error("remote transport: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The `Cluster` actor did not answer or refused the metadata.
    #[error("remote transport: the cluster actor: {0}")]
    Cluster(String),
}

/// The remote layer of one actix `System`; cheap to clone, usable from any
/// actor of that system.
#[derive(Clone)]
pub struct RemoteHandle {
    shared: Arc<Shared>,
    remote: Addr<Remote>,
    /// The `Cluster` beside it, for tools that follow membership (roles,
    /// reachability) as well as the registry.
    cluster: Addr<Cluster>,
    ask_timeout: Duration,
}

impl std::fmt::Debug for RemoteHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteHandle({})", self.shared.local())
    }
}

impl RemoteConfig {
    /// The settings that must agree with the cluster's: its name and keys.
    pub fn for_cluster(config: &ClusterConfig) -> Self {
        RemoteConfig {
            cluster_name: config.protocol.cluster_name.clone(),
            keyring: config.protocol.keyring.clone(),
            ..RemoteConfig::default()
        }
    }
}

impl Remote {
    /// Starts the remote layer beside a running `Cluster`: binds its
    /// listener, advertises its port in this member's metadata, and follows
    /// membership from then on.
    pub async fn start(
        cluster: Addr<Cluster>,
        config: RemoteConfig,
    ) -> Result<RemoteHandle, RemoteError> {
        config.validate()?;
        let me = cluster
            .send(GetSelf)
            .await
            .map_err(|e| RemoteError::Cluster(e.to_string()))?;
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| RemoteError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let port = listener
            .local_addr()
            .map_err(|source| RemoteError::Bind {
                addr: config.bind,
                source,
            })?
            .port();
        let shared = Arc::new(Shared::new(me.id.clone(), config.max_message_size));
        let registry = Registry::new(me.id.clone(), RegistryLimits::default());
        let ask_timeout = config.ask_timeout;
        let remote = Remote::create({
            let (shared, cluster) = (shared.clone(), cluster.clone());
            move |ctx| {
                let env = Arc::new(Env {
                    shared,
                    cluster_name: config.cluster_name.clone(),
                    keyring: Mutex::new(config.keyring.clone()),
                    config,
                    remote: ctx.address().recipient(),
                });
                actix_rt::spawn(crate::handshake::listen(env.clone(), listener));
                let mut actor = Remote::new(cluster, registry);
                actor.set_env(env);
                actor
            }
        });
        let mut metadata: BTreeMap<String, String> = me.metadata;
        metadata.insert(METADATA_KEY.to_owned(), port.to_string());
        cluster
            .send(UpdateMetadata(metadata))
            .await
            .map_err(|e| RemoteError::Cluster(e.to_string()))?
            .map_err(|e| RemoteError::Cluster(e.to_string()))?;
        remote.do_send(Refresh);
        Ok(RemoteHandle {
            shared,
            remote,
            cluster,
            ask_timeout,
        })
    }
}

fn dispatch<M, A>(addr: Addr<A>) -> Dispatch
where
    M: RemoteMessage + Message<Result = <M as RemoteMessage>::Reply>,
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
{
    Box::new(move |shared, payload, delivery| {
        let msg: M =
            crate::payload::decode(payload).map_err(|e| failure(FailureCode::Undecodable, &e.0))?;
        match delivery {
            Delivery::LocalTell => {
                addr.do_send(msg);
                Ok(None)
            }
            Delivery::RemoteTell => match addr.try_send(msg) {
                Ok(()) => Ok(None),
                Err(SendError::Full(msg)) => {
                    let fut = addr.send(msg);
                    let wait: Wait = Box::pin(async move {
                        let _ = fut.await;
                    });
                    Ok(Some(wait))
                }
                Err(SendError::Closed(_)) => {
                    Err(failure(FailureCode::NoSuchActor, "the actor stopped"))
                }
            },
            Delivery::Ask(to) => {
                let fut = addr.send(msg);
                let shared = shared.clone();
                actix_rt::spawn(async move {
                    let result = match fut.await {
                        Ok(reply) => crate::payload::encode(&reply)
                            .map_err(|e| failure(FailureCode::Undecodable, &e.0)),
                        Err(_) => Err(failure(FailureCode::NoSuchActor, "the actor stopped")),
                    };
                    shared.reply(to, M::tag(), result);
                });
                Ok(None)
            }
        }
    })
}

impl RemoteHandle {
    /// The remote layer of the current actix `System`'s... handle given at
    /// start; this member's current id.
    pub fn local_member(&self) -> actix_cluster_proto::MemberId {
        self.shared.local()
    }

    /// Makes a local actor reachable for `M` from every member; answers its
    /// reference. The actor stays reachable until it stops.
    pub fn serve<M, A>(&self, addr: Addr<A>) -> RemoteRef<M>
    where
        M: RemoteMessage + Message<Result = <M as RemoteMessage>::Reply>,
        A: Actor + Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let id = self.shared.new_actor_id();
        self.serve_as(id, addr)
    }

    /// Adds a handler for another message type to an actor already served
    /// (same actor id, so one reference per type with one identity).
    pub fn serve_as<M, A>(&self, id: ActorId, addr: Addr<A>) -> RemoteRef<M>
    where
        M: RemoteMessage + Message<Result = <M as RemoteMessage>::Reply>,
        A: Actor + Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let alive = {
            let addr = addr.clone();
            Box::new(move || addr.connected())
        };
        let mut handlers = crate::fast_hash::FastMap::default();
        handlers.insert(M::tag(), dispatch::<M, A>(addr));
        self.shared.add_actor(id, LocalActor { handlers, alive });
        RemoteRef::new(ActorAddr {
            member: self.shared.local(),
            actor: id,
        })
    }

    /// Makes a function reachable for the tells of `M`, as an actor is
    /// (one reference, registered and watched like an actor's, gone once
    /// `alive` answers false): `deliver` gets each message, in order per
    /// sender, with `true` when it comes from this member. For a message
    /// from another member it may answer a future that the connection's
    /// reader awaits before it reads on (a full mailbox behind it), so the
    /// sender is slowed down rather than a queue grown; a future answered
    /// for a local tell is spawned. An ask is refused (`Rejected`).
    ///
    /// For tools that hand a message on without an actor's mailbox in
    /// between (a topic's fan-out to its local subscribers).
    pub fn serve_tells<M, L, F>(&self, alive: L, deliver: F) -> RemoteRef<M>
    where
        M: RemoteMessage,
        L: Fn() -> bool + Send + Sync + 'static,
        F: Fn(M, bool) -> Option<TellWait> + Send + Sync + 'static,
    {
        let dispatch: Dispatch = Box::new(move |_, payload, delivery| {
            let msg: M = crate::payload::decode(payload)
                .map_err(|e| failure(FailureCode::Undecodable, &e.0))?;
            match delivery {
                Delivery::LocalTell => {
                    if let Some(wait) = deliver(msg, true) {
                        actix_rt::spawn(wait);
                    }
                    Ok(None)
                }
                Delivery::RemoteTell => Ok(deliver(msg, false)),
                Delivery::Ask(_) => Err(failure(FailureCode::UnknownType, "tells only")),
            }
        });
        let id = self.shared.new_actor_id();
        let mut handlers = crate::fast_hash::FastMap::default();
        handlers.insert(M::tag(), dispatch);
        let alive = Box::new(alive);
        self.shared.add_actor(id, LocalActor { handlers, alive });
        RemoteRef::new(ActorAddr {
            member: self.shared.local(),
            actor: id,
        })
    }

    fn outgoing<M: RemoteMessage>(
        &self,
        kind: Kind,
        to: ActorId,
        correlation: u64,
        msg: &M,
    ) -> Result<Outgoing, AskError> {
        let payload = crate::payload::encode(msg).map_err(|e| AskError::Rejected(e.0))?;
        if payload.len() > self.shared.max_message_size {
            self.shared
                .counters
                .dropped_oversize
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(AskError::Rejected(format!(
                "{} bytes exceed max_message_size {}",
                payload.len(),
                self.shared.max_message_size
            )));
        }
        Ok(Outgoing {
            kind,
            to,
            tag: M::tag(),
            correlation,
            payload,
        })
    }

    /// Sends a message: at most once, in order per sender and receiver. An
    /// error means it was not sent (`QueueFull`, `MemberDown`,
    /// `Unreachable`, `Rejected` for oversize).
    pub fn tell<M: RemoteMessage>(&self, to: &RemoteRef<M>, msg: M) -> Result<(), AskError> {
        self.tell_ref(to, &msg)
    }

    /// [`tell`](Self::tell) of a borrowed message: on an error nothing was
    /// sent and the caller still holds the message, so it may try another
    /// target without breaking at-most-once (a router does).
    pub fn tell_ref<M: RemoteMessage>(&self, to: &RemoteRef<M>, msg: &M) -> Result<(), AskError> {
        let out = self.outgoing(Kind::Tell, to.addr().actor, 0, msg)?;
        if self.shared.is_local(to.member()) {
            return self
                .shared
                .deliver(out.to, out.tag, &out.payload, Delivery::LocalTell)
                .map(|_| ())
                .map_err(AskError::from);
        }
        self.shared.enqueue(to.member(), out)
    }

    /// Tells one message to each of `to`, encoding it once (a topic's
    /// publish). `Err` when the message itself is refused (`Rejected`, e.g.
    /// over the size limit): sent to nobody. Otherwise each target that
    /// could not take it is passed to `failed` with the reason, as
    /// [`tell`](Self::tell) would answer; the others got it.
    pub fn tell_each<M: RemoteMessage>(
        &self,
        to: &[RemoteRef<M>],
        msg: &M,
        mut failed: impl FnMut(&RemoteRef<M>, AskError),
    ) -> Result<(), AskError> {
        let Some(first) = to.first() else {
            return Ok(());
        };
        let once = self.outgoing(Kind::Tell, first.addr().actor, 0, msg)?;
        for target in to {
            let out = Outgoing {
                kind: Kind::Tell,
                to: target.addr().actor,
                tag: once.tag,
                correlation: 0,
                payload: once.payload.clone(),
            };
            let sent = if self.shared.is_local(target.member()) {
                self.shared
                    .deliver(out.to, out.tag, &out.payload, Delivery::LocalTell)
                    .map(|_| ())
                    .map_err(AskError::from)
            } else {
                self.shared.enqueue(target.member(), out)
            };
            if let Err(e) = sent {
                failed(target, e);
            }
        }
        Ok(())
    }

    /// Asks with the default timeout (`RemoteConfig::ask_timeout`).
    pub async fn ask<M: RemoteMessage>(
        &self,
        to: &RemoteRef<M>,
        msg: M,
    ) -> Result<M::Reply, AskError> {
        self.ask_timeout(to, msg, self.ask_timeout).await
    }

    /// Asks and waits at most `timeout` for the answer. Fails at once when
    /// the target's member is down or unreachable, and as soon as it becomes
    /// so while waiting.
    pub async fn ask_timeout<M: RemoteMessage>(
        &self,
        to: &RemoteRef<M>,
        msg: M,
        timeout: Duration,
    ) -> Result<M::Reply, AskError> {
        let result = self.ask_inner(to, msg, timeout).await;
        if let Err(e) = &result {
            tracing::debug!(message = M::NAME, member = %to.member(), error = %e, "ask failed");
        }
        result
    }

    async fn ask_inner<M: RemoteMessage>(
        &self,
        to: &RemoteRef<M>,
        msg: M,
        timeout: Duration,
    ) -> Result<M::Reply, AskError> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let (correlation, rx) = self.shared.new_ask(to.member().clone());
        let result = self.send_ask(to, correlation, &msg);
        if let Err(e) = result {
            self.shared.forget_ask(correlation);
            return Err(e);
        }
        let bytes = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer?,
            Ok(Err(_)) => return Err(AskError::Unreachable),
            Err(_) => {
                self.shared.forget_ask(correlation);
                return Err(AskError::Timeout);
            }
        };
        #[cfg(feature = "metrics")]
        crate::metrics::ask_answered(started.elapsed());
        crate::payload::decode(&bytes).map_err(|e| AskError::Rejected(e.0))
    }

    fn send_ask<M: RemoteMessage>(
        &self,
        to: &RemoteRef<M>,
        correlation: u64,
        msg: &M,
    ) -> Result<(), AskError> {
        let out = self.outgoing(Kind::Ask, to.addr().actor, correlation, msg)?;
        if self.shared.is_local(to.member()) {
            let reply = Delivery::Ask(ReplyTo::Local { correlation });
            return self
                .shared
                .deliver(out.to, out.tag, &out.payload, reply)
                .map(|_| ())
                .map_err(AskError::from);
        }
        self.shared.enqueue(to.member(), out)
    }

    /// Lists a local actor under a service key on every member.
    pub fn register<M: RemoteMessage>(&self, key: &ServiceKey<M>, actor: &RemoteRef<M>) {
        self.remote.do_send(Register {
            key: key.name().to_owned(),
            actor: actor.addr().actor,
            add: true,
        });
    }

    /// Removes a registration.
    pub fn deregister<M: RemoteMessage>(&self, key: &ServiceKey<M>, actor: &RemoteRef<M>) {
        self.remote.do_send(Register {
            key: key.name().to_owned(),
            actor: actor.addr().actor,
            add: false,
        });
    }

    /// The actors listed under a key now, reachable members only.
    pub async fn find<M: RemoteMessage>(&self, key: &ServiceKey<M>) -> Vec<RemoteRef<M>> {
        self.find_all(key, false).await
    }

    /// The actors listed under a key, unreachable members' too when asked.
    pub async fn find_all<M: RemoteMessage>(
        &self,
        key: &ServiceKey<M>,
        include_unreachable: bool,
    ) -> Vec<RemoteRef<M>> {
        let listing = self
            .remote
            .send(Find {
                key: key.name().to_owned(),
                include_unreachable,
            })
            .await
            .unwrap_or_default();
        listing.into_iter().map(RemoteRef::new).collect()
    }

    /// Sends the key's listing to `subscriber` at once, then after every
    /// change (reachable members only).
    pub fn subscribe<M: RemoteMessage>(
        &self,
        key: &ServiceKey<M>,
        subscriber: Recipient<Listing<M>>,
    ) {
        let name = key.name().to_owned();
        let sink = Box::new(move |actors: Vec<ActorAddr>| {
            let listing = Listing {
                key: name.clone(),
                actors: actors.into_iter().map(RemoteRef::new).collect(),
            };
            match subscriber.try_send(listing) {
                Ok(()) => Sent::Delivered,
                Err(SendError::Full(_)) => Sent::Full,
                Err(SendError::Closed(_)) => Sent::Gone,
            }
        });
        self.remote.do_send(SubscribeKey {
            key: key.name().to_owned(),
            include_unreachable: false,
            sink,
        });
    }

    /// Watches an actor: `watcher` gets exactly one `Terminated` when it
    /// stops or its member is down (at once if that already happened).
    pub async fn watch<M>(&self, target: &RemoteRef<M>, watcher: Recipient<Terminated>) -> WatchId {
        self.remote
            .send(Watch {
                target: target.addr().clone(),
                watcher,
            })
            .await
            .unwrap_or(0)
    }

    /// Ends a watch (no `Terminated` comes for it).
    pub fn unwatch(&self, id: WatchId) {
        self.remote.do_send(Unwatch(id));
    }

    /// The remote layer's counters.
    pub fn stats(&self) -> RemoteStats {
        self.shared.counters.snapshot()
    }

    /// The `Remote` actor.
    pub fn actor(&self) -> &Addr<Remote> {
        &self.remote
    }

    /// The `Cluster` actor this layer runs beside.
    pub fn cluster(&self) -> &Addr<Cluster> {
        &self.cluster
    }
}

/// The actors listed under a service key (sent to subscribers).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Listing<M: RemoteMessage> {
    /// The key's name.
    pub key: String,
    /// The actors, reachable members only.
    pub actors: Vec<RemoteRef<M>>,
}
