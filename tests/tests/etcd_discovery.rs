//! etcd discovery against a real etcd (docker container or local process) and
//! real node processes. Every test has its own etcd, so they run in parallel.

use std::time::{Duration, Instant};

use actix_cluster_tests::etcd::{free_port, fresh_prefix, Etcd};
use actix_cluster_tests::node::{wait_until, Node, NodeSpec};
use serde_json::Value;

const NODE: &str = env!("CARGO_BIN_EXE_etcd-node");
const TTL: u64 = 3;
const LONG: Duration = Duration::from_secs(30);

fn spec(etcd: &Etcd, prefix: &str, name: &str) -> NodeSpec {
    NodeSpec::new(NODE, name, &etcd.endpoints(), prefix)
}

fn members_prefix(prefix: &str) -> String {
    format!("{prefix}/etcd-test/members/")
}

fn member_key(prefix: &str, id: &str) -> String {
    format!("{}{id}", members_prefix(prefix))
}

/// Starts `n` nodes one after the other and waits until each sees all Up.
fn start_cluster(etcd: &Etcd, prefix: &str, n: usize) -> Vec<Node> {
    let nodes: Vec<Node> = (0..n)
        .map(|i| Node::spawn(&spec(etcd, prefix, &format!("n{i}"))))
        .collect();
    wait_all_up(&nodes, &nodes);
    nodes
}

/// Waits until every node of `watchers` saw every node of `members` Up.
fn wait_all_up(watchers: &[Node], members: &[Node]) {
    for w in watchers {
        for m in members {
            assert!(
                w.wait_event("up", &m.id, LONG),
                "{} never saw {} up (log {})",
                w.name,
                m.id,
                w.log.display()
            );
        }
    }
}

fn downs(node: &Node) -> Vec<Value> {
    node.lines(|v| v["kind"] == "event" && v["event"] == "down")
}

#[test]
fn etcdctl_shows_the_registrations_with_lease_and_ttl() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("ctl");
    let mut nodes = start_cluster(&etcd, &prefix, 2);
    for node in &mut nodes {
        let st = node.wait_status(LONG, |s| s["registered"] == true && s["member_up"] == true);
        let lease = st["lease_id"].as_i64().expect("a lease id");
        let key = member_key(&prefix, &node.id);
        let up_key = format!("{prefix}/etcd-test/up/{}", node.id);
        // The value is the JSON registration.
        let value = etcd.ctl(&["get", &key, "--print-value-only"]).unwrap();
        let reg: Value = serde_json::from_str(value.trim()).expect("JSON registration");
        assert_eq!(reg["id"], node.id.as_str());
        assert_eq!(reg["name"], node.name.as_str());
        assert_eq!(reg["address"], node.addr.as_str());
        assert!(reg["version"].is_string() && reg["started_at_ms"].is_u64());
        // The lease: TTL as configured, both keys attached.
        let mut out = String::new();
        wait_until(LONG, "up key attached to the lease", || {
            out = etcd
                .ctl(&["lease", "timetolive", &format!("{lease:x}"), "--keys"])
                .unwrap_or_default();
            out.contains(&up_key)
        });
        assert!(out.contains(&format!("granted with TTL({TTL}s)")), "{out}");
        assert!(out.contains(&key), "{out}");
        eprintln!("{}", out.trim());
    }
}

#[test]
fn killed_node_key_expires_within_ttl_and_others_see_it_down() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("kill");
    let mut nodes = start_cluster(&etcd, &prefix, 3);
    let victim = nodes.pop().unwrap();
    let key = member_key(&prefix, &victim.id);
    wait_until(LONG, "victim registered", || {
        etcd.keys(&members_prefix(&prefix)).contains(&key)
    });
    let mut victim = victim;
    let t = Instant::now();
    victim.kill();
    for n in &nodes {
        assert!(n
            .wait_for(LONG, |v| {
                v["event"] == "down" && v["member"] == victim.id.as_str() && v["reason"] == "failed"
            })
            .is_some());
    }
    wait_until(
        Duration::from_secs(TTL * 4 + 10),
        "key of the killed node gone",
        || !etcd.keys(&members_prefix(&prefix)).contains(&key),
    );
    eprintln!(
        "killed node's key gone after {:?} (TTL {TTL}s)",
        t.elapsed()
    );
    // The others are still registered.
    let keys = etcd.keys(&members_prefix(&prefix));
    for n in &nodes {
        assert!(keys.contains(&member_key(&prefix, &n.id)));
    }
}

