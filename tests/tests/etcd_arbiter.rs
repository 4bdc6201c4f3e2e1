//! The etcd arbiter (downing lease and leader fencing token) against a real
//! etcd: two sides racing for the lease from two threads with their own
//! clients, a side cut from etcd, the minority's probe, a 3-member etcd
//! losing its raft leader during the decision, and fencing tokens across a
//! change of leader.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use actix_cluster_etcd::{
    ClaimError, DiscoveryConfig, DiscoveryError, EtcdArbiter, FencingToken, Verdict,
};
use actix_cluster_tests::etcd::{free_port, fresh_prefix, Etcd};
use actix_cluster_tests::node::{wait_until, Node, NodeSpec};

const HOLD: Duration = Duration::from_secs(30);

fn config(endpoints: &str, prefix: &str) -> DiscoveryConfig {
    DiscoveryConfig {
        endpoints: endpoints.split(',').map(str::to_owned).collect(),
        prefix: prefix.to_owned(),
        cluster_name: "arbiter".to_owned(),
        connect_timeout_ms: 1000,
        request_timeout_ms: 1000,
        ..DiscoveryConfig::default()
    }
}

fn side(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `f` on a fresh single-threaded runtime (each caller is its own "node").
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    actix::System::new().block_on(f)
}

/// One side's decider: keeps asking until etcd answers or `deadline` passes,
/// as a downing strategy does. `Err` carries the last error.
fn decide(
    cfg: DiscoveryConfig,
    decider: &'static str,
    members: BTreeSet<String>,
    start: Arc<Barrier>,
    deadline: Duration,
) -> std::thread::JoinHandle<Result<Verdict, String>> {
    std::thread::spawn(move || {
        block_on(async move {
            start.wait();
            let until = Instant::now() + deadline;
            let mut last = String::from("never asked");
            while Instant::now() < until {
                match EtcdArbiter::connect(cfg.clone()).await {
                    Ok(a) => match a.acquire(decider, &members, HOLD).await {
                        Ok(v) => return Ok(v),
                        Err(e) => last = e.to_string(),
                    },
                    Err(e) => last = e.to_string(),
                }
                actix::clock::sleep(Duration::from_millis(100)).await;
            }
            Err(last)
        })
    })
}

#[test]
fn two_sides_racing_for_the_downing_lease_exactly_one_wins() {
    let etcd = Etcd::start();
    let (mut a_wins, mut b_wins) = (0, 0);
    for round in 0..20 {
        let prefix = fresh_prefix("race");
        let start = Arc::new(Barrier::new(2));
        let a = decide(
            config(&etcd.endpoints(), &prefix),
            "a0",
            side(&["a0", "a1", "a2"]),
            start.clone(),
            Duration::from_secs(10),
        );
        let b = decide(
            config(&etcd.endpoints(), &prefix),
            "b0",
            side(&["b0", "b1"]),
            start,
            Duration::from_secs(10),
        );
        let (va, vb) = (a.join().unwrap(), b.join().unwrap());
        let (va, vb) = (
            va.expect("side a got an answer"),
            vb.expect("side b got an answer"),
        );
        assert_ne!(
            va.won(),
            vb.won(),
            "round {round}: exactly one side wins: {va:?} / {vb:?}"
        );
        if va.won() {
            a_wins += 1;
        } else {
            b_wins += 1;
        }
        // The call is idempotent for the winning side, from any of its members,
        // and the losing side keeps losing while the lease is held.
        block_on(async {
            let arb = EtcdArbiter::connect(config(&etcd.endpoints(), &prefix))
                .await
                .unwrap();
            let (win_side, lose_side) = if va.won() {
                (side(&["a0", "a1", "a2"]), side(&["b0", "b1"]))
            } else {
                (side(&["b0", "b1"]), side(&["a0", "a1", "a2"]))
            };
            let again = arb.acquire("x", &win_side, HOLD).await.unwrap();
            assert!(again.won(), "the winning side wins again: {again:?}");
            let lost = arb.acquire("y", &lose_side, HOLD).await.unwrap();
            assert!(!lost.won(), "the losing side loses again: {lost:?}");
        });
    }
    println!("race: side a won {a_wins} of 20, side b {b_wins}");
}

