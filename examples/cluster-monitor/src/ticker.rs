//! The `ticker` singleton: one instance in the cluster, on a backend, counts
//! ticks once per second, writes each tick with its fencing token to the
//! fenced resource (etcd, see [`crate::fence`]) and publishes it on the
//! `ticks` topic. Every node subscribes to the topic and keeps the last tick
//! it received; `GET /api/singleton` answers from it and the membership.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{GetMembers, Status};
use actix_cluster_remote::{remote_message, RemoteHandle};
use actix_cluster_tools::singleton::{EtcdClaim, SingletonStart};
use actix_cluster_tools::{
    ClusterSingleton, SingletonConfig, SingletonHandle, StopSingleton, Topic, Topics,
};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use actix_cluster_etcd::{DiscoveryActor, DiscoveryConfig};

use crate::fence::{Fence, FencedWrite};
use crate::http::{json_error, AppState};

/// One tick of the singleton, as published on [`TICKS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub(crate) struct Tick {
    /// The member the instance runs on.
    pub(crate) host: String,
    /// Its fencing token (`None` without etcd).
    pub(crate) token: Option<i64>,
    /// Ticks counted in the cluster so far (a new instance goes on from the
    /// last tick its member received).
    pub(crate) ticks: u64,
}
remote_message!(Tick, name = "cluster-monitor.Tick", version = 1);

/// The topic the ticks are published on; every node subscribes.
pub(crate) const TICKS: Topic<Tick> = Topic::new("ticks");

/// The singleton's name.
pub(crate) const NAME: &str = "ticker";

/// How often the instance ticks.
const EVERY: Duration = Duration::from_secs(1);

/// What this node knows of the ticker, shared with the HTTP handlers.
#[derive(Default)]
pub(crate) struct TickerState {
    /// The last tick received on the topic (the newest token wins).
    last: RwLock<Option<Tick>>,
    /// Whether an instance runs on this node now.
    here: AtomicBool,
    /// Instances started on this node so far.
    instances: AtomicU64,
}

impl TickerState {
    fn last(&self) -> Option<Tick> {
        self.last.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps `tick` unless a tick with a larger token was received (a stale
    /// instance's last ticks are ignored).
    fn received(&self, tick: Tick) {
        let mut last = self.last.write().unwrap_or_else(|e| e.into_inner());
        let newest = last.as_ref().and_then(|t| t.token);
        let stale = matches!((newest, tick.token), (Some(old), Some(new)) if new < old);
        if !stale {
            *last = Some(tick);
        }
    }
}

/// The singleton instance.
struct Ticker {
    start: SingletonStart,
    ticks: u64,
    topics: Topics,
    fence: Option<Fence>,
    state: Arc<TickerState>,
}

impl Actor for Ticker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.state.here.store(true, Ordering::SeqCst);
        self.state.instances.fetch_add(1, Ordering::SeqCst);
        let (host, token) = (&self.start.host, self.start.token);
        tracing::info!(%host, ?token, ticks = self.ticks, "ticker started");
        ctx.run_interval(EVERY, |t, _| t.tick());
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.state.here.store(false, Ordering::SeqCst);
        let (host, token) = (&self.start.host, self.start.token);
        tracing::info!(%host, ?token, ticks = self.ticks, "ticker stopped");
    }
}

impl Handler<StopSingleton> for Ticker {
    type Result = ();

