//! The fault tier: real faults on real processes. Five `cluster-monitor` nodes
//! (lan preset) and a 3-member etcd, each in its own network namespace; the
//! scenarios run one after the other on one topology (the nodes are restarted
//! between scenarios), each recorded and judged by the history checker
//! (`actix_cluster_tests::fault::checker`).
//!
//! Needs root, `ip`, `nft`, `etcd` and `etcdctl`; skips with a message
//! otherwise. Run alone:
//!
//! ```sh
//! sudo -E cargo test -p actix-cluster-tests --test fault_tier -- --nocapture
//! ACF_SCENARIOS=crash,pause-3s ...   # only these
//! ACF_SEED=42 ...                    # the mix scenario's seed
//! ACF_WRITE_DOCS=1 ...               # a full run rewrites docs/FAULTS.md
//! ```
//!
//! The report goes to `<target dir>/FAULTS.md`; only a full run with
//! `ACF_WRITE_DOCS=1` writes the tracked `docs/FAULTS.md`.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use actix_cluster_tests::etcd::repo_root;
use actix_cluster_tests::fault::checker::{self, Bounds, Report, Violation};
use actix_cluster_tests::fault::cluster::{
    Cluster, ETCDS, LEASE_TTL, NODES, PAUSE_BOUND, RECOVERY_BOUND,
};
use actix_cluster_tests::fault::{hard_cases, net, singleton};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// An expected failure: the defect (an open issue) and the rules its
/// violation breaks. It counts only if the scenario breaks some of these rules
/// and no other; one that passes fails the run. No scenario is marked today
/// (the issue #9 defects the marks named are fixed); the mechanism stays for
/// the next known defect.
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct Xfail {
    defect: &'static str,
    rules: &'static [&'static str],
}

fn never() -> Option<Xfail> {
    None
}

/// One scenario: what it does, its body (returns its own figures), and
/// whether it is an expected failure.
struct Scenario {
    name: &'static str,
    does: &'static str,
    run: fn(&mut Cluster) -> Vec<String>,
    xfail: fn() -> Option<Xfail>,
}

fn secs(d: f64) -> String {
    format!("{d:.1} s")
}

fn secs2(d: f64) -> String {
    format!("{d:.2} s")
}

fn recovery(c: &mut Cluster) -> String {
    match c.recover() {
        Ok(s) => format!("recovered in {}", secs(s)),
        Err(v) => format!(
            "not recovered within {}s ({} problems)",
            RECOVERY_BOUND.as_secs(),
            v.len()
        ),
    }
}

fn hold(d: Duration) {
    // A fault's duration, not a synchronisation.
    std::thread::sleep(d);
}

fn convergence(_: &mut Cluster) -> Vec<String> {
    vec![]
}

fn crash(c: &mut Cluster) -> Vec<String> {
    let id = c.self_id(5);
    c.crash(5);
    let bound = Duration::from_secs_f64(Bounds::default().crash_down + 1.0);
    let all = c.wait_down_everywhere(&id, bound);
    c.start_node(5);
    vec![format!("n5 down everywhere: {all}"), recovery(c)]
}

fn leave(c: &mut Cluster) -> Vec<String> {
    let id = c.id(4);
    let t = Instant::now();
    c.leave(4, 1);
    let all = c.wait_down_everywhere(&id, Duration::from_secs(15));
    let left = t.elapsed().as_secs_f64();
    c.start_node(4);
    vec![
        format!("n4 left, shown down everywhere: {all} after {}", secs(left)),
        recovery(c),
    ]
}

/// Heals the partition and measures how long until every node shows every
/// node Up and reachable under its current id.
fn heal_and_time(c: &mut Cluster) -> Vec<String> {
    let healed = Instant::now();
    let dropped = c.heal_partition();
    let all_up = match c.wait_all_up(healed, RECOVERY_BOUND) {
        Some(s) => format!("heal -> all {NODES} see all {NODES} Up: {}", secs2(s)),
        None => format!("heal -> all Up: not within {} s", RECOVERY_BOUND.as_secs()),
    };
    vec![format!("{dropped} packets dropped"), all_up, recovery(c)]
}

fn partition(c: &mut Cluster) -> Vec<String> {
    let minority: Vec<(String, String)> = [4, 5].map(|i| (format!("n{i}"), c.self_id(i))).into();
    let from = c.now();
    c.partition(&[vec![1, 2, 3], vec![4, 5]]);
    hold(Duration::from_secs(20));
    let majority = [1, 2, 3].map(|i| format!("n{i}"));
    let m = hard_cases::minority_figures(&c.observed(), from, &majority, &minority);
    let mut figures = vec![m.line()];
    figures.extend(heal_and_time(c));
    figures
}

