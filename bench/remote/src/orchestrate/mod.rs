//! The orchestrator: runs every shape for every system, each in fresh child
//! processes, and writes the tables.

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
    let results = run.all(&tells, &asks);
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

impl Run {
    /// Every shape for every system, shape-major, then the idle peers.
    fn all(&self, tells: &[TellShape], asks: &[AskShape]) -> Results {
        let mut results = Results {
            tells: Vec::new(),
            asks: Vec::new(),
            idle: Vec::new(),
            members: Err(anyhow::anyhow!("not run")),
        };
        // Shape-major: every system meets the machine in the same state.
        for shape in tells {
            let mut row = Vec::new();
            for sys in SYSTEMS {
                eprintln!("tell {} {}", shape.label, sys.title());
                let r = self.tell(sys, shape);
                report_progress(&r.as_ref().map(|t| format!("{:.0} msg/s", t.msgs_per_s)));
                row.push(r);
            }
            results.tells.push(row);
        }
        for shape in asks {
            let mut row = Vec::new();
            for sys in SYSTEMS {
                if !sys.has_ask() {
                    row.push(None);
                    continue;
                }
                eprintln!("ask {} {}", shape.label, sys.title());
                let r = self.ask(sys, shape);
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
            let r = self.idle(sys.arg(), PEERS);
            report_progress(&r.as_ref().map(|k| format!("{k:.0} KiB/peer")));
            results.idle.push(r);
        }
        eprintln!("idle peers, our membership alone");
        let members = self.idle("ours-members", PEERS);
        report_progress(&members.as_ref().map(|k| format!("{k:.0} KiB/peer")));
        results.members = members;
        results
    }
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

mod report;
use self::report::render;