#[test]
fn graceful_leave_removes_the_key_at_once() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("leave");
    let nodes = start_cluster(&etcd, &prefix, 2);
    // A long TTL: only the revoke can make its keys vanish during this test.
    let mut leaver = Node::spawn(&spec(&etcd, &prefix, "leaver").with_env("ETCD_LEASE_TTL", "60"));
    wait_all_up(&nodes, std::slice::from_ref(&leaver));
    let key = member_key(&prefix, &leaver.id);
    leaver.wait_status(LONG, |s| s["registered"] == true);
    assert!(etcd.keys(&members_prefix(&prefix)).contains(&key));
    leaver.leave();
    // No waiting: the lease is revoked before the node says it deregistered.
    let keys = etcd.keys(&format!("{prefix}/etcd-test/"));
    assert!(
        !keys.iter().any(|k| k.contains(&leaver.id)),
        "keys of the leaver still there: {keys:?}"
    );
    for n in &nodes {
        assert!(n
            .wait_for(LONG, |v| {
                v["event"] == "down" && v["member"] == leaver.id.as_str() && v["reason"] == "left"
            })
            .is_some());
    }
}

#[test]
fn stopping_the_actix_system_revokes_the_lease() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("sysstop");
    let mut node = Node::spawn(&spec(&etcd, &prefix, "n0").with_env("ETCD_LEASE_TTL", "60"));
    node.wait_status(LONG, |s| s["registered"] == true && s["member_up"] == true);
    let key = member_key(&prefix, &node.id);
    assert!(etcd.keys(&members_prefix(&prefix)).contains(&key));
    node.stop_system();
    // The process has exited; with a 60 s TTL only a revoke removes the keys.
    let keys = etcd.keys(&format!("{prefix}/etcd-test/"));
    assert!(
        !keys.iter().any(|k| k.contains(&node.id)),
        "keys still there after the System stopped: {keys:?}"
    );
}

#[test]
fn etcd_down_for_30s_causes_no_member_down_and_registrations_come_back() {
    let mut etcd = Etcd::start();
    let prefix = fresh_prefix("outage");
    let mut nodes = start_cluster(&etcd, &prefix, 3);
    for n in &mut nodes {
        n.wait_status(LONG, |s| s["registered"] == true);
    }
    etcd.stop();
    let down_at = Instant::now();
    nodes[0].wait_status(LONG, |s| s["etcd_reachable"] == false);
    // The outage lasts 30 s (the scenario, not an assertion).
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    for n in &mut nodes {
        assert!(
            downs(n).is_empty(),
            "{}: member down during the outage",
            n.name
        );
        assert_eq!(n.up_members().len(), 3, "{} lost members", n.name);
    }
    etcd.restart();
    let mut expected: Vec<String> = nodes.iter().map(|n| member_key(&prefix, &n.id)).collect();
    expected.sort();
    wait_until(LONG, "every registration back", || {
        let mut keys = etcd.keys(&members_prefix(&prefix));
        keys.sort();
        keys == expected
    });
    for n in &mut nodes {
        n.wait_status(LONG, |s| {
            s["registered"] == true && s["etcd_reachable"] == true
        });
        assert!(
            downs(n).is_empty(),
            "{}: member down after the outage",
            n.name
        );
    }
}