fn isolate(c: &mut Cluster) -> Vec<String> {
    c.partition(&[vec![1, 2, 3, 4], vec![5]]);
    hold(Duration::from_secs(20));
    heal_and_time(c)
}

fn one_way(c: &mut Cluster) -> Vec<String> {
    c.cut_one_way(1, 5);
    hold(Duration::from_secs(20));
    let dropped = c.heal_partition();
    vec![format!("{dropped} packets dropped"), recovery(c)]
}

/// n5 loses its inbound traffic from the nodes for 20 s, twice: the others
/// must down exactly n5 (the figure: how long until all of them show it
/// down), and n5 must not down them.
fn inbound_cut(c: &mut Cluster) -> Vec<String> {
    let mut figures = Vec::new();
    for k in 1..=2 {
        let id = c.self_id(5);
        let t = Instant::now();
        c.cut_inbound(5);
        let all = c.wait_down_everywhere(&id, Duration::from_secs(20));
        let downed = t.elapsed().as_secs_f64();
        hold(Duration::from_secs(20).saturating_sub(t.elapsed()));
        let dropped = c.heal_partition();
        figures.push(if all {
            format!(
                "cut {k}: n5 shown down by every other node after {}",
                secs(downed)
            )
        } else {
            format!("cut {k}: n5 not shown down everywhere within 20 s")
        });
        figures.push(format!("{dropped} packets dropped"));
        figures.push(recovery(c));
    }
    figures
}

fn lossy(c: &mut Cluster, pct: u32) -> Vec<String> {
    let all: Vec<usize> = (1..=NODES).collect();
    c.loss(&all, pct);
    hold(Duration::from_secs(60));
    let dropped = c.heal_network();
    vec![format!("{dropped} packets dropped"), recovery(c)]
}

/// n5 loses `pct`% of everything it exchanges with the nodes and etcd for
/// 30 s. At 10% nobody may be downed (the checker's rules). At 80% every
/// other node must show it down within 10 s: flap memory (on in lan) downs
/// a member that keeps refuting fresh suspicions, deciding on a node in good
/// local health (in the simulator at 5 members: within 10 s in 40 of 40
/// seeds, 9.4 s at most in 100; here 6.6 to 7.6 s in seven runs). Nobody else
/// may be downed either way. The fault is healed before a miss fails the
/// scenario, so the next one starts clean.
fn node_loss(c: &mut Cluster, pct: u32) -> Vec<String> {
    let id = c.self_id(5);
    let t = Instant::now();
    c.node_loss(5, pct, pct >= 50);
    let mut downed = None;
    if pct >= 50 {
        let all = c.wait_down_everywhere(&id, Duration::from_secs(10));
        downed = Some((all, t.elapsed().as_secs_f64()));
    }
    hold(Duration::from_secs(30).saturating_sub(t.elapsed()));
    let dropped = c.heal_partition();
    let mut figures = vec![format!("{dropped} packets dropped"), recovery(c)];
    if let Some((all, after)) = downed {
        assert!(
            all,
            "n5 not shown down by every other node within 10 s ({})",
            figures.join("; ")
        );
        figures.insert(
            0,
            format!("n5 shown down by every other node after {}", secs(after)),
        );
    }
    figures
}

fn node_loss_80(c: &mut Cluster) -> Vec<String> {
    node_loss(c, 80)
}

fn node_loss_10(c: &mut Cluster) -> Vec<String> {
    node_loss(c, 10)
}

fn loss_10(c: &mut Cluster) -> Vec<String> {
    lossy(c, 10)
}

fn loss_25(c: &mut Cluster) -> Vec<String> {
    lossy(c, 25)
}

/// Most pauses of one pause scenario.
const PAUSES: usize = 8;

/// Pauses n5 for `ms`, up to [`PAUSES`] times, until one pause gets it shown
/// down: whether a pause near the suspicion timeout gets a member downed
/// depends on where the probes fall, so one pause alone would expose the
/// defect only sometimes (run 4 of docs/FAULTS.md; 4 of the first 7 pauses of
/// 1.5 s got n5 downed, so 8 pauses all pass by chance about once in 1000).
fn paused(c: &mut Cluster, ms: u64) -> Vec<String> {
    let id = c.id(5);
    let mut figures = Vec::new();
    for k in 1..=PAUSES {
        c.pause(5, Duration::from_millis(ms));
        let rec = recovery(c);
        let shown_down = c.observed().showed_down(None, &id);
        figures.push(format!("pause {k}: {rec}"));
        if shown_down {
            figures.push(format!("n5 shown down after pause {k}"));
            break;
        }
    }
    figures
}

fn pause_1500(c: &mut Cluster) -> Vec<String> {
    paused(c, 1500)
}

fn pause_3000(c: &mut Cluster) -> Vec<String> {
    paused(c, 3000)
}