#[test]
fn what_is_left_of_the_winners_wins_again_and_the_lease_expires_by_itself() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("again");
    block_on(async {
        let arb = EtcdArbiter::connect(config(&etcd.endpoints(), &prefix))
            .await
            .unwrap();
        let five = side(&["a0", "a1", "a2", "a3", "a4"]);
        assert!(arb.acquire("a0", &five, HOLD).await.unwrap().won());
        // a0 (the decider) crashed: the four others are a majority of the
        // winners and win the next decision.
        let four = side(&["a1", "a2", "a3", "a4"]);
        assert!(arb.acquire("a1", &four, HOLD).await.unwrap().won());
        // The four split 2/2: neither half is a majority of the last winners;
        // the half holding their lowest id wins, the other loses (asked first
        // or not).
        assert!(!arb
            .acquire("a3", &side(&["a3", "a4"]), HOLD)
            .await
            .unwrap()
            .won());
        assert!(arb
            .acquire("a1", &side(&["a1", "a2"]), HOLD)
            .await
            .unwrap()
            .won());
        assert!(!arb
            .acquire("a3", &side(&["a3", "a4"]), HOLD)
            .await
            .unwrap()
            .won());
        // a1 and a2 won last: a side with both of them wins again.
        let three = side(&["a1", "a2", "a3"]);
        assert!(arb
            .acquire("a2", &three, Duration::from_secs(2))
            .await
            .unwrap()
            .won());
        assert!(!arb.acquire("a4", &side(&["a4"]), HOLD).await.unwrap().won());
    });
    // The 2 s lease of the last win expires by itself: then anybody can win.
    let key = format!("{prefix}/arbiter/downing/lease");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !etcd.keys(&key).is_empty() {
        assert!(Instant::now() < deadline, "the downing lease never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    block_on(async {
        let arb = EtcdArbiter::connect(config(&etcd.endpoints(), &prefix))
            .await
            .unwrap();
        assert!(arb.acquire("b0", &side(&["b0"]), HOLD).await.unwrap().won());
    });
}

/// The side that won asks again, every member at once (as after a second
/// fault within the hold): each round one of them rewrites the key and the
/// others find it changed. Every one of them wins; none fences itself.
#[test]
fn the_members_of_the_winning_side_asking_at_once_all_win() {
    let etcd = Etcd::start();
    let names = ["a0", "a1", "a2", "a3"];
    for round in 0..5 {
        let prefix = fresh_prefix("siblings");
        let cfg = config(&etcd.endpoints(), &prefix);
        block_on(async {
            let arb = EtcdArbiter::connect(cfg.clone()).await.unwrap();
            let five = side(&["a0", "a1", "a2", "a3", "a4"]);
            assert!(arb.acquire("a0", &five, HOLD).await.unwrap().won());
        });
        let start = Arc::new(Barrier::new(names.len()));
        let deciders: Vec<_> = names
            .iter()
            .map(|d| {
                decide(
                    cfg.clone(),
                    d,
                    side(&names),
                    start.clone(),
                    Duration::from_secs(10),
                )
            })
            .collect();
        for (d, h) in names.iter().zip(deciders) {
            let v = h.join().unwrap();
            assert!(
                matches!(v, Ok(Verdict::Won { .. })),
                "round {round}: {d} got {v:?}"
            );
        }
    }
}

#[test]
fn the_recorded_side_follows_the_survivors_membership() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("refresh");
    block_on(async {
        let arb = EtcdArbiter::connect(config(&etcd.endpoints(), &prefix))
            .await
            .unwrap();
        // Nothing held: a refresh records nothing (and creates no key).
        assert!(!arb.refresh("c0", &side(&["c0", "c1"])).await.unwrap());
        assert!(etcd
            .keys(&format!("{prefix}/arbiter/downing/lease"))
            .is_empty());
        // c0..c3 win against c4; c4 is reborn as c5 and rejoins the winners.
        let four = side(&["c0", "c1", "c2", "c3"]);
        assert!(arb.acquire("c0", &four, HOLD).await.unwrap().won());
        let five = side(&["c0", "c1", "c2", "c3", "c5"]);
        // A side that does not hold the winners cannot rewrite the record.
        assert!(!arb.refresh("c5", &side(&["c5"])).await.unwrap());
        assert!(arb.refresh("c0", &five).await.unwrap());
        // A new partition {c0, c1} | {c2, c3, c5} within the hold: the
        // majority of the cluster as it is now wins, though it holds only half
        // of the side that won last time (without the record it would lose).
        assert!(arb
            .acquire("c2", &side(&["c2", "c3", "c5"]), HOLD)
            .await
            .unwrap()
            .won());
        assert!(!arb
            .acquire("c0", &side(&["c0", "c1"]), HOLD)
            .await
            .unwrap()
            .won());
    });
}

