//! cluster-monitor as a real process: every variable it reads set to the empty
//! string (as compose and Kubernetes templates leave them) starts it as if they
//! were unset, and `LOG_FORMAT=json` writes JSON lines whose spans carry the
//! member id.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use actix_cluster_tests::demo::{members, monitor_binary, with_status, Monitor, TempDir};
use actix_cluster_tests::etcd::free_port;
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

    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
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
