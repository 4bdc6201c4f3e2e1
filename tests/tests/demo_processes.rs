//! cluster-monitor as real processes against a real etcd (container or local
//! process): one frontend and three backends; SIGTERM and a leave request each
//! take a member out, shown as left on every node; bad input gets clear errors.

use std::process::{Command, Stdio};
use std::time::Duration;

use actix_cluster_tests::demo::{
    encode, event_snapshot, http, members, monitor_binary, wait_for, with_status, Monitor, TempDir,
};
use actix_cluster_tests::etcd::{fresh_cluster_name, Etcd};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// Waits until `node` sees `id` down because it left (the event stream's
/// snapshot says why).
fn wait_left(node: &Monitor, id: &str) {
    wait_for(&format!("{} to show {id} as left", node.name), T, || {
        let api = members(node.http)?;
        let m = api["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["id"] == id))
            .cloned();
        // Gone already (tombstone expired) also counts only if the stream says left before.
        if let Some(m) = &m {
            if m["status"] != "down" {
                return Err(format!("status {}", m["status"]));
            }
        }
        let snap = event_snapshot(node.http)?;
        let s = snap["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["id"] == id))
            .ok_or("not in the stream snapshot")?;
        if s["status"] == "down" && s["reason"] == "left" {
            Ok(())
        } else {
            Err(format!("stream shows {s}"))
        }
    });
}

#[test]
fn frontend_and_three_backends_leave_on_sigterm_and_on_request() {
    let etcd = Etcd::start();
    let logs = TempDir::new("processes");
    let cluster = fresh_cluster_name("demo");
    let endpoints = etcd.endpoints();
    let mut nodes = Monitor::start_demo(&cluster, &endpoints, &logs.0);
    let ids: Vec<String> = nodes.iter_mut().map(|n| n.wait_ready(T)).collect();

    // Every node sees the four members Up, with the documented JSON shape.
    for node in &nodes {
        let api = wait_for(&format!("{} to see 4 members Up", node.name), T, || {
            let api = members(node.http)?;
            let up = with_status(&api, "up", None).len();
            if up == 4 && api["leader"].is_string() {
                Ok(api)
            } else {
                Err(api.to_string())
            }
        });
        let me = &ids[nodes.iter().position(|n| n.name == node.name).unwrap()];
        assert_eq!(api["self"], me.as_str());
        assert!(ids.iter().any(|i| api["leader"] == i.as_str()), "{api}");
        assert_eq!(with_status(&api, "up", Some("frontend")).len(), 1, "{api}");
        assert_eq!(with_status(&api, "up", Some("backend")).len(), 3, "{api}");
        for m in api["members"].as_array().unwrap() {
            let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["address", "id", "name", "reachable", "roles", "status"],
                "{m}"
            );
            assert_eq!(m["reachable"], true);
            let id = m["id"].as_str().unwrap();
            assert!(
                id.starts_with(&format!(
                    "{}@{}-",
                    m["name"].as_str().unwrap(),
                    m["address"].as_str().unwrap()
                )),
                "{m}"
            );
        }
    }

    // Probes and bad input, on the frontend.
    let front = nodes[0].http;
    assert_eq!(http("GET", front, "/healthz").unwrap().status, 200);
    let r = http(
        "POST",
        front,
        &format!("/api/members/{}/leave", encode("ghost@127.0.0.1:1-ab")),
    )
    .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.content_type.starts_with("application/json"), "{r:?}");
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("unknown member"),
        "{r:?}"
    );
    let r = http("POST", front, "/api/members/not-a-member-id/leave").unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.json()["error"].is_string(), "{r:?}");
    let r = http("GET", front, "/no/such/page").unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.json()["error"].is_string(), "{r:?}");

    // SIGTERM: backend-1 leaves gracefully and exits 0; everyone shows it left.
    nodes[1].signal("TERM");
    let status = nodes[1].wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit {status}; log:\n{}", nodes[1].log());
    for node in [&nodes[0], &nodes[2], &nodes[3]] {
        wait_left(node, &ids[1]);
    }

    // A leave request on the frontend, forwarded to backend-2 through the HTTP
    // address it publishes: it leaves and exits 0; everyone shows it left.
    let r = http(
        "POST",
        front,
        &format!("/api/members/{}/leave", encode(&ids[2])),
    )
    .unwrap();
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.json()["via"], nodes[2].http.to_string());
    let status = nodes[2].wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit {status}; log:\n{}", nodes[2].log());
    for node in [&nodes[0], &nodes[3]] {
        wait_left(node, &ids[2]);
        assert_eq!(http("GET", node.http, "/readyz").unwrap().status, 200);
    }
    // A leave for a member that is already down is refused.
    let r = http(
        "POST",
        front,
        &format!("/api/members/{}/leave", encode(&ids[2])),
    )
    .unwrap();
    assert!(r.status == 409 || r.status == 404, "{r:?}");
    drop(etcd);
}

