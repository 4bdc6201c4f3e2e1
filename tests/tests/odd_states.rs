//! Odd states on real processes (cluster-monitor against a real etcd): keys
//! under the cluster's prefix that are not ours before a cold start, and a
//! member restarted on its address with its wall clock stepped back an hour
//! (libfaketime), so that its new generation is below its last life's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actix_cluster_tests::demo::{http, members, wait_for, with_status, Monitor, TempDir};
use actix_cluster_tests::etcd::{free_port, fresh_cluster_name, fresh_prefix, Etcd};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// Where Debian's `faketime` package puts the preload library.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// `/api/discovery` of a node.
fn discovery(node: &Monitor) -> Result<Value, String> {
    let r = http("GET", node.http, "/api/discovery")?;
    if r.status != 200 {
        return Err(format!("/api/discovery answered {}", r.status));
    }
    Ok(r.json())
}

/// Waits until every node sees exactly the members `ids` Up.
fn wait_all_up(nodes: &[Monitor], ids: &[String]) {
    let mut want = ids.to_vec();
    want.sort();
    for node in nodes {
        wait_for(&format!("{} to see {want:?} Up", node.name), T, || {
            let api = members(node.http)?;
            let mut up: Vec<String> = with_status(&api, "up", None)
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect();
            up.sort();
            if up == want {
                Ok(())
            } else {
                Err(api.to_string())
            }
        });
    }
}

#[test]
fn garbage_keys_before_a_cold_start_are_ignored_and_reported() {
    let etcd = Etcd::start();
    let logs = TempDir::new("odd-garbage");
    let cluster = fresh_cluster_name("garbage");
    let prefix = fresh_prefix("garbage");
    let root = format!("{prefix}/{cluster}/");
    let ghost = "ghost@127.0.0.1:9-1";
    let unregistered = "ghost@127.0.0.1:9-2";
    // Without a lease: an `up/` key that is no member id, a stray formation
    // key (whatever its value), a registration of a member that never ran.
    let put = |key: String, value: &str| etcd.ctl(&["put", &key, value]).unwrap();
    put(format!("{root}up/junk"), "x");
    put(format!("{root}formation"), "anything at all");
    let registration = serde_json::json!({
        "id": unregistered,
        "name": "ghost",
        "address": "127.0.0.1:9",
        "roles": ["backend"],
        "metadata": {},
        "version": "0.1.0",
    });
    put(
        format!("{root}members/{unregistered}"),
        &registration.to_string(),
    );
    // With a lease: an `up/` key naming a member id nobody registered.
    let lease = etcd.grant_lease(120);
    etcd.ctl(&["put", "--lease", &lease, &format!("{root}up/{ghost}"), "x"])
        .unwrap();

    let env = [("ETCD_PREFIX", prefix.as_str())];
    let mut nodes: Vec<Monitor> = [("frontend", "frontend"), ("backend", "backend-1")]
        .into_iter()
        .chain([("backend", "backend-2")])
        .map(|(role, name)| {
            let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            Monitor::start_with(role, name, &cluster, &etcd.endpoints(), &logs.0, http, &env)
        })
        .collect();
    let ids: Vec<String> = nodes.iter_mut().map(|n| n.wait_ready(T)).collect();
    wait_all_up(&nodes, &ids);

    // The stray formation key was ignored until the one node that formed
    // replaced it (the transaction allows that: the key did not change since
    // the view that decided nobody was Up); the others stay, reported.
    let expected = [
        format!("{root}up/junk: no lease"),
        format!("{root}members/{unregistered}: no lease"),
    ];
    let mut formers = 0;
    for node in &nodes {
        let st = wait_for(
            &format!("{} to report the ignored keys", node.name),
            T,
            || {
                let st = discovery(node)?;
                let ignored: Vec<&str> = st["ignored_keys"]
                    .as_array()
                    .ok_or("no ignored_keys")?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                if expected.iter().all(|e| ignored.contains(&e.as_str())) {
                    Ok(st)
                } else {
                    Err(st.to_string())
                }
            },
        );
        assert_eq!(st["mode"], "etcd", "{st}");
        assert_eq!(st["member_up"], true, "{st}");
        if st["formed"] == true {
            formers += 1;
        }
        // The leased `up/` key has no registration: never a seed, never a
        // member.
        let seeds = st["seeds"].as_array().expect("seeds");
        assert!(
            !seeds.iter().any(|s| s == "127.0.0.1:9"),
            "{}: a ghost seed: {st}",
            node.name
        );
        let api = members(node.http).unwrap();
        for m in api["members"].as_array().unwrap() {
            assert_ne!(m["address"], "127.0.0.1:9", "{}: {api}", node.name);
        }
    }
    assert_eq!(formers, 1, "exactly one node formed the cluster");
    let formation = etcd
        .ctl(&["get", "--print-value-only", &format!("{root}formation")])
        .unwrap();
    assert!(
        ids.iter().any(|id| formation.trim() == id),
        "the formation key names {formation:?}, not one of {ids:?}"
    );
    drop(etcd);
}

