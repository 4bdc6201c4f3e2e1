//! Loopback nodes for the remote layer's tests: each node is a thread with
//! its own actix `System`, a `Cluster` and a `Remote`, like a process.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{Cluster, ClusterConfig, GetMembers, GetSelf, Key, Keyring, ProtocolConfig};
use actix_cluster_remote::{
    Remote, RemoteConfig, RemoteHandle, RemoteMessage, RemoteRef, Terminated, METADATA_KEY,
};
use serde::{Deserialize, Serialize};

pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn keyring(byte: u8) -> Keyring {
    Keyring::new(Key::from_bytes([byte; 32]))
}

/// Waits until `cond` holds, panicking with `what` at the deadline.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub struct Node {
    pub cluster: Addr<Cluster>,
    pub remote: RemoteHandle,
    pub addr: SocketAddr,
    system: System,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    pub fn start(name: &str, key: Option<u8>, seeds: &[SocketAddr]) -> Node {
        Self::start_with(name, key, seeds, |c| c)
    }

    pub fn start_with(
        name: &str,
        key: Option<u8>,
        seeds: &[SocketAddr],
        tune: impl FnOnce(RemoteConfig) -> RemoteConfig + Send + 'static,
    ) -> Node {
        Self::start_at("127.0.0.1:0".parse().unwrap(), name, key, seeds, tune)
    }

    pub fn start_at(
        bind: SocketAddr,
        name: &str,
        key: Option<u8>,
        seeds: &[SocketAddr],
        tune: impl FnOnce(RemoteConfig) -> RemoteConfig + Send + 'static,
    ) -> Node {
        Self::start_full(bind, name, key, seeds, |c| c, tune)
    }

    /// A node with roles (on the cluster's config).
    pub fn start_with_roles(
        name: &str,
        key: Option<u8>,
        seeds: &[SocketAddr],
        roles: &[&str],
    ) -> Node {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let bind = "127.0.0.1:0".parse().unwrap();
        let with_roles =
            move |c: ClusterConfig| roles.into_iter().fold(c, ClusterConfig::with_role);
        Self::start_full(bind, name, key, seeds, with_roles, |c| c)
    }

    pub fn start_full(
        bind: SocketAddr,
        name: &str,
        key: Option<u8>,
        seeds: &[SocketAddr],
        tune_cluster: impl FnOnce(ClusterConfig) -> ClusterConfig,
        tune: impl FnOnce(RemoteConfig) -> RemoteConfig + Send + 'static,
    ) -> Node {
        let mut config =
            tune_cluster(ClusterConfig::new(name, bind).with_protocol(ProtocolConfig::local()));
        if let Some(k) = key {
            config = config.with_keyring(keyring(k));
        }
        let seeds = seeds.to_vec();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let sys = System::new();
                sys.block_on(async move {
                    let mut remote_config = RemoteConfig::for_cluster(&config);
                    remote_config.bind = "127.0.0.1:0".parse().unwrap();
                    let remote_config = tune(remote_config);
                    let cluster = Cluster::start(config).await.expect("cluster starts");
                    let remote = Remote::start(cluster.clone(), remote_config)
                        .await
                        .expect("remote starts");
                    if seeds.is_empty() {
                        cluster.send(actix_cluster::Form).await.unwrap();
                    } else {
                        cluster.send(actix_cluster::Join(seeds)).await.unwrap();
                    }
                    let me = cluster.send(GetSelf).await.unwrap();
                    tx.send((cluster, remote, me.id.addr, System::current()))
                        .unwrap();
                });
                sys.run().unwrap();
            })
            .unwrap();
        let (cluster, remote, addr, system) = rx.recv().unwrap();
        Node {
            cluster,
            remote,
            addr,
            system,
            thread: Some(thread),
        }
    }

    /// Runs `f` in the node's system and waits for its result.
    pub fn run<T, F, Fut>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(RemoteHandle) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let remote = self.remote.clone();
        self.system.arbiter().spawn_fn(move || {
            actix_rt::spawn(async move {
                let _ = tx.send(f(remote).await);
            });
        });
        rx.recv_timeout(DEADLINE).expect("the node answers")
    }

    /// Members this node sees Up with a remote port (itself included).
    pub fn remote_members(&self) -> usize {
        let cluster = self.cluster.clone();
        self.run(move |_| async move {
            cluster
                .send(GetMembers)
                .await
                .unwrap_or_default()
                .iter()
                .filter(|m| {
                    m.status == actix_cluster::Status::Up && m.metadata.contains_key(METADATA_KEY)
                })
                .count()
        })
    }

    /// Stops the node's system (a graceful leave: the Cluster leaves on stop).
    pub fn stop(mut self) {
        let cluster = self.cluster.clone();
        self.run(move |_| async move {
            let _ = cluster.send(actix_cluster::Leave).await;
        });
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the node's system without a `Leave` first: the `Cluster`
    /// leaves as the system stops (best effort, without waiting for its
    /// leave guards).
    pub fn stop_system(mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the node's system without leaving (like a crashed process, as
    /// far as the others can tell once its sockets close).
    pub fn kill(mut self) {
        let cluster = self.cluster.clone();
        self.run(move |_| async move {
            cluster.do_send(actix_cluster::Abort);
        });
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a cluster of `n` nodes and waits until each sees every other with
/// a remote port.
pub fn cluster(n: usize, key: Option<u8>) -> Vec<Node> {
    let first = Node::start("n1", key, &[]);
    let seed = first.addr;
    let mut nodes = vec![first];
    for i in 2..=n {
        nodes.push(Node::start(&format!("n{i}"), key, &[seed]));
    }
    for node in &nodes {
        wait_until("every member Up with a remote port", || {
            node.remote_members() == n
        });
    }
    nodes
}

// ---- test messages and actors ---------------------------------------------

#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "u64")]
pub struct Ping(pub u64);
actix_cluster_remote::remote_message!(Ping => u64, name = "test.Ping", version = 1);

#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct Numbered(pub u64);
actix_cluster_remote::remote_message!(Numbered, name = "test.Numbered", version = 1);

/// Asks the receiver to tell `n` numbers to `reply_to`.
#[derive(Debug, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct CountTo {
    pub reply_to: RemoteRef<Numbered>,
    pub n: u64,
}
actix_cluster_remote::remote_message!(CountTo, name = "test.CountTo", version = 1);

/// Answers a ping with its number (plus `add`).
pub struct Echo {
    pub add: u64,
}

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<Ping> for Echo {
    type Result = u64;

    fn handle(&mut self, Ping(n): Ping, _: &mut Context<Self>) -> u64 {
        n + self.add
    }
}

/// Collects numbers; counts to `n` for whoever asks.
pub struct Collector {
    pub seen: Arc<Mutex<Vec<u64>>>,
    pub remote: RemoteHandle,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<Numbered> for Collector {
    type Result = ();

    fn handle(&mut self, Numbered(n): Numbered, _: &mut Context<Self>) {
        self.seen.lock().unwrap().push(n);
    }
}

impl Handler<CountTo> for Collector {
    type Result = ();

    fn handle(&mut self, msg: CountTo, _: &mut Context<Self>) {
        for i in 0..msg.n {
            self.remote
                .tell(&msg.reply_to, Numbered(i))
                .expect("queued");
        }
    }
}

/// Records every `Terminated`.
pub struct Watcher {
    pub seen: Arc<Mutex<Vec<Terminated>>>,
}

impl Actor for Watcher {
    type Context = Context<Self>;
}

impl Handler<Terminated> for Watcher {
    type Result = ();

    fn handle(&mut self, t: Terminated, _: &mut Context<Self>) {
        self.seen.lock().unwrap().push(t);
    }
}

pub fn typed<M: RemoteMessage>(r: &RemoteRef<impl RemoteMessage>) -> RemoteRef<M> {
    RemoteRef::new(r.addr().clone())
}

/// Stops the actor that receives it (a local message, never remote).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for Echo {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Serves an `Echo` on `node` and answers its reference and address.
pub fn echo(node: &Node, add: u64) -> (RemoteRef<Ping>, Addr<Echo>) {
    node.run(move |r| async move {
        let addr = Echo { add }.start();
        (r.serve::<Ping, _>(addr.clone()), addr)
    })
}

pub const ECHO: actix_cluster_remote::ServiceKey<Ping> =
    actix_cluster_remote::ServiceKey::new("echo");

/// The members listed under `ECHO` on `node`.
pub fn listed(node: &Node) -> Vec<RemoteRef<Ping>> {
    node.run(|r| async move { r.find(&ECHO).await })
}

/// Starts a watcher on `node` watching `target`; answers what it records.
pub fn watch(node: &Node, target: &RemoteRef<Ping>) -> (Arc<Mutex<Vec<Terminated>>>, u64) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let target = target.clone();
    let id = {
        let seen = seen.clone();
        node.run(move |r| async move {
            let w = Watcher { seen }.start();
            r.watch(&target, w.recipient()).await
        })
    };
    (seen, id)
}
