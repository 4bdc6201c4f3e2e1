//! The cluster singleton with its claim in a real etcd: in-process members
//! (threads with their own actix `System`, `Cluster`, remote layer and etcd
//! discovery), each with a singleton manager holding an `EtcdClaim`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{
    Cluster, ClusterConfig, ClusterEvent, DownReason, Event, GetMembers, GetSelf, ProtocolConfig,
    Status, Subscribe,
};
use actix_cluster_etcd::{ClaimError, ClusterDiscovery, DiscoveryConfig, EtcdArbiter};
use actix_cluster_remote::{Remote, RemoteConfig, RemoteHandle};
use actix_cluster_tests::etcd::{fresh_cluster_name, fresh_prefix, Etcd};
use actix_cluster_tests::node::wait_until;
use actix_cluster_tools::singleton::{EtcdClaim, SingletonStart};
use actix_cluster_tools::{ClusterSingleton, SingletonConfig, SingletonHandle, StopSingleton};

const DEADLINE: Duration = Duration::from_secs(30);

/// What the instances write, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Started(String, Option<i64>),
    Stopped(String),
    /// The test killed this member (its instance died with it).
    Killed(String),
    /// `observer` saw `member` down by the downing decision.
    Down {
        observer: String,
        member: String,
    },
}

/// The entries, each with when it was written.
type Log = Arc<Mutex<Vec<(Entry, Instant)>>>;

fn push(log: &Log, e: Entry) {
    log.lock().unwrap().push((e, Instant::now()));
}

fn entries(log: &Log) -> Vec<Entry> {
    log.lock().unwrap().iter().map(|(e, _)| e.clone()).collect()
}

/// When `entry` was written first.
fn when(log: &Log, entry: &Entry) -> Option<Instant> {
    log.lock()
        .unwrap()
        .iter()
        .find(|(e, _)| e == entry)
        .map(|(_, at)| *at)
}

/// Writes the `Down(Failed)`s its member sees.
struct DownClock {
    node: String,
    log: Log,
}

impl Actor for DownClock {
    type Context = Context<Self>;
}

impl Handler<ClusterEvent> for DownClock {
    type Result = ();

    fn handle(&mut self, ClusterEvent(e): ClusterEvent, _: &mut Context<Self>) {
        if let Event::Down {
            member,
            reason: DownReason::Failed,
        } = e
        {
            let observer = self.node.clone();
            let member = member.id.name.clone();
            push(&self.log, Entry::Down { observer, member });
        }
    }
}

struct Instance {
    node: String,
    token: Option<i64>,
    log: Log,
}

impl Actor for Instance {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        push(&self.log, Entry::Started(self.node.clone(), self.token));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        push(&self.log, Entry::Stopped(self.node.clone()));
    }
}

impl Handler<StopSingleton> for Instance {
    type Result = ();