fn pause_8000(c: &mut Cluster) -> Vec<String> {
    paused(c, 8000)
}

fn etcd_stopped(c: &mut Cluster) -> Vec<String> {
    c.stop_etcd(Duration::from_secs(20));
    vec![recovery(c)]
}

fn etcd_leader(c: &mut Cluster) -> Vec<String> {
    let (old, elected) = c.kill_etcd_leader();
    vec![
        format!(
            "killed etcd leader e{old}, new leader after {}",
            secs(elected)
        ),
        recovery(c),
    ]
}

/// One fault of the mix.
#[derive(Clone, Debug)]
enum Op {
    /// Majority, minority, seconds.
    Partition(Vec<usize>, Vec<usize>, u64),
    /// Node, seconds.
    Isolate(usize, u64),
    /// 25% loss on every link, seconds.
    Loss(u64),
    /// Node, milliseconds.
    Pause(usize, u64),
    /// SIGKILL, shown down everywhere, restart.
    Crash(usize),
    /// Every etcd member stopped, seconds.
    EtcdStop(u64),
}

/// Faults in the mix: with holds of 5 to 12 s and recoveries of at most
/// RECOVERY_BOUND, the mix takes at most about 4 minutes.
const MIX_FAULTS: usize = 5;

/// The mix's seed: `ACF_SEED`, or one from the clock (printed either way).
fn mix_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        std::env::var("ACF_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64 % 1_000_000)
                    .unwrap_or(1)
            })
    })
}

/// The mix's faults, drawn from the seed alone.
fn mix_plan(seed: u64) -> Vec<Op> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..MIX_FAULTS)
        .map(|_| {
            let len = rng.gen_range(5..=12);
            let mut nodes: Vec<usize> = (1..=NODES).collect();
            for i in (1..nodes.len()).rev() {
                nodes.swap(i, rng.gen_range(0..=i));
            }
            match rng.gen_range(0..6) {
                0 => {
                    let k = rng.gen_range(1..=2);
                    Op::Partition(nodes[k..].to_vec(), nodes[..k].to_vec(), len)
                }
                1 => Op::Isolate(nodes[0], len),
                2 => Op::Loss(len),
                3 => Op::Pause(nodes[0], [3000, 6000][rng.gen_range(0..2)]),
                4 => Op::Crash(nodes[0]),
                _ => Op::EtcdStop(len),
            }
        })
        .collect()
}