    fn handle(&mut self, _: StopSingleton, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Ticker {
    fn tick(&mut self) {
        self.ticks += 1;
        let host = self.start.host.to_string();
        if let (Some(fence), Some(token)) = (&self.fence, self.start.token) {
            fence.write(FencedWrite {
                token,
                ticks: self.ticks,
                member: host.clone(),
            });
        }
        let tick = Tick {
            host,
            token: self.start.token,
            ticks: self.ticks,
        };
        if let Err(e) = self.topics.publish(&TICKS, tick) {
            tracing::warn!(error = %e, "ticker: publish failed");
        }
    }
}

/// Keeps the last tick this node received.
struct TickView {
    state: Arc<TickerState>,
}

impl Actor for TickView {
    type Context = Context<Self>;
}

impl Handler<Tick> for TickView {
    type Result = ();

    fn handle(&mut self, tick: Tick, _: &mut Context<Self>) {
        self.state.received(tick);
    }
}

/// The ticker as the node runs it.
#[derive(Clone)]
pub(crate) struct DemoTicker {
    state: Arc<TickerState>,
    fence: Option<Fence>,
    /// This node's singleton manager.
    handle: SingletonHandle,
}

impl DemoTicker {
    /// Subscribes this node to the ticks and starts the singleton manager
    /// (instances on `role` members only). With `etcd` (the config and the
    /// discovery actor), the instance runs only while this member holds the
    /// singleton's key in etcd, and is given its fencing token.
    pub(crate) async fn start(
        remote: &RemoteHandle,
        topics: &Topics,
        role: &str,
        etcd: Option<(&DiscoveryConfig, &Addr<DiscoveryActor>)>,
        fence: Option<Fence>,
    ) -> anyhow::Result<DemoTicker> {
        let state = Arc::new(TickerState::default());
        let view = TickView {
            state: state.clone(),
        }
        .start();
        topics.subscribe(&TICKS, view.recipient());
        let mut config = SingletonConfig::new(NAME).with_role(role);
        if let Some((etcd, discovery)) = etcd {
            let claim = EtcdClaim::connect(etcd.clone(), discovery.clone())
                .await
                .context("the ticker's claim in etcd")?;
            config = config.with_claim(claim);
        }
        let factory = {
            let (topics, fence, state) = (topics.clone(), fence.clone(), state.clone());
            move |start: SingletonStart| {
                let ticks = state.last().map_or(0, |t| t.ticks);
                Ticker {
                    start,
                    ticks,
                    topics: topics.clone(),
                    fence: fence.clone(),
                    state: state.clone(),
                }
                .start()
            }
        };
        let handle = ClusterSingleton::start(remote, config, factory);
        Ok(DemoTicker {
            state,
            fence,
            handle,
        })
    }

    /// Hands the ticker over before this node leaves (it never hosts again).
    pub(crate) async fn hand_over(&self) {
        self.handle.hand_over().await;
    }
}

/// `GET /api/singleton`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct SingletonView {
    /// The member the last tick came from, `null` when none came or that
    /// member is down (or gone) in this node's view.
    pub(crate) host: Option<String>,
    /// That instance's fencing token (`null` with `host`).
    pub(crate) token: Option<i64>,
    /// The last tick count received.
    pub(crate) ticks: u64,
    /// Whether the instance runs on this node now.
    pub(crate) here: bool,
    /// Instances started on this node so far.
    pub(crate) instances: u64,
    /// This node's fenced writes: accepted, refused, failed.
    pub(crate) fence: BTreeMap<&'static str, u64>,
}

/// The view from the last tick and the members' statuses.
pub(crate) fn view(
    last: Option<&Tick>,
    status: impl Fn(&str) -> Option<Status>,
) -> (Option<String>, Option<i64>, u64) {
    let ticks = last.map_or(0, |t| t.ticks);
    match last {
        Some(t) if matches!(status(&t.host), Some(s) if !matches!(s, Status::Down(_))) => {
            (Some(t.host.clone()), t.token, ticks)
        }
        _ => (None, None, ticks),
    }
}

/// `GET /api/singleton`: where the ticker runs, its token and the ticks,
/// from the last tick this node received and its view of the members.
pub(crate) async fn singleton(state: web::Data<AppState>) -> HttpResponse {
    let members = match state.cluster.send(GetMembers).await {
        Ok(m) => m,
        Err(e) => {
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cluster actor unavailable: {e}"),
                None,
            )
        }
    };
    let ticker = &state.ticker;
    let last = ticker.state.last();
    let (host, token, ticks) = view(last.as_ref(), |id| {
        members
            .iter()
            .find(|m| m.id.to_string() == id)
            .map(|m| m.status)
    });
    let mut fence = BTreeMap::new();
    if let Some(f) = &ticker.fence {
        fence.insert("accepted", f.counts.accepted.load(Ordering::Relaxed));
        fence.insert("refused", f.counts.refused.load(Ordering::Relaxed));
        fence.insert("failed", f.counts.failed.load(Ordering::Relaxed));
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(SingletonView {
            host,
            token,
            ticks,
            here: ticker.state.here.load(Ordering::SeqCst),
            instances: ticker.state.instances.load(Ordering::SeqCst),
            fence,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_cluster::DownReason;

    fn tick(host: &str, token: Option<i64>, ticks: u64) -> Tick {
        Tick {
            host: host.to_owned(),
            token,
            ticks,
        }
    }

    #[test]
    fn a_stale_token_does_not_replace_a_newer_tick() {
        let s = TickerState::default();
        s.received(tick("b", Some(20), 5));
        s.received(tick("a", Some(10), 6));
        assert_eq!(s.last(), Some(tick("b", Some(20), 5)));
        s.received(tick("b", Some(20), 7));
        s.received(tick("c", Some(30), 8));
        assert_eq!(s.last(), Some(tick("c", Some(30), 8)));
    }

    #[test]
    fn the_host_is_null_once_it_is_down_or_unknown() {
        let t = tick("b", Some(20), 5);
        assert_eq!(
            view(Some(&t), |_| Some(Status::Up)),
            (Some("b".into()), Some(20), 5)
        );
        assert_eq!(
            view(Some(&t), |_| Some(Status::Leaving)),
            (Some("b".into()), Some(20), 5)
        );
        assert_eq!(
            view(Some(&t), |_| Some(Status::Down(DownReason::Failed))),
            (None, None, 5)
        );
        assert_eq!(view(Some(&t), |_| None), (None, None, 5));
        assert_eq!(view(None, |_| Some(Status::Up)), (None, None, 0));
    }
}
