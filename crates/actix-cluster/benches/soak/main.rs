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

mod flood;
mod forge;
mod node;
mod phases;
mod procs;
mod report;

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
        match phases::run_kind(kind, &opts) {
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