fn mix(c: &mut Cluster) -> Vec<String> {
    let seed = mix_seed();
    println!("fault tier: mix seed {seed} (ACF_SEED={seed} repeats its plan)");
    let mut done = Vec::new();
    let mut unrecovered = 0;
    for op in mix_plan(seed) {
        let secs_of = Duration::from_secs;
        match &op {
            Op::Partition(majority, minority, s) => {
                c.partition(&[majority.clone(), minority.clone()]);
                hold(secs_of(*s));
                c.heal_partition();
            }
            Op::Isolate(n, s) => {
                let rest: Vec<usize> = (1..=NODES).filter(|k| k != n).collect();
                c.partition(&[rest, vec![*n]]);
                hold(secs_of(*s));
                c.heal_partition();
            }
            Op::Loss(s) => {
                let all: Vec<usize> = (1..=NODES).collect();
                c.loss(&all, 25);
                hold(secs_of(*s));
                c.heal_network();
            }
            Op::Pause(n, ms) => c.pause(*n, Duration::from_millis(*ms)),
            Op::Crash(n) => {
                let id = c.self_id(*n);
                c.crash(*n);
                let bound = Duration::from_secs_f64(Bounds::default().crash_down + 1.0);
                c.wait_down_everywhere(&id, bound);
                c.start_node(*n);
            }
            Op::EtcdStop(s) => c.stop_etcd(secs_of(*s)),
        }
        if c.recover().is_err() {
            unrecovered += 1;
        }
        done.push(format!("{op:?}"));
    }
    vec![
        format!("seed {seed}"),
        format!("faults: {}", done.join(", ")),
        format!(
            "{unrecovered} not recovered within {}s",
            RECOVERY_BOUND.as_secs()
        ),
    ]
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "convergence",
            does: "five nodes started at once form one cluster",
            run: convergence,
            xfail: never,
        },
        Scenario {
            name: "crash",
            does: "n5 killed (SIGKILL), shown down everywhere, restarted as a new member",
            run: crash,
            xfail: never,
        },
        Scenario {
            name: "leave",
            does: "n4 asked to leave through n1's API, then restarted",
            run: leave,
            xfail: never,
        },
        Scenario {
            name: "partition-3-2",
            does: "{n1,n2,n3,etcd} | {n4,n5} for 20 s (etcd cut from the minority), healed",
            run: partition,
            xfail: never,
        },
        Scenario {
            name: "isolate",
            does: "n5 cut from every node and etcd for 20 s, healed",
            run: isolate,
            xfail: never,
        },
        Scenario {
            name: "one-way",
            does: "n5 drops everything from n1 (n1 still hears n5) for 20 s, healed",
            run: one_way,
            xfail: never,
        },
        Scenario {
            name: "inbound-cut",
            does: "n5 receives nothing from the other nodes (it still sends, and reaches etcd) for 20 s, healed; twice",
            run: inbound_cut,
            xfail: never,
        },
        Scenario {
            name: "loss-10",
            does: "10% of packets between nodes dropped at random on every link, 60 s",
            run: loss_10,
            xfail: never,
        },
        Scenario {
            name: "loss-25",
            does: "25% of packets between nodes dropped at random on every link, 60 s",
            run: loss_25,
            xfail: never,
        },
        Scenario {
            name: "node-loss-80",
            does: "n5 loses 80% of what it exchanges with the nodes and etcd (nftables numgen) for 30 s: shown down by every other node within 10 s, nobody else downed",
            run: node_loss_80,
            xfail: never,
        },
        Scenario {
            name: "node-loss-10",
            does: "n5 loses 10% of what it exchanges with the nodes and etcd for 30 s: nobody downed",
            run: node_loss_10,
            xfail: never,
        },
        Scenario {
            name: "pause-1.5s",
            does: "n5 SIGSTOPped for 1.5 s, up to 8 times until it is shown down (within the pause bound: must stay a member)",
            run: pause_1500,
            xfail: never,
        },
        Scenario {
            name: "pause-3s",
            does: "n5 SIGSTOPped for 3 s, up to 8 times until it is shown down (within the pause bound: must stay a member)",
            run: pause_3000,
            xfail: never,
        },
        Scenario {
            name: "pause-8s",
            does: "n5 SIGSTOPped for 8 s, up to 8 times until it is shown down (beyond the bound: may be downed, must come back)",
            run: pause_8000,
            xfail: never,
        },
        Scenario {
            name: "singleton-isolate",
            does: "the node running the ticker singleton cut off alone from every node and etcd for 20 s, healed",
            run: singleton::isolate_host,
            xfail: never,
        },
        Scenario {
            name: "singleton-pause",
            does: "the node running the ticker singleton SIGSTOPped for 8 s (beyond the pause bound)",
            run: singleton::pause_host,
            xfail: never,
        },
        Scenario {
            name: "etcd-stopped",
            does: "every etcd member SIGSTOPped for 20 s",
            run: etcd_stopped,
            xfail: never,
        },
        Scenario {
            name: "etcd-leader",
            does: "the 3-member etcd's leader killed (SIGKILL), a new one elected, the old one restarted",
            run: etcd_leader,
            xfail: never,
        },
        Scenario {
            name: "mix",
            does: "a seeded random nemesis for about two minutes: partitions, isolation, 25% loss, pauses, crashes, etcd stops",
            run: mix,
            xfail: never,
        },
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Pass,
    /// Failed as expected.
    XFail,
    /// An expected failure that passed: fails the run.
    XPass,
    Fail,
}

struct Outcome {
    name: &'static str,
    does: &'static str,
    xfail: Option<Xfail>,
    verdict: Verdict,
    figures: Vec<String>,
    report: Report,
    harness: Option<String>,
    wall: f64,
}

fn describe(v: &Violation) -> String {
    match v {
        Violation::FalseDown { member, by, t } => format!("{member} shown down by {by} at {t:.1}s"),
        Violation::CrashNotDown { member, observer } => {
            format!("{observer} never showed {member} down")
        }
        Violation::TwoLeaders { t, leaders } => format!("leaders {leaders:?} at {t:.1}s"),
        Violation::NoAnswer { node } => format!("{node} gave no answer"),
        Violation::NotReady { node, status } => format!("{node} /readyz {status}"),
        Violation::StaleSelf {
            node,
            self_id,
            live_id,
        } => {
            format!(
                "{node} self {self_id}, known as {}",
                live_id.as_deref().unwrap_or("nothing agreed")
            )
        }
        Violation::WrongView { node, detail } => format!("{node}: {detail}"),
        Violation::FencedView { node, t, shown } => {
            format!("{node}, fenced and alone, showed {shown:?} Up and reachable at {t:.1}s")
        }
        Violation::TerminatedNotDown {
            node,
            member,
            reason,
            t,
        } => format!("{node} showed {member}'s actor terminated ({reason}) at {t:.1}s, not down"),
        Violation::TerminatedTwice { node, member, t } => {
            format!("{node} showed {member}'s actor terminated a second time at {t:.1}s")
        }
        Violation::Listing { node, detail } => format!("{node}'s ping listing {detail}"),
        Violation::SingletonTwice { t, nodes } => {
            format!("{nodes:?} both ran the ticker at {t:.1}s")
        }
        Violation::FenceBackwards { from, to } => {
            format!("the fenced resource stored token {to} after {from}")
        }
        Violation::Registrations { registered, live } => {
            format!("etcd has {registered:?}, live {live:?}")
        }
    }
}

