//! The orchestrator: runs every shape for every system, each in fresh child
//! processes, and writes the tables.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::common::vm_kb;

#[derive(Clone, Copy, PartialEq)]
enum Sys {
    OursSealed,
    OursPlain,
    Telepathy,
    Ractor,
}

const SYSTEMS: [Sys; 4] = [Sys::OursSealed, Sys::OursPlain, Sys::Telepathy, Sys::Ractor];

impl Sys {
    fn arg(self) -> &'static str {
        match self {
            Sys::OursSealed => "ours-sealed",
            Sys::OursPlain => "ours-plain",
            Sys::Telepathy => "telepathy",
            Sys::Ractor => "ractor",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Sys::OursSealed => "ours, sealed",
            Sys::OursPlain => "ours, plaintext",
            Sys::Telepathy => "actix-telepathy 0.7.0",
            Sys::Ractor => "ractor_cluster 0.16.5",
        }
    }

    fn ours(self) -> bool {
        matches!(self, Sys::OursSealed | Sys::OursPlain)
    }

    fn has_ask(self) -> bool {
        self != Sys::Telepathy
    }
}

/// A child process, its stdout lines arriving on a channel.
struct Child {
    proc: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Child {
    fn spawn(logs: &Path, sys: &str, role: &str, args: &[String]) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(format!("{sys}-{role}.log")))?;
        let mut proc = Command::new(std::env::current_exe()?)
            .arg("child")
            .arg(sys)
            .arg(role)
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawning a child")?;
        let stdout = proc.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Child { proc, lines })
    }

    fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// The next line starting with `prefix`; an `ERROR` line, an exit or
    /// the timeout is an error.
    fn wait_for(&self, prefix: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(line) if line.starts_with("ERROR") => bail!("{line}"),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("no {prefix} within {} s", timeout.as_secs())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("exited before {prefix}"),
            }
        }
    }

    /// Stops the child by its pid and reaps it.
    fn stop(mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

fn field<T: std::str::FromStr>(line: &str, key: &str) -> anyhow::Result<T> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key}= in {line:?}"))
}

/// One tell shape.
struct TellShape {
    label: &'static str,
    size: usize,
    pairs: usize,
    n: u64,
}

struct TellResult {
    msgs_per_s: f64,
    mb_per_s: f64,
    sender_peak_mb: f64,
    retries: u64,
}

/// One ask shape: `rate` 0 is serial.
struct AskShape {
    label: &'static str,
    rate: u64,
    secs: u64,
    n: u64,
}

struct AskResult {
    n: u64,
    errors: u64,
    p50: f64,
    p90: f64,
    p99: f64,
    late50: f64,
    late99: f64,
}

struct Run {
    logs: PathBuf,
}

impl Run {
    fn tell(&self, sys: Sys, shape: &TellShape) -> anyhow::Result<TellResult> {
        let recv = Child::spawn(
            &self.logs,
            sys.arg(),
            "recv",
            &[format!("n={}", shape.n), format!("pairs={}", shape.pairs)],
        )?;
        let result = (|| {
            let port: u16 = field(&recv.wait_for("READY", Duration::from_secs(30))?, "port")?;
            let send = Child::spawn(
                &self.logs,
                sys.arg(),
                "send",
                &[
                    format!("port={port}"),
                    format!("n={}", shape.n),
                    format!("pairs={}", shape.pairs),
                    format!("size={}", shape.size),
                ],
            )?;
            let r = (|| {
                let t0: u128 = field(&send.wait_for("START", Duration::from_secs(60))?, "t")?;
                let t1: u128 = field(&recv.wait_for("DONE", Duration::from_secs(90))?, "t")?;
                let sent = send.wait_for("SENT", Duration::from_secs(30))?;
                let peak_kb = vm_kb(send.pid(), "VmHWM").unwrap_or(0);
                let secs = (t1.saturating_sub(t0)) as f64 / 1e9;
                let rate = shape.n as f64 / secs;
                Ok(TellResult {
                    msgs_per_s: rate,
                    mb_per_s: rate * shape.size as f64 / 1e6,
                    sender_peak_mb: peak_kb as f64 / 1024.0,
                    retries: field(&sent, "retries")?,
                })
            })();
            send.stop();
            r
        })();
        recv.stop();
        result
    }

