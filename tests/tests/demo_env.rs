//! cluster-monitor as a real process: every variable it reads set to the empty
//! string (as compose and Kubernetes templates leave them) starts it as if they
//! were unset, and `LOG_FORMAT=json` writes JSON lines whose spans carry the
//! member id, also the etcd discovery's lines, before and after a rebirth.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use actix_cluster_tests::demo::{
    http, members, monitor_binary, wait_for, with_status, Monitor, TempDir,
};
use actix_cluster_tests::etcd::{free_port, fresh_cluster_name, Etcd};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// The variables `cluster-monitor --help` names (`[env: NAME=...]`), RUST_LOG
/// (named in the text) included.
fn documented_vars() -> Vec<String> {
    let out = Command::new(monitor_binary())
        .env_clear()
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .expect("cluster-monitor --help runs");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut vars: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect();
    assert!(help.contains("RUST_LOG"), "{help}");
    vars.push("RUST_LOG".to_owned());
    vars.sort();
    vars.dedup();
    vars
}

#[test]
fn every_empty_variable_counts_as_unset() {
    let vars = documented_vars();
    for expected in [
        "CLUSTER_SEEDS",
        "CLUSTER_ROLE",
        "CLUSTER_NAME",
        "CLUSTER_PROTOCOL",
        "CLUSTER_SECRET_KEYS_FILE",
        "ETCD_ENDPOINTS",
        "ETCD_CONFIG",
        "HTTP_ADMIN_TOKEN",
        "SSE_BUFFER",
        "SHUTDOWN_TIMEOUT",
        "LOG_FORMAT",
    ] {
        assert!(
            vars.iter().any(|v| v == expected),
            "{expected} not in {vars:?}"
        );
    }
    let logs = TempDir::new("empty-env");
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let envs: Vec<(&str, &str)> = vars.iter().map(|v| (v.as_str(), "")).collect();
    // The binds are flags (they win over the variables) so that the test gets
    // free ports; the variables are still set, to the empty string.
    let http_flag = http.to_string();
    let mut node = Monitor::spawn(
        "empty-env",
        http,
        &logs.0,
        &envs,
        &["--cluster-bind", "127.0.0.1:0", "--http-bind", &http_flag],
    );
    let id = node.wait_ready(T);
    let log = node.log();
    assert!(!log.contains("invalid"), "{log}");

    // As if unset: a backend (CLUSTER_ROLE), alone (no etcd, no seeds), plaintext
    // (no keys), the leave endpoint open (no token), text logs at info.
    let api = members(node.http).unwrap();
    assert_eq!(api["self"], id.as_str(), "{api}");
    let up = with_status(&api, "up", Some("backend"));
    assert_eq!(up.len(), 1, "{api}");
    assert!(log.contains("forming a cluster alone"), "{log}");
    assert!(log.contains("running without keys"), "{log}");
    assert!(log.contains("HTTP_ADMIN_TOKEN is not set"), "{log}");
    let first = log.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<Value>(first).is_err(),
        "text logs expected: {first}"
    );

    node.signal("TERM");
    let status = node.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit {status}; log:\n{}", node.log());
}

#[test]
fn json_logs_carry_the_member_id_in_their_spans() {
    let logs = TempDir::new("json-logs");
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let http_bind = http.to_string();
    let mut node = Monitor::spawn(
        "json-logs",
        http,
        &logs.0,
        &[
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
            ("CLUSTER_BIND", "127.0.0.1:0"),
            ("CLUSTER_PROTOCOL", "local"),
            ("HTTP_BIND", &http_bind),
        ],
        &[],
    );
    let id = node.wait_ready(T);
    node.signal("TERM");
    let status = node.wait_exit(Duration::from_secs(15));
    let log = node.log();
    assert!(status.success(), "exit {status}; log:\n{log}");

    let lines = json_lines(&log);
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        assert!(line["level"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    // The library's lines run in its `cluster` span, whose field is the member id.
    let in_span: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "cluster")
        .collect();
    assert!(!in_span.is_empty(), "no line in the cluster span:\n{log}");
    for line in &in_span {
        assert_eq!(line["span"]["member"], id.as_str(), "{line}");
        let spans = line["spans"].as_array().expect("a span list");
        assert!(spans.iter().any(|s| s["member"] == id.as_str()), "{line}");
    }
}

/// Every line of a JSON log, parsed.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A node with JSON logs (the etcd crate's at debug) against `endpoints`.
fn json_node(name: &str, cluster: &str, endpoints: &str, logs: &TempDir) -> Monitor {
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let http_bind = http.to_string();
    Monitor::spawn(
        name,
        http,
        &logs.0,
        &[
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info,actix_cluster_etcd=debug"),
            ("CLUSTER_NAME", cluster),
            ("NODE_NAME", name),
            ("CLUSTER_BIND", "127.0.0.1:0"),
            ("CLUSTER_PROTOCOL", "local"),
            ("HTTP_BIND", &http_bind),
            ("ETCD_ENDPOINTS", endpoints),
            ("ETCD_LEASE_TTL", "4"),
        ],
        &[],
    )
}

/// The status `node` shows for member `id` (`"absent"` when not listed).
fn status_of(node: &Monitor, id: &str) -> Result<String, String> {
    let api = members(node.http)?;
    Ok(api["members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["id"] == id))
        .map_or("absent".to_owned(), |m| {
            m["status"].as_str().unwrap_or_default().to_owned()
        }))
}

/// The member id in a line's current span and in its span list (`None` when
/// the line is in no span with a `member` field).
fn span_member(line: &Value) -> Option<String> {
    let current = line["span"]["member"].as_str()?;
    let listed = line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s["member"] == current));
    listed.then(|| current.to_owned())
}