fn run_one(c: &mut Cluster, s: &Scenario) -> Outcome {
    let started = Instant::now();
    let mut figures = Vec::new();
    let body = catch_unwind(AssertUnwindSafe(|| {
        c.begin();
        let converged = c.recover();
        let mut f = vec![match &converged {
            Ok(_) => format!("converged in {}", secs(started.elapsed().as_secs_f64())),
            Err(v) => format!(
                "did not converge: {}",
                v.iter().map(describe).collect::<Vec<_>>().join("; ")
            ),
        }];
        if converged.is_ok() {
            f.extend((s.run)(c));
        }
        f
    }));
    let harness = match body {
        Ok(f) => {
            figures = f;
            None
        }
        Err(e) => Some(
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".into()),
        ),
    };
    let history = c.finish();
    let report = checker::check(&history, &Bounds::default());
    figures.push(format!("false downs {}", report.figures.false_downs));
    for d in &report.figures.crash_down {
        figures.push(format!("crash shown down everywhere after {}", secs(*d)));
    }
    if report.figures.fenced_view_samples > 0 {
        figures.push(format!(
            "fenced view checked in {} samples",
            report.figures.fenced_view_samples
        ));
    }
    figures.extend(report.figures.singleton.lines());
    if report.figures.two_leader_secs > 0.0 {
        figures.push(format!(
            "two leaders for {}",
            secs(report.figures.two_leader_secs)
        ));
    }
    let failed = harness.is_some() || !report.violations.is_empty();
    let xfail = (s.xfail)();
    let verdict = match (failed, xfail) {
        (false, None) => Verdict::Pass,
        (false, Some(_)) => Verdict::XPass,
        (true, None) => Verdict::Fail,
        (true, Some(x)) => {
            let expected = |v: &Violation| x.rules.contains(&v.rule());
            if harness.is_none()
                && report.violations.iter().any(expected)
                && report.violations.iter().all(expected)
            {
                Verdict::XFail
            } else {
                Verdict::Fail
            }
        }
    };
    Outcome {
        name: s.name,
        does: s.does,
        xfail,
        verdict,
        figures,
        report,
        harness,
        wall: started.elapsed().as_secs_f64(),
    }
}

fn line(o: &Outcome) -> String {
    let mut rules: Vec<&str> = o.report.violations.iter().map(Violation::rule).collect();
    rules.sort_unstable();
    rules.dedup();
    format!(
        "fault tier: {:<13} {:<5} ({:.0} s) {} | {}{}",
        o.name,
        format!("{:?}", o.verdict).to_uppercase(),
        o.wall,
        o.figures.join("; "),
        if rules.is_empty() {
            "no violations".to_owned()
        } else {
            format!("violated: {}", rules.join(", "))
        },
        o.harness
            .as_ref()
            .map(|h| format!(" | harness: {h}"))
            .unwrap_or_default()
    )
}

/// Text for a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn markdown(outcomes: &[Outcome], wall: f64, leftovers: &[String]) -> String {
    let b = Bounds::default();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Fault tier results\n\n\
