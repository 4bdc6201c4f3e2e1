//! Test harness: every node runs in its own thread with its own actix `System`,
//! like a process; a recorder actor in that system logs what the node's
//! subscribers receive, and the test waits on those records with deadlines.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{
    Abort, Cluster, ClusterConfig, ClusterEvent, ClusterStats, DownReason, Event, GetMembers,
    GetSelf, GetStats, Join, Leave, MemberDown, MemberId, MemberInfo, MemberUp, ProtocolConfig,
    SelfInfo, Status, Subscribe,
};

/// Generous: the machine is shared; these bound waits, they are not timings.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Serializes the tests of one binary: several 5-node clusters at once on two
/// shared cores would only test the scheduler.
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

/// What a subscriber received, in order.
#[derive(Clone, Debug)]
pub enum Rec {
    Up(MemberInfo),
    Down(MemberInfo, DownReason),
    Event(Event),
}

/// The records of one subscriber, shared with the test thread.
#[derive(Default)]
pub struct Log {
    recs: Mutex<Vec<Rec>>,
    changed: Condvar,
}

impl Log {
    fn push(&self, r: Rec) {
        self.recs.lock().unwrap().push(r);
        self.changed.notify_all();
    }

    /// A copy of everything so far.
    pub fn snapshot(&self) -> Vec<Rec> {
        self.recs.lock().unwrap().clone()
    }

    /// Waits until `pred` holds on the records, panicking with `what` and the
    /// records at the deadline.
    pub fn wait(&self, what: &str, pred: impl Fn(&[Rec]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        let mut recs = self.recs.lock().unwrap();
        loop {
            if pred(&recs) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!("timed out waiting for {what}; records: {:#?}", *recs);
            }
            recs = self.changed.wait_timeout(recs, deadline - now).unwrap().0;
        }
    }

    /// Ids this subscriber saw `MemberUp` for.
    pub fn ups(&self) -> Vec<MemberId> {
        ups(&self.snapshot())
    }
}

pub fn ups(recs: &[Rec]) -> Vec<MemberId> {
    recs.iter()
        .filter_map(|r| match r {
            Rec::Up(m) => Some(m.id.clone()),
            _ => None,
        })
        .collect()
}

pub fn down_of(recs: &[Rec], id: &MemberId) -> Option<DownReason> {
    recs.iter().find_map(|r| match r {
        Rec::Down(m, reason) if &m.id == id => Some(*reason),
        _ => None,
    })
}

pub fn downs(recs: &[Rec]) -> Vec<(MemberId, DownReason)> {
    recs.iter()
        .filter_map(|r| match r {
            Rec::Down(m, reason) => Some((m.id.clone(), *reason)),
            _ => None,
        })
        .collect()
}