/// The etcd crate's lines of a JSON log.
fn etcd_lines(log: &str) -> Vec<Value> {
    json_lines(log)
        .into_iter()
        .filter(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("actix_cluster_etcd"))
        })
        .collect()
}

#[test]
fn etcd_discovery_logs_carry_the_member_id_across_a_rebirth() {
    let etcd = Etcd::start();
    let logs = TempDir::new("json-etcd-logs");
    let cluster = fresh_cluster_name("json-logs");
    let endpoints = etcd.endpoints();
    let mut a = json_node("json-a", &cluster, &endpoints, &logs);
    let a_id = a.wait_ready(T);
    let mut b = json_node("json-b", &cluster, &endpoints, &logs);
    let b_id = b.wait_ready(T);
    wait_for("a to see b up", T, || {
        match status_of(&a, &b_id)?.as_str() {
            "up" => Ok(()),
            s => Err(s.to_owned()),
        }
    });

    // b is frozen until a downs it; resumed, it learns it is down and rejoins
    // as a new member (a new id), which its discovery follows.
    b.signal("STOP");
    wait_for("a to down b", T, || match status_of(&a, &b_id)?.as_str() {
        "down" | "absent" => Ok(()),
        s => Err(s.to_owned()),
    });
    b.signal("CONT");
    let b_new = wait_for("b to rejoin with a new id", T, || {
        let r = http("GET", b.http, "/readyz")?;
        let id = r.json()["id"].as_str().unwrap_or_default().to_owned();
        if r.status == 200 && id != b_id {
            Ok(id)
        } else {
            Err(format!("{} {id}", r.status))
        }
    });
    wait_for("a to see b's new id up", T, || {
        match status_of(&a, &b_new)?.as_str() {
            "up" => Ok(()),
            s => Err(s.to_owned()),
        }
    });

    // A graceful leave: b revokes its lease, then a does.
    for node in [&mut b, &mut a] {
        node.signal("TERM");
        let status = node.wait_exit(Duration::from_secs(15));
        assert!(status.success(), "exit {status}; log:\n{}", node.log());
    }

    // a: every line of the etcd crate carries a's id.
    let a_log = a.log();
    let a_lines = etcd_lines(&a_log);
    for needle in [
        "registered in etcd",
        "this member is Up",
        "left the cluster",
    ] {
        assert!(
            a_lines.iter().any(|l| l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))),
            "no etcd line {needle:?} in a's log:\n{a_log}"
        );
    }
    for line in &a_lines {
        assert_eq!(span_member(line).as_deref(), Some(a_id.as_str()), "{line}");
    }

    // b: its old id until discovery follows the new one, the new id after.
    let b_log = b.log();
    let b_lines = etcd_lines(&b_log);
    let turn = b_lines
        .iter()
        .position(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("following its new id"))
        })
        .unwrap_or_else(|| panic!("b's discovery never followed its new id:\n{b_log}"));
    assert!(
        b_lines[..turn]
            .iter()
            .any(|l| l["fields"]["message"] == "registered in etcd"),
        "{b_log}"
    );
    for line in &b_lines[..turn] {
        assert_eq!(span_member(line).as_deref(), Some(b_id.as_str()), "{line}");
    }
    // The sessions started before the rebirth log with the new id too: the
    // watcher follows it, the keeper moves the registration (or registers
    // anew when the lease ran out meanwhile).
    let after = &b_lines[turn..];
    assert!(
        after.iter().any(|l| {
            [
                "registration moved to this member's new id",
                "registered in etcd",
            ]
            .iter()
            .any(|m| l["fields"]["message"] == *m)
        }),
        "{b_log}"
    );
    for needle in [
        "following its new id",
        "following this member's new id",
        "this member is Up",
        "left the cluster",
    ] {
        assert!(
            after.iter().any(|l| l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))),
            "no etcd line {needle:?} after the rebirth in b's log:\n{b_log}"
        );
    }
    for line in after {
        assert_eq!(span_member(line).as_deref(), Some(b_new.as_str()), "{line}");
    }
}