Generated by `tests/tests/fault_tier.rs` (`sudo -E cargo test -p actix-cluster-tests --test fault_tier -- --nocapture`); \
do not edit by hand: rerun it. Wall time of this run: {wall:.0} s.\n\n\
## Set-up\n\n\
* {NODES} `cluster-monitor` nodes (lan preset, `ETCD_LEASE_TTL={LEASE_TTL}`) and a {ETCDS}-member etcd 3.4, each in its own network \
namespace (`acf-n1`..`acf-n5`, `acf-e1`..`acf-e3`), joined by veth pairs to the bridge `br0` in the namespace `acf-br`. \
Nodes are 10.213.0.1-5, etcd 10.213.0.11-13, the observer 10.213.0.254 (on the bridge). No default route, nothing in the \
root namespace, no NAT: the test's HTTP and event-stream clients run in threads that `setns(2)` into `acf-br`.\n\
* Faults are nftables tables (`inet acf_<n>`) inside the node namespaces, SIGSTOP/SIGCONT, SIGKILL and restarts; \
loss is `numgen random mod 100 < N drop` on every node's input from the other nodes (`tc netem` is not in this kernel).\n\
* Every node's `/api/events` stream and 2 Hz samples of `/api/members` and `/readyz` are recorded; the checker \
(`tests/src/fault/checker.rs`, unit-tested on synthetic histories) judges each scenario. The nodes are restarted \
(fresh ids, etcd keys cleared) before each scenario.\n\n\
## What is checked (the bounds are correctness bounds)\n\n\
1. **No false down**: the first time any node shows a member id down (a `down` event, a `down` entry in a snapshot or \
in `/api/members`), its process must be dead, or its node declared faulty within {grace:.0} s before: paused beyond the \
pause bound ({pause} s), isolated, on a partition's minority side, or behind the cut link. Uniform loss declares nobody faulty.\n\
2. **Crash detection**: a crashed member is shown down by every live node within {crash:.0} s.\n\
3. **One side leads**: {decision:.0} s after a partition starts, at most one side has a ready node whose leader is on \
its side and Up.\n\
4. **Recovery**: within {rec} s of the last heal, every live node answers, `/readyz` is 200, its view lists every live \
node exactly once, Up, under the id a majority of views agree on, its `self` is that id, and etcd's `members/` keys are \
exactly those ids.\n\
5. **A fenced node's view**: a node cut off alone (from the nodes and etcd) that fenced itself and is rejoining (its \
`self` changed during the cut, its own entry not `up`) shows no other member Up and reachable: it has heard from nobody \
since it fenced. Read from its 2 Hz `/api/members` samples until the heal.\n\
6. **Death watch follows the decision**: the frontend (n1) watches every other node's ping actor (remote actors); every \
`terminated` a node's stream shows is about a member that node shows down (before it, or within 1 s: two actors of one \
node), and at most once per member and node (a watch fires once). A partition or a pause that downs nobody makes \
no actor terminated.\n\
7. **Listings whole again** (part of recovery): after the last heal, every live node's registry listing \
(`GET /api/services`, key `ping`) names exactly the members it shows Up.\n\
8. **One singleton, fenced writes**: the demo's `ticker` singleton (on the backends) never runs on two nodes at once \
after the decision time: two nodes' run intervals (2 Hz samples of `GET /api/singleton`, consecutive samples saying \
`here` with the same instance count) must not overlap, except while one of the two is in the first {decision:.0} s of a \
partition, or in a fault of its own (a pause, a cut link) or the {decision:.0} s after it. The tokens its fenced resource (the etcd \
key `app/ticker/token`, written with a compare on the stored token) stored in the scenario, read from etcd's history, \
never go backwards. The figures: where and when it ran, seconds doubled within a decision time, writes, stale \
writes refused.\n\n\
Partition and isolation scenarios also report **heal -> all Up**: the time from removing the nftables rules until every \
node's `/api/members` (polled every 100 ms) lists every node's current id Up and reachable; a figure, not a bound.\n\n\
A scenario passes when no rule is broken. An expected failure (xfail) names its defect and the rules it breaks; it counts \
as expected only if it breaks those rules and no other, and one that passes fails the run.\n\n\
## Results of this run\n\n\
| scenario | what it does | verdict | figures |\n|---|---|---|---|",
        grace = b.grace,
        pause = PAUSE_BOUND.as_secs(),
        crash = b.crash_down,
        decision = b.decision,
        rec = RECOVERY_BOUND.as_secs(),
    );
    for o in outcomes {
        let verdict = match (o.verdict, o.xfail) {
            (Verdict::XFail, Some(_)) => "xfail (issue #9)".to_owned(),
            (v, _) => format!("{v:?}").to_lowercase(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {verdict} | {} |",
            o.name,
            cell(o.does),
            cell(&o.figures.join("; "))
        );
    }
    let _ = writeln!(md, "\n## Violations\n");
    let mut any = false;
    for o in outcomes {
        if o.report.violations.is_empty() && o.harness.is_none() {
            continue;
        }
        any = true;
        let _ = writeln!(md, "### {}\n", o.name);
        if let Some(x) = o.xfail {
            let _ = writeln!(
                md,
                "Marked expected failure, {}. Rules it may break: {}.\n",
                x.defect,
                x.rules.join(", ")
            );
        }
        if let Some(h) = &o.harness {
            let _ = writeln!(md, "* harness: {h}");
        }
        for v in o.report.violations.iter().take(8) {
            let _ = writeln!(md, "* {}: {}", v.rule(), describe(v));
        }
        if o.report.violations.len() > 8 {
            let _ = writeln!(md, "* ... and {} more", o.report.violations.len() - 8);
        }
        let _ = writeln!(md);
    }
    if !any {
        let _ = writeln!(md, "None.\n");
    }
    let _ = writeln!(
        md,
        "## Clean-up\n\n{}\n",
        if leftovers.is_empty() {
            "After the run no namespace, interface, nftables table or process of the tier was left."
                .to_owned()
        } else {
            format!("LEFT OVER: {}", leftovers.join(", "))
        }
    );
    md.push_str(OBSERVED);
    md
}