    fn ask(&self, sys: Sys, shape: &AskShape) -> anyhow::Result<AskResult> {
        let echo = Child::spawn(&self.logs, sys.arg(), "echo", &[])?;
        let result = (|| {
            let port: u16 = field(&echo.wait_for("READY", Duration::from_secs(30))?, "port")?;
            let mut args = vec![format!("port={port}")];
            if shape.rate == 0 {
                args.extend(["mode=serial".into(), format!("n={}", shape.n)]);
            } else {
                args.extend([
                    "mode=rate".into(),
                    format!("rate={}", shape.rate),
                    format!("secs={}", shape.secs),
                ]);
            }
            let ask = Child::spawn(&self.logs, sys.arg(), "ask", &args)?;
            let r = (|| {
                let line = ask.wait_for("ASK", Duration::from_secs(120))?;
                let us = |k| -> anyhow::Result<f64> { Ok(field::<f64>(&line, k)? / 1000.0) };
                Ok(AskResult {
                    n: field(&line, "n")?,
                    errors: field(&line, "errors")?,
                    p50: us("p50")?,
                    p90: us("p90")?,
                    p99: us("p99")?,
                    late50: us("late50")?,
                    late99: us("late99")?,
                })
            })();
            ask.stop();
            r
        })();
        echo.stop();
        result
    }

    /// The hub's resident memory grown per connected, idle peer, in KiB.
    fn idle(&self, sys: &str, peers: usize) -> anyhow::Result<f64> {
        let hub = Child::spawn(
            &self.logs,
            sys,
            "hub",
            &[format!("n={peers}"), "pairs=1".into()],
        )?;
        let mut children = Vec::new();
        let result = (|| {
            let port: u16 = field(&hub.wait_for("READY", Duration::from_secs(30))?, "port")?;
            std::thread::sleep(Duration::from_millis(1500));
            let before = vm_kb(hub.pid(), "VmRSS").context("hub RSS")?;
            for i in 0..peers {
                children.push(Child::spawn(
                    &self.logs,
                    sys,
                    "peer",
                    &[format!("port={port}"), format!("i={i}")],
                )?);
            }
            hub.wait_for("DONE", Duration::from_secs(90))?;
            std::thread::sleep(Duration::from_secs(2));
            let after = vm_kb(hub.pid(), "VmRSS").context("hub RSS")?;
            Ok((after as f64 - before as f64) / peers as f64)
        })();
        for c in children {
            c.stop();
        }
        hub.stop();
        result
    }
}

fn tell_shapes(quick: bool) -> Vec<TellShape> {
    let k = if quick { 10 } else { 1 };
    vec![
        TellShape {
            label: "1-to-1, 100 B",
            size: 100,
            pairs: 1,
            n: 1_000_000 / k,
        },
        TellShape {
            label: "1-to-1, 1 KB",
            size: 1024,
            pairs: 1,
            n: 500_000 / k,
        },
        TellShape {
            label: "1-to-1, 10 KB",
            size: 10 * 1024,
            pairs: 1,
            n: 50_000 / k,
        },
        TellShape {
            label: "5-to-5, 100 B",
            size: 100,
            pairs: 5,
            n: 1_000_000 / k,
        },
    ]
}

fn ask_shapes(quick: bool) -> Vec<AskShape> {
    let secs = if quick { 1 } else { 3 };
    let mut v = vec![AskShape {
        label: "serial",
        rate: 0,
        secs: 0,
        n: if quick { 2_000 } else { 10_000 },
    }];
    for (label, rate) in [("1k/s", 1_000), ("10k/s", 10_000), ("20k/s", 20_000)] {
        v.push(AskShape {
            label,
            rate,
            secs,
            n: rate * secs,
        });
    }
    v
}

const PEERS: usize = 16;

/// Everything measured, keyed by shape then system.
struct Results {
    tells: Vec<Vec<anyhow::Result<TellResult>>>,
    asks: Vec<Vec<Option<anyhow::Result<AskResult>>>>,
    idle: Vec<anyhow::Result<f64>>,
    /// Our `Cluster` alone, without the remote layer (sealed).
    members: anyhow::Result<f64>,
}

