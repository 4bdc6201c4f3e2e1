//! The observer's recorder: per node, one thread follows `/api/events` (and
//! reconnects when the stream ends) and one samples `/api/members` and
//! `/readyz` every 500 ms. Both run inside the bridge namespace and stamp what
//! they get with the run's clock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::checker::{DownSeen, Sample, TerminatedSeen, Time, View};
use super::net::enter_observer;
use crate::demo::{http, EventStream};

#[derive(Default)]
struct Log {
    downs: Vec<DownSeen>,
    terminated: Vec<TerminatedSeen>,
    samples: Vec<Sample>,
}

/// What was recorded: the streams' downs and terminated actors, the samples.
pub type Recorded = (Vec<DownSeen>, Vec<TerminatedSeen>, Vec<Sample>);

/// Records every node's stream and samples until stopped.
pub struct Recorder {
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The sampling period.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Parses an `/api/members` answer.
pub fn parse_view(v: &Value) -> Option<View> {
    Some(View {
        self_id: v["self"].as_str()?.to_owned(),
        leader: v["leader"].as_str().map(str::to_owned),
        members: v["members"]
            .as_array()?
            .iter()
            .filter_map(|m| {
                Some((
                    m["id"].as_str()?.to_owned(),
                    m["status"].as_str()?.to_owned(),
                ))
            })
            .collect(),
        unreachable: v["members"]
            .as_array()?
            .iter()
            .filter(|m| m["reachable"] == false)
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect(),
    })
}

/// The members an event-stream message shows down (a `down` event, or the
/// `down` entries of a snapshot), with their reasons.
pub fn downs_in(msg: &Value) -> Vec<(String, String)> {
    let reason =
        |m: &Value, r: &Value| r.as_str().or(m["reason"].as_str()).unwrap_or("").to_owned();
    match msg["type"].as_str() {
        Some("down") => msg["member"]["id"]
            .as_str()
            .map(|id| vec![(id.to_owned(), reason(&msg["member"], &msg["reason"]))])
            .unwrap_or_default(),
        Some("snapshot") => msg["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["status"] == "down")
            .filter_map(|m| Some((m["id"].as_str()?.to_owned(), reason(m, &Value::Null))))
            .collect(),
        _ => vec![],
    }
}

/// A `terminated` event's member and reason.
pub fn terminated_in(msg: &Value) -> Option<(String, String)> {
    (msg["type"] == "terminated").then(|| {
        (
            msg["member"].as_str().unwrap_or("").to_owned(),
            msg["reason"].as_str().unwrap_or("").to_owned(),
        )
    })
}

/// The member ids a `GET /api/services` answer lists under `ping`.
pub fn parse_services(v: &Value) -> Option<Vec<String>> {
    Some(
        v["services"]
            .get("ping")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    )
    .filter(|_| v["services"].is_object())
}

impl Recorder {
    /// Starts recording `nodes` (name, HTTP address); times are seconds since `t0`.
    pub fn start(t0: Instant, nodes: &[(String, SocketAddr)]) -> Recorder {
        let log: Arc<Mutex<Log>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let now = move || -> Time { t0.elapsed().as_secs_f64() };
        for (name, addr) in nodes.iter().cloned() {
            let (log2, stop2, name2) = (log.clone(), stop.clone(), name.clone());
            threads.push(std::thread::spawn(move || {
                enter_observer();
                while !stop2.load(Ordering::Relaxed) {
                    let Ok(mut stream) = EventStream::open(addr) else {
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    };
                    while !stop2.load(Ordering::Relaxed) {
                        match stream.next(Duration::from_secs(1)) {
                            Ok(msg) => {
                                let t = now();
                                let mut l = log2.lock().unwrap();
                                for (member, reason) in downs_in(&msg) {
                                    l.downs.push(DownSeen {
                                        t,
                                        node: name2.clone(),
                                        member,
                                        reason,
                                    });
                                }
                                if let Some((member, reason)) = terminated_in(&msg) {
                                    l.terminated.push(TerminatedSeen {
                                        t,
                                        node: name2.clone(),
                                        member,
                                        reason,
                                    });
                                }
                            }
                            Err(e) if e.starts_with("no event") => {}
                            Err(_) => break,
                        }
                    }
                }
            }));
            let (log2, stop2) = (log.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                enter_observer();
                while !stop2.load(Ordering::Relaxed) {
                    let next = Instant::now() + SAMPLE_EVERY;
                    let ready = http("GET", addr, "/readyz").ok().map(|r| r.status);
                    let view = http("GET", addr, "/api/members")
                        .ok()
                        .filter(|r| r.status == 200)
                        .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
                        .and_then(|v| parse_view(&v));
                    let services = http("GET", addr, "/api/services")
                        .ok()
                        .filter(|r| r.status == 200)
                        .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
                        .and_then(|v| parse_services(&v));
                    log2.lock().unwrap().samples.push(Sample {
                        t: now(),
                        node: name.clone(),
                        ready,
                        view,
                        services,
                    });
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            }));
        }
        Recorder { log, stop, threads }
    }

    /// What was recorded so far: stream downs, terminated actors, samples.
    pub fn snapshot(&self) -> Recorded {
        let l = self.log.lock().unwrap();
        (l.downs.clone(), l.terminated.clone(), l.samples.clone())
    }

    /// Stops recording; returns the threads (they end within a few seconds)
    /// so the caller can join them before removing the namespaces.
    pub fn stop(self) -> Vec<JoinHandle<()>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
    }
}