/// The verdicts observed over several runs (kept by hand, from the lines the
/// tier prints), which decided the expected-failure marks.
const OBSERVED: &str = "## Verdicts observed over runs\n\n\
The expected-failure marks (now removed) were decided from these runs on the 2-core development machine (two other \
engineers compiling), before the downing work. Full runs 1 (before the marks existed: raw pass/fail), 2, 4 and 5; run 3 was \
`ACF_SCENARIOS=partition-3-2,isolate,one-way,pause-1.5s,pause-3s,pause-8s`. Runs 1 to 4 paused only once per pause \
scenario, run 5 up to 5 times, this run up to 8; the mix drew pauses of 1.5, 2.5 or 6 s (runs 1 and 2), then 3 or 6 s.\n\n\
| scenario | run 1 | run 2 | run 3 | run 4 | run 5 | rules broken |\n\
|---|---|---|---|---|---|---|\n\
| convergence | pass | pass | - | pass | pass | |\n\
| crash | pass (1.5 s) | pass (1.4 s) | - | pass (1.6 s) | pass (1.5 s) | |\n\
| leave | pass | pass | - | pass | pass | |\n\
| partition-3-2 | fail | xfail | xfail | xfail | xfail | false down (the minority downs the majority), two leaders (9.5-10 s), stale self, readyz not 200, etcd registrations; wrong view in run 1 |\n\
| isolate | fail | xfail | xfail | xfail | xfail | false down (n5 downs all four others), two leaders (9-10 s), stale self, readyz not 200, etcd registrations |\n\
| one-way | pass | pass | pass | pass | pass | |\n\
| loss-10 | pass | pass | - | pass | pass | |\n\
| loss-25 | pass | pass | - | pass | pass | |\n\
| pause-1.5s | fail | xfail | xfail | **xpass** | xfail (3rd pause) | false down of n5, then stale self, readyz not 200, etcd registrations; in run 4 the single 1.5 s pause got nobody downed, so the run failed (strict xfail): the scenario now pauses up to 5 times until n5 is shown down |\n\
| pause-3s | fail | xfail | xfail | xfail | xfail (1st) | the same |\n\
| pause-8s | fail | xfail | xfail | xfail | xfail (1st) | stale self, readyz not 200, etcd registrations (its down is allowed) |\n\
| etcd-stopped | pass | pass | - | pass | pass | |\n\
| etcd-leader | harness error (fixed: `etcdctl endpoint status` fails as a whole with a member down) | pass | - | pass | pass | |\n\
| mix | fail (seed 621558) | xfail (seed 3074) | - | xfail (seed 581297) | xfail (seed 875296) | false down, two leaders, stale self, readyz not 200, etcd registrations |\n\
\n\
A crashed earlier run was also simulated (the tier killed with SIGKILL mid-scenario: nine namespaces and eight \
processes left); the next run's sweep removed them and its data directory, and its own end-of-run check found nothing.\n\n\
**After the downing work of issue #9** (runs 7 to 10): run 7 passed every scenario but xpassed partition-3-2, \
isolate, pause-1.5s and pause-3s (the defects were gone; the marks were removed) and xfailed pause-8s and the mix on \
etcd registrations only (the seed watcher removed the reborn member's own registration; fixed). Run 8 passed every \
scenario but the mix (seed 867729): n2, paused 6 s, downed n5 on suspicions that had aged through its own pause \
(fixed: a stall restarts every suspicion's pause-bound clock); that seed passed on replay (run 9, mix alone). Run 10 \
passed all 14 scenarios (mix seed 442159) in 351 s.\n\n\
**Runs 11 to 13**: CI's run 11 failed the mix (seed 577449): a second 3/2 partition within the 20 s hold of the \
downing lease fenced every node, since the lease still recorded the old winners while a reborn member had rejoined \
them (fixed: the surviving side's leader keeps the recorded side current; an even split goes to the half with the \
lowest id); that seed passed on replay, as did seeds 11, 222, 3333 and 44444. Run 12 (15 scenarios, with \
inbound-cut) failed the mix (seed 145379) on the harness: a member fenced, reborn and then crashed was judged by its \
first id (fixed: the id it crashed with); the seed passed on replay. Run 13 (the CI rehearsal) passed all 15 \
scenarios (mix seed 48363).\n\n\
**Runs 14 to 16**: CI failed the mix twice (seeds 829499 and 137275): two leaders for 2.0 s and 1.0 s past the 10 s \
decision bound. A node on the losing side (in 829499 the oldest member, cut off) kept naming its leader until it \
fenced itself, which with `lease-majority` waits for the arbiter: the minority asks 2 s late and an unreachable etcd \
takes its connect timeout, so it fenced about 12.8 s in (fixed: a node that cannot reach a majority by its own view, \
silent or outnumbered by its expired suspicions, names no leader until it can again). Both seeds passed on replay, \
as did seeds 11, 2024, 777, 31337 and 4242; run 16 passed all 15 scenarios (mix seed 52080).\n\n\
**Runs 17 to 22** (the etcd keep-alive and fenced-view work; 17 to 19 partial): the nodes' etcd client no longer pings \
more often than a stock etcd accepts (the watch broke every 13 s before: `GOAWAY too_many_pings`; see the README's \
etcd section). The new fenced-view rule was checked against the protocol before this work (run 18, isolate alone): it \
failed, n5 fenced and alone showed all four others Up and reachable (its rebirth had dropped its suspicions and \
published `Reachable` for each); with the change it holds. Heal -> all Up was 0.56 s and 0.58 s (isolate) and 1.12 s \
(partition-3-2) in runs 17 and 19: the cut-off node fences itself while cut off, so at the heal it is already reborn and \
rejoining; its join requests (every `join_retry_interval`, 1 s in lan, to the side that won) and the seeds from etcd \
bring it in within one round, and the rest is gossip. Neither the etcd lease nor the old generation's `Down` is on \
that path: the others downed the old id during the cut. What remained slow was the healed node's etcd registration \
(3.4 s after the heal in run 17: its lease keeper sat in a restart backoff of up to 5 s), which now starts at once \
when the member is Up again. Run 19 failed inbound-cut on a false down: n2, on the winning side, fenced itself, \
because its arbiter transaction raced with another member of its own side and a changed key counted as a loss \
(fixed: the key is read again, and it holds the caller's side). Run 20 passed all 15 scenarios (mix seed 671123; \
heal -> all Up 0.55 s in partition-3-2, 0.66 s in isolate), but partition-3-2's healed n5, Up 0.5 s after the heal, \
registered in etcd only 5.2 s after it: its lease keeper's session had started its connect during the cut and then \
waited a backoff grown by the cut (fixed: Up again also resets the backoff). Run 21 failed partition-3-2 on two \
leaders in one sample, exactly at the 10 s decision bound: n4, the minority's oldest, stopped naming itself leader \
10.0 s after the cut, when its third suspicion ran out (its first two at 6.4 and 6.6 s; it cannot count itself in \
a minority before): the spread of the suspicion timeouts reaches the bound (open; not touched by this work, n4 had not \
fenced yet). Run 22 passed all 15 scenarios.\n\n\
**Runs 23 to 25** (remote actors: rules 6 and 7): run 23 (crash, partition-3-2, pause-3s, isolate) failed \
partition-3-2 and isolate on the listing rule: after the heal, the other nodes did not list the reborn node's ping actor \
and it listed none of theirs, because a reborn member made its remote links only on `MemberUp`, which the members it \
already knew do not announce again (fixed: it reads the members Up after its rebirth). Run 24 (partition-3-2, \
isolate) passed. Run 25 is this run.\n";

