//! A cluster node with etcd discovery, driven by the etcd integration tests.
//!
//! Configured from the environment: `NODE_NAME` (default `node`), `NODE_BIND`
//! (default `127.0.0.1:0`) and every `DiscoveryConfig` variable (`ETCD_ENDPOINTS`,
//! `ETCD_PREFIX`, `CLUSTER_NAME`, `ETCD_LEASE_TTL`, ...). The protocol uses the
//! fast `local()` preset; `NODE_DOWNING` names another downing strategy
//! (`lease-majority`, `static-quorum:N`, ...).
//!
//! Writes one JSON object per line on stdout: `{"kind":"self",...}` at start,
//! `{"kind":"event",...}` for every cluster event, `{"kind":"up_self","ms":..}`
//! when this member is Up (milliseconds since the process started), and answers
//! to the commands read from stdin, one per line: `status`, `members`,
//! `leadership` (the leader and this node's fencing token),
//! `fail lease_keeper|seed_watcher`, `retry lease_keeper|seed_watcher` (cut its restart backoff short), `leave` (graceful leave, deregister, exit 0),
//! `stop` (stop the actix System, nothing else).
//! End of stdin exits at once without leaving (like a crash).

use std::io::{BufRead, Write};
use std::time::Instant;

use actix::prelude::*;
use actix_cluster::{
    Cluster, ClusterConfig, ClusterEvent, DownReason, Event, GetLeadership, GetMembers, Leave,
    MemberInfo, ProtocolConfig, Status, Strategy, Subscribe,
};
use actix_cluster_etcd::{
    Child, ClusterDiscovery, Deregister, DiscoveryActor, DiscoveryConfig, FailChild, GetStatus,
    RetryNow,
};
use serde_json::json;

fn emit(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Joining => "joining",
        Status::Up => "up",
        Status::Leaving => "leaving",
        Status::Down(DownReason::Failed) => "down_failed",
        Status::Down(DownReason::Left) => "down_left",
        Status::Down(DownReason::Fenced) => "down_fenced",
    }
}

fn member_json(m: &MemberInfo) -> serde_json::Value {
    json!({"id": m.id.to_string(), "status": status_str(m.status), "reachable": m.reachable})
}

struct Reporter {
    started: Instant,
    me: String,
    cluster: Addr<Cluster>,
    discovery: Addr<DiscoveryActor>,
}

impl Actor for Reporter {
    type Context = Context<Self>;
}