#[test]
fn the_event_stream_starts_with_the_state_then_follows() {
    let etcd = Etcd::start();
    let logs = TempDir::new("stream");
    let cluster = format!("stream-{}", std::process::id());
    let mut front = Monitor::start("frontend", "front", &cluster, &etcd.endpoints(), &logs.0);
    let front_id = front.wait_ready(T);
    let mut stream = actix_cluster_tests::demo::EventStream::open(front.http).unwrap();
    let snap = stream.next(Duration::from_secs(5)).unwrap();
    assert_eq!(snap["type"], "snapshot", "{snap}");
    assert_eq!(snap["self"], front_id.as_str());
    assert!(snap["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == front_id.as_str() && m["status"] == "up"));

    let mut back = Monitor::start("backend", "back", &cluster, &etcd.endpoints(), &logs.0);
    let back_id = back.wait_ready(T);
    let up: Value = wait_for("an up event for the backend", T, || {
        let e = stream.next(Duration::from_secs(5))?;
        if e["type"] == "up" && e["member"]["id"] == back_id.as_str() {
            Ok(e)
        } else {
            Err(e.to_string())
        }
    });
    assert_eq!(up["member"]["roles"], serde_json::json!(["backend"]));
    assert!(up["time"].as_u64().unwrap() > 0);
    back.signal("INT");
    assert!(back.wait_exit(Duration::from_secs(10)).success());
    wait_for("a down(left) event for the backend", T, || {
        let e = stream.next(Duration::from_secs(5))?;
        if e["type"] == "down" && e["member"]["id"] == back_id.as_str() {
            assert_eq!(e["reason"], "left", "{e}");
            Ok(())
        } else {
            Err(e.to_string())
        }
    });
}

fn run_bad(envs: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut child = Command::new(monitor_binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CLUSTER_BIND", "127.0.0.1:0")
        .env("HTTP_BIND", "127.0.0.1:0")
        .envs(envs.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for(
        "the bad configuration to be refused",
        Duration::from_secs(10),
        || {
            child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_owned())
        },
    );
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (status.code().unwrap_or(-1), text)
}

#[test]
fn bad_config_values_fail_at_start_naming_them() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("CLUSTER_ROLE", "boss")], "CLUSTER_ROLE"),
        (vec![("CLUSTER_BIND", "not-an-address")], "CLUSTER_BIND"),
        (vec![("HTTP_BIND", "127.0.0.1:99999")], "HTTP_BIND"),
        (vec![("HTTP_BIND", busy.as_str())], "HTTP_BIND"),
        (vec![("NODE_NAME", "has space")], "NODE_NAME"),
        (vec![("CLUSTER_NAME", "a/b")], "CLUSTER_NAME"),
        (
            vec![("CLUSTER_ADVERTISE", "no-such-host.invalid")],
            "CLUSTER_ADVERTISE",
        ),
        (vec![("CLUSTER_PROTOCOL", "fastest")], "CLUSTER_PROTOCOL"),
        (vec![("SSE_BUFFER", "0")], "SSE_BUFFER"),
        (
            vec![("CLUSTER_MAX_INCOMING_PER_IP", "0")],
            "CLUSTER_MAX_INCOMING_PER_IP",
        ),
        (vec![("ETCD_ENDPOINTS", "nonsense")], "endpoints"),
        (
            vec![
                ("ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
                ("ETCD_LEASE_TTL", "1"),
            ],
            "lease_ttl_secs",
        ),
        (
            vec![
                ("ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
                ("ETCD_LEASE_TTL", "soon"),
            ],
            "ETCD_LEASE_TTL",
        ),
    ];
    for (envs, name) in cases {
        let (code, text) = run_bad(&envs, &[]);
        assert_ne!(code, 0, "{envs:?} was accepted: {text}");
        assert!(
            text.contains(name),
            "{envs:?}: the message does not name {name}: {text}"
        );
        assert!(!text.contains("panicked"), "{envs:?} panicked: {text}");
    }
}

#[test]
fn help_documents_every_variable() {
    let (code, text) = run_bad(&[], &["--help"]);
    assert_eq!(code, 0, "{text}");
    let mut vars = vec![
        "CLUSTER_ROLE",
        "CLUSTER_NAME",
        "NODE_NAME",
        "CLUSTER_BIND",
        "CLUSTER_ADVERTISE",
        "CLUSTER_SEEDS",
        "CLUSTER_PROTOCOL",
        "HTTP_BIND",
        "HTTP_ADVERTISE",
        "ETCD_ENDPOINTS",
        "ETCD_CONFIG",
        "/healthz",
        "/readyz",
        "/api/members",
        "/api/events",
        "SIGTERM",
    ];
    vars.extend(actix_cluster_etcd::ENV_VARS.iter().map(|(v, _)| *v));
    for v in vars {
        assert!(text.contains(v), "--help does not mention {v}:\n{text}");
    }
}

#[test]
fn not_ready_before_joining_and_still_stops_cleanly() {
    // etcd unreachable: discovery keeps retrying, the node never becomes Up.
    let dead = format!(
        "http://127.0.0.1:{}",
        actix_cluster_tests::etcd::free_port()
    );
    let logs = TempDir::new("unready");
    let mut node = Monitor::start("backend", "lonely", "unready", &dead, &logs.0);
    wait_for("/healthz to answer 200", T, || {
        let r = http("GET", node.http, "/healthz")?;
        (r.status == 200).then_some(()).ok_or(format!("{r:?}"))
    });
    let r = http("GET", node.http, "/readyz").unwrap();
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.json()["status"], "not-up");
    let api = members(node.http).unwrap();
    assert!(with_status(&api, "up", None).is_empty(), "{api}");
    node.signal("TERM");
    let status = node.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit {status}; log:\n{}", node.log());
}