#[test]
fn compacted_watch_revision_lists_again_and_misses_no_member() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("compact");
    // A backoff far longer than the test holds the watcher down while etcd is
    // changed and compacted; `retry` then restarts it at a moment the test chooses.
    let s = spec(&etcd, &prefix, "n0")
        .with_env("ETCD_BACKOFF_MIN_MS", "600000")
        .with_env("ETCD_BACKOFF_MAX_MS", "600000");
    let mut node = Node::spawn(&s);
    assert!(node.wait_event("up", &node.id.clone(), LONG));
    let root = format!("{prefix}/etcd-test");
    let fake = |port: u16| {
        let id = format!("fake@127.0.0.1:{port}-1");
        let reg = serde_json::json!({
            "id": id, "name": "fake", "address": format!("127.0.0.1:{port}"),
            "roles": [], "metadata": {}, "version": "0", "started_at_ms": 0
        });
        (id, reg.to_string())
    };
    // Keys of ours are leased (unleased ones are ignored as not ours).
    let lease = etcd.grant_lease(600);
    let put = |key: String, value: &str| {
        etcd.ctl(&["put", "--lease", &lease, &key, value]).unwrap();
    };
    let (a, a_reg) = fake(1);
    put(format!("{root}/members/{a}"), &a_reg);
    put(format!("{root}/up/{a}"), &a);
    node.wait_status(LONG, |s| s["seeds"] == serde_json::json!(["127.0.0.1:1"]));

    // The watcher fails; while it waits for its restart, A goes, B comes, and
    // the history is compacted past the watcher's revision.
    node.fail_child("seed_watcher");
    node.wait_status(LONG, |s| s["seed_watcher_restarts"].as_u64() >= Some(1));
    let (b, b_reg) = fake(2);
    etcd.ctl(&["del", "--prefix", &format!("{root}/up/{a}")])
        .unwrap();
    etcd.ctl(&["del", &format!("{root}/members/{a}")]).unwrap();
    put(format!("{root}/members/{b}"), &b_reg);
    put(format!("{root}/up/{b}"), &b);
    let rev = etcd.revision();
    etcd.ctl(&["compact", &rev.to_string()]).unwrap();
    node.retry_child("seed_watcher");

    // The watcher lists again: A gone, B there, nothing missed.
    node.wait_status(LONG, |s| {
        s["compacted_relists"].as_u64() >= Some(1)
            && s["seeds"] == serde_json::json!(["127.0.0.1:2"])
            && s["registered_members"] == 2
    });
    // And the watch goes on from the new list.
    let (c, c_reg) = fake(3);
    put(format!("{root}/members/{c}"), &c_reg);
    put(format!("{root}/up/{c}"), &c);
    node.wait_status(LONG, |s| {
        s["seeds"] == serde_json::json!(["127.0.0.1:2", "127.0.0.1:3"])
    });
}

#[test]
fn etcd_unreachable_at_start_node_keeps_trying_then_joins() {
    let mut etcd = Etcd::start();
    let prefix = fresh_prefix("late");
    let first = start_cluster(&etcd, &prefix, 1);
    etcd.stop();
    let mut late = Node::spawn(&spec(&etcd, &prefix, "late"));
    late.wait_status(LONG, |s| {
        s["restarts"].as_u64() >= Some(2) && s["etcd_reachable"] == false
    });
    assert!(late.events("up").is_empty(), "joined without etcd or seeds");
    let log = std::fs::read_to_string(&late.log).unwrap();
    assert!(
        log.contains("retry_in_ms") && log.contains(&etcd.endpoints()),
        "the log says etcd is unreachable, where, and when it retries"
    );
    etcd.restart();
    wait_all_up(std::slice::from_ref(&late), &first);
    assert!(late.wait_event("up", &late.id.clone(), LONG));
    late.wait_status(LONG, |s| s["registered"] == true && s["formed"] == false);
}

#[test]
fn fallback_seeds_are_joined_while_etcd_is_down() {
    let mut etcd = Etcd::start();
    let prefix = fresh_prefix("fallback");
    let first = start_cluster(&etcd, &prefix, 1);
    etcd.stop();
    let s = spec(&etcd, &prefix, "fb").with_env("ETCD_FALLBACK_SEEDS", &first[0].addr);
    let mut fb = Node::spawn(&s);
    wait_all_up(std::slice::from_ref(&fb), &first);
    assert_eq!(fb.status()["registered"], false);
    etcd.restart();
    fb.wait_status(LONG, |s| s["registered"] == true);
}

