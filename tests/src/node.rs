//! Cluster nodes with etcd discovery as child processes (the `etcd-node`
//! binary of this package), so a test can kill one abruptly (SIGKILL) exactly
//! like a crashed process. Each node's stdout (JSON lines) is collected; its
//! log (stderr) goes to a file under the system temp dir.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

type Lines = Arc<(Mutex<Vec<Value>>, Condvar)>;

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Path of the `etcd-node` binary (`env!("CARGO_BIN_EXE_etcd-node")`).
    pub bin: &'static str,
    /// Member name.
    pub name: String,
    /// `ETCD_ENDPOINTS`.
    pub endpoints: String,
    /// `ETCD_PREFIX`.
    pub prefix: String,
    /// Extra environment (e.g. `ETCD_LEASE_TTL`).
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    /// A spec with a 3 s lease TTL and short backoffs.
    pub fn new(bin: &'static str, name: &str, endpoints: &str, prefix: &str) -> Self {
        NodeSpec {
            bin,
            name: name.to_owned(),
            endpoints: endpoints.to_owned(),
            prefix: prefix.to_owned(),
            env: vec![
                ("ETCD_LEASE_TTL".into(), "3".into()),
                ("ETCD_BACKOFF_MIN_MS".into(), "100".into()),
                ("ETCD_BACKOFF_MAX_MS".into(), "1000".into()),
                ("ETCD_CONNECT_TIMEOUT_MS".into(), "500".into()),
                ("ETCD_REQUEST_TIMEOUT_MS".into(), "1500".into()),
            ],
        }
    }

    /// Sets (or overrides) an environment variable.
    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }
}

/// A running node process.
pub struct Node {
    /// Member name.
    pub name: String,
    /// Member id (`name@addr-gen`), read from the node's first line.
    pub id: String,
    /// Gossip address.
    pub addr: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Lines,
    /// The node's log file.
    pub log: PathBuf,
    started: Instant,
}

fn log_dir() -> PathBuf {
    let d = std::env::temp_dir().join("actix-cluster-etcd-tests");
    let _ = std::fs::create_dir_all(&d);
    d
}

impl Node {
    /// Starts a node; returns once it printed its identity.
    pub fn spawn(spec: &NodeSpec) -> Node {
        let log = log_dir().join(format!(
            "{}-{}-{}.log",
            spec.prefix.trim_start_matches('/').replace('/', "_"),
            spec.name,
            std::process::id()
        ));
        let mut cmd = Command::new(spec.bin);
        cmd.env("NODE_NAME", &spec.name)
            .env("ETCD_ENDPOINTS", &spec.endpoints)
            .env("ETCD_PREFIX", &spec.prefix)
            .env("CLUSTER_NAME", "etcd-test")
            .env(
                "RUST_LOG",
                std::env::var("NODE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("etcd-node starts");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let lines: Lines = Arc::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"kind": "raw", "line": line}));
                let (m, cv) = &*sink;
                m.lock().unwrap().push(v);
                cv.notify_all();
            }
            let (m, cv) = &*sink;
            m.lock()
                .unwrap()
                .push(serde_json::json!({"kind": "stdout_closed"}));
            cv.notify_all();
        });
        let mut node = Node {
            name: spec.name.clone(),
            id: String::new(),
            addr: String::new(),
            child: Some(child),
            stdin,
            lines,
            log,
            started,
        };
        let first = node
            .wait_for(Duration::from_secs(30), |v| {
                v["kind"] == "self" || v["kind"] == "stdout_closed" || v["kind"] == "config_error"
            })
            .unwrap_or_else(|| panic!("node {} printed no identity", spec.name));
        assert_eq!(first["kind"], "self", "node {} failed: {first}", spec.name);
        node.id = first["id"].as_str().unwrap_or_default().to_owned();
        node.addr = first["addr"].as_str().unwrap_or_default().to_owned();
        node
    }

    /// Time since the process was spawned.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until a line matching `pred` was printed (also one printed before).
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.lines;
        let mut lines = m.lock().unwrap();
        loop {
            if let Some(v) = lines.iter().find(|v| pred(v)) {
                return Some(v.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            lines = cv.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Every line printed so far that matches `pred`.
    pub fn lines(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.lines
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|v| pred(v))
            .cloned()
            .collect()
    }

    /// Waits for the event `event` about `member` (an id).
    pub fn wait_event(&self, event: &str, member: &str, timeout: Duration) -> bool {
        self.wait_for(timeout, |v| {
            v["kind"] == "event" && v["event"] == event && v["member"] == member
        })
        .is_some()
    }

    /// Events `event` seen so far, with their member ids.
    pub fn events(&self, event: &str) -> Vec<String> {
        self.lines(|v| v["kind"] == "event" && v["event"] == event)
            .iter()
            .filter_map(|v| v["member"].as_str().map(str::to_owned))
            .collect()
    }

    /// Sends a command line and waits for the answer of `kind`.
    fn ask(&mut self, cmd: &str, kind: &str) -> Value {
        let before = self.lines(|v| v["kind"] == kind).len();
        let stdin = self.stdin.as_mut().expect("node running");
        writeln!(stdin, "{cmd}").expect("node stdin");
        stdin.flush().expect("flush");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.lines(|v| v["kind"] == kind);
            if got.len() > before {
                return got[before].clone();
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not answer {cmd}",
                self.name
            );
            let (m, cv) = &*self.lines;
            let g = m.lock().unwrap();
            let _ = cv.wait_timeout(g, Duration::from_millis(200)).unwrap();
        }
    }

    /// The discovery status.
    pub fn status(&mut self) -> Value {
        self.ask("status", "status")
    }

    /// The cluster members as this node sees them: `[{id, status, reachable}]`.
    pub fn members(&mut self) -> Vec<Value> {
        self.ask("members", "members")["members"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Ids of members this node sees `up`.
    pub fn up_members(&mut self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .members()
            .iter()
            .filter(|m| m["status"] == "up")
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// The leader in this node's view and, when this node leads, the fencing
    /// token etcd granted it: `{leader, token}`.
    pub fn leadership(&mut self) -> Value {
        self.ask("leadership", "leadership")
    }

    /// Polls the status until `pred` holds.
    pub fn wait_status(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "node {}: status condition not met in {timeout:?}; last {s}; log {}",
                self.name,
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Makes a child actor of discovery fail (`lease_keeper` or `seed_watcher`).
    pub fn fail_child(&mut self, child: &str) {
        self.ask(&format!("fail {child}"), "failed");
    }

    /// Restarts a failed child now instead of after its backoff.
    pub fn retry_child(&mut self, child: &str) {
        self.ask(&format!("retry {child}"), "retried");
    }

    /// Graceful leave: the cluster leave, then the lease revoke; returns once
    /// the node says it deregistered, then waits for the process to exit.
    pub fn leave(&mut self) {
        self.ask("leave", "deregistered");
        self.wait_exit();
    }

    /// Stops the node's actix `System` (no explicit leave) and waits for the
    /// process to exit.
    pub fn stop_system(&mut self) {
        self.ask("stop", "stopping");
        self.wait_exit();
    }

    fn wait_exit(&mut self) {
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL: no leave, no revoke.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stdin = None;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `cond` holds, polling every 100 ms.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
