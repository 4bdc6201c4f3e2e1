//! What every system's children share: arguments, the line protocol to the
//! orchestrator, clocks, the send loops and the latency recorders.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Messages sent before the measured ones, to open connections and warm
/// caches; receivers do not count them.
pub const WARMUP: u64 = 1000;
/// Asks answered before the measured ones.
pub const ASK_WARMUP: u64 = 500;
/// Messages sent between two yields of the sender (Akka's burst).
pub const BURST: u64 = 1000;

/// `key=value` arguments of a child.
pub struct Args(HashMap<String, String>);

impl Args {
    pub fn parse(args: &[String]) -> Args {
        Args(
            args.iter()
                .filter_map(|a| a.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    pub fn get<T: std::str::FromStr>(&self, key: &str) -> T {
        self.0
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("argument {key}= missing or malformed"))
    }
}

/// Wall-clock nanoseconds: sender and receiver are processes on one host, so
/// they share this clock.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

/// One line to the orchestrator.
pub fn emit(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
pub fn vm_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The payload of a measured message: byte 0 says whether it counts.
pub fn payload(size: usize, counted: bool) -> Vec<u8> {
    let mut v = vec![0xA5u8; size.max(1)];
    v[0] = counted as u8;
    v
}

/// Counts measured messages across a receiver's actors and reports the
/// moment the last one arrives.
pub struct Tally {
    pub expected: u64,
    pub seen: std::sync::atomic::AtomicU64,
}

impl Tally {
    pub fn new(expected: u64) -> Self {
        Tally {
            expected,
            seen: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records one received payload.
    pub fn record(&self, payload: &[u8]) {
        if payload.first() != Some(&1) {
            return;
        }
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n == self.expected {
            emit(format!("DONE t={} n={n}", now_ns()));
        }
    }
}

/// Sends `n` messages in bursts of [`BURST`], yielding between bursts.
/// `send()` answers false when the sender's queue is full: the loop yields
/// (so the connection drains it) and retries. Answers how many retries.
pub async fn tell_loop(n: u64, mut send: impl FnMut() -> bool) -> u64 {
    let mut retries = 0;
    let mut i = 0;
    while i < n {
        let end = (i + BURST).min(n);
        while i < end {
            if send() {
                i += 1;
            } else {
                retries += 1;
                tokio::task::yield_now().await;
            }
        }
        tokio::task::yield_now().await;
    }
    retries
}

/// Latencies in nanoseconds and failures.
#[derive(Default)]
pub struct Latencies {
    pub ns: Vec<u64>,
    pub errors: u64,
    /// Open loop only: from each ask's due time to the moment the sender's
    /// runtime issues it (the harness's own wake-up, inside `ns`).
    pub late_ns: Vec<u64>,
}

/// Nearest-rank percentile of sorted values.
fn rank(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let r = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[r - 1]
}

impl Latencies {
    /// The line the orchestrator reads.
    pub fn report(mut self) -> String {
        self.ns.sort_unstable();
        self.late_ns.sort_unstable();
        let q = |p: f64| rank(&self.ns, p);
        format!(
            "ASK n={} errors={} p50={} p90={} p99={} max={} late50={} late99={}",
            self.ns.len(),
            self.errors,
            q(0.50),
            q(0.90),
            q(0.99),
            self.ns.last().copied().unwrap_or(0),
            rank(&self.late_ns, 0.50),
            rank(&self.late_ns, 0.99),
        )
    }
}

/// Serial round trips: each ask waits for the previous answer.
pub async fn ask_serial<F, Fut>(n: u64, ask: F) -> Latencies
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool>,
{
    for i in 0..ASK_WARMUP {
        ask(i).await;
    }
    let mut lat = Latencies::default();
    for i in 0..n {
        let t = Instant::now();
        if ask(i).await {
            lat.ns.push(t.elapsed().as_nanos() as u64);
        } else {
            lat.errors += 1;
        }
    }
    lat
}

/// Asks at a constant rate, open loop: ask `i` is due at `start + i /
/// rate`, and its latency runs from that moment, so a stall of the sender
/// shows in every ask it delays. A ticker thread sleeps to each due time
/// (the runtime's timers have a millisecond's grain, a thread's sleep tens
/// of microseconds) and hands the due asks to the runtime, which issues them
/// at once; the runtime never spins, so it leaves the CPU to the receiver.
pub async fn ask_rate<F, Fut>(rate: u64, secs: u64, ask: F) -> Latencies
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool> + 'static,
{
    for i in 0..ASK_WARMUP {
        ask(i).await;
    }
    let total = rate * secs;
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let lat = Rc::new(RefCell::new(Latencies::default()));
    let done = Rc::new(RefCell::new(0u64));
    let start = Instant::now() + Duration::from_millis(5);
    let (tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let ticker = std::thread::spawn(move || {
        for i in 0..total {
            let due = start + interval * i as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if tx.send((i, due)).is_err() {
                break;
            }
        }
    });
    let mut late = Vec::with_capacity(total as usize);
    while let Some((i, due)) = due_rx.recv().await {
        late.push(due.elapsed().as_nanos() as u64);
        let fut = ask(i);
        let (lat, done) = (lat.clone(), done.clone());
        tokio::task::spawn_local(async move {
            let ok = fut.await;
            let mut l = lat.borrow_mut();
            if ok {
                l.ns.push(due.elapsed().as_nanos() as u64);
            } else {
                l.errors += 1;
            }
            *done.borrow_mut() += 1;
        });
    }
    let _ = ticker.join();
    let deadline = Instant::now() + Duration::from_secs(10);
    while *done.borrow() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut l = std::mem::take(&mut *lat.borrow_mut());
    l.errors += total - *done.borrow();
    l.late_ns = late;
    l
}

/// How much of `span` a spinning thread spends descheduled: the gaps over
/// 0.5 ms between two reads of the clock (count, total, worst). On a
/// machine shared with other work this is the floor under every tail
/// latency measured on it.
pub fn sched_gaps(span: Duration) -> (usize, Duration, Duration) {
    let end = Instant::now() + span;
    let mut last = Instant::now();
    let (mut n, mut total, mut worst) = (0, Duration::ZERO, Duration::ZERO);
    while last < end {
        let now = Instant::now();
        let gap = now - last;
        if gap > Duration::from_micros(500) {
            n += 1;
            total += gap;
            worst = worst.max(gap);
        }
        last = now;
    }
    (n, total, worst)
}

/// What a sender of tells does once it has its targets: warm up, report
/// its start, send, report its end, then idle until the orchestrator stops
/// it (so that its peak RSS can still be read while the receiver drains).
/// `send(pair, counted)` sends one message to the pair's receiver.
pub async fn run_tells(n: u64, pairs: usize, send: impl Fn(usize, bool) -> bool + 'static) {
    let send = Rc::new(send);
    for p in 0..pairs {
        for _ in 0..WARMUP {
            while !send(p, false) {
                tokio::task::yield_now().await;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    emit(format!("START t={}", now_ns()));
    let per = n / pairs as u64;
    let mut tasks = Vec::new();
    for p in 0..pairs {
        let send = send.clone();
        tasks.push(tokio::task::spawn_local(async move {
            tell_loop(per, || send(p, true)).await
        }));
    }
    let mut retries = 0;
    for t in tasks {
        retries += t.await.unwrap_or(0);
    }
    emit(format!("SENT t={} retries={retries}", now_ns()));
    std::future::pending::<()>().await;
}
