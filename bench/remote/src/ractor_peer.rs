//! ractor_cluster 0.16.5, used as its README shows: a `NodeServer` per
//! process, `client_connect` to the receiver's, receivers joined to a
//! process group, messages derived with `RactorClusterMessage` (an `#[rpc]`
//! variant for the ask). A current-thread tokio runtime, the shape of our
//! actix systems and the one on which ractor_cluster measured fastest when
//! its goals were set; `RACTOR_MT=1` in the environment gives it tokio's
//! multi-thread runtime instead, for comparison.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{pg, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeServer, RactorClusterMessage};

use crate::common::{self, emit, Args, Tally};

const GROUP: &str = "bench.sink";
const ECHO: &str = "bench.echo";
const COOKIE: &str = "bench-cookie";

/// Both shapes' messages: a payload (byte 0 says whether it counts) and an
/// ask answered with its own number.
#[derive(RactorClusterMessage)]
pub enum RMsg {
    Data(Vec<u8>),
    #[rpc]
    Ping(u64, RpcReplyPort<u64>),
}

struct Sink;

impl Actor for Sink {
    type Msg = RMsg;
    type State = Option<Arc<Tally>>;
    type Arguments = Option<Arc<Tally>>;

    async fn pre_start(
        &self,
        _: ActorRef<RMsg>,
        tally: Option<Arc<Tally>>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tally)
    }

    async fn handle(
        &self,
        _: ActorRef<RMsg>,
        msg: RMsg,
        tally: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RMsg::Data(bytes) => {
                if let Some(t) = tally {
                    t.record(&bytes);
                }
            }
            RMsg::Ping(n, reply) => {
                let _ = reply.send(n);
            }
        }
        Ok(())
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

async fn server(name: &str) -> anyhow::Result<(ActorRef<ractor_cluster::NodeServerMessage>, u16)> {
    let port = free_port();
    let server = NodeServer::new(
        port,
        COOKIE.to_owned(),
        name.to_owned(),
        "localhost".to_owned(),
        None,
        None,
    );
    let (server, _) = Actor::spawn(None, server, ()).await?;
    Ok((server, port))
}

/// Connects to the node at `port` and waits until `group` has `n` members.
async fn connect(
    name: &str,
    port: u16,
    group: &str,
    n: usize,
) -> anyhow::Result<Vec<ActorRef<RMsg>>> {
    let (server, _) = server(name).await?;
    ractor_cluster::client_connect(&server, format!("127.0.0.1:{port}")).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let members = pg::get_members(&group.to_owned());
        if members.len() >= n {
            return Ok(members.into_iter().map(ActorRef::from).collect());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{n} members of {group} never seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn run(role: &str, args: &Args) {
    let rt = if std::env::var_os("RACTOR_MT").is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        if let Err(e) = role_main(role, args).await {
            emit(format!("ERROR {e:#}"));
        }
        std::future::pending::<()>().await;
    });
}

async fn role_main(role: &str, args: &Args) -> anyhow::Result<()> {
    match role {
        "recv" | "hub" => {
            let (_server, port) = server("recv").await?;
            let tally = Arc::new(Tally::new(args.get("n")));
            let mut cells = Vec::new();
            for _ in 0..args.get::<usize>("pairs") {
                let (sink, _) = Actor::spawn(None, Sink, Some(tally.clone())).await?;
                cells.push(sink.get_cell());
            }
            pg::join(GROUP.to_owned(), cells);
            emit(format!("READY port={port}"));
        }
        "echo" => {
            let (_server, port) = server("echo").await?;
            let (echo, _) = Actor::spawn(None, Sink, None).await?;
            pg::join(ECHO.to_owned(), vec![echo.get_cell()]);
            emit(format!("READY port={port}"));
        }
        "send" => {
            let pairs: usize = args.get("pairs");
            let size: usize = args.get("size");
            let sinks = connect("send", args.get("port"), GROUP, pairs).await?;
            common::run_tells(args.get("n"), pairs, move |p, counted| {
                // Unbounded: a remote actor's mailbox never refuses.
                sinks[p]
                    .cast(RMsg::Data(common::payload(size, counted)))
                    .expect("cast");
                true
            })
            .await;
        }
        "peer" => {
            let name = format!("peer{}", args.get::<u32>("i"));
            let sink = connect(&name, args.get("port"), GROUP, 1).await?.remove(0);
            sink.cast(RMsg::Data(common::payload(100, true)))?;
        }
        "ask" => {
            let echo = connect("ask", args.get("port"), ECHO, 1).await?.remove(0);
            let ask = move |i: u64| {
                let echo = echo.clone();
                async move {
                    let answer = echo
                        .call(|reply| RMsg::Ping(i, reply), Some(Duration::from_secs(5)))
                        .await;
                    matches!(answer, Ok(ractor::rpc::CallResult::Success(n)) if n == i)
                }
            };
            let lat = match args.get::<String>("mode").as_str() {
                "serial" => common::ask_serial(args.get("n"), ask).await,
                _ => common::ask_rate(args.get("rate"), args.get("secs"), ask).await,
            };
            emit(lat.report());
        }
        other => anyhow::bail!("unknown role {other}"),
    }
    Ok(())
}