#[test]
fn cold_restart_forms_one_cluster_and_stale_registrations_never_become_members() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("cold");
    // A 10 s TTL keeps the old registrations around while the new processes start.
    let cold_spec = |name: &str| spec(&etcd, &prefix, name).with_env("ETCD_LEASE_TTL", "10");
    let mut old: Vec<Node> = (0..3)
        .map(|i| Node::spawn(&cold_spec(&format!("n{i}"))))
        .collect();
    wait_all_up(&old, &old);
    for n in &mut old {
        n.wait_status(LONG, |s| s["registered"] == true && s["member_up"] == true);
    }
    let stale: Vec<String> = old.iter().map(|n| n.id.clone()).collect();
    let up_keys = format!("{prefix}/etcd-test/up/");
    wait_until(LONG, "all up keys written", || {
        etcd.keys(&up_keys).len() == 3
    });
    for n in &mut old {
        n.kill();
    }
    assert_eq!(etcd.keys(&up_keys).len(), 3, "stale registrations present");
    // Restarted at once, on new addresses (ports other than the old ones: a
    // reused port would make this the same-address case below, where the
    // stale keys are removed at once): the old registrations are still in etcd.
    let old_ports: Vec<u16> = stale
        .iter()
        .filter_map(|id| id.parse::<actix_cluster::MemberId>().ok())
        .map(|m| m.addr.port())
        .collect();
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let p = free_port();
        if !old_ports.contains(&p) && !ports.contains(&p) {
            ports.push(p);
        }
    }
    let t = Instant::now();
    let handles: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = cold_spec(&format!("n{i}")).with_env("NODE_BIND", &format!("127.0.0.1:{p}"));
            std::thread::spawn(move || Node::spawn(&s))
        })
        .collect();
    let mut new: Vec<Node> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // A new process registers while the stale registrations are still there.
    wait_until(
        LONG,
        "stale registrations present while the new processes register",
        || {
            let keys = etcd.keys(&members_prefix(&prefix));
            keys.len() >= 4 && stale.iter().all(|id| keys.iter().any(|k| k.ends_with(id)))
        },
    );
    wait_all_up(&new, &new);
    eprintln!(
        "cold restart: one cluster again after {:?} (TTL 10s)",
        t.elapsed()
    );
    assert_one_new_cluster(&mut new, &stale);
}

#[test]
fn cold_restart_on_the_same_addresses_removes_the_stale_registrations() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("coldsame");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let specs: Vec<NodeSpec> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            spec(&etcd, &prefix, &format!("n{i}"))
                .with_env("NODE_BIND", &format!("127.0.0.1:{p}"))
                .with_env("ETCD_LEASE_TTL", "20")
        })
        .collect();
    let mut old: Vec<Node> = specs.iter().map(Node::spawn).collect();
    wait_all_up(&old, &old);
    for n in &mut old {
        n.wait_status(LONG, |s| s["registered"] == true && s["member_up"] == true);
    }
    let up_keys = format!("{prefix}/etcd-test/up/");
    wait_until(LONG, "all up keys written", || {
        etcd.keys(&up_keys).len() == 3
    });
    let stale: Vec<String> = old.iter().map(|n| n.id.clone()).collect();
    for n in &mut old {
        n.kill();
    }
    let t = Instant::now();
    let handles: Vec<_> = specs
        .into_iter()
        .map(|s| std::thread::spawn(move || Node::spawn(&s)))
        .collect();
    let mut new: Vec<Node> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // With a 20 s TTL, a quick formation shows the stale keys were removed by
    // the processes that now own their addresses, not expired.
    wait_all_up(&new, &new);
    eprintln!(
        "cold restart on the same addresses: one cluster after {:?} (TTL 20s)",
        t.elapsed()
    );
    let keys = etcd.keys(&format!("{prefix}/etcd-test/"));
    for id in &stale {
        assert!(
            !keys.iter().any(|k| k.contains(id.as_str())),
            "stale key of {id}: {keys:?}"
        );
    }
    assert_one_new_cluster(&mut new, &stale);
}