#[test]
fn a_side_cut_from_etcd_cannot_win() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("cut");
    // The minority's only endpoint is a port nobody listens on: cut from etcd.
    let cut = config(&format!("http://127.0.0.1:{}", free_port()), &prefix);
    let start = Arc::new(Barrier::new(2));
    let minority = decide(
        cut,
        "b0",
        side(&["b0", "b1"]),
        start.clone(),
        Duration::from_secs(4),
    );
    let majority = decide(
        config(&etcd.endpoints(), &prefix),
        "a0",
        side(&["a0", "a1", "a2"]),
        start,
        Duration::from_secs(10),
    );
    let m = minority.join().unwrap();
    assert!(m.is_err(), "a side without etcd gets no verdict: {m:?}");
    let v = majority
        .join()
        .unwrap()
        .expect("the majority got an answer");
    assert!(v.won(), "{v:?}");
}

/// The probe a minority sends while it waits its turn: etcd answers it; an
/// endpoint that accepts connections and never answers (packets to etcd
/// dropped after the handshake) fails it on the probe's own bound, not on the
/// connect and request timeouts (a minute each here), so the minority fences
/// without waiting for them.
#[test]
fn the_minority_probe_answers_with_etcd_and_gives_up_on_its_own_bound() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("probe");
    block_on(EtcdArbiter::reachable(config(&etcd.endpoints(), &prefix)))
        .expect("etcd answers the probe");
    // A listener nobody accepts on: the kernel completes the handshake, and
    // nothing ever answers.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cut = config(&format!("http://{}", hole.local_addr().unwrap()), &prefix);
    cut.connect_timeout_ms = 60_000;
    cut.request_timeout_ms = 60_000;
    cut.arbiter_probe_timeout_ms = 200;
    match block_on(EtcdArbiter::reachable(cut)) {
        Err(DiscoveryError::Timeout(what)) => assert_eq!(what, "arbiter probe"),
        other => panic!("the probe's own bound ends it: {other:?}"),
    }
}

#[test]
fn a_three_member_etcd_losing_its_leader_during_the_decision_still_picks_one_side() {
    let mut etcd = Etcd::start_n(3);
    let prefix = fresh_prefix("raft");
    let leader = etcd.leader();
    let start = Arc::new(Barrier::new(3));
    let a = decide(
        config(&etcd.endpoints(), &prefix),
        "a0",
        side(&["a0", "a1", "a2"]),
        start.clone(),
        Duration::from_secs(30),
    );
    let b = decide(
        config(&etcd.endpoints(), &prefix),
        "b0",
        side(&["b0", "b1"]),
        start.clone(),
        Duration::from_secs(30),
    );
    start.wait();
    etcd.stop_member(leader);
    let (va, vb) = (a.join().unwrap(), b.join().unwrap());
    let (va, vb) = (
        va.expect("side a got an answer"),
        vb.expect("side b got an answer"),
    );
    assert_ne!(va.won(), vb.won(), "exactly one side wins: {va:?} / {vb:?}");
    // What etcd holds agrees with the verdicts: the winning side's members.
    let winner = if va.won() { "a0" } else { "b0" };
    let out = etcd
        .ctl(&[
            "get",
            &format!("{prefix}/arbiter/downing/lease"),
            "--print-value-only",
        ])
        .expect("etcdctl get");
    let held: BTreeSet<String> = serde_json::from_str(out.trim()).expect("a JSON list of ids");
    assert!(held.contains(winner), "{held:?}");
    etcd.start_member(leader);
}

fn grant_lease(etcd: &Etcd, ttl: u32) -> i64 {
    i64::from_str_radix(&etcd.grant_lease(ttl), 16).expect("hex lease id")
}

