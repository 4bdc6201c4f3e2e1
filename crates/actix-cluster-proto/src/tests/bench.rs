//! Rough figures (ignored by default; run with
//! `cargo test -p actix-cluster-proto --release -- --ignored --nocapture bench`).
//! The simulator crate has the real benchmarks; these are for tuning.

#![allow(clippy::needless_range_loop)]

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::{DownReason, Event};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn up_everywhere(net: &Net) -> bool {
    let n = net.cores.len();
    (0..n).all(|i| {
        !net.alive[i]
            || net.cores[i]
                .members()
                .iter()
                .filter(|m| m.status == Status::Up)
                .count()
                == net.alive.iter().filter(|a| **a).count()
    }) && n > 0
}

fn run(n: usize, trials: usize, loss: f64, config: Config, seed: u64) {
    let mut net = Net::new(n, config, seed);
    net.loss = loss;
    converge(&mut net);
    idle_traffic(&mut net);
    // Crashes.
    let mut down_all = Vec::new();
    let mut unreach_all = Vec::new();
    let mut victim = n - 1;
    let mut joins = Vec::new();
    for _ in 0..trials {
        while !net.alive[victim] || victim == 0 {
            victim = (victim + 7) % n;
        }
        let (down, unreach) = crash_trial(&mut net, victim);
        down_all.push(down);
        unreach_all.push(unreach);
        joins.extend(rejoin(&mut net, victim));
        victim = (victim * 31 + 17) % n;
        net.run_for(Duration::from_secs(1));
    }
    if !joins.is_empty() {
        println!(
            "N={n}: join->Up everywhere p50 {:.2}s max {:.2}s ({} joins)",
            pct(&mut joins.clone(), 0.5),
            pct(&mut joins.clone(), 1.0),
            joins.len()
        );
    }
    let falsedown: usize = (0..n)
        .filter(|&i| net.alive[i])
        .map(|i| net.events[i].iter().filter(|(_, e)| matches!(e, Event::Down { member, reason: DownReason::Failed } if net.alive[member.id.addr.port() as usize - 7000] && member.id == *net.cores[member.id.addr.port() as usize - 7000].local_id())).count())
        .sum();
    println!(
        "N={n}: crash->Down everywhere p50 {:.2}s p99 {:.2}s max {:.2}s; unreachable everywhere p50 {:.2}s max {:.2}s; false downs {falsedown}",
        pct(&mut down_all.clone(), 0.5),
        pct(&mut down_all.clone(), 0.99),
        pct(&mut down_all.clone(), 1.0),
        pct(&mut unreach_all.clone(), 0.5),
        pct(&mut unreach_all.clone(), 1.0),
    );
}

/// Node 0 forms, the others join through it; runs until all see all `Up`.
pub(super) fn converge(net: &mut Net) {
    let n = net.cores.len();
    net.command(0, Command::Form);
    for i in 1..n {
        net.command(
            i,
            Command::Join {
                seeds: vec![addr(0)],
            },
        );
        if i % 20 == 0 {
            net.run_for(Duration::from_millis(50));
        }
    }
    let t0 = net.now;
    let mut ok = false;
    while net.now < t0 + Duration::from_secs(120) {
        net.run_for(Duration::from_secs(1));
        if up_everywhere(net) {
            ok = true;
            break;
        }
    }
    println!("N={n}: converged={ok} after {:?}", net.now - t0);
}

