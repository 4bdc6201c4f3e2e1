//! The demo's cluster tools over HTTP: the ticker singleton
//! (`GET /api/singleton`), the work router (`POST /api/work`), and the
//! ticker's fenced resource in etcd.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::http::http;

/// `GET /api/singleton` as JSON (an error unless 200).
pub fn singleton(addr: SocketAddr) -> Result<Value, String> {
    let r = http("GET", addr, "/api/singleton")?;
    if r.status != 200 {
        return Err(format!("/api/singleton answered {}: {}", r.status, r.body));
    }
    serde_json::from_str(&r.body).map_err(|e| format!("bad JSON {e}: {}", r.body))
}

/// The host, token and ticks of a `/api/singleton` answer, when it names a
/// host with a token.
pub fn host_token_ticks(v: &Value) -> Option<(String, i64, u64)> {
    Some((
        v["host"].as_str()?.to_owned(),
        v["token"].as_i64()?,
        v["ticks"].as_u64()?,
    ))
}

/// `POST /api/work?n=...` (the raw query value): status and body.
pub fn work(addr: SocketAddr, n: &str) -> Result<(u16, Value), String> {
    let r = http("POST", addr, &format!("/api/work?n={n}"))?;
    let v = serde_json::from_str(&r.body).map_err(|e| format!("bad JSON {e}: {}", r.body))?;
    Ok((r.status, v))
}

/// The fenced resource's token key for a cluster under an etcd prefix
/// (`docs/DEMO.md`).
pub fn token_key(etcd_prefix: &str, cluster: &str) -> String {
    format!("{etcd_prefix}/{cluster}/app/ticker/token")
}

/// The token key's value for a token: 20 digits, zero-padded.
pub fn token_value(token: i64) -> String {
    format!("{token:020}")
}

/// Runs the ticker's fenced write (`docs/DEMO.md`) with `token` through
/// `etcdctl txn` against `endpoints`: `Ok(true)` when etcd refused it (a
/// larger token is stored), `Ok(false)` when it was written.
pub fn fenced_write(
    etcdctl: &str,
    endpoints: &str,
    etcd_prefix: &str,
    cluster: &str,
    token: i64,
) -> Result<bool, String> {
    let key = token_key(etcd_prefix, cluster);
    let tick = format!("{etcd_prefix}/{cluster}/app/ticker/tick");
    let mine = token_value(token);
    let script =
        format!("value(\"{key}\") > \"{mine}\"\n\n\nput {key} {mine}\nput {tick} \"0 test\"\n\n");
    let mut child = Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .arg("--command-timeout=3s")
        .arg("txn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{etcdctl}: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(script.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().next() {
        Some("SUCCESS") => Ok(true),
        Some("FAILURE") => Ok(false),
        _ => Err(format!(
            "etcdctl txn: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}
