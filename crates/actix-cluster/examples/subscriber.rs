//! An actor that follows the cluster's membership.
//!
//! Run a first node, which forms a cluster:
//!
//! ```text
//! cargo run -p actix-cluster --example subscriber -- 127.0.0.1:7946
//! ```
//!
//! and more nodes that join it through a seed:
//!
//! ```text
//! cargo run -p actix-cluster --example subscriber -- 127.0.0.1:0 127.0.0.1:7946
//! ```
//!
//! Ctrl-C leaves gracefully: the other nodes print `down: ... (Left)`.
//! Without arguments (as under `cargo test`) it forms a one-node cluster on a
//! free port, waits for its own `MemberUp`, leaves, and exits.

use actix::prelude::*;
use actix_cluster::{
    Cluster, ClusterConfig, Form, Join, Leave, MemberDown, MemberUp, ProtocolConfig, Subscribe,
};

/// Logs members coming and going.
struct Watcher {
    /// Exit after the first `MemberUp` (for the no-argument run).
    once: bool,
}

impl Actor for Watcher {
    type Context = Context<Self>;
}

impl Handler<MemberUp> for Watcher {
    type Result = ();

    fn handle(&mut self, MemberUp(member): MemberUp, _ctx: &mut Context<Self>) {
        println!("up:   {} roles={:?}", member.id, member.roles);
        if self.once {
            System::current().stop();
        }
    }
}

impl Handler<MemberDown> for Watcher {
    type Result = ();

    fn handle(&mut self, down: MemberDown, _ctx: &mut Context<Self>) {
        println!("down: {} ({:?})", down.member.id, down.reason);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bind = args
        .first()
        .map(|a| a.parse().expect("bind address, e.g. 127.0.0.1:7946"))
        .unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
    let seeds: Vec<std::net::SocketAddr> = args[1.min(args.len())..]
        .iter()
        .map(|a| a.parse().expect("seed address"))
        .collect();
    let once = args.is_empty();

    let system = System::new();
    system.block_on(async move {
        let config = ClusterConfig::new("example", bind).with_protocol(ProtocolConfig::local());
        let cluster = Cluster::start(config).await.expect("cluster starts");
        let watcher = Watcher { once }.start();
        cluster
            .send(Subscribe {
                member_up: Some(watcher.clone().recipient()),
                member_down: Some(watcher.recipient()),
                events: None,
            })
            .await
            .expect("cluster alive");
        if seeds.is_empty() {
            cluster.do_send(Form);
        } else {
            cluster.do_send(Join(seeds));
        }
        if !once {
            // Ctrl-C: leave gracefully (the others see `Left` at once), then stop.
            actix_rt::spawn(async move {
                let _ = actix_rt::signal::ctrl_c().await;
                let _ = cluster.send(Leave).await;
                System::current().stop();
            });
        }
    });
    // Stopping the System (here: after the first MemberUp when run without
    // arguments) leaves the cluster gracefully on the way out.
    system.run().expect("system runs");
}