/// Prints the idle traffic per member.
pub(super) fn idle_traffic(net: &mut Net) {
    let n = net.cores.len();
    net.run_for(Duration::from_secs(10));
    let b0: u64 = net.cores.iter().map(|c| c.stats().bytes_sent).sum();
    let m0: u64 = net.cores.iter().map(|c| c.stats().messages_sent).sum();
    let idle = Duration::from_secs(
        std::env::var("BENCH_IDLE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    net.run_for(idle);
    let b1: u64 = net.cores.iter().map(|c| c.stats().bytes_sent).sum();
    let m1: u64 = net.cores.iter().map(|c| c.stats().messages_sent).sum();
    let per = (b1 - b0) as f64 / n as f64 / idle.as_secs_f64();
    println!(
        "N={n}: idle {:.0} B/s = {:.2} kbit/s per member ({:.1} msg/s; +28 B/datagram IP/UDP: {:.2} kbit/s)",
        per,
        per * 8.0 / 1000.0,
        (m1 - m0) as f64 / n as f64 / idle.as_secs_f64(),
        (per + 28.0 * (m1 - m0) as f64 / n as f64 / idle.as_secs_f64()) * 8.0 / 1000.0
    );
    let sus0: u64 = net.cores.iter().map(|c| c.stats().suspicions_raised).sum();
    println!("N={n}: suspicions so far {sus0}");
}

/// Crashes `victim`; returns when the last member saw it down and
/// unreachable (seconds after the crash).
fn crash_trial(net: &mut Net, victim: usize) -> (f64, f64) {
    let n = net.cores.len();
    let dead = net.cores[victim].local_id().clone();
    let start = net.now;
    let marks: Vec<usize> = net.events.iter().map(Vec::len).collect();
    net.crash(victim);
    let mut done = false;
    while net.now < start + Duration::from_secs(60) {
        net.run_for(Duration::from_millis(100));
        done = (0..n).all(|i| !net.alive[i] || net.status(i, &dead) != Some(Status::Up));
        if done {
            net.run_for(Duration::from_millis(500));
            break;
        }
    }
    let mut worst_down = 0.0f64;
    let mut worst_unr = 0.0f64;
    for i in (0..n).filter(|&i| net.alive[i]) {
        for (t, e) in &net.events[i][marks[i]..] {
            match e {
                Event::Down {
                    member,
                    reason: DownReason::Failed,
                } if member.id == dead => worst_down = worst_down.max((*t - start).as_secs_f64()),
                Event::Unreachable(m) if m.id == dead => {
                    worst_unr = worst_unr.max((*t - start).as_secs_f64())
                }
                _ => {}
            }
        }
    }
    if !done {
        println!("  trial: not detected everywhere in 60 s");
    }
    (worst_down, worst_unr)
}

/// Brings `victim` back as a new process; the seconds until all see it `Up`.
fn rejoin(net: &mut Net, victim: usize) -> Option<f64> {
    let n = net.cores.len();
    let g = net.cores[victim].local_id().generation + 1;
    net.restart(victim, g);
    net.command(
        victim,
        Command::Join {
            seeds: vec![addr(0)],
        },
    );
    let back = net.now;
    while net.now < back + Duration::from_secs(30) {
        net.run_for(Duration::from_millis(100));
        let me = net.cores[victim].local_id().clone();
        if (0..n).all(|i| net.status(i, &me) == Some(Status::Up)) {
            return Some((net.now - back).as_secs_f64());
        }
    }
    None
}

#[test]
#[ignore]
fn bench_lan() {
    let n: Vec<usize> = std::env::var("BENCH_N")
        .unwrap_or_else(|_| "10,100".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let trials: usize = std::env::var("BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let lifeguard = std::env::var("BENCH_PLAIN").is_err();
    for n in n {
        run(n, trials, 0.0, Config::lan().with_lifeguard(lifeguard), 42);
    }
}

/// False alarms: N members, `loss` uniform loss, and optionally a pause of
/// `pause_ms` of a random member every `pause_every` seconds.
fn false_alarms(
    n: usize,
    minutes: u64,
    loss: f64,
    pauses: Option<(u64, u64, u64)>,
    config: Config,
) {
    let mut net = Net::new(n, config, 77);
    net.form_and_join();
    assert!(net.run_until_cond(Duration::from_secs(60), up_everywhere));
    net.loss = loss;
    let sus0: u64 = net.cores.iter().map(|c| c.stats().suspicions_raised).sum();
    let mut rng = SmallRng::seed_from_u64(5);
    let end = net.now + Duration::from_secs(60 * minutes);
    let mut paused = 0;
    while net.now < end {
        match pauses {
            Some((every, lo, hi)) => {
                net.run_for(Duration::from_secs(every));
                let v = rng.gen_range(1..n);
                net.pause(v, Duration::from_millis(rng.gen_range(lo..=hi)));
                paused += 1;
            }
            None => net.run_for(Duration::from_secs(10)),
        }
    }
    let sus: u64 = net
        .cores
        .iter()
        .map(|c| c.stats().suspicions_raised)
        .sum::<u64>()
        - sus0;
    let unreach: usize = net
        .events
        .iter()
        .map(|ev| {
            ev.iter()
                .filter(|(_, e)| matches!(e, Event::Unreachable(_)))
                .count()
        })
        .sum();
    let downs: usize = net
        .events
        .iter()
        .map(|ev| {
            ev.iter()
                .filter(|(_, e)| {
                    matches!(
                        e,
                        Event::Down {
                            reason: DownReason::Failed,
                            ..
                        }
                    )
                })
                .count()
        })
        .sum();
    let hours = minutes as f64 / 60.0;
    println!(
        "N={n} loss={loss} pauses={pauses:?} ({paused}) {minutes} min: suspicions raised {sus} ({:.2}/member-hour), unreachable events {unreach}, false Down events {downs}",
        sus as f64 / n as f64 / hours
    );
}

#[test]
#[ignore]
fn bench_false_alarms() {
    let minutes: u64 = std::env::var("BENCH_MIN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let lifeguard = std::env::var("BENCH_PLAIN").is_err();
    let c = Config::lan().with_lifeguard(lifeguard);
    false_alarms(100, minutes, 0.05, None, c.clone());
    false_alarms(100, minutes, 0.0, Some((20, 1000, 4000)), c);
}
