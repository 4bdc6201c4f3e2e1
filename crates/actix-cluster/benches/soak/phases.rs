//! Running one flood kind: a fresh cluster, then its three phases.

use super::*;
use crate::procs::{clock_ticks, parse_line, proc_usage};

/// Runs one kind: a fresh cluster, then before, during and after.
pub(super) fn run_kind(kind: Kind, opts: &Opts) -> Result<KindResult, String> {
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