#[test]
fn three_member_etcd_leader_killed_discovery_goes_on() {
    let mut etcd = Etcd::start_n(3);
    let prefix = fresh_prefix("raft");
    let mut nodes = start_cluster(&etcd, &prefix, 2);
    for n in &mut nodes {
        n.wait_status(LONG, |s| s["registered"] == true);
    }
    let leader = etcd.leader();
    etcd.stop_member(leader);
    // A new node finds the cluster through the remaining endpoints.
    let newcomer = Node::spawn(&spec(&etcd, &prefix, "n2"));
    nodes.push(newcomer);
    wait_all_up(&nodes, &nodes);
    let mut expected: Vec<String> = nodes.iter().map(|n| member_key(&prefix, &n.id)).collect();
    expected.sort();
    wait_until(LONG, "every registration present", || {
        let mut keys = etcd.keys(&members_prefix(&prefix));
        keys.sort();
        keys == expected
    });
    // The leases of the first two stay alive past several TTLs.
    let t = Instant::now();
    let lease0 = nodes[0].status()["lease_id"].as_i64().unwrap();
    wait_until(LONG, "two TTLs pass", || {
        t.elapsed() > Duration::from_secs(2 * TTL)
    });
    let st = nodes[0].status();
    assert_eq!(
        st["lease_id"].as_i64(),
        Some(lease0),
        "lease kept alive: {st}"
    );
    assert_eq!(st["registered"], true);
    for n in &nodes {
        assert!(downs(n).is_empty());
    }
}

#[test]
fn failed_children_are_restarted_with_backoff_and_counted() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("supervise");
    let mut node = Node::spawn(&spec(&etcd, &prefix, "n0"));
    let st = node.wait_status(LONG, |s| s["registered"] == true && s["member_up"] == true);
    let lease = st["lease_id"].clone();
    for i in 1..=3u64 {
        node.fail_child("lease_keeper");
        node.wait_status(LONG, |s| s["lease_keeper_restarts"].as_u64() >= Some(i));
        node.wait_status(LONG, |s| s["registered"] == true);
    }
    for i in 1..=2u64 {
        node.fail_child("seed_watcher");
        node.wait_status(LONG, |s| s["seed_watcher_restarts"].as_u64() >= Some(i));
    }
    let st = node.status();
    assert!(st["restarts"].as_u64() >= Some(5), "{st}");
    assert_eq!(st["lease_id"], lease, "a restarted keeper keeps its lease");
    // The restarted watcher still watches: a new node is seen as a seed.
    let other = Node::spawn(&spec(&etcd, &prefix, "n1"));
    assert!(other.wait_event("up", &node.id, LONG));
    node.wait_status(LONG, |s| s["registered_members"] == 2);
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert_eq!(log.matches("lease keeper: failure injected").count(), 3);
    assert_eq!(log.matches("seed watcher: failure injected").count(), 2);
    assert!(log.matches("restarting it after backoff").count() >= 5);
}

#[test]
fn bad_config_fails_at_start_naming_the_field() {
    for (var, value, field) in [
        ("ETCD_LEASE_TTL", "0", "lease_ttl_secs"),
        ("ETCD_ENDPOINTS", "not a url", "endpoints"),
        ("ETCD_PREFIX", "relative", "prefix"),
        ("ETCD_MAX_SEEDS", "lots", "max_seeds"),
        ("ETCD_FALLBACK_SEEDS", "nowhere", "fallback_seeds"),
        ("ETCD_BACKOFF_MAX_MS", "1", "backoff_max_ms"),
    ] {
        let out = std::process::Command::new(NODE)
            .env("ETCD_ENDPOINTS", "http://127.0.0.1:1")
            .env(var, value)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let line: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
        assert_eq!(line["kind"], "config_error");
        let msg = line["error"].as_str().unwrap();
        assert!(msg.contains(field), "{var}={value}: {msg:?} names {field}");
    }
}

