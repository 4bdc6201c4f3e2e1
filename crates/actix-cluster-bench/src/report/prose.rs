//! BENCHMARKS.md in prose: what bounds the figures, and what a peer cannot do.

use std::fmt::Write as _;

use crate::{FalseAlarmCondition, SuiteResults, SystemKind};

/// Minimum suspicion timeout of our `lan()` preset at `n` members, seconds.
fn ours_min_suspicion(n: usize) -> f64 {
    let c = actix_cluster_proto::Config::lan();
    f64::from(c.suspicion_mult) * (n as f64).log10().max(1.0) * c.probe_interval.as_secs_f64()
}

/// What bounds the figures, in prose with the numbers of this run.
pub(crate) fn analysis(m: &mut String, r: &SuiteResults) {
    let c = actix_cluster_proto::Config::lan();
    let _ = writeln!(m, "\n## What bounds the figures\n");
    let _ = writeln!(
        m,
        "- **Detection.** A crash is noticed by the first member that probes the dead one \
         (every member probes one member per {} ms, so at N ≥ 10 that is almost immediate), \
         after the probe timeout ({} ms) and the indirect probes; then the suspicion runs for \
         at least `{} · max(1, log10 N) · {} ms` ({:.1} s at N = 10, {:.1} s at N = 100, \
         {:.1} s at N = 1000), Lifeguard starting it {}× longer and shrinking it as other \
         members confirm; then the `Down` spreads by gossip every {} ms. foca probes once a \
         second and waits `4 · max(1, log10 N)` s, hence its longer times.",
        c.probe_interval.as_millis(),
        c.probe_timeout.as_millis(),
        c.suspicion_mult,
        c.probe_interval.as_millis(),
        ours_min_suspicion(10),
        ours_min_suspicion(100),
        ours_min_suspicion(1000),
        c.suspicion_max_timeout_mult,
        c.gossip_interval.as_millis()
    );
    pause_bounds(m, r);
    if let Some(b) = r.false_alarm(SystemKind::Ours, FalseAlarmCondition::BurstyLoss) {
        let _ = writeln!(
            m,
            "- **Bursty loss.** With every link losing everything for half a second at a time \
             (20% on average), a {} ms probe timeout with {} indirect probes fails often; each \
             failure starts a suspicion, and with a {:.1} s minimum timeout at N = {} many of \
             them run out before the member's refutation gets through ({:.0} suspicions per \
             member-hour, {} false `Down` events in {} min). Longer probe timeouts and a higher \
             `suspicion_mult` trade detection time for fewer false alarms; see the sweep.",
            c.probe_timeout.as_millis(),
            c.indirect_checks,
            ours_min_suspicion(b.n),
            b.n,
            b.suspicions_per_member_hour(),
            b.false_down_events,
            b.duration.as_secs() / 60
        );
    }
    let _ = writeln!(
        m,
        "- **Traffic.** Ours probes {:.0} members a second (foca 1) and piggybacks gossip on \
         every probe, so idle it sends several times foca's messages and more bytes; the \
         push-pull exchange adds a full-state stream frame every `{} s · scale(N)`, which is \
         what grows with N.",
        1.0 / c.probe_interval.as_secs_f64(),
        c.push_pull_interval.as_secs()
    );
}

/// What bounds the figures under pauses: false `Down`s and suspicions.
fn pause_bounds(m: &mut String, r: &SuiteResults) {
    let c = actix_cluster_proto::Config::lan();
    if let Some(p) = r.false_alarm(SystemKind::Ours, FalseAlarmCondition::Pauses) {
        let need = (4.0 / (c.probe_interval.as_secs_f64() * (p.n as f64).log10().max(1.0))).ceil();
        let _ = writeln!(
            m,
            "- **Pauses.** A member paused for up to 4 s does not answer anybody, exactly like \
             a crashed one, for longer than the minimum suspicion timeout ({:.1} s at N = {}); \
             as soon as enough members confirm the suspicion, the timeout shrinks to that \
             minimum and the paused member is declared `Down` before it wakes up ({} false \
             `Down` events about {} members in this run). No setting detects a crash in less \
             than 4 s and also never declares a 4 s pause down: zero false `Down` here needs a \
             minimum timeout above 4 s, i.e. `suspicion_mult` ≥ {need:.0} at N = {}, and the \
             sweep below shows what that costs in detection time.",
            ours_min_suspicion(p.n),
            p.n,
            p.false_down_events,
            p.false_down_members,
            p.n
        );
        let _ = writeln!(
            m,
            "- **False suspicions under pauses.** Every member that probes a paused member \
             during its pause raises a suspicion, with or without Lifeguard: the member really \
             does not answer. Lifeguard's local health acts on suspicions raised *by* a slow \
             member and on how long a suspicion lasts; a fully paused member in this simulator \
             handles its queued replies before its own probe timers when it resumes, so it \
             raises almost none, and the \"50× fewer than plain SWIM\" target cannot be reached \
             with this count. The difference Lifeguard makes shows in the bursty-loss row \
             (false `Down`) instead. Counted as Lifeguard's claim means it, on healthy members \
             only (not paused, not within {} s of resuming): {} `Unreachable` events and {} \
             false `Down` with Lifeguard, {} and {} with it off; the rest of the `Unreachable` events \
             and `Down`s in this scenario were about members that really were stalled (see the \
             split table under False alarms).",
            p.stall_grace.as_secs_f64(),
            p.healthy_unreachable_events(),
            p.healthy_down_events(),
            r.false_alarm(SystemKind::PlainSwim, FalseAlarmCondition::Pauses)
                .map_or("—".into(), |q| q.healthy_unreachable_events().to_string()),
            r.false_alarm(SystemKind::PlainSwim, FalseAlarmCondition::Pauses)
                .map_or("—".into(), |q| q.healthy_down_events().to_string()),
        );
    }
}

/// Where a peer cannot do a scenario.
pub(crate) fn peers(m: &mut String) {
    let _ = writeln!(m, "\n## Where a peer cannot do a scenario\n");
    let _ = writeln!(
        m,
        "- foca has no stream transport and no push-pull state exchange: it joins with an \
         announce datagram (the adapter repeats it every second while the node knows nobody) \
         and heals partitions through its periodic announces.\n\
         - foca does not say whether a member left or failed: its graceful leaves appear as \
         `Down` and are excluded from false alarms because the harness knows who left.\n\
         - foca publishes no suspicion event: \"unreachable\" figures come from its member \
         table (see above)."
    );
}
