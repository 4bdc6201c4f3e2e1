//! actix-telepathy 0.7.0, used as its README shows: a `Cluster` service per
//! process, receivers derived as `RemoteActor`s registering themselves, and
//! senders finding them through `ClusterLog::NewMember` and
//! `Node::get_remote_addr`. It has no ask (its `RemoteAddr::send` is
//! unimplemented), so it runs the tell shapes only.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use actix::prelude::*;
use actix_broker::BrokerSubscribe;
use actix_telepathy::prelude::*;
use actix_telepathy::Node;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::common::{self, emit, Args, Tally};

/// A measured message: its payload, byte 0 saying whether it counts.
#[derive(Serialize, Deserialize, RemoteMessage)]
pub struct TData(#[serde(with = "serde_bytes")] pub Vec<u8>);

static TALLY: OnceLock<Tally> = OnceLock::new();

/// Telepathy names a receiver by its type (`ACTOR_ID`), so five receivers
/// need five types.
macro_rules! sinks {
    ($($name:ident),*) => {$(
        #[derive(RemoteActor)]
        #[remote_messages(TData)]
        struct $name;

        impl Actor for $name {
            type Context = Context<Self>;

            fn started(&mut self, ctx: &mut Context<Self>) {
                self.register(ctx.address().recipient());
            }
        }

        impl Handler<TData> for $name {
            type Result = ();

            fn handle(&mut self, msg: TData, _: &mut Context<Self>) {
                if let Some(t) = TALLY.get() {
                    t.record(&msg.0);
                }
            }
        }
    )*};
}

sinks!(TSink0, TSink1, TSink2, TSink3, TSink4);

fn start_sink(i: usize) {
    match i {
        0 => drop(TSink0.start()),
        1 => drop(TSink1.start()),
        2 => drop(TSink2.start()),
        3 => drop(TSink3.start()),
        _ => drop(TSink4.start()),
    }
}

fn sink_id(i: usize) -> &'static str {
    [
        TSink0::ACTOR_ID,
        TSink1::ACTOR_ID,
        TSink2::ACTOR_ID,
        TSink3::ACTOR_ID,
        TSink4::ACTOR_ID,
    ][i]
}

/// Hands every new member to the task that waits for its receiver's.
struct Members(mpsc::UnboundedSender<Node>);

impl Actor for Members {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.subscribe_system_async::<ClusterLog>(ctx);
    }
}

impl Handler<ClusterLog> for Members {
    type Result = ();

    fn handle(&mut self, msg: ClusterLog, _: &mut Context<Self>) {
        if let ClusterLog::NewMember(node) = msg {
            let _ = self.0.send(node);
        }
    }
}

impl ClusterListener for Members {}

/// A loopback address with a port free now (telepathy takes a fixed one).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address")
}

/// Joins the cluster at `seed` and answers the seed's node once connected.
async fn join(seed: u16) -> Node {
    let seed: SocketAddr = ([127, 0, 0, 1], seed).into();
    let (tx, mut rx) = mpsc::unbounded_channel();
    Members(tx).start();
    let _cluster = Cluster::new(free_addr(), vec![seed]);
    loop {
        let node = rx.recv().await.expect("the listener lives");
        if node.socket_addr == seed {
            return node;
        }
    }
}

pub fn run(role: &str, args: &Args) {
    let role = role.to_owned();
    let sys = actix_rt::System::new();
    sys.block_on(async move {
        match role.as_str() {
            "recv" | "hub" => {
                let _ = TALLY.set(Tally::new(args.get("n")));
                for i in 0..args.get::<usize>("pairs") {
                    start_sink(i);
                }
                let addr = free_addr();
                let _cluster = Cluster::new(addr, vec![]);
                // The listener binds when the cluster service starts.
                tokio::time::sleep(Duration::from_millis(200)).await;
                emit(format!("READY port={}", addr.port()));
            }
            "send" => {
                let node = join(args.get("port")).await;
                let pairs: usize = args.get("pairs");
                let size: usize = args.get("size");
                let targets: Vec<RemoteAddr> = (0..pairs)
                    .map(|p| node.get_remote_addr(sink_id(p).to_owned()))
                    .collect();
                common::run_tells(args.get("n"), pairs, move |p, counted| {
                    // Unbounded: telepathy's `do_send` never refuses.
                    targets[p].do_send(TData(common::payload(size, counted)));
                    true
                })
                .await;
            }
            "peer" => {
                let node = join(args.get("port")).await;
                node.get_remote_addr(sink_id(0).to_owned())
                    .do_send(TData(common::payload(100, true)));
            }
            other => emit(format!("ERROR unknown role {other}")),
        }
        std::future::pending::<()>().await;
    });
}