/// Subscribes to everything and logs it.
struct Recorder(Arc<Log>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<MemberUp> for Recorder {
    type Result = ();
    fn handle(&mut self, MemberUp(m): MemberUp, _: &mut Context<Self>) {
        self.0.push(Rec::Up(m));
    }
}

impl Handler<MemberDown> for Recorder {
    type Result = ();
    fn handle(&mut self, d: MemberDown, _: &mut Context<Self>) {
        self.0.push(Rec::Down(d.member, d.reason));
    }
}

impl Handler<ClusterEvent> for Recorder {
    type Result = ();
    fn handle(&mut self, ClusterEvent(e): ClusterEvent, _: &mut Context<Self>) {
        self.0.push(Rec::Event(e));
    }
}

/// Stops a recorder.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRecorder;

impl Handler<StopRecorder> for Recorder {
    type Result = ();
    fn handle(&mut self, _: StopRecorder, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A subscription made by the harness.
pub struct Subscriber {
    /// `MemberUp` / `MemberDown` as received.
    pub log: Arc<Log>,
    /// `ClusterEvent`s as received.
    pub events: Arc<Log>,
    recorders: [Addr<Recorder>; 2],
}

impl Subscriber {
    /// Stops both recorder actors.
    pub fn stop(&self) {
        for r in &self.recorders {
            futures::executor::block_on(r.send(StopRecorder)).expect("recorder alive");
        }
    }
}

/// Starts a recorder in the current system and subscribes it.
async fn subscribe(cluster: &Addr<Cluster>) -> Subscriber {
    let log = Arc::new(Log::default());
    let events = Arc::new(Log::default());
    let up_down = Recorder(log.clone()).start();
    let all = Recorder(events.clone()).start();
    cluster
        .send(Subscribe {
            member_up: Some(up_down.clone().recipient()),
            member_down: Some(up_down.clone().recipient()),
            events: Some(all.clone().recipient()),
        })
        .await
        .expect("cluster alive");
    Subscriber {
        log,
        events,
        recorders: [up_down, all],
    }
}

/// A gate a blocked subscriber waits at.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
    }
}

/// A subscriber whose thread is stuck in its first `MemberUp` until the gate
/// opens: the slowest subscriber there is.
struct Stuck {
    log: Arc<Log>,
    gate: Arc<Gate>,
}

impl Actor for Stuck {
    type Context = Context<Self>;
}

impl Handler<MemberUp> for Stuck {
    type Result = ();
    fn handle(&mut self, MemberUp(m): MemberUp, _: &mut Context<Self>) {
        self.log.push(Rec::Up(m));
        self.gate.wait();
    }
}

impl Handler<MemberDown> for Stuck {
    type Result = ();
    fn handle(&mut self, d: MemberDown, _: &mut Context<Self>) {
        self.log.push(Rec::Down(d.member, d.reason));
    }
}

/// A node: its own thread, its own actix `System`, a `Cluster` and a recorder.
pub struct Node {
    pub cluster: Addr<Cluster>,
    pub me: SelfInfo,
    /// `MemberUp` / `MemberDown` as received.
    pub log: Arc<Log>,
    /// `ClusterEvent`s as received.
    pub events: Arc<Log>,
    system: System,
    thread: Option<JoinHandle<()>>,
}

pub fn config(name: &str, bind: SocketAddr) -> ClusterConfig {
    ClusterConfig::new(name, bind).with_protocol(ProtocolConfig::local())
}

pub fn local0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

impl Node {
    /// Starts a node (not yet in a cluster).
    pub fn start(config: ClusterConfig) -> Node {
        let (tx, rx) = std::sync::mpsc::channel();
        let name = config.name.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let sys = System::new();
                sys.block_on(async move {
                    let started = async {
                        let cluster = Cluster::start(config).await?;
                        let me = cluster.send(GetSelf).await.expect("alive");
                        let sub = subscribe(&cluster).await;
                        Ok::<_, actix_cluster::ClusterError>((cluster, me, sub.log, sub.events))
                    }
                    .await;
                    tx.send((started, System::current())).unwrap();
                });
                sys.run().unwrap();
            })
            .unwrap();
        let (started, system) = rx.recv().unwrap();
        let (cluster, me, log, events) = started.expect("cluster starts");
        Node {
            cluster,
            me,
            log,
            events,
            system,
            thread: Some(thread),
        }
    }

    /// Starts a node and joins `seeds` (forms a cluster when `seeds` is empty).
    pub fn join(config: ClusterConfig, seeds: &[SocketAddr]) -> Node {
        let node = Node::start(config);
        if seeds.is_empty() {
            node.ask(actix_cluster::Form);
        } else {
            node.ask(Join(seeds.to_vec()));
        }
        node
    }

    pub fn id(&self) -> MemberId {
        self.me.id.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.me.id.addr
    }

    /// Sends `msg` and waits for the answer.
    pub fn ask<M>(&self, msg: M) -> M::Result
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Cluster: Handler<M>,
    {
        futures::executor::block_on(self.cluster.send(msg)).expect("cluster alive")
    }

    pub fn members(&self) -> Vec<MemberInfo> {
        self.ask(GetMembers)
    }

    pub fn stats(&self) -> ClusterStats {
        self.ask(GetStats)
    }

    /// A second subscriber, started now in this node's system.
    pub fn late_subscriber(&self) -> Subscriber {
        let (tx, rx) = std::sync::mpsc::channel();
        let cluster = self.cluster.clone();
        self.system.arbiter().spawn(async move {
            tx.send(subscribe(&cluster).await).unwrap();
        });
        rx.recv().unwrap()
    }

    /// A subscriber on its own arbiter (thread) that blocks in its first
    /// message until the returned gate opens. Stop the arbiter when done.
    pub fn stuck_subscriber(&self) -> (Arc<Log>, Arc<Gate>, actix::Arbiter) {
        let log = Arc::new(Log::default());
        let gate = Arc::new(Gate::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let (l, g) = (log.clone(), gate.clone());
        // Arbiters are made inside the node's system.
        self.system.arbiter().spawn_fn(move || {
            let arbiter = actix::Arbiter::new();
            let stuck =
                Stuck::start_in_arbiter(&arbiter.handle(), move |_| Stuck { log: l, gate: g });
            tx.send((stuck, arbiter)).unwrap();
        });
        let (stuck, arbiter) = rx.recv().unwrap();
        self.ask(Subscribe {
            member_up: Some(stuck.clone().recipient()),
            member_down: Some(stuck.recipient()),
            events: None,
        });
        (log, gate, arbiter)
    }

    /// Crash: stop the cluster without a leave, then the whole system.
    pub fn kill(mut self) {
        let _ = futures::executor::block_on(self.cluster.send(Abort));
        self.shutdown();
    }

    /// Graceful: `Leave` (answered once the leave went out), then stop.
    pub fn leave(mut self) {
        self.ask(Leave);
        self.shutdown();
    }

    /// Stops the system (which leaves the cluster on the way out).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            t.join().expect("node thread");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Test failed midway: do not leave, just go.
            let _ = futures::executor::block_on(self.cluster.send(Abort));
            self.shutdown();
        }
    }
}

/// Starts `n` nodes: the first forms the cluster, the others join through it.
pub fn cluster(prefix: &str, n: usize) -> Vec<Node> {
    let first = Node::join(config(&format!("{prefix}-0"), local0()), &[]);
    let seed = first.addr();
    let mut nodes = vec![first];
    for i in 1..n {
        nodes.push(Node::join(
            config(&format!("{prefix}-{i}"), local0()),
            &[seed],
        ));
    }
    nodes
}

/// Waits until every node has seen `MemberUp` for every id in `ids`.
pub fn wait_all_up(nodes: &[Node], ids: &[MemberId]) {
    for node in nodes {
        node.log.wait(
            &format!("{} to see {} members up", node.id(), ids.len()),
            |recs| {
                let seen = ups(recs);
                ids.iter().all(|id| seen.contains(id))
            },
        );
    }
}

/// Waits until every node in `nodes` saw `id` down, returning the reasons.
pub fn wait_all_down(nodes: &[Node], id: &MemberId) -> Vec<DownReason> {
    nodes
        .iter()
        .map(|node| {
            node.log
                .wait(&format!("{} to see {id} down", node.id()), |recs| {
                    down_of(recs, id).is_some()
                });
            down_of(&node.log.snapshot(), id).unwrap()
        })
        .collect()
}

pub fn ids(nodes: &[Node]) -> Vec<MemberId> {
    nodes.iter().map(Node::id).collect()
}

/// True when `members` lists `id` as Up.
pub fn is_up(members: &[MemberInfo], id: &MemberId) -> bool {
    members
        .iter()
        .any(|m| &m.id == id && m.status == Status::Up)
}
