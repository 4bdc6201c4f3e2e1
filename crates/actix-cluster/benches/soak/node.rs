//! The node mode: one `Cluster` in its own process.

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
