//! The demo's cluster tools as real processes against a real etcd: a
//! frontend and three backends. The `ticker` singleton runs on one backend,
//! every node's `GET /api/singleton` agrees on its host and token, and its
//! fenced resource in etcd holds that token; `POST /api/work` spreads jobs
//! evenly over the backends through the round-robin router and refuses a bad
//! `n`. A SIGTERM of the ticker's host moves it (ticks go on, the token
//! grows); a kill -9 of the new host moves it again, and the last backend
//! runs it only once it shows the killed host down. A write with a stale
//! token is refused by the fenced resource, whose token never went back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_tests::demo::{
    fenced_write, host_token_ticks, http, members, singleton, token_key, token_value, wait_for,
    with_status, work, Monitor, TempDir,
};
use actix_cluster_tests::etcd::{fresh_cluster_name, Etcd};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// The demo's default `ETCD_PREFIX`.
const PREFIX: &str = "/actix-cluster";

/// Waits until every node in `nodes` answers the same host (not `not`) and
/// token; returns them with the highest tick count seen.
fn agreed(nodes: &[&Monitor], not: Option<&str>) -> (String, i64, u64) {
    wait_for("every node to agree on the ticker", T, || {
        let mut seen = Vec::new();
        for n in nodes {
            let v = singleton(n.http)?;
            let got = host_token_ticks(&v).ok_or_else(|| format!("{}: {v}", n.name))?;
            seen.push(got);
        }
        let (host, token, _) = seen[0].clone();
        if not == Some(host.as_str()) {
            return Err(format!("still {host}"));
        }
        if seen.iter().any(|(h, t, _)| *h != host || *t != token) {
            return Err(format!("{seen:?}"));
        }
        let ticks = seen.iter().map(|s| s.2).max().unwrap_or(0);
        Ok((host, token, ticks))
    })
}

/// The nodes that say they run the ticker now.
fn running(nodes: &[&Monitor]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| singleton(n.http).is_ok_and(|v| v["here"] == true))
        .map(|n| n.name.clone())
        .collect()
}

fn id_of(node: &Monitor) -> String {
    let r = http("GET", node.http, "/readyz").expect("readyz");
    r.json()["id"].as_str().unwrap_or_default().to_owned()
}

fn check_work(from: SocketAddr, n: u64, backends: &[String]) {
    let (status, body) = work(from, &n.to_string()).expect("work");
    assert_eq!(status, 200, "{body}");
    let counts: BTreeMap<String, u64> = serde_json::from_value(body["counts"].clone())
        .unwrap_or_else(|e| panic!("counts: {e}: {body}"));
    let mut want: Vec<&String> = backends.iter().collect();
    want.sort();
    assert_eq!(counts.keys().collect::<Vec<_>>(), want, "{body}");
    let each = n / backends.len() as u64;
    assert!(counts.values().all(|c| *c == each), "round robin: {body}");
    assert_eq!(body["failed"], 0, "{body}");
    assert_eq!(body["sent"], n, "{body}");
}

