//! The demo's remote actors: every node serves a ping actor listed under the
//! `ping` service key; every node follows that listing (member -> reference)
//! for `POST /api/members/<id>/ping`; the frontend watches every other node's
//! ping actor and puts each `Terminated` on the event stream.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{Cluster, ClusterConfig, MemberId};
use actix_cluster_remote::{
    remote_message, ActorAddr, AskError, Listing, Remote, RemoteConfig, RemoteHandle, RemoteRef,
    ServiceKey, Terminated, TerminatedReason,
};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::listener::{Listener, Publish};
use crate::views::{now_ms, reason_str, StreamEvent};

/// Asks a ping actor; answers the number it was given.
#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "u64")]
pub(crate) struct DemoPing(pub(crate) u64);
remote_message!(DemoPing => u64, name = "cluster-monitor.Ping", version = 1);

/// The service key every node lists its ping actor under.
pub(crate) const PING_KEY: ServiceKey<DemoPing> = ServiceKey::new("ping");

/// How long a ping waits by default (`PING_TIMEOUT_MS`).
const DEFAULT_PING_TIMEOUT: Duration = Duration::from_millis(2000);

struct PingActor;

impl Actor for PingActor {
    type Context = Context<Self>;
}

impl Handler<DemoPing> for PingActor {
    type Result = u64;

    fn handle(&mut self, DemoPing(n): DemoPing, _: &mut Context<Self>) -> u64 {
        n
    }
}

/// The ping actors by member, shared with the HTTP handlers.
pub(crate) type PingRefs = Arc<RwLock<HashMap<MemberId, RemoteRef<DemoPing>>>>;

/// Follows the `ping` listing; on the frontend, watches the others' actors.
struct Pings {
    refs: PingRefs,
    remote: RemoteHandle,
    /// Watch every other node's ping actor (the frontend does).
    watch: bool,
    watched: HashSet<ActorAddr>,
    listener: Addr<Listener>,
}

impl Actor for Pings {
    type Context = Context<Self>;
}

impl Handler<Listing<DemoPing>> for Pings {
    type Result = ();

    fn handle(&mut self, listing: Listing<DemoPing>, ctx: &mut Context<Self>) {
        let mut refs = self.refs.write().unwrap_or_else(|e| e.into_inner());
        refs.clear();
        for r in &listing.actors {
            refs.insert(r.member().clone(), r.clone());
        }
        drop(refs);
        if !self.watch {
            return;
        }
        let me = self.remote.local_member();
        for r in listing.actors {
            if *r.member() != me && self.watched.insert(r.addr().clone()) {
                let remote = self.remote.clone();
                let watcher = ctx.address().recipient();
                actix_rt::spawn(async move {
                    remote.watch(&r, watcher).await;
                });
            }
        }
    }
}

impl Handler<Terminated> for Pings {
    type Result = ();

    fn handle(&mut self, t: Terminated, _: &mut Context<Self>) {
        self.watched.remove(&t.reference);
        let reason = match t.reason {
            TerminatedReason::Stopped => "stopped",
            TerminatedReason::MemberDown(r) => reason_str(r),
        };
        tracing::info!(member = %t.reference.member, actor = t.reference.actor.0, reason, "terminated");
        self.listener.do_send(Publish(StreamEvent::Terminated {
            time: now_ms(),
            member: t.reference.member.to_string(),
            actor: t.reference.actor.0,
            reason,
        }));
    }
}

/// The demo's remote layer, as the HTTP handlers use it.
#[derive(Clone)]
pub(crate) struct DemoRemote {
    pub(crate) handle: RemoteHandle,
    refs: PingRefs,
    timeout: Duration,
}

/// What a ping ended with.
pub(crate) enum PingOutcome {
    /// The answer and its round trip.
    Rtt(Duration),
    /// No ping actor is listed for that member (yet, or any more).
    NotListed,
    /// The ask failed.
    Failed(AskError),
}

fn ping_timeout() -> anyhow::Result<Duration> {
    match std::env::var("PING_TIMEOUT_MS") {
        Err(_) => Ok(DEFAULT_PING_TIMEOUT),
        Ok(v) if v.is_empty() => Ok(DEFAULT_PING_TIMEOUT),
        Ok(v) => match v.parse::<u64>() {
            Ok(ms) if (1..=60_000).contains(&ms) => Ok(Duration::from_millis(ms)),
            _ => anyhow::bail!("PING_TIMEOUT_MS: {v:?} is not a number of ms in 1..=60000"),
        },
    }
}

impl DemoRemote {
    /// Starts the remote layer beside `cluster`, listening on the gossip
    /// address's IP (any port), serves and lists the ping actor.
    pub(crate) async fn start(
        cluster: Addr<Cluster>,
        config: &ClusterConfig,
        listener: Addr<Listener>,
        frontend: bool,
    ) -> anyhow::Result<Self> {
        let timeout = ping_timeout()?;
        let remote_config = RemoteConfig {
            bind: SocketAddr::new(config.bind.ip(), 0),
            ..RemoteConfig::for_cluster(config)
        };
        let handle = Remote::start(cluster, remote_config)
            .await
            .context("cannot start the remote actors' transport")?;
        let ping = handle.serve::<DemoPing, _>(PingActor.start());
        handle.register(&PING_KEY, &ping);
        let refs = PingRefs::default();
        let pings = Pings {
            refs: refs.clone(),
            remote: handle.clone(),
            watch: frontend,
            watched: HashSet::new(),
            listener,
        }
        .start();
        handle.subscribe(&PING_KEY, pings.recipient());
        Ok(DemoRemote {
            handle,
            refs,
            timeout,
        })
    }

    /// Asks `member`'s ping actor.
    pub(crate) async fn ping(&self, member: &MemberId) -> PingOutcome {
        let target = self
            .refs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(member)
            .cloned();
        let Some(target) = target else {
            return PingOutcome::NotListed;
        };
        let started = Instant::now();
        let nonce = now_ms();
        match self
            .handle
            .ask_timeout(&target, DemoPing(nonce), self.timeout)
            .await
        {
            Ok(n) if n == nonce => PingOutcome::Rtt(started.elapsed()),
            Ok(_) => PingOutcome::Failed(AskError::Rejected("a wrong answer".into())),
            Err(e) => PingOutcome::Failed(e),
        }
    }
}