pub fn main(args: &[String]) -> anyhow::Result<()> {
    let mut out = None;
    let mut write = None;
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().map(PathBuf::from),
            "--write" => write = it.next().map(PathBuf::from),
            "--quick" => quick = true,
            _ => bail!(
                "usage: remote-bench --out DIR [--write BENCHMARKS.md] [--quick]\n\
                 runs every shape for every system and writes DIR/remote-messaging.md"
            ),
        }
    }
    let out = out.context("--out DIR is required")?;
    let logs = out.join("remote-bench-logs");
    std::fs::create_dir_all(&logs)?;
    let run = Run { logs };
    let started = Instant::now();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let gaps_before = crate::common::sched_gaps(Duration::from_secs(3));

    let tells = tell_shapes(quick);
    let asks = ask_shapes(quick);
    let mut results = Results {
        tells: Vec::new(),
        asks: Vec::new(),
        idle: Vec::new(),
        members: Err(anyhow::anyhow!("not run")),
    };
    // Shape-major: every system meets the machine in the same state.
    for shape in &tells {
        let mut row = Vec::new();
        for sys in SYSTEMS {
            eprintln!("tell {} {}", shape.label, sys.title());
            let r = run.tell(sys, shape);
            report_progress(&r.as_ref().map(|t| format!("{:.0} msg/s", t.msgs_per_s)));
            row.push(r);
        }
        results.tells.push(row);
    }
    for shape in &asks {
        let mut row = Vec::new();
        for sys in SYSTEMS {
            if !sys.has_ask() {
                row.push(None);
                continue;
            }
            eprintln!("ask {} {}", shape.label, sys.title());
            let r = run.ask(sys, shape);
            report_progress(
                &r.as_ref()
                    .map(|a| format!("p50 {:.0} p99 {:.0} us", a.p50, a.p99)),
            );
            row.push(Some(r));
        }
        results.asks.push(row);
    }
    for sys in SYSTEMS {
        eprintln!("idle peers {}", sys.title());
        let r = run.idle(sys.arg(), PEERS);
        report_progress(&r.as_ref().map(|k| format!("{k:.0} KiB/peer")));
        results.idle.push(r);
    }
    eprintln!("idle peers, our membership alone");
    let members = run.idle("ours-members", PEERS);
    report_progress(&members.as_ref().map(|k| format!("{k:.0} KiB/peer")));
    results.members = members;
    let gaps_after = crate::common::sched_gaps(Duration::from_secs(3));
    let machine = Machine {
        took: started.elapsed(),
        load: load_before.trim().to_owned(),
        gaps: [gaps_before, gaps_after],
        quick,
    };
    let md = render(&results, &tells, &asks, &machine);
    let path = out.join("remote-messaging.md");
    std::fs::write(&path, &md)?;
    eprintln!("wrote {}", path.display());
    if let Some(file) = write {
        splice(&file, &md)?;
        eprintln!(
            "replaced the Remote messaging section of {}",
            file.display()
        );
    }
    Ok(())
}

fn report_progress(r: &Result<String, &anyhow::Error>) {
    match r {
        Ok(s) => eprintln!("  {s}"),
        Err(e) => eprintln!("  failed: {e:#}"),
    }
}

/// The heading of the hand-written notes that `--write` keeps.
const NOTES: &str = "\n### Notes by hand";

/// Replaces the `## Remote messaging` section of `file` (up to the next
/// `## ` heading, keeping a `### Notes by hand` part), or appends it.
fn splice(file: &Path, section: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)?;
    let heading = "## Remote messaging";
    let new = match text.find(&format!("\n{heading}\n")) {
        Some(start) => {
            let body = start + 1;
            let end = text[body + heading.len()..]
                .find("\n## ")
                .map(|i| body + heading.len() + i + 1)
                .unwrap_or(text.len());
            // Notes written by hand below the generated part survive a rerun.
            let notes = text[body..end]
                .find(NOTES)
                .map(|i| &text[body + i..end])
                .unwrap_or("\n");
            format!(
                "{}{}\n{}{}",
                &text[..body],
                section.trim_end(),
                notes,
                &text[end..]
            )
        }
        None => format!(
            "{}\n{}",
            text.trim_end_matches('\n').to_owned() + "\n",
            section
        ),
    };
    std::fs::write(file, new)?;
    Ok(())
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn git_rev() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// The run's conditions, for the method paragraph.
struct Machine {
    took: Duration,
    load: String,
    gaps: [(usize, Duration, Duration); 2],
    quick: bool,
}