/// The generation in a member id (`name@addr-<hex generation>`).
fn generation(id: &str) -> u64 {
    let hex = id.rsplit('-').next().expect("a generation");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("{id}: not a hex generation"))
}

/// The first id of `name` at `addr` in a node's log: the id it started
/// with.
fn first_id(log: &str, name: &str, addr: &str) -> Option<String> {
    let head = format!("{name}@{addr}-");
    let at = log.find(&head)? + head.len();
    let hex: String = log[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (!hex.is_empty()).then(|| format!("{head}{hex}"))
}

/// One node's view: its name, its own id, the ids `Up` at each address.
struct View {
    name: String,
    me: String,
    up_at: BTreeMap<String, Vec<String>>,
}

/// Every node's view of who is Up at each address.
fn up_by_address(nodes: &[&Monitor]) -> Result<Vec<View>, String> {
    let mut views = Vec::new();
    for node in nodes {
        let api = members(node.http)?;
        let mut by_addr: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in with_status(&api, "up", None) {
            by_addr
                .entry(m["address"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(m["id"].as_str().unwrap_or_default().to_owned());
        }
        let me = api["self"].as_str().unwrap_or_default().to_owned();
        views.push(View {
            name: node.name.clone(),
            me,
            up_at: by_addr,
        });
    }
    Ok(views)
}

#[test]
fn a_member_restarted_with_its_clock_stepped_back_converges() {
    if !Path::new(LIBFAKETIME).exists() {
        eprintln!(
            "SKIPPED a_member_restarted_with_its_clock_stepped_back_converges: {LIBFAKETIME} \
             is missing (install the Debian package faketime; scripts/test.sh does)"
        );
        return;
    }
    let etcd = Etcd::start();
    let logs = TempDir::new("odd-clock");
    let cluster = fresh_cluster_name("clock");
    let prefix = fresh_prefix("clock");
    let gossip: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let spawn = |i: usize, role: &str, name: &str, faked: bool| {
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut env = vec![
            ("ETCD_PREFIX", prefix.as_str()),
            ("CLUSTER_BIND", gossip[i].as_str()),
        ];
        if faked {
            // The wall clock an hour back; the monotonic clock (timers,
            // timeouts) stays real.
            env.extend([
                ("LD_PRELOAD", LIBFAKETIME),
                ("FAKETIME", "-1h"),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ]);
        }
        Monitor::start_with(role, name, &cluster, &etcd.endpoints(), &logs.0, http, &env)
    };
    let mut nodes = vec![
        spawn(0, "frontend", "frontend", false),
        spawn(1, "backend", "backend-1", false),
        spawn(2, "backend", "backend-2", false),
    ];
    let ids: Vec<String> = nodes.iter_mut().map(|n| n.wait_ready(T)).collect();
    wait_all_up(&nodes, &ids);

    // backend-2 crashes and comes back at once on the same address, its wall
    // clock an hour behind: it starts with a generation below its last one.
    let old = ids[2].clone();
    nodes[2].signal("KILL");
    nodes[2].wait_exit(Duration::from_secs(10));
    nodes[2] = spawn(2, "backend", "backend-2", true);
    let restarted = &nodes[2];
    let started_as = wait_for("the restarted node to log its id", T, || {
        first_id(&restarted.log(), "backend-2", &gossip[2])
            .ok_or_else(|| "no id logged yet".to_owned())
    });
    assert!(
        generation(&started_as) < generation(&old),
        "the clock step did not take: started as {started_as}, last life {old}"
    );

    // It converges: on every node one member Up per address, and the
    // restarted node's own id is the one the others see at its address.
    let all: Vec<&Monitor> = nodes.iter().collect();
    let views = wait_for("one member Up per address everywhere", T, || {
        let views = up_by_address(&all)?;
        let new_self = &views[2].me;
        for View { name, up_at, .. } in &views {
            if up_at.len() != 3 || up_at.values().any(|ids| ids.len() != 1) {
                return Err(format!("{name}: {up_at:?}"));
            }
            if up_at.get(&gossip[2]) != Some(&vec![new_self.clone()]) {
                return Err(format!("{name} sees {up_at:?}, backend-2 is {new_self}"));
            }
        }
        Ok(views)
    });
    let new_self = views[2].me.clone();
    assert_ne!(new_self, old);
    assert!(
        generation(&new_self) > generation(&old),
        "{new_self} is not above its last life {old}"
    );
    // Within a bounded number of rebirths: at most one to climb past the old
    // generation.
    let rebirths = restarted_rebirths(&nodes[2].log());
    eprintln!(
        "backend-2: last life {old}, started as {started_as}, now {new_self}, {rebirths} rebirth(s)"
    );
    assert!(
        rebirths <= 1,
        "{rebirths} rebirths; log:\n{}",
        nodes[2].log()
    );
    drop(etcd);
}

/// How many times a node logged that it rejoined as a new member.
fn restarted_rebirths(log: &str) -> usize {
    log.matches("this node rejoins as a new member").count()
}