#[test]
fn fencing_tokens_grow_with_every_change_of_leader() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("fence");
    let (l1, l2) = (grant_lease(&etcd, 30), grant_lease(&etcd, 30));
    block_on(async {
        let arb = EtcdArbiter::connect(config(&etcd.endpoints(), &prefix))
            .await
            .unwrap();
        assert_eq!(arb.leader().await.unwrap(), None);
        let t1 = arb.claim_leadership("n1", l1).await.unwrap();
        assert_eq!(
            arb.claim_leadership("n1", l1).await.unwrap(),
            t1,
            "idempotent"
        );
        match arb.claim_leadership("n2", l2).await {
            Err(ClaimError::Held { holder, token }) => {
                assert_eq!((holder.as_str(), token), ("n1", t1));
            }
            other => panic!("n2 must not lead while n1 holds the key: {other:?}"),
        }
        assert!(
            !arb.displace_leader("n2").await.unwrap(),
            "only the holder is displaced"
        );
        assert!(arb.displace_leader("n1").await.unwrap());
        let t2 = arb.claim_leadership("n2", l2).await.unwrap();
        assert!(
            t2 > t1,
            "a later leader holds a larger token: {t1:?} then {t2:?}"
        );
        assert_eq!(arb.leader().await.unwrap(), Some(("n2".to_owned(), t2)));
        let t3 = {
            // The leader's lease ends (it crashed): the key goes with it.
            etcd.ctl(&["lease", "revoke", &format!("{l2:x}")])
                .expect("revoke");
            assert_eq!(arb.leader().await.unwrap(), None);
            arb.claim_leadership("n1", l1).await.unwrap()
        };
        assert!(t3 > t2 && t3 > FencingToken(0), "{t2:?} then {t3:?}");
    });
}

const NODE: &str = env!("CARGO_BIN_EXE_etcd-node");

/// The leader's fencing token from `leadership` answers, once exactly one of
/// `nodes` reports a token and every node names the same leader.
fn leader_token(nodes: &mut [Node]) -> (String, i64) {
    let mut found = None;
    wait_until(Duration::from_secs(30), "one leader with a token", || {
        let answers: Vec<_> = nodes.iter_mut().map(|n| n.leadership()).collect();
        let leaders: BTreeSet<String> = answers
            .iter()
            .filter_map(|a| a["leader"].as_str().map(str::to_owned))
            .collect();
        let tokens: Vec<i64> = answers.iter().filter_map(|a| a["token"].as_i64()).collect();
        if leaders.len() == 1
            && answers.iter().all(|a| a["leader"].is_string())
            && tokens.len() == 1
        {
            found = Some((leaders.into_iter().next().unwrap(), tokens[0]));
            true
        } else {
            false
        }
    });
    found.unwrap()
}

#[test]
fn the_leader_holds_a_fencing_token_that_grows_with_every_change_of_leader() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("token");
    let spec = |name: &str| {
        NodeSpec::new(NODE, name, &etcd.endpoints(), &prefix)
            .with_env("CLUSTER_NAME", "arbiter")
            .with_env("NODE_DOWNING", "lease-majority")
    };
    let mut nodes: Vec<Node> = ["n0", "n1", "n2"]
        .iter()
        .map(|n| Node::spawn(&spec(n)))
        .collect();
    for w in &nodes {
        for m in &nodes {
            assert!(
                w.wait_event("up", &m.id, Duration::from_secs(30)),
                "{} never saw {} up",
                w.name,
                m.id
            );
        }
    }
    let (leader, t1) = leader_token(&mut nodes);
    // The leader crashes: the two others (a majority, and the side that wins
    // the downing lease) down it, and the next leader gets a larger token.
    let i = nodes
        .iter()
        .position(|n| n.id == leader)
        .expect("the leader is one of ours");
    let mut victim = nodes.remove(i);
    victim.kill();
    for w in &nodes {
        assert!(
            w.wait_event("down", &leader, Duration::from_secs(30)),
            "{} never saw the crashed leader down (log {})",
            w.name,
            w.log.display()
        );
    }
    let (next, t2) = leader_token(&mut nodes);
    assert_ne!(next, leader);
    assert!(
        t2 > t1,
        "a later leader holds a larger token: {t1} then {t2}"
    );
    // etcd says the same.
    let out = etcd
        .ctl(&[
            "get",
            &format!("{prefix}/arbiter/leader"),
            "--print-value-only",
        ])
        .expect("etcdctl get");
    assert_eq!(out.trim(), next);
}