fn render(r: &Results, tells: &[TellShape], asks: &[AskShape], m: &Machine) -> String {
    let (took, load, quick) = (m.took, m.load.as_str(), m.quick);
    let gaps: Vec<String> = m
        .gaps
        .iter()
        .map(|(n, total, worst)| {
            format!(
                "{n} gaps, {:.0} ms in all, the longest {:.1} ms",
                total.as_secs_f64() * 1e3,
                worst.as_secs_f64() * 1e3
            )
        })
        .collect();
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "## Remote messaging\n");
    let _ = writeln!(
        w,
        "Generated by `cargo run --release --manifest-path bench/remote/Cargo.toml -- --out <dir> --write BENCHMARKS.md`{} \
         from `{}` in {:.0} s of wall time, on {} with {} cores (load average before the run: {}). \
         The benchmark is a cargo workspace of its own (`bench/remote/`), so the peers never enter our libraries' \
         dependency tree or CI's builds. The machine was shared with other work: a thread spinning alone on \
         it for 3 s lost the CPU for more than 0.5 ms at a time in {} before the run, and in {} after \
         it; that is the floor under every tail latency below.\n",
        if quick { " with `--quick` (a tenth of the messages: not for the record)" } else { "" },
        git_rev(),
        took.as_secs_f64(),
        cpu_model(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        load,
        gaps[0],
        gaps[1],
    );
    let _ = writeln!(
        w,
        "Method. Akka's MaxThroughputSpec and LatencySpec shapes over loopback. Every figure comes from a fresh \
         pair of processes, a receiver and a sender (release builds, each its own OS process, started and stopped \
         by pid by the orchestrator), run shape by shape with the four systems in turn. Ours runs on one actix \
         system per process (a current-thread runtime), with the default `RemoteConfig` (ordinary lane of 4,096 \
         envelopes), sealed with a cluster key or plaintext; actix-telepathy 0.7.0 on one actix system as its \
         README shows (no ask exists in it); ractor_cluster 0.16.5 with a `NodeServer` on a current-thread tokio \
         runtime, `RactorClusterMessage` messages and a process group to find the receiver. \
         **Tell**: the sender sends {} unmeasured messages, waits 0.5 s, notes the wall clock, then sends N \
         messages in bursts of {} (yielding to its runtime between bursts); when our `tell` answers \
         `QueueFull` it yields and retries (the counted retries are backpressure, not losses). The receiver notes \
         the wall clock when the N-th measured message has been handled; messages/s = N / (receiver's end - \
         sender's start), the two processes sharing the host's clock; MB/s counts payload bytes only; the \
         sender's peak RSS is its `VmHWM` read after the receiver has all N. Five-to-five: five sending tasks in \
         one process, each to its own receiving actor in the other. **Ask**: after {} warm-up asks, serial asks \
         (each waits for its answer), or open-loop asks at a constant rate for {} s: ask i is due at start + \
         i / rate; a ticker thread in the sender sleeps to each due time and hands the ask to the sender's \
         runtime, which issues it at once (no spinning, so the receiver keeps its core); its latency runs from \
         its due time to its answer, so a stall of the sender counts against every ask it delays, and so does \
         the wake-up of the sender's thread. Percentiles \
         are nearest-rank over all measured asks. **Idle connections**: a hub process, then {PEERS} peer processes \
         that each connect to it and send it one message, then sit idle; (hub RSS 2 s after the last message - \
         hub RSS before the peers) / {PEERS}. For ours each peer is a cluster member, so the figure includes \
         the membership state and gossip of that member, not only the remote session.\n",
        crate::common::WARMUP,
        crate::common::BURST,
        crate::common::ASK_WARMUP,
        asks.get(1).map(|a| a.secs).unwrap_or(0),
    );

    // Tells.
    let _ = writeln!(w, "### Tell throughput\n");
    let _ = writeln!(
        w,
        "Cells: messages/s · MB/s of payload · the sender's peak RSS. N per shape: {}.\n",
        tells
            .iter()
            .map(|s| format!("{} {}", s.label, thousands(s.n as f64)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    header(w, "shape");
    for (shape, row) in tells.iter().zip(&r.tells) {
        let _ = write!(w, "| {} |", shape.label);
        for cell in row {
            let _ = match cell {
                Ok(t) => write!(
                    w,
                    " {} · {:.1} MB/s · {:.0} MB |",
                    thousands(t.msgs_per_s),
                    t.mb_per_s,
                    t.sender_peak_mb
                ),
                Err(e) => write!(w, " failed: {} |", one_line(e)),
            };
        }
        let _ = writeln!(w);
    }
    let retries: Vec<String> = tells
        .iter()
        .zip(&r.tells)
        .filter_map(|(s, row)| {
            let ours: Vec<String> = SYSTEMS
                .iter()
                .zip(row)
                .filter(|(sys, _)| sys.ours())
                .filter_map(|(sys, c)| {
                    c.as_ref()
                        .ok()
                        .map(|t| format!("{} {}", sys.title(), thousands(t.retries as f64)))
                })
                .collect();
            (!ours.is_empty()).then(|| format!("{}: {}", s.label, ours.join(", ")))
        })
        .collect();
    let _ = writeln!(
        w,
        "\nOur senders' `QueueFull` retries (a yield each): {}.\n",
        retries.join("; ")
    );

    // Asks.
    let _ = writeln!(w, "### Ask latency\n");
    let _ = writeln!(
        w,
        "Cells: p50 / p90 / p99 in µs (asks measured; failed asks in brackets when any).\n"
    );
    header(w, "shape");
    for (shape, row) in asks.iter().zip(&r.asks) {
        let _ = write!(w, "| {} |", shape.label);
        for cell in row {
            let _ = match cell {
                None => write!(w, " not available (no ask) |"),
                Some(Ok(a)) => write!(
                    w,
                    " {:.0} / {:.0} / {:.0} ({}{}) |",
                    a.p50,
                    a.p90,
                    a.p99,
                    thousands(a.n as f64),
                    if a.errors > 0 {
                        format!("; {} failed", a.errors)
                    } else {
                        String::new()
                    }
                ),
                Some(Err(e)) => write!(w, " failed: {} |", one_line(e)),
            };
        }
        let _ = writeln!(w);
    }

    let _ = writeln!(
        w,
        "\nOf which the sender's own wake-up at a constant rate (from an ask's due time until the sender's \
         runtime issues it; the ticker thread's sleep and the runtime thread's wake-up), p50 / p99 in µs:\n"
    );
    header(w, "shape");
    for (shape, row) in asks.iter().zip(&r.asks).filter(|(s, _)| s.rate > 0) {
        let _ = write!(w, "| {} |", shape.label);
        for cell in row {
            let _ = match cell {
                Some(Ok(a)) => write!(w, " {:.0} / {:.0} |", a.late50, a.late99),
                None => write!(w, " – |"),
                Some(Err(_)) => write!(w, " failed |"),
            };
        }
        let _ = writeln!(w);
    }

    // Idle.
    let _ = writeln!(w, "\n### Memory per idle peer connection\n");
    header(w, "figure");
    let _ = write!(w, "| hub RSS per idle peer ({PEERS} peers) |");
    for cell in &r.idle {
        let _ = match cell {
            Ok(k) => write!(w, " {:.0} KiB |", k),
            Err(e) => write!(w, " failed: {} |", one_line(e)),
        };
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "\nFor comparison, our `Cluster` alone (sealed, no remote layer), the same {PEERS} peers joining: {} per peer. \
         Our figure above includes it: each of our peers is a cluster member.\n",
        match &r.members {
            Ok(k) => format!("{k:.0} KiB"),
            Err(e) => format!("failed ({})", one_line(e)),
        }
    );

    goals(w, r, tells, asks);
    md
}

fn header(w: &mut String, first: &str) {
    let _ = write!(w, "| {first} |");
    for sys in SYSTEMS {
        let _ = write!(w, " {} |", sys.title());
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "|---|---|---|---|---|");
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace(['|', '\n'], " ")
}

/// The goals, each met or missed from this run's figures.
fn goals(w: &mut String, r: &Results, tells: &[TellShape], asks: &[AskShape]) {
    let _ = writeln!(w, "### Goals\n");
    let _ = writeln!(w, "| goal | measured | status |");
    let _ = writeln!(w, "|---|---|---|");
    let status = |ok: bool| if ok { "met" } else { "**missed**" };

    let sealed_100 = r.tells[0][0].as_ref().ok().map(|t| t.msgs_per_s);
    let _ = writeln!(
        w,
        "| tell 1-to-1 at 100 B ≥ 1,000,000 messages/s, sealed | {} | {} |",
        sealed_100.map_or("failed".into(), |x| format!("{} msg/s", thousands(x))),
        status(sealed_100.is_some_and(|x| x >= 1e6))
    );

    let peaks: Vec<String> = tells
        .iter()
        .zip(&r.tells)
        .filter_map(|(s, row)| {
            row[0]
                .as_ref()
                .ok()
                .map(|t| format!("{} {:.0} MB", s.label, t.sender_peak_mb))
        })
        .collect();
    let max_peak = tells
        .iter()
        .zip(&r.tells)
        .filter_map(|(_, row)| row[0].as_ref().ok().map(|t| t.sender_peak_mb))
        .fold(0.0f64, f64::max);
    let _ = writeln!(
        w,
        "| our sender's memory bounded (sealed; bounded lanes, `QueueFull` backpressure) | peak RSS {} | {} |",
        peaks.join(", "),
        status(!peaks.is_empty() && max_peak < 128.0)
    );

    let i10k = asks.iter().position(|a| a.rate == 10_000);
    for (col, name) in [(0usize, "sealed"), (1, "plaintext")] {
        let p99 = i10k
            .and_then(|i| r.asks[i][col].as_ref())
            .and_then(|c| c.as_ref().ok())
            .filter(|a| a.errors == 0)
            .map(|a| a.p99);
        let _ = writeln!(
            w,
            "| ask p99 ≤ 150 µs at 10k asks/s, {name} | {} | {} |",
            p99.map_or("failed".into(), |x| format!("{x:.0} µs")),
            status(p99.is_some_and(|x| x <= 150.0))
        );
    }

    // Ahead of both peers in every row, ours sealed (the default).
    let mut behind = Vec::new();
    let mut compared = 0;
    for (shape, row) in tells.iter().zip(&r.tells) {
        let ours = row[0].as_ref().ok().map(|t| t.msgs_per_s);
        for (i, sys) in SYSTEMS.iter().enumerate().skip(2) {
            if let (Some(o), Ok(p)) = (ours, &row[i]) {
                compared += 1;
                if o <= p.msgs_per_s {
                    behind.push(format!(
                        "tell {}: {} vs {} {}",
                        shape.label,
                        thousands(o),
                        sys.title(),
                        thousands(p.msgs_per_s)
                    ));
                }
            } else if ours.is_none() {
                behind.push(format!("tell {}: ours failed", shape.label));
            }
        }
    }
    for (shape, row) in asks.iter().zip(&r.asks) {
        let ours = row[0].as_ref().and_then(|c| c.as_ref().ok());
        for (i, sys) in SYSTEMS.iter().enumerate().skip(2) {
            if let (Some(o), Some(Ok(p))) = (ours, &row[i]) {
                compared += 1;
                if o.p99 >= p.p99 || o.p50 >= p.p50 {
                    behind.push(format!(
                        "ask {}: p50/p99 {:.0}/{:.0} µs vs {} {:.0}/{:.0} µs",
                        shape.label,
                        o.p50,
                        o.p99,
                        sys.title(),
                        p.p50,
                        p.p99
                    ));
                }
            }
        }
    }
    if let Ok(o) = &r.idle[0] {
        for (i, sys) in SYSTEMS.iter().enumerate().skip(2) {
            if let Ok(p) = &r.idle[i] {
                compared += 1;
                if o >= p {
                    behind.push(format!(
                        "idle memory: {o:.0} KiB vs {} {p:.0} KiB",
                        sys.title()
                    ));
                }
            }
        }
    }
    let _ = writeln!(
        w,
        "| ahead of both Rust peers in every row of this run (ours sealed vs each peer that ran the row: higher messages/s; lower ask p50 and p99; less memory per idle peer) | {} of {compared} comparisons ahead{} | {} |",
        compared - behind.len(),
        if behind.is_empty() {
            String::new()
        } else {
            format!("; behind in: {}", behind.join("; "))
        },
        status(behind.is_empty() && compared > 0)
    );
}
