//! The soak bench: one node under a sustained flood of each hostile kind in
//! turn, with its RSS, CPU and datagram handling latency before, during and
//! after, and how long it takes to see a crashed member down in each phase.
//!
//! Run it with `cargo bench -p actix-cluster --bench soak` (add
//! `-- --quick` for a try of about a minute, `-- --phase-secs N` for the
//! length of each phase, `-- --kinds a,b` for some kinds only, `-- --rate N`
//! for datagrams per second, `-- --write` to write `docs/bench/soak.md`).
//! `SOAK_PHASE_SECS` sets the phase length too. `--write` keeps what
//! follows a `<!-- soak:notes -->` line in the old file (notes by hand).
//!
//! Every node is its own process (this binary re-executed in `node` mode), so
//! the target's RSS and CPU are its own: per kind, a fresh target forms a
//! plaintext cluster (no keys: the worst case) with four helper processes;
//! the bench kills one helper in each phase (SIGKILL) and times the target's
//! `MemberDown`. The forged messages follow the wire format of
//! `docs/PROTOCOL.md` and are checked against a real `Core` before use.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster::{
    Cluster, ClusterConfig, ClusterEvent, ClusterStats, Event, Form, GetMembers, GetSelf, GetStats,
    Join, MemberDown, MemberUp, ProtocolConfig, Status, Subscribe,
};

/// The cluster name of every soak node.
const CLUSTER: &str = "soak";
/// Helpers per target: one is killed in each of the three phases.
const HELPERS: usize = 4;
/// Where the hand-written notes of `docs/bench/soak.md` start; `--write`
/// keeps them.
const NOTES: &str = "<!-- soak:notes -->";
/// The longest the bench waits for a crash to be seen (`--quick`: 4 s).
const DETECTION_BOUND: Duration = Duration::from_secs(30);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("node") {
        node::run(&args[1..]);
        return;
    }
    let opts = match Opts::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = forge::self_check() {
        eprintln!("soak: the forged messages do not decode as intended: {e}");
        std::process::exit(1);
    }
    if args.is_empty() {
        // `cargo test --benches` runs this without arguments (`cargo bench`
        // passes `--bench`): the self-check is the test.
        eprintln!("soak: forged messages checked; run the soak with `cargo bench -p actix-cluster --bench soak`");
        return;
    }
    let mut results = Vec::new();
    for &kind in &opts.kinds {
        eprintln!(
            "soak: {} ({} s per phase)",
            kind.name(),
            opts.phase.as_secs()
        );
        match run_kind(kind, &opts) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("soak: {}: {e}", kind.name());
                std::process::exit(1);
            }
        }
    }
    let report = report::markdown(&opts, &results);
    println!("{report}");
    if opts.write {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/bench/soak.md");
        // The notes written by hand (from the marker on) survive a rerun.
        let mut report = report;
        if let Some(notes) = std::fs::read_to_string(path)
            .ok()
            .and_then(|old| old.find(NOTES).map(|at| old[at..].to_owned()))
        {
            report.push_str(&notes);
        }
        if let Err(e) = std::fs::write(path, &report) {
            eprintln!("soak: cannot write {path}: {e}");
            std::process::exit(1);
        }
        eprintln!("soak: wrote docs/bench/soak.md");
    }
}

/// The flood kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Gossip datagrams full of forged records (fake `Up` members and
    /// tombstones), over UDP.
    UdpRecords,
    /// Push-pull requests and join acks full of forged records (thousands of
    /// fake `Up` members or tombstones per frame), over TCP.
    TcpRecords,
    /// Push-pull frames re-announcing a fixed set of fake `Up` members at
    /// unreachable addresses with ever higher incarnations, so they are
    /// never downed and the target keeps probing the dead.
    HealthPoison,
    /// Connections from many source addresses held with partial frames and
    /// reopened at once when closed.
    SlotExhaustion,
    /// Who-are-you, pings for another generation and join requests over
    /// UDP, from fresh senders and from spoofed ones (reflection attempts).
    UdpRequests,
}

const KINDS: [Kind; 5] = [
    Kind::UdpRecords,
    Kind::TcpRecords,
    Kind::HealthPoison,
    Kind::SlotExhaustion,
    Kind::UdpRequests,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::UdpRecords => "udp-records",
            Kind::TcpRecords => "tcp-records",
            Kind::HealthPoison => "health-poison",
            Kind::SlotExhaustion => "slot-exhaustion",
            Kind::UdpRequests => "udp-requests",
        }
    }

    fn describe(self, opts: &Opts) -> String {
        match self {
            Kind::UdpRecords => format!(
                "gossip datagrams of up to 1400 bytes, each full of forged records (alternately \
                 about 40 fake `Up` members or tombstones, all new), {} datagrams/s over UDP",
                opts.rate
            ),
            Kind::TcpRecords => format!(
                "frames of forged records, in turn a push-pull request of {} fake `Up` members, \
                 a join ack of {} tombstones, a push-pull of {} (the record bound, `max_members`) \
                 and one of {} (one over it: refused, its connection closed); {} frames/s over \
                 TCP, reconnecting when closed",
                forge::FRAME_RECORDS,
                forge::FRAME_RECORDS,
                forge::RECORD_BOUND,
                forge::RECORD_BOUND + 1,
                opts.frame_rate
            ),
            Kind::HealthPoison => format!(
                "push-pull frames re-announcing the same {} fake `Up` members (unreachable \
                 addresses) with a higher incarnation every frame, 5 frames/s over TCP",
                forge::POISON_MEMBERS
            ),
            Kind::SlotExhaustion => format!(
                "{} connections from {} source addresses, each holding a partial frame (2 bytes \
                 of a length prefix) and reconnecting at once when closed",
                flood::SLOT_CONNECTIONS,
                flood::SLOT_CONNECTIONS
            ),
            Kind::UdpRequests => format!(
                "who-are-you and pings for another generation from ever new senders at the \
                 flooder's address, who-are-you naming a spoofed sender, join requests as \
                 datagrams; {} datagrams/s over UDP",
                opts.rate
            ),
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.name() == s)
    }
}

