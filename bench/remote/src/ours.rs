//! Our side: a `Cluster` and its `Remote` layer per process, sealed with a
//! cluster key or plaintext.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{Cluster, ClusterConfig, Form, GetMembers, GetSelf, Join, Key, Keyring};
use actix_cluster_remote::{
    remote_message, AskError, Remote, RemoteConfig, RemoteHandle, RemoteMessage, RemoteRef,
    ServiceKey,
};
use serde::{Deserialize, Serialize};

use crate::common::{self, emit, Args, Tally};

/// A measured message: its payload, byte 0 saying whether it counts.
#[derive(Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct Data(#[serde(with = "serde_bytes")] pub Vec<u8>);
remote_message!(Data, name = "bench.Data", version = 1);

/// An ask: answered with its own number.
#[derive(Serialize, Deserialize, Message)]
#[rtype(result = "u64")]
pub struct Ping(pub u64);
remote_message!(Ping => u64, name = "bench.Ping", version = 1);

const SINKS: ServiceKey<Data> = ServiceKey::new("bench.sink");
const ECHO: ServiceKey<Ping> = ServiceKey::new("bench.echo");

struct Sink(Arc<Tally>);

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<Data> for Sink {
    type Result = ();

    fn handle(&mut self, msg: Data, _: &mut Context<Self>) {
        self.0.record(&msg.0);
    }
}

struct Echo;

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<Ping> for Echo {
    type Result = u64;

    fn handle(&mut self, Ping(n): Ping, _: &mut Context<Self>) -> u64 {
        n
    }
}

/// Starts a member: forms a cluster, or joins the one at `seed`. Answers
/// the remote handle and the gossip port.
async fn node(name: &str, seed: Option<u16>, sealed: bool) -> anyhow::Result<(RemoteHandle, u16)> {
    let bind: SocketAddr = "127.0.0.1:0".parse()?;
    let mut config = ClusterConfig::new(name, bind);
    if sealed {
        config = config.with_keyring(Keyring::new(Key::from_bytes([7; 32])));
    }
    let mut remote_config = RemoteConfig::for_cluster(&config);
    remote_config.bind = bind;
    let cluster: Addr<Cluster> = Cluster::start(config).await?;
    let remote = Remote::start(cluster.clone(), remote_config).await?;
    match seed {
        None => cluster.send(Form).await?,
        Some(port) => {
            let seed: SocketAddr = ([127, 0, 0, 1], port).into();
            cluster.send(Join(vec![seed])).await?
        }
    }
    let me = cluster.send(GetSelf).await?;
    Ok((remote, me.id.addr.port()))
}

/// Waits until `key` lists `n` actors.
async fn find<M: RemoteMessage>(
    remote: &RemoteHandle,
    key: &ServiceKey<M>,
    n: usize,
) -> Vec<RemoteRef<M>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = remote.find(key).await;
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{n} actors never listed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The idle-peer shape with our `Cluster` alone (sealed, no remote
/// layer): what membership costs per member, to tell it apart from the
/// remote layer's share.
pub fn run_members(role: &str, args: &Args) {
    let role = role.to_owned();
    actix_rt::System::new().block_on(async move {
        let r: anyhow::Result<()> = async {
            let bind: SocketAddr = "127.0.0.1:0".parse()?;
            let name = match role.as_str() {
                "hub" => "hub".to_owned(),
                _ => format!("peer{}", args.get::<u32>("i")),
            };
            let config =
                ClusterConfig::new(name, bind).with_keyring(Keyring::new(Key::from_bytes([7; 32])));
            let cluster = Cluster::start(config).await?;
            if role == "hub" {
                cluster.send(Form).await?;
                let me = cluster.send(GetSelf).await?;
                emit(format!("READY port={}", me.id.addr.port()));
                let want = args.get::<usize>("n") + 1;
                loop {
                    let members = cluster.send(GetMembers).await?;
                    let up = members
                        .iter()
                        .filter(|m| m.status == actix_cluster::Status::Up)
                        .count();
                    if up >= want {
                        emit(format!("DONE t={} n={up}", common::now_ns()));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            } else {
                let seed: SocketAddr = ([127, 0, 0, 1], args.get::<u16>("port")).into();
                cluster.send(Join(vec![seed])).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = r {
            emit(format!("ERROR {e:#}"));
        }
        std::future::pending::<()>().await;
    });
}

/// Runs one child role; never returns for the roles the orchestrator stops.
pub fn run(role: &str, args: &Args, sealed: bool) {
    let role = role.to_owned();
    let sys = actix_rt::System::new();
    sys.block_on(async move {
        if let Err(e) = role_main(&role, args, sealed).await {
            emit(format!("ERROR {e:#}"));
        }
    });
}

async fn role_main(role: &str, args: &Args, sealed: bool) -> anyhow::Result<()> {
    match role {
        "recv" | "hub" => {
            let (remote, port) = node("recv", None, sealed).await?;
            let tally = Arc::new(Tally::new(args.get("n")));
            for _ in 0..args.get::<usize>("pairs") {
                let sink = remote.serve::<Data, _>(Sink(tally.clone()).start());
                remote.register(&SINKS, &sink);
            }
            emit(format!("READY port={port}"));
        }
        "echo" => {
            let (remote, port) = node("echo", None, sealed).await?;
            let echo = remote.serve::<Ping, _>(Echo.start());
            remote.register(&ECHO, &echo);
            emit(format!("READY port={port}"));
        }
        "send" => {
            let (remote, _) = node("send", Some(args.get("port")), sealed).await?;
            let pairs: usize = args.get("pairs");
            let size: usize = args.get("size");
            let sinks = find(&remote, &SINKS, pairs).await;
            common::run_tells(args.get("n"), pairs, move |p, counted| {
                match remote.tell(&sinks[p], Data(common::payload(size, counted))) {
                    Ok(()) => true,
                    // A full lane is backpressure: the loop yields and retries.
                    Err(AskError::QueueFull) => false,
                    Err(e) => panic!("tell failed: {e}"),
                }
            })
            .await;
        }
        "peer" => {
            let name = format!("peer{}", args.get::<u32>("i"));
            let (remote, _) = node(&name, Some(args.get("port")), sealed).await?;
            let sink = find(&remote, &SINKS, 1).await.remove(0);
            while remote
                .tell(&sink, Data(common::payload(100, true)))
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        "ask" => {
            let (remote, _) = node("ask", Some(args.get("port")), sealed).await?;
            let echo = find(&remote, &ECHO, 1).await.remove(0);
            let (remote, echo) = (Rc::new(remote), Rc::new(echo));
            let ask = move |i: u64| {
                let (remote, echo) = (remote.clone(), echo.clone());
                async move { remote.ask(&echo, Ping(i)).await == Ok(i) }
            };
            let lat = match args.get::<String>("mode").as_str() {
                "serial" => common::ask_serial(args.get("n"), ask).await,
                _ => common::ask_rate(args.get("rate"), args.get("secs"), ask).await,
            };
            emit(lat.report());
        }
        other => anyhow::bail!("unknown role {other}"),
    }
    std::future::pending::<()>().await;
    Ok(())
}