    fn handle(&mut self, _: StopSingleton, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

fn discovery_config(endpoints: &str, prefix: &str, cluster: &str) -> DiscoveryConfig {
    DiscoveryConfig {
        endpoints: endpoints.split(',').map(str::to_owned).collect(),
        prefix: prefix.to_owned(),
        cluster_name: cluster.to_owned(),
        lease_ttl_secs: 3,
        backoff_min_ms: 100,
        backoff_max_ms: 1000,
        connect_timeout_ms: 500,
        request_timeout_ms: 1500,
        ..DiscoveryConfig::default()
    }
}

/// A member with etcd discovery and a singleton manager with an etcd claim.
struct Member {
    name: String,
    id: String,
    cluster: Addr<Cluster>,
    handle: SingletonHandle,
    system: System,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(name: &str, config: DiscoveryConfig, log: Log) -> Member {
        let (tx, rx) = std::sync::mpsc::channel();
        let node = name.to_owned();
        let thread = std::thread::spawn(move || {
            let sys = System::new();
            sys.block_on(async move {
                let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
                let cluster_config = ClusterConfig::new(node.clone(), bind)
                    .with_protocol(ProtocolConfig::local())
                    .with_cluster_name(config.cluster_name.clone());
                let mut remote_config = RemoteConfig::for_cluster(&cluster_config);
                remote_config.bind = bind;
                let cluster = Cluster::start(cluster_config).await.expect("cluster");
                let remote = Remote::start(cluster.clone(), remote_config)
                    .await
                    .expect("remote");
                let discovery =
                    ClusterDiscovery::start(cluster.clone(), config.clone()).expect("discovery");
                let claim = EtcdClaim::connect(config, discovery).await.expect("etcd");
                let clock = DownClock {
                    node: node.clone(),
                    log: log.clone(),
                }
                .start();
                cluster.do_send(Subscribe {
                    events: Some(clock.recipient()),
                    ..Subscribe::default()
                });
                let handle = singleton(&remote, claim, node, log);
                let id = cluster.send(GetSelf).await.unwrap().id.to_string();
                tx.send((cluster, handle, id, System::current())).unwrap();
            });
            sys.run().unwrap();
        });
        let (cluster, handle, id, system) = rx.recv_timeout(DEADLINE).expect("the member starts");
        Member {
            name: name.to_owned(),
            id,
            cluster,
            handle,
            system,
            thread: Some(thread),
        }
    }

    fn run<T: Send + 'static, Fut: std::future::Future<Output = T> + 'static>(
        &self,
        f: impl FnOnce() -> Fut + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.system.arbiter().spawn_fn(move || {
            actix_rt::spawn(async move {
                let _ = tx.send(f().await);
            });
        });
        rx.recv_timeout(DEADLINE).expect("the member answers")
    }

    fn up_members(&self) -> usize {
        let cluster = self.cluster.clone();
        self.run(move || async move {
            let members = cluster.send(GetMembers).await.unwrap_or_default();
            members.iter().filter(|m| m.status == Status::Up).count()
        })
    }

    /// Hands over, leaves and stops.
    fn leave(mut self) {
        let (h, cluster) = (self.handle.clone(), self.cluster.clone());
        self.run(move || async move {
            h.hand_over().await;
            let _ = cluster.send(actix_cluster::Leave).await;
        });
        self.join();
    }

    /// Stops without a word, like a crashed process.
    fn kill(mut self) {
        let cluster = self.cluster.clone();
        self.run(move || async move { cluster.do_send(actix_cluster::Abort) });
        self.join();
    }

    fn join(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.join();
    }
}

fn singleton(
    remote: &RemoteHandle,
    claim: Arc<EtcdClaim>,
    node: String,
    log: Log,
) -> SingletonHandle {
    let config = SingletonConfig::new("test").with_claim(claim);
    ClusterSingleton::start(remote, config, move |start: SingletonStart| {
        Instance {
            node: node.clone(),
            token: start.token,
            log: log.clone(),
        }
        .start()
    })
}

fn starts(log: &Log) -> Vec<(String, Option<i64>)> {
    entries(log)
        .iter()
        .filter_map(|e| match e {
            Entry::Started(n, t) => Some((n.clone(), *t)),
            _ => None,
        })
        .collect()
}

/// The most instances that ran at once, by the log.
fn most_at_once(log: &Log) -> usize {
    let mut running = BTreeSet::new();
    let mut most = 0;
    for e in entries(log) {
        match e {
            Entry::Started(n, _) => {
                running.insert(n);
            }
            Entry::Stopped(n) | Entry::Killed(n) => {
                running.remove(&n);
            }
            Entry::Down { .. } => {}
        }
        most = most.max(running.len());
    }
    most
}

fn holder(config: &DiscoveryConfig) -> Option<(String, i64)> {
    let config = config.clone();
    System::new().block_on(async move {
        let arbiter = EtcdArbiter::connect(config).await.expect("etcd");
        let held = arbiter.key_holder("test").await.expect("etcd answers");
        held.map(|(h, t)| (h, t.0))
    })
}

#[test]
fn the_claim_moves_with_the_singleton_and_its_token_grows_across_hosts() {
    let etcd = Etcd::start();
    let cluster = fresh_cluster_name("singleton");
    let config = discovery_config(&etcd.endpoints(), &fresh_prefix("singleton"), &cluster);
    let log = Log::default();
    let mut members: Vec<Member> = Vec::new();
    // Four, so that the three left after n1's leave are a majority when one
    // of them crashes.
    for name in ["n1", "n2", "n3", "n4"] {
        members.push(Member::start(name, config.clone(), log.clone()));
        let n = members.len();
        wait_until(DEADLINE, "every member Up", || {
            members.iter().all(|m| m.up_members() == n)
        });
    }
    wait_until(DEADLINE, "n1 runs it", || starts(&log).len() == 1);
    let (host, t1) = starts(&log)[0].clone();
    assert_eq!(host, "n1");
    let t1 = t1.expect("a token");
    assert_eq!(holder(&config), Some((members[0].id.clone(), t1)));

    members.remove(0).leave();
    wait_until(DEADLINE, "n2 runs it", || starts(&log).len() == 2);
    let (host, t2) = starts(&log)[1].clone();
    assert_eq!(host, "n2");
    let t2 = t2.expect("a token");
    assert!(t2 > t1, "the token grows: {t1} then {t2}");
    assert_eq!(holder(&config), Some((members[0].id.clone(), t2)));

    // A crash: n2's key stays (its lease lives up to its TTL) until n3,
    // once n2 is Down, displaces it.
    push(&log, Entry::Killed("n2".into()));
    members.remove(0).kill();
    wait_until(DEADLINE, "n3 runs it", || starts(&log).len() == 3);
    let (host, t3) = starts(&log)[2].clone();
    assert_eq!(host, "n3");
    let t3 = t3.expect("a token");
    assert!(t3 > t2, "the token grows: {t2} then {t3}");
    assert_eq!(holder(&config), Some((members[0].id.clone(), t3)));
    assert_eq!(
        most_at_once(&log),
        1,
        "never two at once: {:?}",
        log.lock().unwrap()
    );
}

#[test]
fn an_instance_whose_claim_is_gone_stops_and_comes_back_with_a_larger_token() {
    let etcd = Etcd::start();
    let cluster = fresh_cluster_name("claim-gone");
    let config = discovery_config(&etcd.endpoints(), &fresh_prefix("claim-gone"), &cluster);
    let log = Log::default();
    let n1 = Member::start("n1", config.clone(), log.clone());
    wait_until(DEADLINE, "n1 runs it", || starts(&log).len() == 1);
    let t1 = starts(&log)[0].1.expect("a token");
    // Another member displaced the claim (as after n1 was Down in its view).
    let (c, id) = (config.clone(), n1.id.clone());
    let deleted = System::new().block_on(async move {
        let arbiter = EtcdArbiter::connect(c).await.expect("etcd");
        arbiter
            .release_key("test", &id)
            .await
            .expect("etcd answers")
    });
    assert!(deleted);
    wait_until(DEADLINE, "the instance stopped", || {
        entries(&log).contains(&Entry::Stopped("n1".into()))
    });
    wait_until(DEADLINE, "it came back", || starts(&log).len() == 2);
    let t2 = starts(&log)[1].1.expect("a token");
    assert!(t2 > t1, "a new claim, a larger token: {t1} then {t2}");
    assert_eq!(most_at_once(&log), 1);
}

#[test]
fn two_members_claiming_at_once_never_both_hold_the_key() {
    let etcd = Etcd::start();
    for round in 0..20 {
        let config = discovery_config(&etcd.endpoints(), &fresh_prefix("claim-race"), "race");
        let start = Arc::new(Barrier::new(2));
        let claim = |holder: &'static str| {
            let (config, start) = (config.clone(), start.clone());
            let lease = i64::from_str_radix(&etcd.grant_lease(10), 16).expect("a hex lease id");
            std::thread::spawn(move || {
                System::new().block_on(async move {
                    let arbiter = EtcdArbiter::connect(config).await.expect("etcd");
                    start.wait();
                    arbiter.claim_key("test", holder, lease).await
                })
            })
        };
        let (a, b) = (claim("a"), claim("b"));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        let won = |r: &Result<_, ClaimError>| r.is_ok();
        assert_ne!(
            won(&a),
            won(&b),
            "round {round}: exactly one holds it: {a:?} / {b:?}"
        );
        let (winner, loser) = if won(&a) { ("a", b) } else { ("b", a) };
        match loser {
            Err(ClaimError::Held { holder, .. }) => assert_eq!(holder, winner),
            other => panic!("round {round}: the loser is told who holds it: {other:?}"),
        }
    }
}

/// The moves with the etcd claim, measured (not a test: run with
/// `-- --ignored --nocapture`): a graceful leave (from `hand_over` to the
/// next start, the claim released and taken again), then a crash (from the
/// next host's `Down` of the old host to the next start, which waits for the
/// claim: the old host's key found, displaced, claimed again). Three
/// members; each round the host goes and a fresh member joins.
#[test]
#[ignore]
fn figures_moves_with_the_etcd_claim() {
    let etcd = Etcd::start();
    let cluster = fresh_cluster_name("figures");
    let config = discovery_config(&etcd.endpoints(), &fresh_prefix("figures"), &cluster);
    let log = Log::default();
    let mut members: Vec<Member> = Vec::new();
    let mut names = (1..).map(|i| format!("n{i}"));
    let mut handovers = Vec::new();
    for _ in 0..20 {
        let (i, _, before) = three_with_a_host(&mut members, &mut names, &config, &log);
        let t0 = Instant::now();
        members.remove(i).leave();
        wait_until(DEADLINE, "the next start", || starts(&log).len() > before);
        let (next, token) = starts(&log).last().unwrap().clone();
        handovers.push(when(&log, &Entry::Started(next, token)).unwrap() - t0);
    }
    report(
        "graceful leave with the etcd claim, call -> next start",
        handovers,
    );
    let mut figures = Vec::new();
    for _ in 0..20 {
        let (i, host, before) = three_with_a_host(&mut members, &mut names, &config, &log);
        push(&log, Entry::Killed(host.clone()));
        members.remove(i).kill();
        wait_until(DEADLINE, "the next start", || starts(&log).len() > before);
        let (next, token) = starts(&log).last().unwrap().clone();
        let started = when(&log, &Entry::Started(next.clone(), token)).unwrap();
        let down = Entry::Down {
            observer: next,
            member: host,
        };
        let down = when(&log, &down).expect("the next host saw the old one down first");
        figures.push(started - down);
    }
    assert_eq!(most_at_once(&log), 1);
    report("crash with the etcd claim, Down -> next start", figures);
}

/// Prints p50 / p99 / max (nearest rank) of `figures`.
fn report(what: &str, mut figures: Vec<Duration>) {
    figures.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}, {} rounds: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        figures.len(),
        ms(figures[figures.len().div_ceil(2) - 1]),
        ms(figures[(figures.len() * 99).div_ceil(100) - 1]),
        ms(*figures.last().unwrap())
    );
}

/// Tops `members` up to three with fresh names, waits until all three are Up
/// and one hosts the singleton: its index and name, and how many starts the
/// log holds so far.
fn three_with_a_host(
    members: &mut Vec<Member>,
    names: &mut impl Iterator<Item = String>,
    config: &DiscoveryConfig,
    log: &Log,
) -> (usize, String, usize) {
    while members.len() < 3 {
        let name = names.next().unwrap();
        members.push(Member::start(&name, config.clone(), log.clone()));
    }
    wait_until(DEADLINE, "three Up", || {
        members.iter().all(|m| m.up_members() == 3)
    });
    wait_until(DEADLINE, "a host", || !starts(log).is_empty());
    let before = starts(log).len();
    let host = starts(log).last().unwrap().0.clone();
    let i = members
        .iter()
        .position(|m| m.name == host)
        .expect("the host");
    (i, host, before)
}