/// Command-line options.
struct Opts {
    phase: Duration,
    kinds: Vec<Kind>,
    /// Datagrams per second of the UDP floods.
    rate: u32,
    /// Frames per second of the TCP record flood.
    frame_rate: u32,
    write: bool,
    quick: bool,
    /// The longest a phase waits for the crash to be seen.
    detection_bound: Duration,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut opts = Opts {
            phase: Duration::from_secs(40),
            kinds: KINDS.to_vec(),
            rate: 5000,
            frame_rate: 20,
            write: false,
            quick: false,
            detection_bound: DETECTION_BOUND,
        };
        if let Ok(v) = std::env::var("SOAK_PHASE_SECS") {
            opts.phase = Duration::from_secs(
                v.parse()
                    .map_err(|_| format!("SOAK_PHASE_SECS={v:?} is not a whole number"))?,
            );
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                // Passed by `cargo bench` to every bench binary.
                "--bench" => {}
                "--quick" => {
                    opts.quick = true;
                    opts.phase = Duration::from_secs(2);
                    opts.detection_bound = Duration::from_secs(4);
                }
                "--write" => opts.write = true,
                "--phase-secs" => {
                    let v = value(a)?;
                    opts.phase = Duration::from_secs(
                        v.parse()
                            .map_err(|_| format!("--phase-secs {v:?} is not a whole number"))?,
                    );
                }
                "--rate" => {
                    let v = value(a)?;
                    opts.rate = v
                        .parse()
                        .map_err(|_| format!("--rate {v:?} is not a whole number"))?;
                }
                "--frame-rate" => {
                    let v = value(a)?;
                    opts.frame_rate = v
                        .parse()
                        .map_err(|_| format!("--frame-rate {v:?} is not a whole number"))?;
                }
                "--kinds" => {
                    let v = value(a)?;
                    opts.kinds = v
                        .split(',')
                        .map(|k| {
                            Kind::parse(k).ok_or_else(|| {
                                let known: Vec<_> = KINDS.iter().map(|k| k.name()).collect();
                                format!("unknown kind {k:?} (known: {})", known.join(", "))
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if opts.phase.is_zero() || opts.rate == 0 || opts.frame_rate == 0 {
            return Err("phase length and rates must be above zero".into());
        }
        Ok(opts)
    }
}

/// One phase's figures.
#[derive(Clone, Debug, Default)]
struct Phase {
    wall: Duration,
    rss_max_kb: u64,
    rss_end_kb: u64,
    cpu_pct: f64,
    /// The target's own figures.
    report: Report,
    /// Members known (live and tombstones) at most, live members at most,
    /// pending timers at most.
    members_max: usize,
    live_max: usize,
    timers_max: usize,
    /// From the kill of a helper to the target's `MemberDown` for it.
    detection: Option<Duration>,
    /// From the kill to the target's first `Unreachable` for it.
    suspected: Option<Duration>,
}

/// One kind's figures.
struct KindResult {
    kind: Kind,
    description: String,
    phases: [Phase; 3],
    /// Messages (or connections) the flood sent.
    sent: u64,
    /// Whether the target was still running at the end.
    survived: bool,
}

/// A child process of this bench: a node.
struct NodeProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    addr: SocketAddr,
}

impl NodeProc {
    fn spawn(name: &str, seed: Option<SocketAddr>) -> Result<NodeProc, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("node").arg(name);
        if let Some(s) = seed {
            cmd.arg(s.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| format!("{name} never said its address"))?;
        let addr = first
            .strip_prefix("addr ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{name}: unexpected first line {first:?}"))?;
        Ok(NodeProc {
            stdin: child.stdin.take(),
            child,
            lines,
            addr,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn tell(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}").map_err(|e| format!("telling the target {line:?}: {e}"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the target reports on its stdout.
enum Line {
    Up(SocketAddr),
    Unreachable(SocketAddr),
    Down(SocketAddr),
    Sample {
        members: usize,
        live: usize,
        timers: usize,
    },
    Report(Report),
    Other,
}

fn parse_line(line: &str) -> Line {
    let mut words = line.split_whitespace();
    match words.next() {
        Some("up") => words
            .next()
            .and_then(|a| a.parse().ok())
            .map_or(Line::Other, Line::Up),
        Some("unreachable") => words
            .next()
            .and_then(|a| a.parse().ok())
            .map_or(Line::Other, Line::Unreachable),
        Some("down") => words
            .next()
            .and_then(|a| a.parse().ok())
            .map_or(Line::Other, Line::Down),
        Some("sample") => {
            let n: Vec<usize> = words.filter_map(|w| w.parse().ok()).collect();
            match n[..] {
                [members, live, timers] => Line::Sample {
                    members,
                    live,
                    timers,
                },
                _ => Line::Other,
            }
        }
        Some("report") => {
            let words: Vec<&str> = words.collect();
            node::take_report(&words).map_or(Line::Other, Line::Report)
        }
        _ => Line::Other,
    }
}

/// RSS in kB and CPU time (user + system) in clock ticks of `pid`.
fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields
    // after its closing one (utime and stime are fields 14 and 15).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((rss, utime + stime))
}

/// Clock ticks per second (for `/proc/<pid>/stat`).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Runs one kind: a fresh cluster, then before, during and after.
fn run_kind(kind: Kind, opts: &Opts) -> Result<KindResult, String> {
    let mut target = NodeProc::spawn("target", None)?;
    let mut helpers = Vec::new();
    for i in 0..HELPERS {
        helpers.push(NodeProc::spawn(&format!("helper-{i}"), Some(target.addr))?);
    }
    // Every helper Up at the target.
    let mut up = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while helpers.iter().any(|h| !up.contains(&h.addr)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match target.lines.recv_timeout(left) {
            Ok(l) => {
                if let Line::Up(a) = parse_line(&l) {
                    up.insert(a);
                }
            }
            Err(_) => return Err("the helpers never all came up at the target".into()),
        }
    }
    target.tell("report setup")?;
    wait_report(&target)?;

    let ticks = clock_ticks();
    let mut phases: [Phase; 3] = Default::default();
    let mut sent = 0;
    for (i, name) in ["before", "during", "after"].into_iter().enumerate() {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let flood = (i == 1).then(|| {
            let (stop, count, to) = (stop.clone(), count.clone(), target.addr);
            let (rate, frame_rate) = (opts.rate, opts.frame_rate);
            std::thread::spawn(move || flood::run(kind, to, rate, frame_rate, &stop, &count))
        });
        let victim = helpers.remove(0);
        phases[i] = run_phase(&mut target, victim, opts.phase, opts.detection_bound, ticks)?;
        stop.store(true, Ordering::Relaxed);
        if let Some(f) = flood {
            if let Err(e) = f
                .join()
                .map_err(|_| "the flood thread panicked".to_string())?
            {
                eprintln!("soak: {}: flood: {e}", kind.name());
            }
        }
        sent += count.load(Ordering::Relaxed);
        if !target.alive() {
            eprintln!("soak: {}: the target exited during {name}", kind.name());
            return Ok(KindResult {
                kind,
                description: kind.describe(opts),
                phases,
                sent,
                survived: false,
            });
        }
        target.tell(&format!("report {name}"))?;
        phases[i].report = wait_report(&target)?;
        eprintln!(
            "soak:   {name}: rss max {} kB, cpu {:.0} %, datagram p99 {:?}, detection {:?}",
            phases[i].rss_max_kb,
            phases[i].cpu_pct,
            phases[i].report.datagram_p99,
            phases[i].detection
        );
    }
    let survived = target.alive();
    Ok(KindResult {
        kind,
        description: kind.describe(opts),
        phases,
        sent,
        survived,
    })
}

/// Waits for the target's answer to a `report` line.
fn wait_report(target: &NodeProc) -> Result<Report, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = target
            .lines
            .recv_timeout(left)
            .map_err(|_| "the target never reported".to_string())?;
        if let Line::Report(r) = parse_line(&line) {
            return Ok(r);
        }
    }
}

/// One phase: samples the target every 500 ms, kills `victim` a third of the
/// way in and waits (past the phase if need be, up to `bound`)
/// for the target to see it down.
fn run_phase(
    target: &mut NodeProc,
    mut victim: NodeProc,
    length: Duration,
    bound: Duration,
    ticks: f64,
) -> Result<Phase, String> {
    let start = Instant::now();
    let (_, cpu0) = proc_usage(target.pid()).ok_or("the target is gone")?;
    let mut phase = Phase::default();
    let kill_at = start + length / 3;
    let mut killed: Option<Instant> = None;
    let mut next_sample = start;
    loop {
        let now = Instant::now();
        if killed.is_none() && now >= kill_at {
            victim.kill();
            killed = Some(Instant::now());
        }
        let waiting = killed.is_some_and(|k| phase.detection.is_none() && k.elapsed() < bound);
        if now >= start + length && (killed.is_some() && !waiting) {
            break;
        }
        if now >= next_sample {
            if let Some((rss, _)) = proc_usage(target.pid()) {
                phase.rss_max_kb = phase.rss_max_kb.max(rss);
                phase.rss_end_kb = rss;
            }
            next_sample += Duration::from_millis(500);
        }
        // Past the phase's end (waiting for a detection) only the samples
        // wake this loop.
        let end = start + length;
        let wake = if now < end {
            next_sample.min(end)
        } else {
            next_sample
        }
        .max(Instant::now());
        match target.lines.recv_timeout(wake - Instant::now()) {
            Ok(line) => match parse_line(&line) {
                Line::Unreachable(a) if a == victim.addr => {
                    if let Some(k) = killed {
                        phase.suspected.get_or_insert(k.elapsed());
                    }
                }
                Line::Down(a) if a == victim.addr => {
                    if let Some(k) = killed {
                        phase.detection.get_or_insert(k.elapsed());
                    }
                }
                Line::Sample {
                    members,
                    live,
                    timers,
                } => {
                    phase.members_max = phase.members_max.max(members);
                    phase.live_max = phase.live_max.max(live);
                    phase.timers_max = phase.timers_max.max(timers);
                }
                _ => {}
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    phase.wall = start.elapsed();
    if let Some((rss, cpu1)) = proc_usage(target.pid()) {
        phase.rss_end_kb = rss;
        phase.rss_max_kb = phase.rss_max_kb.max(rss);
        phase.cpu_pct = (cpu1 - cpu0) as f64 / ticks / phase.wall.as_secs_f64() * 100.0;
    }
    Ok(phase)
}

/// The node mode: one `Cluster` in its own process.
mod node {
    use super::*;

    /// Runs a node: `node <name> [seed]`. Prints `addr <bound>`, then `up` /
    /// `down <addr>` for every member change, `sample <members> <live>
    /// <timers>` every second, and `report <encoded stats>` for every
    /// `report` line on stdin.
    pub(super) fn run(args: &[String]) {
        let name = args.first().cloned().unwrap_or_else(|| "node".into());
        let seed: Option<SocketAddr> = args.get(1).and_then(|s| s.parse().ok());
        let system = System::new();
        system.block_on(async move {
            let config = ClusterConfig::new(name, "127.0.0.1:0".parse().expect("an address"))
                .with_protocol(ProtocolConfig::lan())
                .with_cluster_name(CLUSTER);
            let cluster = match Cluster::start(config).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("soak node: cannot start: {e}");
                    std::process::exit(1);
                }
            };
            let me = cluster.send(GetSelf).await.expect("the cluster runs");
            println!("addr {}", me.bound);
            let printer = Printer.start();
            cluster.do_send(Subscribe {
                member_up: Some(printer.clone().recipient()),
                member_down: Some(printer.clone().recipient()),
                events: Some(printer.recipient()),
            });
            match seed {
                None => cluster.do_send(Form),
                Some(s) => cluster.do_send(Join(vec![s])),
            }
            let reporter = Reporter {
                cluster,
                mark: ClusterStats::default(),
            }
            .start();
            std::thread::spawn(move || {
                for line in std::io::stdin().lines() {
                    if line.is_err() {
                        break;
                    }
                    reporter.do_send(Ask);
                }
                // The bench is gone.
                std::process::exit(0);
            });
        });
        let _ = system.run();
    }

    struct Printer;

    impl Actor for Printer {
        type Context = Context<Self>;
    }

    impl Handler<MemberUp> for Printer {
        type Result = ();
        fn handle(&mut self, MemberUp(m): MemberUp, _: &mut Context<Self>) {
            println!("up {} {}", m.id.addr, m.id.name);
        }
    }

    impl Handler<ClusterEvent> for Printer {
        type Result = ();
        fn handle(&mut self, ClusterEvent(e): ClusterEvent, _: &mut Context<Self>) {
            if let Event::Unreachable(m) = e {
                if !m.id.name.starts_with("fake-") {
                    println!("unreachable {} {}", m.id.addr, m.id.name);
                }
            }
        }
    }

    impl Handler<MemberDown> for Printer {
        type Result = ();
        fn handle(&mut self, d: MemberDown, _: &mut Context<Self>) {
            println!(
                "down {} {} {:?}",
                d.member.id.addr, d.member.id.name, d.reason
            );
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Ask;

    struct Reporter {
        cluster: Addr<Cluster>,
        /// The stats at the last report.
        mark: ClusterStats,
    }

    impl Actor for Reporter {
        type Context = Context<Self>;

        fn started(&mut self, ctx: &mut Context<Self>) {
            ctx.run_interval(Duration::from_secs(1), |act, ctx| {
                let cluster = act.cluster.clone();
                ctx.spawn(
                    async move {
                        let (Ok(members), Ok(stats)) =
                            (cluster.send(GetMembers).await, cluster.send(GetStats).await)
                        else {
                            return;
                        };
                        let live = members
                            .iter()
                            .filter(|m| !matches!(m.status, Status::Down(_)))
                            .count();
                        println!("sample {} {} {}", members.len(), live, stats.pending_timers);
                    }
                    .into_actor(act),
                );
            });
        }
    }

    impl Handler<Ask> for Reporter {
        type Result = ResponseActFuture<Self, ()>;

        fn handle(&mut self, _: Ask, _: &mut Context<Self>) -> Self::Result {
            let cluster = self.cluster.clone();
            Box::pin(
                async move { cluster.send(GetStats).await.ok() }
                    .into_actor(self)
                    .map(|stats, act, _| {
                        if let Some(stats) = stats {
                            println!("report {}", put_report(&act.mark, &stats));
                            act.mark = stats;
                        }
                    }),
            )
        }
    }

    /// The figures of the interval from `from` to `to`, as numbers: the
    /// datagram handling count, p50, p99, max (ns), the frame handling count,
    /// p99, max (ns), then the counters of [`COUNTERS`] (differences).
    fn put_report(from: &ClusterStats, to: &ClusterStats) -> String {
        let d = to.datagram_handling.since(&from.datagram_handling);
        let f = to.frame_handling.since(&from.frame_handling);
        let ns = |x: Duration| x.as_nanos() as u64;
        let mut v = vec![
            d.count(),
            ns(d.p50()),
            ns(d.p99()),
            ns(d.max()),
            f.count(),
            ns(f.p99()),
            ns(f.max()),
        ];
        let (a, b) = (counters(from), counters(to));
        v.extend(a.iter().zip(&b).map(|(a, b)| b.saturating_sub(*a)));
        v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
    }

    /// The counters a report carries, in [`COUNTERS`] order.
    fn counters(s: &ClusterStats) -> [u64; COUNTERS.len()] {
        [
            s.protocol.messages_received,
            s.protocol.rejected_malformed,
            s.protocol.rejected_source,
            s.protocol.rejected_members_full,
            s.protocol.rejected_too_many_records,
            s.protocol.replies_withheld,
            s.protocol.suspicions_raised,
            s.transport.datagrams_received,
            s.transport.datagrams_sent,
            s.transport.connections_accepted,
            s.transport.connections_rejected,
            s.transport.connections_evicted,
            s.transport.frame_read_errors,
            s.transport.frames_received,
            s.transport.frames_sent,
            s.transport.frames_dropped,
        ]
    }

    /// What the counters of a report are, for the report's prose.
    pub(super) const COUNTERS: [&str; 16] = [
        "messages accepted",
        "malformed",
        "from the wrong source",
        "new members refused (table full)",
        "frames refused for too many records",
        "replies withheld (larger than the request)",
        "suspicions raised",
        "datagrams received",
        "datagrams sent",
        "connections accepted",
        "connections refused",
        "connections evicted",
        "frame read errors",
        "frames received",
        "frames sent",
        "frames dropped",
    ];

    /// Reads back what [`put_report`] wrote.
    pub(super) fn take_report(words: &[&str]) -> Option<Report> {
        let n: Vec<u64> = words
            .iter()
            .map(|w| w.parse().ok())
            .collect::<Option<_>>()?;
        if n.len() != 7 + COUNTERS.len() {
            return None;
        }
        let ns = Duration::from_nanos;
        Some(Report {
            datagrams: n[0],
            datagram_p50: ns(n[1]),
            datagram_p99: ns(n[2]),
            datagram_max: ns(n[3]),
            frames: n[4],
            frame_p99: ns(n[5]),
            frame_max: ns(n[6]),
            counters: n[7..].to_vec(),
        })
    }
}

/// The target's figures over one phase.
#[derive(Clone, Debug, Default)]
struct Report {
    datagrams: u64,
    datagram_p50: Duration,
    datagram_p99: Duration,
    datagram_max: Duration,
    frames: u64,
    frame_p99: Duration,
    frame_max: Duration,
    /// Differences of the counters named in `node::COUNTERS`.
    counters: Vec<u64>,
}

/// The forged messages, following `docs/PROTOCOL.md` section 8.
mod forge {
    use super::*;
    use actix_cluster_proto::{Command as CoreCommand, Core, LocalMember, MemberId};

    /// Records per frame of the TCP record flood.
    pub(super) const FRAME_RECORDS: usize = 4000;
    /// The most member records a push-pull or join ack may carry: the
    /// target's `max_members` (the `lan` default).
    pub(super) const RECORD_BOUND: usize = 16_384;
    /// Fake members of the health poisoning.
    pub(super) const POISON_MEMBERS: usize = 500;

    const KIND_PING: u8 = 1;
    const KIND_GOSSIP: u8 = 5;
    const KIND_JOIN_REQUEST: u8 = 6;
    const KIND_JOIN_ACK: u8 = 7;
    const KIND_PUSH_PULL: u8 = 8;
    const KIND_WHO_ARE_YOU: u8 = 9;

    /// A member id: name, IPv4 address, generation.
    #[derive(Clone, Debug)]
    pub(super) struct Id {
        pub(super) name: String,
        pub(super) addr: SocketAddr,
        pub(super) generation: u64,
    }

    /// The `n`-th fake member: its own loopback address (127.1.0.0 and up,
    /// where nobody listens), so that every one is a new member.
    pub(super) fn fake(n: u64) -> Id {
        let ip = Ipv4Addr::new(127, 1 + ((n >> 16) % 254) as u8, (n >> 8) as u8, n as u8);
        Id {
            name: format!("fake-{n}"),
            addr: SocketAddr::new(IpAddr::V4(ip), 7946),
            generation: 1_000 + n,
        }
    }

    /// Record statuses used here.
    #[derive(Clone, Copy)]
    pub(super) enum St {
        Joining,
        Up,
        DownFailed,
    }

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn put_id(out: &mut Vec<u8>, id: &Id) {
        out.push(id.name.len() as u8);
        out.extend_from_slice(id.name.as_bytes());
        match id.addr {
            SocketAddr::V4(a) => {
                out.push(4);
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.port().to_be_bytes());
            }
            SocketAddr::V6(_) => unreachable!("the forger uses IPv4 only"),
        }
        out.extend_from_slice(&id.generation.to_le_bytes());
    }

    /// A record without suspicion, roles or metadata.
    pub(super) fn record(out: &mut Vec<u8>, id: &Id, status: St, incarnation: u32, up: u64) {
        put_id(out, id);
        out.push(match status {
            St::Joining => 0,
            St::Up => 1,
            St::DownFailed => 3,
        });
        varint(out, u64::from(incarnation));
        varint(out, up);
        if !matches!(status, St::DownFailed) {
            out.push(0); // roles
            out.push(0); // metadata
        }
    }

    fn start(kind: u8, sender: &Id) -> Vec<u8> {
        let mut out = b"AC".to_vec();
        out.push(1); // version
        out.push(0); // plaintext
        out.push(CLUSTER.len() as u8);
        out.extend_from_slice(CLUSTER.as_bytes());
        out.push(kind);
        put_id(&mut out, sender);
        out
    }

    /// A gossip datagram: `records` (already encoded, `count` of them).
    pub(super) fn gossip(sender: &Id, count: u8, records: &[u8]) -> Vec<u8> {
        let mut out = start(KIND_GOSSIP, sender);
        out.push(count);
        out.extend_from_slice(records);
        out
    }

    /// A push-pull request or a join ack: a full-state frame.
    pub(super) fn full_state(join_ack: bool, sender: &Id, count: u64, records: &[u8]) -> Vec<u8> {
        let mut out = start(
            if join_ack {
                KIND_JOIN_ACK
            } else {
                KIND_PUSH_PULL
            },
            sender,
        );
        out.push(u8::from(join_ack)); // accepted / not a reply
        varint(&mut out, count);
        out.extend_from_slice(records);
        out
    }

    pub(super) fn who_are_you(sender: &Id) -> Vec<u8> {
        start(KIND_WHO_ARE_YOU, sender)
    }

    /// A ping for a generation the target does not have, no updates.
    pub(super) fn ping_other_generation(sender: &Id, seq: u32) -> Vec<u8> {
        let mut out = start(KIND_PING, sender);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        varint(&mut out, 0);
        out.push(0);
        out
    }

    /// A join request (a stream message, here sent as a datagram).
    pub(super) fn join_request(sender: &Id) -> Vec<u8> {
        let mut out = start(KIND_JOIN_REQUEST, sender);
        record(&mut out, sender, St::Joining, 0, 0);
        out
    }

    /// Feeds every forged kind to a real core and checks it is taken as
    /// intended (accepted, or rejected for the intended reason).
    pub(super) fn self_check() -> Result<(), String> {
        let target: SocketAddr = "127.0.0.1:7000".parse().expect("an address");
        let local = LocalMember {
            id: MemberId::new("check", target, 1),
            roles: Default::default(),
            metadata: Default::default(),
        };
        let config = ProtocolConfig {
            cluster_name: CLUSTER.into(),
            ..ProtocolConfig::lan()
        };
        let mut core = Core::new(local, config, 1).map_err(|e| e.to_string())?;
        let now = Duration::ZERO;
        core.handle_command(now, CoreCommand::Form);
        let from: SocketAddr = "127.0.0.1:7001".parse().expect("an address");
        let sender = Id {
            name: "flooder".into(),
            addr: from,
            generation: 1,
        };
        let mut recs = Vec::new();
        record(&mut recs, &fake(1), St::Up, 0, 1);
        record(&mut recs, &fake(2), St::DownFailed, 0, 0);
        let before = core.members().len();
        core.handle_datagram(now, from, &gossip(&sender, 2, &recs));
        let s = core.stats().clone();
        if s.rejected_malformed != 0 || s.messages_received != 1 {
            return Err(format!("gossip: {s:?}"));
        }
        if core.members().len() != before + 2 {
            return Err(format!("gossip added {:?}", core.members()));
        }
        let mut recs = Vec::new();
        record(&mut recs, &fake(3), St::Up, 0, 2);
        record(&mut recs, &fake(4), St::DownFailed, 0, 0);
        core.handle_stream(now, from, &full_state(false, &sender, 2, &recs));
        core.handle_stream(now, from, &full_state(true, &sender, 2, &recs));
        core.handle_datagram(now, from, &who_are_you(&sender));
        core.handle_datagram(now, from, &ping_other_generation(&sender, 1));
        let s = core.stats().clone();
        if s.rejected_malformed != 0 || s.messages_received != 5 {
            return Err(format!("full state, who-are-you, ping: {s:?}"));
        }
        if core.members().len() != before + 4 {
            return Err(format!("full state added {:?}", core.members()));
        }
        if RECORD_BOUND != ProtocolConfig::lan().max_members {
            return Err("RECORD_BOUND is not the lan preset's max_members".into());
        }
        let over = |n: u64| {
            let mut recs = Vec::new();
            for i in 0..n {
                record(&mut recs, &fake(100 + i), St::DownFailed, 0, 0);
            }
            full_state(false, &sender, n, &recs)
        };
        core.handle_stream(now, from, &over(RECORD_BOUND as u64 + 1));
        if core.stats().rejected_too_many_records != 1 {
            return Err(format!(
                "a frame of {} records was not refused: {:?}",
                RECORD_BOUND + 1,
                core.stats()
            ));
        }
        core.handle_datagram(now, from, &join_request(&sender));
        if core.stats().rejected_malformed != 1 {
            return Err("a join request as a datagram was not rejected".into());
        }
        let spoofed = Id {
            addr: "127.0.0.1:9".parse().expect("an address"),
            ..sender
        };
        core.handle_datagram(now, from, &who_are_you(&spoofed));
        if core.stats().rejected_source != 1 {
            return Err("a spoofed sender was not rejected".into());
        }
        Ok(())
    }
}

/// The floods.
mod flood {
    use super::forge::{self, fake, record, Id, St};
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Connections of the slot exhaustion.
    pub(super) const SLOT_CONNECTIONS: usize = 160;

    /// Floods `to` with `kind` until `stop`, counting what it sent.
    pub(super) fn run(
        kind: Kind,
        to: SocketAddr,
        rate: u32,
        frame_rate: u32,
        stop: &AtomicBool,
        count: &AtomicU64,
    ) -> Result<(), String> {
        match kind {
            Kind::UdpRecords => udp(to, rate, stop, count, records_datagram),
            Kind::UdpRequests => udp(to, rate, stop, count, request_datagram),
            Kind::TcpRecords => tcp_records(to, frame_rate, stop, count),
            Kind::HealthPoison => health_poison(to, stop, count),
            Kind::SlotExhaustion => slots(to, stop, count),
        }
    }

    /// Calls `send` `rate` times a second, in batches every 10 ms.
    fn paced(
        rate: u32,
        stop: &AtomicBool,
        mut send: impl FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        let start = Instant::now();
        let mut done: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
            while done < due {
                send()?;
                done += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// A UDP flood from one socket of the datagrams `make` builds.
    fn udp(
        to: SocketAddr,
        rate: u32,
        stop: &AtomicBool,
        count: &AtomicU64,
        make: fn(&Id, u64) -> Vec<u8>,
    ) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let from = socket.local_addr().map_err(|e| e.to_string())?;
        let me = Id {
            name: "flooder".into(),
            addr: from,
            generation: 1,
        };
        let mut n = 0u64;
        paced(rate, stop, || {
            n += 1;
            let d = make(&me, n);
            // A full receive buffer drops some: that is the flood.
            let _ = socket.send_to(&d, to);
            count.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }

    /// Datagram `n` of the record flood: as many new records as fit, fake
    /// `Up` members in odd datagrams, tombstones in even ones.
    fn records_datagram(me: &Id, n: u64) -> Vec<u8> {
        let mut recs = Vec::new();
        let mut count = 0u8;
        let mut next = n * 64;
        while recs.len() + 40 < 1400 - 60 && count < 255 {
            let status = if n % 2 == 1 { St::Up } else { St::DownFailed };
            record(&mut recs, &fake(next), status, 0, next);
            next += 1;
            count += 1;
        }
        forge::gossip(me, count, &recs)
    }

    /// Datagram `n` of the request flood: who-are-you from a new sender at
    /// our address, a ping for another generation, a who-are-you naming a
    /// spoofed sender, a join request as a datagram.
    fn request_datagram(me: &Id, n: u64) -> Vec<u8> {
        let fresh = Id {
            name: format!("asker-{n}"),
            addr: me.addr,
            generation: 10 + n,
        };
        match n % 4 {
            0 => forge::who_are_you(&fresh),
            1 => forge::ping_other_generation(&fresh, n as u32),
            2 => forge::who_are_you(&Id {
                addr: "127.0.0.1:9".parse().expect("an address"),
                ..fresh
            }),
            _ => forge::join_request(&fresh),
        }
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// The TCP sender: at 127.0.0.1 (a stream is accepted from the sender's
    /// host), on a port where nobody listens (the answers are refused).
    fn tcp_sender(name: &str) -> Id {
        Id {
            name: name.into(),
            addr: "127.0.0.1:9".parse().expect("an address"),
            generation: 1,
        }
    }

    /// Writes frames from `make` to `to`, reconnecting when the connection
    /// is closed, `rate` frames a second.
    fn frames(
        to: SocketAddr,
        rate: u32,
        stop: &AtomicBool,
        count: &AtomicU64,
        mut make: impl FnMut(u64) -> Vec<u8>,
    ) -> Result<(), String> {
        let mut conn: Option<std::net::TcpStream> = None;
        let mut n = 0u64;
        paced(rate, stop, || {
            n += 1;
            let frame = framed(&make(n));
            if conn.is_none() {
                conn = std::net::TcpStream::connect(to).ok();
            }
            if let Some(c) = conn.as_mut() {
                if c.write_all(&frame).is_err() {
                    conn = None;
                }
            }
            count.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }

    fn tcp_records(
        to: SocketAddr,
        rate: u32,
        stop: &AtomicBool,
        count: &AtomicU64,
    ) -> Result<(), String> {
        let me = tcp_sender("flooder-tcp");
        frames(to, rate, stop, count, |n| {
            // Fake `Up` members, tombstones, then the record bound exactly
            // and one record over it.
            let (join_ack, status, records) = match n % 4 {
                0 => (false, St::Up, forge::FRAME_RECORDS),
                1 => (true, St::DownFailed, forge::FRAME_RECORDS),
                2 => (false, St::Up, forge::RECORD_BOUND),
                _ => (false, St::Up, forge::RECORD_BOUND + 1),
            };
            let mut recs = Vec::with_capacity(records * 32);
            let base = 1_000_000 + n * forge::RECORD_BOUND as u64 + n;
            for i in 0..records as u64 {
                record(&mut recs, &fake(base + i), status, 0, base + i);
            }
            forge::full_state(join_ack, &me, records as u64, &recs)
        })
    }

    fn health_poison(to: SocketAddr, stop: &AtomicBool, count: &AtomicU64) -> Result<(), String> {
        let me = tcp_sender("flooder-poison");
        frames(to, 5, stop, count, |n| {
            let mut recs = Vec::new();
            for i in 0..forge::POISON_MEMBERS as u64 {
                // Ever higher incarnations refute any suspicion of them.
                record(&mut recs, &fake(5_000_000 + i), St::Up, n as u32, 1 + i);
            }
            forge::full_state(false, &me, forge::POISON_MEMBERS as u64, &recs)
        })
    }

    /// Connections from 127.0.2.x and up, each holding two bytes of a
    /// length prefix until the target closes it, then reconnecting.
    fn slots(to: SocketAddr, stop: &AtomicBool, count: &AtomicU64) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let stop_flag = Arc::new(AtomicBool::new(false));
            let opened = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for i in 0..SLOT_CONNECTIONS {
                let ip = IpAddr::V4(Ipv4Addr::new(
                    127,
                    0,
                    2 + (i / 200) as u8,
                    2 + (i % 200) as u8,
                ));
                let (stop_flag, opened) = (stop_flag.clone(), opened.clone());
                tasks.push(tokio::spawn(async move {
                    while !stop_flag.load(Ordering::Relaxed) {
                        let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
                            return;
                        };
                        if socket.bind(SocketAddr::new(ip, 0)).is_err() {
                            return;
                        }
                        let Ok(mut s) = socket.connect(to).await else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        opened.fetch_add(1, Ordering::Relaxed);
                        let _ = s.write_all(&[0, 0]).await;
                        let mut buf = [0u8; 16];
                        // Held until the target closes it (or the flood ends).
                        loop {
                            let read =
                                tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf));
                            match read.await {
                                Ok(Ok(0)) | Ok(Err(_)) => break,
                                Ok(Ok(_)) => {}
                                Err(_) if stop_flag.load(Ordering::Relaxed) => break,
                                Err(_) => {}
                            }
                        }
                    }
                }));
            }
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stop_flag.store(true, Ordering::Relaxed);
            for t in tasks {
                let _ = t.await;
            }
            count.store(opened.load(Ordering::Relaxed), Ordering::Relaxed);
        });
        Ok(())
    }
}

/// The markdown report.
mod report {
    use super::*;

    fn mb(kb: u64) -> String {
        format!("{:.1}", kb as f64 / 1024.0)
    }

    fn us(d: Duration) -> String {
        format!("{:.0}", d.as_secs_f64() * 1e6)
    }

    fn secs(d: Option<Duration>, bound: Duration) -> String {
        d.map_or(format!("not within {} s", bound.as_secs()), |d| {
            format!("{:.2} s", d.as_secs_f64())
        })
    }

    /// The RSS goal.
    const RSS_GOAL_KB: u64 = 64 * 1024;
    /// The datagram handling p99 goal.
    const P99_GOAL: Duration = Duration::from_millis(1);

    /// Whether the detection during and after the flood is within the rule
    /// for "unchanged": at most 1.5 times the one before plus 0.5 s.
    fn unchanged(before: Option<Duration>, other: Option<Duration>) -> bool {
        match (before, other) {
            (Some(b), Some(o)) => o <= b.mul_f64(1.5) + Duration::from_millis(500),
            _ => false,
        }
    }

    pub(super) fn markdown(opts: &Opts, results: &[KindResult]) -> String {
        let mut out = String::new();
        let cmd = if opts.quick {
            "cargo bench -p actix-cluster --bench soak -- --quick".to_string()
        } else {
            format!(
                "cargo bench -p actix-cluster --bench soak -- --phase-secs {} --rate {} --frame-rate {} --write",
                opts.phase.as_secs(),
                opts.rate,
                opts.frame_rate
            )
        };
        out.push_str("## Soak under floods\n\n");
        out.push_str(&format!(
            "Produced by `{cmd}` (release build). Per flood kind a fresh plaintext cluster \
             (no keys, the worst case; the `lan` preset) of one target and {HELPERS} helpers, \
             each its own process on 127.0.0.1; phases of {} s: before (quiet), during (the \
             flood), after (quiet). In each phase one helper is killed (SIGKILL) a third of the \
             way in and the target's first `Unreachable` (suspicion) and its `MemberDown` \
             (the downing decision) for it are timed. RSS (`VmRSS`) and CPU \
             (`utime + stime`) are the target process's own; handling latency is the \
             `Cluster` actor's own `ClusterStats::datagram_handling` (and `frame_handling`) \
             over the phase, from the handler's entry to the end of the core's processing and \
             of sending its outputs. Members is the most the target knew (live and \
             tombstones; live in parentheses), timers its pending protocol timers at most. \
             The flooder runs on the same 2-core machine as the five nodes.\n\n",
            opts.phase.as_secs()
        ));
        out.push_str(
            "Goals (issue 12): RSS under 64 MB, datagram handling p99 under 1 ms, crash \
             detection unchanged (here: during and after at most 1.5 × before + 0.5 s).\n\n",
        );
        for r in results {
            out.push_str(&format!("### {}\n\n{}.\n\n", r.kind.name(), r.description));
            out.push_str(&format!(
                "The flood sent {} {} in {:.0} s.{}\n\n",
                r.sent,
                if r.kind == Kind::SlotExhaustion {
                    "connections"
                } else {
                    "messages"
                },
                r.phases[1].wall.as_secs_f64(),
                if r.survived {
                    ""
                } else {
                    " **The target process exited.**"
                }
            ));
            out.push_str(
                "| phase | RSS max / end (MB) | CPU % | datagrams handled | datagram p50 / p99 / max (µs) | frames handled | frame p99 / max (µs) | members (live) max | timers max | crash: unreachable / down |\n\
                 |---|---|---|---|---|---|---|---|---|---|\n",
            );
            for (name, p) in ["before", "during", "after"].iter().zip(&r.phases) {
                out.push_str(&format!(
                    "| {name} | {} / {} | {:.0} | {} | {} / {} / {} | {} | {} / {} | {} ({}) | {} | {} / {} |\n",
                    mb(p.rss_max_kb),
                    mb(p.rss_end_kb),
                    p.cpu_pct,
                    p.report.datagrams,
                    us(p.report.datagram_p50),
                    us(p.report.datagram_p99),
                    us(p.report.datagram_max),
                    p.report.frames,
                    us(p.report.frame_p99),
                    us(p.report.frame_max),
                    p.members_max,
                    p.live_max,
                    p.timers_max,
                    secs(p.suspected, opts.detection_bound),
                    secs(p.detection, opts.detection_bound),
                ));
            }
            let counted: Vec<String> = node::COUNTERS
                .iter()
                .zip(&r.phases[1].report.counters)
                .map(|(name, n)| format!("{n} {name}"))
                .collect();
            out.push_str(&format!(
                "\nDuring the flood the target counted: {}.\n",
                counted.join(", ")
            ));
            let rss = r.phases.iter().map(|p| p.rss_max_kb).max().unwrap_or(0);
            let p99 = r
                .phases
                .iter()
                .map(|p| p.report.datagram_p99)
                .max()
                .unwrap_or_default();
            let det = [1, 2]
                .iter()
                .all(|&i| unchanged(r.phases[0].detection, r.phases[i].detection));
            out.push_str(&format!(
                "\nGoals: RSS < 64 MB {} ({} MB at most); datagram p99 < 1 ms {} ({} µs at \
                 most); crash detection unchanged {} ({} before, {} during, {} after).\n\n",
                if rss < RSS_GOAL_KB {
                    "met"
                } else {
                    "**missed**"
                },
                mb(rss),
                if p99 < P99_GOAL { "met" } else { "**missed**" },
                us(p99),
                if det { "met" } else { "**missed**" },
                secs(r.phases[0].detection, opts.detection_bound),
                secs(r.phases[1].detection, opts.detection_bound),
                secs(r.phases[2].detection, opts.detection_bound),
            ));
        }
        out
    }
}