#[test]
fn lost_lease_registers_again_with_a_new_lease() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("release");
    let mut node = Node::spawn(&spec(&etcd, &prefix, "n0"));
    let st = node.wait_status(LONG, |s| s["registered"] == true && s["member_up"] == true);
    let old = st["lease_id"].as_i64().unwrap();
    let up_key = format!("{prefix}/etcd-test/up/{}", node.id);
    wait_until(LONG, "up key written", || etcd.keys(&up_key).len() == 1);
    // Someone revokes our lease behind our back: both keys vanish...
    etcd.ctl(&["lease", "revoke", &format!("{old:x}")]).unwrap();
    // ...and come back under a new lease.
    let st = node.wait_status(LONG, |s| {
        s["registered"] == true && s["lease_id"].as_i64().is_some_and(|l| l != old)
    });
    let new = st["lease_id"].as_i64().unwrap();
    wait_until(LONG, "keys back under the new lease", || {
        etcd.ctl(&["lease", "timetolive", &format!("{new:x}"), "--keys"])
            .is_ok_and(|out| out.contains(&up_key) && out.contains(&member_key(&prefix, &node.id)))
    });
    assert!(downs(&node).is_empty());
}

#[test]
fn deleted_registration_comes_back_and_a_stray_cluster_is_merged() {
    let etcd = Etcd::start();
    let p1 = fresh_prefix("merge1");
    let p2 = fresh_prefix("merge2");
    // Two separate one-node clusters with the same cluster name.
    let mut a = Node::spawn(&spec(&etcd, &p1, "a"));
    let mut b = Node::spawn(&spec(&etcd, &p2, "b"));
    a.wait_status(LONG, |s| s["member_up"] == true && s["registered"] == true);
    b.wait_status(LONG, |s| s["member_up"] == true && s["registered"] == true);
    assert!(!a.events("up").contains(&b.id));
    let a_keys = [
        member_key(&p1, &a.id),
        format!("{p1}/etcd-test/up/{}", a.id),
    ];
    wait_until(LONG, "a's keys written", || {
        let keys = etcd.keys(&format!("{p1}/etcd-test/"));
        a_keys.iter().all(|k| keys.contains(k))
    });

    // etcd loses a's keys (its lease survives): a puts them back.
    etcd.ctl(&["del", "--prefix", &format!("{p1}/etcd-test/")])
        .unwrap();
    wait_until(LONG, "a's keys restored", || {
        let keys = etcd.keys(&format!("{p1}/etcd-test/"));
        a_keys.iter().all(|k| keys.contains(k))
    });

    // b's cluster shows up under a's prefix: a joins it and the two merge.
    let reg = etcd
        .ctl(&["get", &member_key(&p2, &b.id), "--print-value-only"])
        .unwrap();
    // Leased, as keys of ours are (unleased ones are ignored as not ours).
    let lease = etcd.grant_lease(600);
    etcd.ctl(&[
        "put",
        "--lease",
        &lease,
        &member_key(&p1, &b.id),
        reg.trim(),
    ])
    .unwrap();
    etcd.ctl(&[
        "put",
        "--lease",
        &lease,
        &format!("{p1}/etcd-test/up/{}", b.id),
        &b.id,
    ])
    .unwrap();
    assert!(a.wait_event("up", &b.id, LONG), "a never merged with b");
    assert!(b.wait_event("up", &a.id, LONG), "b never merged with a");
}

#[test]
fn tls_with_client_certificates() {
    let etcd = Etcd::start_tls();
    let dir = etcd.tls_dir().unwrap().to_owned();
    let prefix = fresh_prefix("tls");
    let file = |f: &str| dir.join(f).display().to_string();
    let tls_spec = |name: &str| {
        spec(&etcd, &prefix, name)
            .with_env("ETCD_CA_FILE", &file("ca.pem"))
            .with_env("ETCD_CERT_FILE", &file("client.pem"))
            .with_env("ETCD_KEY_FILE", &file("client-key.pem"))
    };
    assert!(etcd.endpoints().starts_with("https://"));
    let nodes: Vec<Node> = ["t0", "t1"]
        .iter()
        .map(|n| Node::spawn(&tls_spec(n)))
        .collect();
    wait_all_up(&nodes, &nodes);
    let mut keys = etcd.keys(&members_prefix(&prefix));
    keys.sort();
    let mut expected: Vec<String> = nodes.iter().map(|n| member_key(&prefix, &n.id)).collect();
    expected.sort();
    wait_until(LONG, "both registered over TLS", || {
        keys = etcd.keys(&members_prefix(&prefix));
        keys.sort();
        keys == expected
    });
    // Without the client certificate etcd refuses us: the node keeps trying.
    let mut bare =
        Node::spawn(&spec(&etcd, &prefix, "bare").with_env("ETCD_CA_FILE", &file("ca.pem")));
    bare.wait_status(LONG, |s| {
        s["restarts"].as_u64() >= Some(2) && s["registered"] == false
    });
}

