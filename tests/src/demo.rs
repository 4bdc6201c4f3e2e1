//! Harness for the cluster-monitor demo tests: the `cluster-monitor` binary as
//! child processes, a small blocking HTTP client, a server-sent-events reader,
//! docker compose, and headless Chromium driven over the DevTools protocol.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::etcd::{free_port, image_present, repo_root};

/// Polls `check` until it returns `Some`, or panics after `timeout` with
/// `what` and the last observation.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match check() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
}

/// Whether docker can be used; prints why not.
pub fn docker_available(test: &str) -> bool {
    if std::env::var("ACTIX_CLUSTER_NO_DOCKER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED {test}: ACTIX_CLUSTER_NO_DOCKER=1 (docker is not available)");
        return false;
    }
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED {test}: docker is not installed or its daemon is not running");
    }
    ok
}

/// The cargo target directory of this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The `cluster-monitor` binary. The tests crate cannot depend on a binary of
/// another package, so this uses `target/debug/cluster-monitor` when it is newer
/// than every source it is built from (CI builds the workspace first), and
/// otherwise runs `cargo build -p cluster-monitor` once per test process.
pub fn monitor_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = target_dir().join("debug/cluster-monitor");
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let root = repo_root();
        let mut newest = std::time::SystemTime::UNIX_EPOCH;
        for dir in ["examples/cluster-monitor", "crates"] {
            newest_mtime(&root.join(dir), &mut newest);
        }
        newest_mtime(&root.join("Cargo.lock"), &mut newest);
        if built.is_some_and(|b| b >= newest) {
            return bin;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "cluster-monitor"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p cluster-monitor failed");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

fn newest_mtime(path: &Path, newest: &mut std::time::SystemTime) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if path.file_name().is_some_and(|n| n == "target") {
            return;
        }
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            newest_mtime(&entry.path(), newest);
        }
    } else if let Ok(m) = meta.modified() {
        *newest = (*newest).max(m);
    }
}

/// Where tests keep artifacts (screenshots): `tests/artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let dir = repo_root().join("tests/artifacts");
    std::fs::create_dir_all(&dir).expect("tests/artifacts");
    dir
}

// ---------------------------------------------------------------- HTTP client

/// An HTTP response: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type header, lowercased.
    pub content_type: String,
    /// Body text.
    pub body: String,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn http(method: &str, addr: SocketAddr, path: &str) -> Result<Response, String> {
    http_with(method, addr, path, &[])
}

