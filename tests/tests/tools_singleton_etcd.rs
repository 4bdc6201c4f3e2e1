//! The cluster singleton with its claim in a real etcd: in-process members
//! (threads with their own actix `System`, `Cluster`, remote layer and etcd
//! discovery), each with a singleton manager holding an `EtcdClaim`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{Cluster, ClusterConfig, GetMembers, GetSelf, ProtocolConfig, Status};
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
}

type Log = Arc<Mutex<Vec<Entry>>>;

struct Instance {
    node: String,
    token: Option<i64>,
    log: Log,
}

impl Actor for Instance {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        let e = Entry::Started(self.node.clone(), self.token);
        self.log.lock().unwrap().push(e);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let e = Entry::Stopped(self.node.clone());
        self.log.lock().unwrap().push(e);
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
                let handle = singleton(&remote, claim, node, log);
                let id = cluster.send(GetSelf).await.unwrap().id.to_string();
                tx.send((cluster, handle, id, System::current())).unwrap();
            });
            sys.run().unwrap();
        });
        let (cluster, handle, id, system) = rx.recv_timeout(DEADLINE).expect("the member starts");
        Member {
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
    log.lock()
        .unwrap()
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
    for e in log.lock().unwrap().iter() {
        match e {
            Entry::Started(n, _) => {
                running.insert(n.clone());
            }
            Entry::Stopped(n) | Entry::Killed(n) => {
                running.remove(n);
            }
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
    log.lock().unwrap().push(Entry::Killed("n2".into()));
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
        log.lock().unwrap().contains(&Entry::Stopped("n1".into()))
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