#[test]
fn user_and_password_authentication() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("auth");
    etcd.ctl(&["user", "add", "root:rootpw"]).unwrap();
    etcd.ctl(&["auth", "enable"]).unwrap();
    let auth = "--user=root:rootpw";
    let node = Node::spawn(
        &spec(&etcd, &prefix, "a0")
            .with_env("ETCD_USER", "root")
            .with_env("ETCD_PASSWORD", "rootpw"),
    );
    assert!(node.wait_event("up", &node.id, LONG));
    let key = member_key(&prefix, &node.id);
    wait_until(LONG, "registered with user and password", || {
        etcd.ctl(&[
            auth,
            "get",
            "--prefix",
            "--keys-only",
            &members_prefix(&prefix),
        ])
        .is_ok_and(|out| out.contains(&key))
    });
    // A wrong password is refused: the node keeps trying and never registers.
    let mut wrong = Node::spawn(
        &spec(&etcd, &prefix, "a1")
            .with_env("ETCD_USER", "root")
            .with_env("ETCD_PASSWORD", "wrong"),
    );
    let st = wrong.wait_status(LONG, |s| s["restarts"].as_u64() >= Some(2));
    assert_eq!(st["registered"], false);
    assert!(
        st["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("auth"),
        "the error says why: {st}"
    );
}

/// After a cold restart: every new node sees the 3 new members Up, none of the
/// stale members ever became Up anywhere, and exactly one node formed.
fn assert_one_new_cluster(new: &mut [Node], stale: &[String]) {
    let mut formers = 0;
    for n in new.iter_mut() {
        for id in n.events("up") {
            assert!(
                !stale.contains(&id),
                "{}: stale member {id} became Up",
                n.name
            );
        }
        assert_eq!(n.up_members().len(), 3);
        if n.status()["formed"] == true {
            formers += 1;
        }
    }
    assert_eq!(formers, 1, "exactly one node formed the new cluster");
}

#[test]
fn keys_that_are_not_ours_never_block_a_cold_start() {
    let etcd = Etcd::start();
    let prefix = fresh_prefix("garbage");
    let root = format!("{prefix}/etcd-test/");
    // An operator's mistakes, without a lease: a stray `up/` key (which kept
    // the formation transaction from ever succeeding) and a formation key.
    etcd.ctl(&["put", &format!("{root}up/junk"), "x"]).unwrap();
    etcd.ctl(&["put", &format!("{root}formation"), "whoever"])
        .unwrap();
    // A leased `up/` key naming a member id nobody registered: a black hole
    // that everyone would have joined.
    let lease = etcd.grant_lease(120);
    etcd.ctl(&[
        "put",
        "--lease",
        &lease,
        &format!("{root}up/ghost@127.0.0.1:9-1"),
        "x",
    ])
    .unwrap();
    let mut nodes = start_cluster(&etcd, &prefix, 3);
    let ids: Vec<String> = {
        let mut ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
        ids.sort();
        ids
    };
    let mut formers = 0;
    for n in &mut nodes {
        assert_eq!(n.up_members(), ids, "{} sees other members", n.name);
        let st = n.status();
        if st["formed"] == true {
            formers += 1;
        }
        let ignored: Vec<String> = st["ignored_keys"]
            .as_array()
            .expect("ignored_keys in the status")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert!(
            ignored.contains(&format!("{root}up/junk: no lease")),
            "{}: {ignored:?}",
            n.name
        );
    }
    assert_eq!(formers, 1, "exactly one node forms the cluster");
}