/// One HTTP/1.1 request with `Connection: close` and extra `headers`.
pub fn http_with(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n"
    )
    .map_err(|e| format!("write {addr}: {e}"))?;
    // Read until the body is complete (by Content-Length, the last chunk, or
    // the end of the connection): some servers keep the connection open.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("read {addr}{path}: {e}"))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let lower = head.to_ascii_lowercase();
            let length = lower.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            if length.is_some_and(|len| body.len() >= len)
                || (lower.contains("transfer-encoding: chunked") && body.ends_with("0\r\n\r\n"))
            {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP head from {addr}{path}: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line from {addr}: {head:?}"))?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_ascii_lowercase())
        })
        .unwrap_or_default();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET /api/members` as JSON.
pub fn members(addr: SocketAddr) -> Result<Value, String> {
    let r = http("GET", addr, "/api/members")?;
    if r.status != 200 {
        return Err(format!("/api/members answered {}: {}", r.status, r.body));
    }
    serde_json::from_str(&r.body).map_err(|e| format!("bad JSON {e}: {}", r.body))
}

/// The members of a `/api/members` answer with the given status and role
/// (`None` for any role).
pub fn with_status<'a>(members: &'a Value, status: &str, role: Option<&str>) -> Vec<&'a Value> {
    members["members"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|m| m["status"] == status)
                .filter(|m| {
                    role.is_none_or(|r| {
                        m["roles"]
                            .as_array()
                            .is_some_and(|rs| rs.iter().any(|x| x == r))
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes a path segment, as the page's `encodeURIComponent` does.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The first message of `GET /api/events`: the snapshot (members with `reason`).
pub fn event_snapshot(addr: SocketAddr) -> Result<Value, String> {
    let mut stream = EventStream::open(addr)?;
    stream.next(Duration::from_secs(5))
}

/// A server-sent-events stream from `/api/events`.
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    /// Opens the stream and checks the head.
    pub fn open(addr: SocketAddr) -> Result<EventStream, String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        write!(
            stream,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("stream closed in the head".into());
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        if !head.starts_with("HTTP/1.1 200") || !head.contains("text/event-stream") {
            return Err(format!("unexpected head: {head}"));
        }
        Ok(EventStream { reader })
    }

    /// The next event's JSON (chunked transfer framing and comments skipped).
    pub fn next(&mut self, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err("stream ended".into()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.to_string()),
            }
            // A chunk may hold several lines; the data line itself is whole.
            for part in line.split('\n') {
                if let Some(json) = part.trim_end_matches('\r').strip_prefix("data: ") {
                    return serde_json::from_str(json).map_err(|e| format!("{e}: {json}"));
                }
            }
        }
        Err(format!("no event within {timeout:?}"))
    }
}

// ---------------------------------------------------------------- processes

/// A `cluster-monitor` child process.
pub struct Monitor {
    /// The process.
    pub child: Child,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Its role.
    pub role: String,
    /// Its name.
    pub name: String,
    log: PathBuf,
}

impl Monitor {
    /// Starts a node with the fast `local` protocol preset, gossip on a free
    /// loopback port, against `etcd_endpoints` with `cluster` as its name.
    pub fn start(
        role: &str,
        name: &str,
        cluster: &str,
        etcd_endpoints: &str,
        logs: &Path,
    ) -> Monitor {
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Self::start_on(role, name, cluster, etcd_endpoints, logs, http)
    }

    /// The demo's shape: a frontend named `frontend` and three backends
    /// `backend-1..=3`, in that order.
    pub fn start_demo(cluster: &str, etcd_endpoints: &str, logs: &Path) -> Vec<Monitor> {
        let mut nodes = vec![Monitor::start(
            "frontend",
            "frontend",
            cluster,
            etcd_endpoints,
            logs,
        )];
        for i in 1..=3 {
            let name = format!("backend-{i}");
            nodes.push(Monitor::start(
                "backend",
                &name,
                cluster,
                etcd_endpoints,
                logs,
            ));
        }
        nodes
    }

    /// Like [`Monitor::start`], with HTTP on the given address.
    pub fn start_on(
        role: &str,
        name: &str,
        cluster: &str,
        etcd_endpoints: &str,
        logs: &Path,
        http: SocketAddr,
    ) -> Monitor {
        Self::start_with(role, name, cluster, etcd_endpoints, logs, http, &[])
    }

    /// Like [`Monitor::start_on`], with `env` set last (so it overrides the
    /// defaults above, e.g. `CLUSTER_BIND` or `ETCD_PREFIX`, or adds e.g.
    /// `LD_PRELOAD`).
    pub fn start_with(
        role: &str,
        name: &str,
        cluster: &str,
        etcd_endpoints: &str,
        logs: &Path,
        http: SocketAddr,
        env: &[(&str, &str)],
    ) -> Monitor {
        let http_bind = http.to_string();
        let mut envs = vec![
            ("RUST_LOG", "info"),
            ("CLUSTER_ROLE", role),
            ("CLUSTER_NAME", cluster),
            ("NODE_NAME", name),
            ("CLUSTER_BIND", "127.0.0.1:0"),
            ("CLUSTER_PROTOCOL", "local"),
            ("HTTP_BIND", http_bind.as_str()),
            ("ETCD_ENDPOINTS", etcd_endpoints),
            ("ETCD_LEASE_TTL", "4"),
        ];
        envs.extend_from_slice(env);
        let mut monitor = Monitor::spawn(name, http, logs, &envs, &[]);
        monitor.role = role.to_owned();
        monitor
    }

    /// A node with exactly the given environment (plus `PATH`) and flags, its
    /// output in `logs`; `http` is only where the harness looks for it, so the
    /// environment or flags must bind HTTP there.
    pub fn spawn(
        name: &str,
        http: SocketAddr,
        logs: &Path,
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> Monitor {
        let log = logs.join(format!("{name}-{}.log", http.port()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(monitor_binary())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(envs.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("cluster-monitor starts");
        Monitor {
            child,
            http,
            role: String::new(),
            name: name.to_owned(),
            log,
        }
    }

    /// Waits until `/readyz` says 200; returns this node's member id.
    pub fn wait_ready(&mut self, timeout: Duration) -> String {
        let http = self.http;
        let name = self.name.clone();
        let log = self.log.clone();
        let child = &mut self.child;
        wait_for(&format!("{name} ready"), timeout, || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{name} exited with {status}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let r = http_get_ok(http, "/readyz")?;
            Ok(r.json()["id"].as_str().unwrap_or_default().to_owned())
        })
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        let child = &mut self.child;
        wait_for(&format!("{name} to exit"), timeout, || {
            child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_owned())
        })
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get_ok(addr: SocketAddr, path: &str) -> Result<Response, String> {
    let r = http("GET", addr, path)?;
    if r.status == 200 {
        Ok(r)
    } else {
        Err(format!("{path} answered {}", r.status))
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cluster-monitor-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- Chromium

/// Headless Chromium driven over the DevTools protocol (a websocket).
pub struct Browser {
    child: Child,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: TempDir,
}

/// The Chromium binary: `$CHROMIUM`, or `chromium` / `chromium-browser` / `google-chrome` on PATH.
pub fn chromium_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let paths = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|b| std::env::split_paths(&paths).map(move |p| p.join(b)))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts headless Chromium with a `width`x`height` window.
    pub fn start(width: u32, height: u32) -> Browser {
        let bin = chromium_binary()
            .expect("chromium not found: apt-get install chromium (or set CHROMIUM)");
        let profile = TempDir::new("chromium");
        let port = free_port();
        // Its own process group: the launcher is a shell script and Chromium
        // runs several processes; the whole group is killed on drop.
        let child = Command::new(bin)
            .process_group(0)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
                "--mute-audio",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.0.display()),
                &format!("--window-size={width},{height}"),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let devtools: SocketAddr = ([127, 0, 0, 1], port).into();
        let ws_url = wait_for(
            "chromium DevTools endpoint",
            Duration::from_secs(30),
            || {
                let r = http("GET", devtools, "/json/list")?;
                let list: Value = serde_json::from_str(&r.body).map_err(|e| e.to_string())?;
                list.as_array()
                    .and_then(|l| l.iter().find(|t| t["type"] == "page"))
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("no page target yet: {}", r.body))
            },
        );
        let (socket, _) = tungstenite::connect(ws_url.as_str()).expect("DevTools websocket");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        }
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        };
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// One DevTools command; returns its `result` (events are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({"id": id, "method": method, "params": params});
        self.socket
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("DevTools send");
        loop {
            let reply = self.socket.read().expect("DevTools reply");
            let tungstenite::Message::Text(text) = reply else {
                continue;
            };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"] == id {
                if let Some(err) = v.get("error") {
                    panic!("DevTools {method} failed: {err}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression in the page; returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("page script failed: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Opens `url`.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", serde_json::json!({"url": url}));
    }

    /// A real mouse click (pressed and released) at page coordinates.
    pub fn click_at(&mut self, x: f64, y: f64) {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                serde_json::json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Saves a PNG screenshot of the whole page.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call(
            "Page.captureScreenshot",
            serde_json::json!({"format": "png", "captureBeyondViewport": true}),
        );
        let data = r["data"].as_str().expect("screenshot data");
        std::fs::write(path, base64_decode(data)).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter_map(value) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

// ---------------------------------------------------------------- compose

/// A docker compose project for `docker/compose.yaml`, taken down on drop.
pub struct Compose {
    project: String,
    /// The frontend's published HTTP port on loopback.
    pub frontend: SocketAddr,
    /// Prometheus's published port on loopback.
    pub prometheus: SocketAddr,
    v2: bool,
    /// The project's cluster key (CLUSTER_SECRET_KEYS).
    pub keys: String,
    /// The project's admin token (HTTP_ADMIN_TOKEN).
    pub admin_token: String,
}

impl Compose {
    /// Waits (at most `timeout`) until the frontend shows `n` members `Up`.
    pub fn wait_members_up(&self, n: usize, timeout: Duration) {
        wait_for(
            &format!("the frontend to show {n} members Up"),
            timeout,
            || {
                let api = members(self.frontend)?;
                let up = with_status(&api, "up", None).len();
                (up == n).then_some(()).ok_or(format!("{up} up: {api}"))
            },
        );
    }

    /// A new project with a unique name and a free frontend port.
    pub fn new(tag: &str) -> Compose {
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let port = free_port();
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let mut token = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut token);
        Compose {
            project: format!("cmtest{tag}{}", std::process::id()),
            frontend: ([127, 0, 0, 1], port).into(),
            prometheus: ([127, 0, 0, 1], free_port()).into(),
            v2,
            keys: actix_cluster::Key::from_bytes(key).to_base64(),
            admin_token: token.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// `docker compose` (or `docker-compose`) on our compose file and project,
    /// with the published frontend port, no stdin.
    fn command(&self) -> Command {
        let mut cmd = if self.v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        cmd.arg("-f")
            .arg(repo_root().join("docker/compose.yaml"))
            .args(["-p", &self.project])
            .env("FRONTEND_PORT", self.frontend.port().to_string())
            .env("PROMETHEUS_PORT", self.prometheus.port().to_string())
            .env("CLUSTER_SECRET_KEYS", &self.keys)
            .env("HTTP_ADMIN_TOKEN", &self.admin_token)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `compose <args>`; returns stdout, panics with stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .args(args)
            .env("CLUSTER_NAME", &self.project)
            .output()
            .expect("docker compose runs");
        if !out.status.success() {
            panic!(
                "compose {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Container ids of a service.
    pub fn containers(&self, service: &str) -> Vec<String> {
        self.run(&["ps", "-q", service])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The logs of every service (for failure messages).
    pub fn logs(&self) -> String {
        self.run(&["logs", "--no-color", "--tail=40"])
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["down", "-v", "--remove-orphans", "-t", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Makes sure the demo images exist, building them with the scripts under
/// `docker/` (the cluster-monitor image from the release binary when present).
pub fn ensure_demo_images() {
    let present = image_present;
    let root = repo_root();
    if !present("actix-cluster/etcd:3.4") {
        let ok = Command::new("bash")
            .arg(root.join("docker/etcd/build.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "docker/etcd/build.sh failed");
    }
    if !present("actix-cluster/prometheus:latest") {
        let ok = Command::new("bash")
            .arg(root.join("docker/prometheus/build.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "docker/prometheus/build.sh failed");
    }
    if !present("actix-cluster/cluster-monitor:latest") {
        let ok = Command::new("bash")
            .arg(root.join("docker/cluster-monitor/build.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "docker/cluster-monitor/build.sh failed");
    }
}