#[test]
fn fault_tier() {
    if let Some(why) = net::unavailable() {
        eprintln!(
            "SKIPPED fault_tier: {why}. Run it as root: \
             sudo -E cargo test -p actix-cluster-tests --test fault_tier -- --nocapture"
        );
        return;
    }
    let filter: Option<Vec<String>> = std::env::var("ACF_SCENARIOS")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect());
    let started = Instant::now();
    let mut c = Cluster::new();
    println!(
        "fault tier: topology and etcd up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut outcomes = Vec::new();
    for s in scenarios() {
        if filter
            .as_ref()
            .is_some_and(|f| !f.iter().any(|n| n == s.name))
        {
            continue;
        }
        let o = run_one(&mut c, &s);
        println!("{}", line(&o));
        outcomes.push(o);
    }
    let t = Instant::now();
    let leftovers = c.teardown();
    println!(
        "fault tier: torn down in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let wall = started.elapsed().as_secs_f64();
    println!("fault tier: {} scenarios in {wall:.0} s", outcomes.len());
    let md = markdown(&outcomes, wall, &leftovers);
    // The tracked report is rewritten only when asked, from a full run, so
    // that running the tests leaves the tree clean.
    let out = if filter.is_none() && std::env::var("ACF_WRITE_DOCS").is_ok_and(|v| v == "1") {
        repo_root().join("docs/FAULTS.md")
    } else {
        actix_cluster_tests::demo::target_dir().join("FAULTS.md")
    };
    std::fs::write(&out, md).expect("write FAULTS.md");
    println!("fault tier: wrote {}", out.display());
    assert!(leftovers.is_empty(), "the tier left: {leftovers:?}");
    let bad: Vec<String> = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Fail | Verdict::XPass))
        .map(|o| format!("{} ({:?})", o.name, o.verdict))
        .collect();
    assert!(bad.is_empty(), "fault tier failed: {}", bad.join(", "));
}
