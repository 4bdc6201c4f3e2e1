//! The demo's remote actors as real processes against a real etcd: five
//! nodes, each with a ping actor listed under `ping`; `POST
//! /api/members/<id>/ping` and `GET /api/services` answer per their contract,
//! and the frontend's event stream carries a `terminated` for a backend that
//! is killed (kill -9) and one that leaves (SIGTERM).

use std::time::Duration;

use actix_cluster_tests::demo::{
    encode, http, members, wait_for, with_status, EventStream, Monitor, TempDir,
};
use actix_cluster_tests::etcd::{fresh_cluster_name, Etcd};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

fn services(node: &Monitor) -> Result<Vec<String>, String> {
    let r = http("GET", node.http, "/api/services")?;
    if r.status != 200 {
        return Err(format!("status {}", r.status));
    }
    let mut ids: Vec<String> = r.json()["services"]["ping"]
        .as_array()
        .ok_or_else(|| format!("no ping listing: {}", r.body))?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

fn ping(from: std::net::SocketAddr, id: &str) -> (u16, Value) {
    let r = http("POST", from, &format!("/api/members/{}/ping", encode(id))).expect("http");
    (r.status, r.json())
}

/// Reads the stream until a `terminated` event about `id`.
fn wait_terminated(stream: &mut EventStream, id: &str) -> Value {
    wait_for(&format!("terminated for {id}"), T, || {
        let e = stream.next(T)?;
        if e["type"] == "terminated" && e["member"] == id {
            Ok(e)
        } else {
            Err(format!("{e}"))
        }
    })
}

#[test]
fn ping_services_and_terminated_across_five_processes() {
    let etcd = Etcd::start();
    let logs = TempDir::new("remote");
    let cluster = fresh_cluster_name("remote");
    let endpoints = etcd.endpoints();
    let mut nodes = Monitor::start_demo(&cluster, &endpoints, &logs.0);
    nodes.push(Monitor::start(
        "backend",
        "backend-4",
        &cluster,
        &endpoints,
        &logs.0,
    ));
    let mut ids: Vec<String> = nodes.iter_mut().map(|n| n.wait_ready(T)).collect();
    for node in &nodes {
        wait_for(&format!("{} to see 5 Up", node.name), T, || {
            let api = members(node.http)?;
            match with_status(&api, "up", None).len() {
                5 => Ok(()),
                n => Err(format!("{n} up")),
            }
        });
    }
    // Every node lists every node's ping actor, by the ids /api/members shows.
    ids.sort();
    for node in &nodes {
        wait_for(&format!("{} to list 5 ping actors", node.name), T, || {
            let listed = services(node)?;
            if listed == ids {
                Ok(())
            } else {
                Err(format!("{listed:?}"))
            }
        });
    }
    let front_http = nodes[0].http;
    let mut stream = EventStream::open(front_http).expect("event stream");
    for id in &ids {
        let (status, body) = wait_for(&format!("a ping of {id}"), T, || {
            match ping(front_http, id) {
                (200, body) => Ok((200, body)),
                other => Err(format!("{other:?}")),
            }
        });
        assert_eq!(status, 200);
        assert_eq!(body["member"], id.as_str(), "{body}");
        assert!(body["rtt_us"].is_u64(), "{body}");
    }
    // The remote layer's metrics: messages flowed, asks were timed.
    let metrics = wait_for("remote metrics", T, || {
        let body = http("GET", front_http, "/metrics")?.body;
        let sent = body
            .lines()
            .find(|l| l.starts_with("actix_cluster_remote_messages_total{direction=\"sent\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if sent > 0.0 && body.contains("actix_cluster_remote_ask_seconds") {
            Ok(body)
        } else {
            Err("not yet".to_owned())
        }
    });
    assert!(metrics.contains("actix_cluster_remote_peers"), "{metrics}");

    // Bad input: an unknown member, a malformed id.
    assert_eq!(ping(front_http, "ghost@127.0.0.1:1-ab").0, 404);
    assert_eq!(
        http("POST", front_http, "/api/members/not-an-id/ping")
            .unwrap()
            .status,
        400
    );

    // kill -9 of backend-4: a 503 (not a 504 after the timeout) once it is
    // shown unreachable or down, and one `terminated` (failed) on the stream.
    let killed = nodes.pop().expect("backend-4");
    let killed_id = wait_for("backend-4's id", T, || {
        let r = http("GET", killed.http, "/readyz")?;
        Ok(r.json()["id"].as_str().unwrap_or_default().to_owned())
    });
    killed.signal("KILL");
    let e = wait_terminated(&mut stream, &killed_id);
    assert_eq!(e["reason"], "failed", "{e}");
    let (status, body) = ping(front_http, &killed_id);
    assert!(status == 503 || status == 404, "{status} {body}");

    // SIGTERM of backend-3: it leaves; `terminated` (left), listings shrink.
    let left = nodes.pop().expect("backend-3");
    let left_id = wait_for("backend-3's id", T, || {
        let r = http("GET", left.http, "/readyz")?;
        Ok(r.json()["id"].as_str().unwrap_or_default().to_owned())
    });
    left.signal("TERM");
    let e = wait_terminated(&mut stream, &left_id);
    assert_eq!(e["reason"], "left", "{e}");
    ids.retain(|i| *i != killed_id && *i != left_id);
    for node in &nodes {
        wait_for(&format!("{} to list 3 ping actors", node.name), T, || {
            let listed = services(node)?;
            if listed == ids {
                Ok(())
            } else {
                Err(format!("{listed:?}"))
            }
        });
    }
    let (status, _) = ping(front_http, &left_id);
    assert!(status == 503 || status == 404, "{status}");
}