#[test]
fn ticker_singleton_and_work_router_across_four_processes() {
    let t0 = std::time::Instant::now();
    let etcd = Etcd::start();
    let logs = TempDir::new("tools");
    let cluster = fresh_cluster_name("tools");
    let endpoints = etcd.endpoints();
    let mut nodes = Monitor::start_demo(&cluster, &endpoints, &logs.0);
    let ids: Vec<String> = nodes.iter_mut().map(|n| n.wait_ready(T)).collect();
    for node in &nodes {
        wait_for(
            &format!("{} to see 4 Up", node.name),
            T,
            || match with_status(&members(node.http)?, "up", None).len() {
                4 => Ok(()),
                n => Err(format!("{n} up")),
            },
        );
    }
    let backends: Vec<String> = ids[1..].to_vec();
    let key = token_key(PREFIX, &cluster);
    let mut fenced: Vec<i64> = Vec::new();
    let fence_token = |fenced: &mut Vec<i64>| -> Option<i64> {
        let out = etcd.ctl(&["get", &key, "--print-value-only"]).ok()?;
        let token = out.trim().parse::<i64>().ok()?;
        fenced.push(token);
        Some(token)
    };

    // One ticker, on a backend, with a token every node agrees on.
    let all: Vec<&Monitor> = nodes.iter().collect();
    let (host1, token1, ticks1) = agreed(&all, None);
    let first = t0.elapsed();
    assert!(backends.contains(&host1), "{host1} is not a backend");
    let owner1 = nodes.iter().position(|n| id_of(n) == host1).expect("host");
    assert_eq!(running(&all), vec![nodes[owner1].name.clone()]);
    wait_for(
        "the fenced resource to hold the token",
        T,
        || match fence_token(&mut fenced) {
            Some(t) if t == token1 => Ok(()),
            other => Err(format!("{other:?}, want {token1}")),
        },
    );
    let text = etcd.ctl(&["get", &key, "--print-value-only"]).expect("get");
    assert_eq!(text.trim(), token_value(token1));

    // Jobs through the round-robin router, from the frontend and a backend.
    check_work(nodes[0].http, 300, &backends);
    check_work(nodes[2].http, 3, &backends);
    for bad in ["0", "10001", "ten", "", "-5"] {
        let (status, body) = work(nodes[0].http, bad).expect("work");
        assert_eq!(status, 400, "n={bad}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("10000")),
            "{body}"
        );
    }
    let r = http("POST", nodes[0].http, "/api/work").expect("work");
    assert_eq!(r.status, 400, "{}", r.body);

    // SIGTERM of the ticker's host: it moves, ticks go on, the token grows.
    let left = nodes.remove(owner1);
    left.signal("TERM");
    let t = std::time::Instant::now();
    let rest: Vec<&Monitor> = nodes.iter().collect();
    let (host2, token2, ticks2) = agreed(&rest, Some(&host1));
    assert!(backends.contains(&host2) && host2 != host1, "{host2}");
    assert!(token2 > token1, "token {token2} after {token1}");
    assert!(ticks2 > ticks1, "ticks {ticks2} after {ticks1}");
    let owner2 = nodes.iter().position(|n| id_of(n) == host2).expect("host");
    let last = (1..nodes.len())
        .find(|i| *i != owner2)
        .expect("a last backend");
    fence_token(&mut fenced);

    // kill -9 of the new host: the last backend runs the ticker only once it
    // shows that host down (its singleton is read before its members).
    let moved_on_leave = t.elapsed();
    nodes[owner2].signal("KILL");
    let t = std::time::Instant::now();
    let last_http = nodes[last].http;
    wait_for("the last backend to run the ticker", T, || {
        let s = singleton(last_http)?;
        if s["here"] != true {
            return Err(format!("{s}"));
        }
        let m = members(last_http)?;
        let host2_down = with_status(&m, "down", None)
            .iter()
            .any(|v| v["id"] == host2.as_str())
            || !m["members"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v["id"] == host2.as_str()));
        assert!(host2_down, "runs the ticker while {host2} is not down: {m}");
        Ok(())
    });
    let killed = nodes.remove(owner2);
    drop(killed);
    let rest: Vec<&Monitor> = nodes.iter().collect();
    let (host3, token3, ticks3) = agreed(&rest, Some(&host2));
    let moved_on_crash = t.elapsed();
    assert_eq!(
        host3,
        id_of(rest.iter().find(|n| n.role == "backend").expect("backend"))
    );
    assert!(token3 > token2, "token {token3} after {token2}");
    assert!(ticks3 >= ticks2, "ticks {ticks3} after {ticks2}");
    let front = singleton(nodes[0].http).expect("singleton");
    assert_eq!(front["here"], Value::Bool(false), "{front}");

    // The fenced resource: the newest token is stored, a stale write is
    // refused, and the tokens read over the test never went back.
    wait_for(
        "the fenced resource to hold the last token",
        T,
        || match fence_token(&mut fenced) {
            Some(t) if t == token3 => Ok(()),
            other => Err(format!("{other:?}, want {token3}")),
        },
    );
    let refused = fenced_write("etcdctl", &endpoints, PREFIX, &cluster, token1).expect("txn");
    assert!(
        refused,
        "a write with the stale token {token1} was accepted"
    );
    assert_eq!(fence_token(&mut fenced), Some(token3));
    assert!(fenced.windows(2).all(|w| w[0] <= w[1]), "{fenced:?}");
    eprintln!(
        "ticker: {host1} (token {token1}, {ticks1} ticks) -> SIGTERM -> {host2} (token {token2}, \
         {ticks2}) -> kill -9 -> {host3} (token {token3}, {ticks3}); fenced tokens read {fenced:?}; \
         first tick agreed after {first:?}, agreed after the SIGTERM in {moved_on_leave:?}, after \
         the kill -9 in {moved_on_crash:?}"
    );
}