impl Handler<ClusterEvent> for Reporter {
    type Result = ();
    fn handle(&mut self, ClusterEvent(e): ClusterEvent, _: &mut Context<Self>) {
        let (event, member, reason) = match &e {
            Event::Joined(m) => ("joined", m.id.to_string(), None),
            Event::Up(m) => ("up", m.id.to_string(), None),
            Event::Unreachable(m) => ("unreachable", m.id.to_string(), None),
            Event::Reachable(m) => ("reachable", m.id.to_string(), None),
            Event::Leaving(m) => ("leaving", m.id.to_string(), None),
            Event::Updated(m) => ("updated", m.id.to_string(), None),
            Event::Down { member, reason } => (
                "down",
                member.id.to_string(),
                Some(match reason {
                    DownReason::Failed => "failed",
                    DownReason::Left => "left",
                    DownReason::Fenced => "fenced",
                }),
            ),
            Event::Removed(id) => ("removed", id.to_string(), None),
            Event::LeaderChanged(l) => (
                "leader",
                l.as_ref().map(|l| l.to_string()).unwrap_or_default(),
                None,
            ),
            Event::SelfChanged { new, .. } => ("self_changed", new.to_string(), None),
        };
        emit(json!({"kind": "event", "event": event, "member": member, "reason": reason}));
        if event == "up" && member == self.me {
            emit(json!({"kind": "up_self", "ms": self.started.elapsed().as_millis() as u64}));
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Command(String);

impl Handler<Command> for Reporter {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, Command(cmd): Command, _: &mut Context<Self>) -> Self::Result {
        let cluster = self.cluster.clone();
        let discovery = self.discovery.clone();
        Box::pin(
            async move {
                let words: Vec<&str> = cmd.split_whitespace().collect();
                match words.as_slice() {
                    ["status"] => {
                        if let Ok(s) = discovery.send(GetStatus).await {
                            let mut v = serde_json::to_value(&s).unwrap_or_default();
                            v["kind"] = json!("status");
                            emit(v);
                        }
                    }
                    ["leadership"] => {
                        if let Ok(l) = cluster.send(GetLeadership).await {
                            emit(json!({
                                "kind": "leadership",
                                "leader": l.leader.map(|m| m.to_string()),
                                "token": l.token,
                            }));
                        }
                    }
                    ["members"] => {
                        if let Ok(ms) = cluster.send(GetMembers).await {
                            let list: Vec<_> = ms.iter().map(member_json).collect();
                            emit(json!({"kind": "members", "members": list}));
                        }
                    }
                    ["fail", which] => {
                        discovery.do_send(FailChild(child_named(which)));
                        emit(json!({"kind": "failed", "child": which}));
                    }
                    ["retry", which] => {
                        discovery.do_send(RetryNow(child_named(which)));
                        emit(json!({"kind": "retried", "child": which}));
                    }
                    ["leave"] => {
                        let _ = cluster.send(Leave).await;
                        let _ = discovery.send(Deregister).await;
                        emit(json!({"kind": "deregistered"}));
                        System::current().stop();
                    }
                    ["stop"] => {
                        // Stop the System without an explicit leave or deregister.
                        emit(json!({"kind": "stopping"}));
                        System::current().stop();
                    }
                    _ => {
                        emit(json!({"kind": "error", "error": format!("unknown command {cmd:?}")}))
                    }
                }
            }
            .into_actor(self),
        )
    }
}

fn main() {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let config = match DiscoveryConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            emit(json!({"kind": "config_error", "error": e.to_string()}));
            std::process::exit(2);
        }
    };
    let name = std::env::var("NODE_NAME").unwrap_or_else(|_| "node".into());
    let bind = std::env::var("NODE_BIND")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:0".parse().expect("address"));

    let system = System::new();
    system.block_on(async move {
        let mut protocol = ProtocolConfig::local();
        if let Some(strategy) = std::env::var("NODE_DOWNING")
            .ok()
            .and_then(|s| Strategy::parse(&s))
        {
            protocol.downing.strategy = strategy;
        }
        let cluster_config = ClusterConfig::new(name, bind)
            .with_protocol(protocol)
            .with_cluster_name(config.cluster_name.clone());
        let cluster = match Cluster::start(cluster_config).await {
            Ok(c) => c,
            Err(e) => {
                emit(json!({"kind": "start_error", "error": e.to_string()}));
                std::process::exit(3);
            }
        };
        let info = cluster
            .send(actix_cluster::GetSelf)
            .await
            .expect("cluster answers");
        let me = info.id.to_string();
        emit(json!({"kind": "self", "id": me, "addr": info.id.addr.to_string()}));
        let discovery = ClusterDiscovery::start(cluster.clone(), config).expect("validated");
        let reporter = Reporter {
            started,
            me,
            cluster: cluster.clone(),
            discovery,
        }
        .start();
        cluster.do_send(Subscribe {
            member_up: None,
            member_down: None,
            events: Some(reporter.clone().recipient()),
        });
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                reporter.do_send(Command(line));
            }
            // The test harness is gone (or closed our stdin): vanish like a crash.
            std::process::exit(0);
        });
    });
    let _ = system.run();
    emit(json!({"kind": "exit"}));
}

/// `lease_keeper` or (anything else) `seed_watcher`.
fn child_named(which: &str) -> Child {
    match which {
        "lease_keeper" => Child::LeaseKeeper,
        _ => Child::SeedWatcher,
    }
}
