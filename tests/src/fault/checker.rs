//! The history checker: pure code over what the observers recorded (no
//! processes, no clock), so its rules are unit-tested on synthetic histories.
//!
//! A [`History`] holds what the nodes showed (every `/api/events` message and
//! periodic `/api/members` + `/readyz` samples, stamped with the observer's
//! clock) and what the scenario did (which processes ran when, who was
//! deliberately faulty over which interval, the partitions). [`check`] returns
//! every [`Violation`] of the rules and the figures the scenario prints.

use std::collections::{BTreeMap, BTreeSet};

use super::singleton::{SingletonFigures, SingletonSample};

/// Seconds since the start of the run (the observer's monotonic clock).
pub type Time = f64;

/// One node's `/api/members` answer, reduced to what the rules read.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// The `self` field.
    pub self_id: String,
    /// The `leader` field.
    pub leader: Option<String>,
    /// `(id, status)` of every member listed.
    pub members: Vec<(String, String)>,
    /// The ids listed as not reachable.
    pub unreachable: Vec<String>,
}

impl View {
    /// Members other than itself this view shows `up` and reachable.
    pub fn others_up(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|(id, st)| st == "up" && *id != self.self_id && !self.unreachable.contains(id))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// This node's own status in its view.
    pub fn own_status(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|(id, _)| *id == self.self_id)
            .map(|(_, st)| st.as_str())
    }
}

/// One periodic sample of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// When the answers arrived.
    pub t: Time,
    /// The sampled node (its name, e.g. `n1`).
    pub node: String,
    /// `/readyz` status code; `None` when it did not answer.
    pub ready: Option<u16>,
    /// `/api/members`; `None` when it did not answer.
    pub view: Option<View>,
    /// The member ids `GET /api/services` lists under the demo's `ping` key
    /// (its remote actors); `None` when it did not answer.
    pub services: Option<Vec<String>>,
}

/// A `terminated` event (death watch of a remote actor) a node showed.
#[derive(Clone, Debug, PartialEq)]
pub struct TerminatedSeen {
    /// When the observer received it.
    pub t: Time,
    /// The node that showed it (the watcher's node).
    pub node: String,
    /// The watched actor's member.
    pub member: String,
    /// `stopped`, `failed`, `left` or `fenced`.
    pub reason: String,
}

/// A member shown `down` by a node: a `down` event, or a `down` entry in an
/// event-stream snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct DownSeen {
    /// When the observer received it.
    pub t: Time,
    /// The node that showed it.
    pub node: String,
    /// The member shown down.
    pub member: String,
    /// `failed` or `left`.
    pub reason: String,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// SIGKILL by the nemesis: every live node must show it down in time.
    Crashed,
    /// A graceful leave.
    Left,
    /// Stopped by the harness at the end of a scenario (nothing is checked).
    Stopped,
}

/// One process of a node, from spawn to its end.
#[derive(Clone, Debug, PartialEq)]
pub struct Incarnation {
    /// Node name (`n1`..).
    pub node: String,
    /// The member id it had when it became ready.
    pub id: String,
    /// When it was spawned.
    pub start: Time,
    /// When and how it ended; `None` while it runs.
    pub end: Option<(Time, Ending)>,
}

/// A node the scenario declares not healthy over an interval: paused beyond the
/// pause bound, isolated, on the minority side of a partition, or behind a
/// deliberately faulty link. Down verdicts about it are allowed then.
#[derive(Clone, Debug, PartialEq)]
pub struct Faulty {
    /// Node name.
    pub node: String,
    /// Start of the fault.
    pub from: Time,
    /// End of the fault (healed).
    pub to: Time,
}

/// A partition: its sides (node names) and interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// The sides, each a list of node names.
    pub sides: Vec<Vec<String>>,
    /// Start.
    pub from: Time,
    /// Heal.
    pub to: Time,
}

/// Everything recorded in one scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Every process that ran.
    pub incarnations: Vec<Incarnation>,
    /// Declared faulty intervals.
    pub faulty: Vec<Faulty>,
    /// Partitions.
    pub partitions: Vec<Partition>,
    /// Members shown down, from the event streams.
    pub downs: Vec<DownSeen>,
    /// Watched remote actors shown terminated, from the event streams.
    pub terminated: Vec<TerminatedSeen>,
    /// Periodic samples.
    pub samples: Vec<Sample>,
    /// When the last fault healed: the final state is read from samples after it.
    pub healed: Time,
    /// The member ids registered in etcd (`members/<id>` keys) at the end.
    pub registrations: Option<Vec<String>>,
    /// Samples of `/api/singleton` (the singleton rule).
    pub singleton: Vec<SingletonSample>,
    /// The tokens the ticker's fenced resource stored, in order (`None`:
    /// not read).
    pub fence_tokens: Option<Vec<i64>>,
}

/// The correctness bounds the rules use (documented in docs/FAULTS.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// A crashed member must be shown down by every live node within this.
    pub crash_down: f64,
    /// After a partition starts, at most one side may have an active leader
    /// once this much time has passed.
    pub decision: f64,
    /// A down verdict first shown within this long after a fault of the member
    /// ended is attributed to the fault.
    pub grace: f64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            crash_down: 15.0,
            decision: 10.0,
            grace: 30.0,
        }
    }
}

/// A broken rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Violation {
    /// A live, healthy member was shown down.
    FalseDown {
        /// The member id.
        member: String,
        /// The node that showed it first.
        by: String,
        /// When.
        t: Time,
    },
    /// A crashed member was not shown down by a live node within the bound.
    CrashNotDown {
        /// The crashed member.
        member: String,
        /// The node that did not show it down.
        observer: String,
    },
    /// Two sides of a partition each had an active leader after the decision time.
    TwoLeaders {
        /// When it was first seen.
        t: Time,
        /// The leaders seen.
        leaders: Vec<String>,
    },
    /// A live node gave no answer in the final state.
    NoAnswer {
        /// The node.
        node: String,
    },
    /// A live node's `/readyz` was not 200 in the final state.
    NotReady {
        /// The node.
        node: String,
        /// Its status code.
        status: u16,
    },
    /// A live node's `self` is not the id the cluster knows it by.
    StaleSelf {
        /// The node.
        node: String,
        /// Its `self`.
        self_id: String,
        /// The id the others show Up (`None`: no agreed id).
        live_id: Option<String>,
    },
    /// A node's view does not list every live node once, Up, with the agreed id.
    WrongView {
        /// The node.
        node: String,
        /// What is wrong.
        detail: String,
    },
    /// A node cut off from every other, fenced and rejoining (its `self`
    /// changed during the cut and it is not `up`), showed another member Up
    /// and reachable: it has heard from nobody since it fenced.
    FencedView {
        /// The node.
        node: String,
        /// When.
        t: Time,
        /// The members it showed Up and reachable.
        shown: Vec<String>,
    },
    /// A watched remote actor was shown terminated although its member was
    /// not shown down by that node (a death watch must follow the downing
    /// decision, never a suspicion or a cut).
    TerminatedNotDown {
        /// The watcher's node.
        node: String,
        /// The member.
        member: String,
        /// The reason given.
        reason: String,
        /// When.
        t: Time,
    },
    /// A node showed a second `terminated` for the same member: a watch
    /// fired twice (death watch is exactly once).
    TerminatedTwice {
        /// The watcher's node.
        node: String,
        /// The member.
        member: String,
        /// When the second one came.
        t: Time,
    },
    /// A live node's registry listing (`GET /api/services`, key `ping`) is
    /// not the members it shows Up.
    Listing {
        /// The node.
        node: String,
        /// What is wrong.
        detail: String,
    },
    /// Two nodes both ran the singleton after the decision time.
    SingletonTwice {
        /// When (a time within both nodes' run intervals).
        t: Time,
        /// The two nodes.
        nodes: Vec<String>,
    },
    /// The fenced resource stored a smaller token after a larger one.
    FenceBackwards {
        /// The larger token.
        from: i64,
        /// The smaller one stored after it.
        to: i64,
    },
    /// etcd's registrations are not the live members.
    Registrations {
        /// Registered ids.
        registered: Vec<String>,
        /// Live ids.
        live: Vec<String>,
    },
}

impl Violation {
    /// A short name of the rule, for the report.
    pub fn rule(&self) -> &'static str {
        match self {
            Violation::FalseDown { .. } => "false down",
            Violation::CrashNotDown { .. } => "crash not down in time",
            Violation::TwoLeaders { .. } => "two leaders",
            Violation::NoAnswer { .. } => "no answer",
            Violation::NotReady { .. } => "readyz not 200",
            Violation::StaleSelf { .. } => "stale self",
            Violation::WrongView { .. } => "wrong view",
            Violation::FencedView { .. } => "fenced view",
            Violation::TerminatedNotDown { .. } => "terminated without down",
            Violation::TerminatedTwice { .. } => "terminated twice",
            Violation::Listing { .. } => "listing",
            Violation::SingletonTwice { .. } => "singleton twice",
            Violation::FenceBackwards { .. } => "fence backwards",
            Violation::Registrations { .. } => "etcd registrations",
        }
    }
}

/// The figures of a checked history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Distinct members falsely shown down.
    pub false_downs: usize,
    /// Per crash, the time until the last live node showed it down (seconds).
    pub crash_down: Vec<f64>,
    /// Seconds during which two sides had leaders (after the decision time).
    pub two_leader_secs: f64,
    /// Samples of a node cut off alone, fenced and rejoining, that the
    /// fenced-view rule read.
    pub fenced_view_samples: usize,
    /// The singleton rule's figures.
    pub singleton: SingletonFigures,
}

/// The result of [`check`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Every broken rule.
    pub violations: Vec<Violation>,
    /// The figures.
    pub figures: Figures,
}

/// The name part of a member id (`name@addr-gen`).
pub fn id_name(id: &str) -> &str {
    id.split('@').next().unwrap_or(id)
}

/// The generation of a member id (hex after the last `-`).
pub fn id_generation(id: &str) -> Option<u64> {
    let (_, g) = id.rsplit_once('-')?;
    u64::from_str_radix(g, 16).ok()
}

impl History {
    /// The process an id belongs to: same node name, the latest one whose
    /// first id's generation is not above the id's (a rebirth raises it).
    pub fn owner(&self, id: &str) -> Option<&Incarnation> {
        let gen = id_generation(id)?;
        self.incarnations
            .iter()
            .filter(|i| i.node == id_name(id))
            .filter(|i| id_generation(&i.id).is_some_and(|g| g <= gen))
            .max_by_key(|i| id_generation(&i.id))
    }

    fn alive_at(inc: &Incarnation, t: Time) -> bool {
        inc.start <= t && inc.end.is_none_or(|(e, _)| t < e)
    }

    fn faulty_near(&self, node: &str, from: Time, to: Time) -> bool {
        self.faulty
            .iter()
            .any(|f| f.node == node && f.from <= to && f.to >= from)
    }

    /// Every time a node showed a member down: stream downs plus `down`
    /// entries in samples (reason unknown there).
    fn shown_down(&self) -> Vec<(Time, &str, &str, &str)> {
        let mut all: Vec<(Time, &str, &str, &str)> = self
            .downs
            .iter()
            .map(|d| (d.t, d.node.as_str(), d.member.as_str(), d.reason.as_str()))
            .collect();
        for s in &self.samples {
            if let Some(v) = &s.view {
                for (id, status) in &v.members {
                    if status == "down" {
                        all.push((s.t, s.node.as_str(), id.as_str(), ""));
                    }
                }
            }
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all
    }

    /// Whether `node` (any node, with `None`) showed `member` down.
    pub fn showed_down(&self, node: Option<&str>, member: &str) -> bool {
        self.shown_down()
            .iter()
            .any(|(_, by, m, _)| *m == member && node.is_none_or(|n| n == *by))
    }

    /// The live node names at the end.
    pub fn live_nodes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .incarnations
            .iter()
            .filter(|i| i.end.is_none())
            .map(|i| i.node.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Checks every rule; see the module docs and docs/FAULTS.md.
pub fn check(h: &History, b: &Bounds) -> Report {
    let mut report = Report::default();
    false_downs(h, b, &mut report);
    crashes(h, b, &mut report);
    partitions(h, b, &mut report);
    fenced_views(h, &mut report);
    terminated_after_down(h, &mut report);
    super::singleton::check(h, b, &mut report);
    report.violations.extend(final_state(h));
    report
}

/// How long after a `terminated` its member's `down` may still arrive on the
/// same stream: the two come from different actors of the node.
const TERMINATED_SLACK: Time = 1.0;

/// Death watch follows the downing decision: every `terminated` a node shows
/// is about a member that node shows down (before it, or within
/// [`TERMINATED_SLACK`]). A partition or a pause that downs nobody must make
/// no actor terminated.
fn terminated_after_down(h: &History, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for t in &h.terminated {
        // One watch per member on the frontend: a second `terminated` for the
        // same member is a watch that fired twice.
        if !seen.insert((t.node.as_str(), t.member.as_str())) {
            report.violations.push(Violation::TerminatedTwice {
                node: t.node.clone(),
                member: t.member.clone(),
                t: t.t,
            });
        }
        let downed = h
            .downs
            .iter()
            .any(|d| d.node == t.node && d.member == t.member && d.t <= t.t + TERMINATED_SLACK);
        if !downed {
            report.violations.push(Violation::TerminatedNotDown {
                node: t.node.clone(),
                member: t.member.clone(),
                reason: t.reason.clone(),
                t: t.t,
            });
        }
    }
}

/// A live node's `ping` listing must name exactly the members it shows Up.
fn listing_problem(s: &Sample, up: &[&str]) -> Option<String> {
    let listed = s.services.as_ref()?;
    let mut want: Vec<&str> = up.to_vec();
    want.sort_unstable();
    let mut got: Vec<&str> = listed.iter().map(String::as_str).collect();
    got.sort_unstable();
    (got != want).then(|| format!("lists {got:?}, shows Up {want:?}"))
}

/// A node on a partition side of its own hears from nobody. Once it fenced
/// itself and rejoins (its `self` differs from the one it had when the cut
/// began, and its own entry is not `up`), it must show no other member Up and
/// reachable until the heal. One violation per cut at most.
fn fenced_views(h: &History, report: &mut Report) {
    for p in &h.partitions {
        for side in p.sides.iter().filter(|s| s.len() == 1) {
            let node = &side[0];
            let mut samples: Vec<(&Sample, &View)> = h
                .samples
                .iter()
                .filter(|s| &s.node == node && s.t <= p.to)
                .filter_map(|s| s.view.as_ref().map(|v| (s, v)))
                .collect();
            samples.sort_by(|a, b| a.0.t.total_cmp(&b.0.t));
            // Its `self` when the cut began: the last sample before, else the first during.
            let Some(before) = samples
                .iter()
                .rev()
                .find(|(s, _)| s.t <= p.from)
                .or_else(|| samples.iter().find(|(s, _)| s.t >= p.from))
                .map(|(_, v)| v.self_id.clone())
            else {
                continue;
            };
            for (s, v) in samples.iter().filter(|(s, _)| s.t >= p.from) {
                if v.self_id == before || v.own_status() == Some("up") {
                    continue;
                }
                report.figures.fenced_view_samples += 1;
                let shown = v.others_up();
                if !shown.is_empty() {
                    report.violations.push(Violation::FencedView {
                        node: node.clone(),
                        t: s.t,
                        shown: shown.into_iter().map(str::to_owned).collect(),
                    });
                    break;
                }
            }
        }
    }
}

/// No live, healthy member is ever shown down: the first time each member id
/// is shown down (reason `failed`, or a `down` status), its process must be
/// dead, or its node faulty within `grace` before.
fn false_downs(h: &History, b: &Bounds, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for (t, by, member, reason) in h.shown_down() {
        if !seen.insert(member.to_owned()) {
            continue;
        }
        let Some(owner) = h.owner(member) else {
            continue; // not one of ours
        };
        if !History::alive_at(owner, t) {
            continue;
        }
        if reason == "left" && owner.end.is_some_and(|(_, e)| e == Ending::Left) {
            continue;
        }
        if h.faulty_near(&owner.node, t - b.grace, t) {
            continue;
        }
        report.figures.false_downs += 1;
        report.violations.push(Violation::FalseDown {
            member: member.to_owned(),
            by: by.to_owned(),
            t,
        });
    }
}

/// Every crashed member is shown down by every node that lived, healthy,
/// through the bound after the crash (or until the history ends).
fn crashes(h: &History, b: &Bounds, report: &mut Report) {
    let end = h
        .samples
        .iter()
        .map(|s| s.t)
        .chain(h.downs.iter().map(|d| d.t))
        .fold(0.0, f64::max);
    let shown = h.shown_down();
    for c in &h.incarnations {
        let Some((tc, Ending::Crashed)) = c.end else {
            continue;
        };
        // The id it had when it crashed: a rebirth within the process (after
        // a fence, say) changes it; its last sampled `self` tells.
        let crashed_id = h
            .samples
            .iter()
            .filter(|s| s.node == c.node && s.t >= c.start && s.t <= tc)
            .filter_map(|s| s.view.as_ref().map(|v| v.self_id.as_str()))
            .next_back()
            .unwrap_or(c.id.as_str());
        let until = (tc + b.crash_down).min(end);
        let mut worst: f64 = 0.0;
        for o in &h.incarnations {
            if o.node == c.node
                || o.start > tc
                || o.end.is_some_and(|(e, _)| e < until)
                || h.faulty_near(&o.node, tc, until)
            {
                continue;
            }
            let first = shown
                .iter()
                .find(|(t, by, m, _)| *by == o.node && *m == crashed_id && *t >= tc && *t <= until);
            match first {
                Some((t, ..)) => worst = worst.max(t - tc),
                None => report.violations.push(Violation::CrashNotDown {
                    member: crashed_id.to_owned(),
                    observer: o.node.clone(),
                }),
            }
        }
        report.figures.crash_down.push(worst);
    }
}

/// A node is active with a leader at `t` when its latest sample (no older than
/// 2 s) is ready and names a leader on its own side, shown Up.
fn active_leader<'a>(h: &'a History, side: &[String], t: Time) -> Option<&'a str> {
    side.iter().find_map(|node| {
        let s = h
            .samples
            .iter()
            .filter(|s| &s.node == node && s.t <= t && s.t > t - 2.0)
            .max_by(|a, b| a.t.total_cmp(&b.t))?;
        let v = s.view.as_ref()?;
        let leader = v.leader.as_deref()?;
        let up = v.members.iter().any(|(id, st)| id == leader && st == "up");
        (s.ready == Some(200) && up && side.iter().any(|n| n == id_name(leader))).then_some(leader)
    })
}

/// After a partition's decision time, at most one side is active with a leader.
fn partitions(h: &History, b: &Bounds, report: &mut Report) {
    for p in &h.partitions {
        let mut times: Vec<Time> = h
            .samples
            .iter()
            .map(|s| s.t)
            .filter(|t| *t >= p.from + b.decision && *t <= p.to)
            .collect();
        times.sort_by(f64::total_cmp);
        let mut first: Option<(Time, Vec<String>)> = None;
        let mut last_bad: Option<Time> = None;
        for t in times {
            let leaders: Vec<String> = p
                .sides
                .iter()
                .filter_map(|side| active_leader(h, side, t))
                .map(str::to_owned)
                .collect();
            if leaders.len() > 1 {
                if let Some(prev) = last_bad {
                    report.figures.two_leader_secs += (t - prev).min(1.0);
                }
                last_bad = Some(t);
                first.get_or_insert((t, leaders));
            } else {
                last_bad = None;
            }
        }
        if let Some((t, leaders)) = first {
            report.violations.push(Violation::TwoLeaders { t, leaders });
        }
    }
}

/// After the last heal: every live node answers, `/readyz` 200, its view lists
/// every live node exactly once Up with the id every node agrees on, its
/// `self` is that id; etcd's registrations are those ids. Reads each live
/// node's latest sample after `h.healed`.
pub fn final_state(h: &History) -> Vec<Violation> {
    let live = h.live_nodes();
    let mut out = Vec::new();
    let mut last: BTreeMap<&str, &Sample> = BTreeMap::new();
    for s in h.samples.iter().filter(|s| s.t >= h.healed) {
        if live.contains(&s.node.as_str()) && last.get(s.node.as_str()).is_none_or(|p| p.t <= s.t) {
            last.insert(&s.node, s);
        }
    }
    // The id each live node is shown Up under, by a majority of the views.
    let mut votes: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for s in last.values() {
        if let Some(v) = &s.view {
            for (id, st) in &v.members {
                if st == "up" {
                    *votes
                        .entry(id_name(id))
                        .or_default()
                        .entry(id.as_str())
                        .or_default() += 1;
                }
            }
        }
    }
    let views = last.values().filter(|s| s.view.is_some()).count();
    let live_id = |node: &str| -> Option<&str> {
        votes
            .get(node)?
            .iter()
            .find(|(_, n)| **n * 2 > views)
            .map(|(id, _)| *id)
    };
    for node in &live {
        let Some(s) = last.get(node) else {
            out.push(Violation::NoAnswer {
                node: (*node).to_owned(),
            });
            continue;
        };
        let Some(v) = &s.view else {
            out.push(Violation::NoAnswer {
                node: (*node).to_owned(),
            });
            continue;
        };
        match s.ready {
            Some(200) => {}
            other => out.push(Violation::NotReady {
                node: (*node).to_owned(),
                status: other.unwrap_or(0),
            }),
        }
        if live_id(node) != Some(v.self_id.as_str()) {
            out.push(Violation::StaleSelf {
                node: (*node).to_owned(),
                self_id: v.self_id.clone(),
                live_id: live_id(node).map(str::to_owned),
            });
        }
        let up: Vec<&str> = v
            .members
            .iter()
            .filter(|(_, st)| st == "up")
            .map(|(id, _)| id.as_str())
            .collect();
        if let Some(detail) = listing_problem(s, &up) {
            out.push(Violation::Listing {
                node: (*node).to_owned(),
                detail,
            });
        }
        let mut problems = Vec::new();
        for want in &live {
            let shown: Vec<&&str> = up.iter().filter(|id| id_name(id) == *want).collect();
            match (shown.as_slice(), live_id(want)) {
                ([one], Some(agreed)) if **one == agreed => {}
                ([], _) => problems.push(format!("{want} not Up")),
                (ids, agreed) => problems.push(format!(
                    "{want} Up as {ids:?}, agreed id {}",
                    agreed.unwrap_or("none")
                )),
            }
        }
        for id in &up {
            if !live.contains(&id_name(id)) {
                problems.push(format!("{id} Up but not live"));
            }
        }
        if !problems.is_empty() {
            out.push(Violation::WrongView {
                node: (*node).to_owned(),
                detail: problems.join("; "),
            });
        }
    }
    if let Some(reg) = &h.registrations {
        let mut live_ids: Vec<String> = live
            .iter()
            .filter_map(|n| live_id(n).map(str::to_owned))
            .collect();
        live_ids.sort();
        let mut reg = reg.clone();
        reg.sort();
        if reg != live_ids {
            out.push(Violation::Registrations {
                registered: reg,
                live: live_ids,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize, gen: u64) -> String {
        format!("n{n}@10.213.0.{n}:7946-{gen:x}")
    }

    fn failed(t: Time, by: &str, member: String) -> DownSeen {
        DownSeen {
            t,
            node: by.into(),
            member,
            reason: "failed".into(),
        }
    }

    fn view(me: usize, gen: &[u64], up: &[usize], leader: usize) -> View {
        View {
            self_id: id(me, gen[me - 1]),
            leader: Some(id(leader, gen[leader - 1])),
            members: up
                .iter()
                .map(|&n| (id(n, gen[n - 1]), "up".into()))
                .collect(),
            unreachable: vec![],
        }
    }

    /// Three nodes, stable and Up for 20 s, then a clean end: accepted.
    fn clean() -> History {
        let gen = [0x100, 0x200, 0x300];
        let mut h = History {
            incarnations: (1..=3)
                .map(|n| Incarnation {
                    node: format!("n{n}"),
                    id: id(n, gen[n - 1]),
                    start: 0.0,
                    end: None,
                })
                .collect(),
            registrations: Some((1..=3).map(|n| id(n, gen[n - 1])).collect()),
            ..History::default()
        };
        for k in 0..40 {
            for n in 1..=3 {
                h.samples.push(Sample {
                    t: 1.0 + k as f64 * 0.5,
                    node: format!("n{n}"),
                    ready: Some(200),
                    view: Some(view(n, &gen, &[1, 2, 3], 1)),
                    services: None,
                });
            }
        }
        h
    }

    #[test]
    fn a_clean_history_is_accepted() {
        let r = check(&clean(), &Bounds::default());
        assert_eq!(r.violations, vec![]);
        assert_eq!(r.figures.false_downs, 0);
    }

    #[test]
    fn a_false_down_is_rejected_and_a_faulty_one_is_not() {
        let mut h = clean();
        h.downs.push(failed(5.0, "n1", id(3, 0x300)));
        let r = check(&h, &Bounds::default());
        assert_eq!(r.figures.false_downs, 1);
        assert!(
            matches!(&r.violations[0], Violation::FalseDown { member, by, .. } if member == &id(3, 0x300) && by == "n1"),
            "{:?}",
            r.violations
        );
        // The same verdict about a member declared faulty just before is allowed.
        h.faulty.push(Faulty {
            node: "n3".into(),
            from: 2.0,
            to: 4.0,
        });
        assert_eq!(check(&h, &Bounds::default()).violations, vec![]);
    }

    #[test]
    fn a_down_status_in_a_sample_counts_as_shown_down() {
        let mut h = clean();
        let gen = [0x100, 0x200, 0x300];
        let mut v = view(2, &gen, &[1, 2], 1);
        v.members.push((id(3, 0x300), "down".into()));
        h.samples.push(Sample {
            t: 3.0,
            node: "n2".into(),
            ready: Some(200),
            view: Some(v),
            services: None,
        });
        assert_eq!(check(&h, &Bounds::default()).figures.false_downs, 1);
    }

    #[test]
    fn a_terminated_without_a_down_is_rejected_and_after_one_accepted() {
        let mut h = clean();
        let seen = |t| TerminatedSeen {
            t,
            node: "n1".into(),
            member: id(3, 0x300),
            reason: "failed".into(),
        };
        h.terminated.push(seen(6.0));
        let v = check(&h, &Bounds::default()).violations;
        assert!(
            matches!(&v[..], [Violation::TerminatedNotDown { node, .. }] if node == "n1"),
            "{v:?}"
        );
        // Shown down by the same node just before: the watch followed the decision.
        h.downs.push(failed(5.8, "n1", id(3, 0x300)));
        let v = check(&h, &Bounds::default()).violations;
        assert!(
            !v.iter().any(|x| x.rule() == "terminated without down"),
            "{v:?}"
        );
    }

    #[test]
    fn a_listing_short_of_the_members_up_is_rejected() {
        let mut h = clean();
        let gen = [0x100, 0x200, 0x300];
        for s in h.samples.iter_mut() {
            s.services = Some((1..=3).map(|m| id(m, gen[m - 1])).collect());
        }
        assert_eq!(check(&h, &Bounds::default()).violations, vec![]);
        for s in h.samples.iter_mut().filter(|s| s.node == "n2") {
            s.services = Some((1..=2).map(|m| id(m, gen[m - 1])).collect());
        }
        let v = check(&h, &Bounds::default()).violations;
        assert!(
            matches!(&v[..], [Violation::Listing { node, .. }] if node == "n2"),
            "{v:?}"
        );
    }

    #[test]
    fn a_stuck_readyz_is_rejected() {
        let mut h = clean();
        for s in h.samples.iter_mut().filter(|s| s.node == "n2") {
            s.ready = Some(503);
        }
        let v = check(&h, &Bounds::default()).violations;
        assert_eq!(
            v,
            vec![Violation::NotReady {
                node: "n2".into(),
                status: 503
            }]
        );
    }

    /// n3 is cut off alone from 5 s to 15 s and fenced (reborn as 0x301,
    /// joining) at 10 s: showing n1 Up and unreachable is right, showing n2
    /// Up and reachable is not.
    #[test]
    fn a_fenced_node_that_shows_others_up_is_rejected() {
        let mut h = clean();
        h.partitions.push(Partition {
            sides: vec![vec!["n1".into(), "n2".into()], vec!["n3".into()]],
            from: 5.0,
            to: 15.0,
        });
        h.faulty.push(Faulty {
            node: "n3".into(),
            from: 5.0,
            to: 15.0,
        });
        let gen = [0x100, 0x200, 0x301];
        let fenced = |s: &mut Sample, reachable_n2: bool| {
            let mut v = view(3, &gen, &[1, 2], 1);
            v.members.push((id(3, 0x301), "joining".into()));
            v.unreachable.push(id(1, 0x100));
            if !reachable_n2 {
                v.unreachable.push(id(2, 0x200));
            }
            v.leader = None;
            s.view = Some(v);
        };
        for s in h.samples.iter_mut().filter(|s| s.node == "n3") {
            if s.t >= 10.0 && s.t < 15.0 {
                fenced(s, false);
            }
        }
        let r = check(&h, &Bounds::default());
        assert!(
            !r.violations.iter().any(|v| v.rule() == "fenced view"),
            "{:?}",
            r.violations
        );
        assert_eq!(r.figures.fenced_view_samples, 10);
        for s in h.samples.iter_mut().filter(|s| s.node == "n3") {
            if s.t >= 12.0 && s.t < 15.0 {
                fenced(s, true);
            }
        }
        let r = check(&h, &Bounds::default());
        let got: Vec<&Violation> = r
            .violations
            .iter()
            .filter(|v| v.rule() == "fenced view")
            .collect();
        assert_eq!(
            got,
            vec![&Violation::FencedView {
                node: "n3".into(),
                t: 12.0,
                shown: vec![id(2, 0x200)],
            }]
        );
    }

    #[test]
    fn a_stale_self_after_a_rebirth_is_rejected() {
        // n3 was reborn as generation 0x301: everyone shows it Up so, but its
        // own `self` still says 0x300.
        let mut h = clean();
        let gen = [0x100, 0x200, 0x301];
        for s in h.samples.iter_mut().filter(|s| s.t > 10.0) {
            let n: usize = s.node[1..].parse().unwrap();
            let mut v = view(n, &gen, &[1, 2, 3], 1);
            if n == 3 {
                v.self_id = id(3, 0x300);
            }
            s.view = Some(v);
        }
        h.registrations = Some(vec![id(1, 0x100), id(2, 0x200), id(3, 0x301)]);
        let v = final_state(&h);
        assert_eq!(
            v,
            vec![Violation::StaleSelf {
                node: "n3".into(),
                self_id: id(3, 0x300),
                live_id: Some(id(3, 0x301)),
            }]
        );
    }

    #[test]
    fn two_leaders_after_the_decision_time_are_rejected() {
        let mut h = clean();
        let gen = [0x100, 0x200, 0x300];
        // A partition {n1, n2} | {n3} from 2 s to 18 s; n3 leads itself.
        h.partitions.push(Partition {
            sides: vec![vec!["n1".into(), "n2".into()], vec!["n3".into()]],
            from: 2.0,
            to: 18.0,
        });
        h.faulty.push(Faulty {
            node: "n3".into(),
            from: 2.0,
            to: 18.0,
        });
        for s in h.samples.iter_mut().filter(|s| s.t > 4.0 && s.t < 18.0) {
            let n: usize = s.node[1..].parse().unwrap();
            s.view = Some(if n == 3 {
                view(3, &gen, &[3], 3)
            } else {
                view(n, &gen, &[1, 2], 1)
            });
        }
        let r = check(&h, &Bounds::default());
        assert!(
            matches!(&r.violations[..], [Violation::TwoLeaders { t, leaders }] if *t >= 12.0 && leaders.len() == 2),
            "{:?}",
            r.violations
        );
        assert!(r.figures.two_leader_secs > 4.0, "{:?}", r.figures);
        // The minority stepping down (not ready) by the decision time is fine.
        for s in h
            .samples
            .iter_mut()
            .filter(|s| s.node == "n3" && s.t > 10.0 && s.t < 18.0)
        {
            s.ready = Some(503);
        }
        assert_eq!(check(&h, &Bounds::default()).violations, vec![]);
    }

    #[test]
    fn a_crash_must_be_shown_down_by_every_live_node_in_time() {
        let mut h = clean();
        h.incarnations[2].end = Some((10.0, Ending::Crashed));
        h.registrations = Some(vec![id(1, 0x100), id(2, 0x200)]);
        let gen = [0x100, 0x200, 0x300];
        for s in h.samples.iter_mut().filter(|s| s.t > 10.0) {
            let n: usize = s.node[1..].parse().unwrap();
            if n == 3 {
                s.ready = None;
                s.view = None;
            } else {
                s.view = Some(view(n, &gen, &[1, 2], 1));
            }
        }
        h.samples.retain(|s| s.node != "n3" || s.t <= 10.0);
        h.downs.push(failed(12.0, "n1", id(3, 0x300)));
        let r = check(&h, &Bounds::default());
        assert_eq!(
            r.violations,
            vec![Violation::CrashNotDown {
                member: id(3, 0x300),
                observer: "n2".into()
            }]
        );
        h.downs.push(failed(13.5, "n2", id(3, 0x300)));
        let r = check(&h, &Bounds::default());
        assert_eq!(r.violations, vec![]);
        assert_eq!(r.figures.crash_down, vec![3.5]);
    }

    #[test]
    fn a_crash_after_a_rebirth_must_show_the_id_it_crashed_with() {
        let mut h = clean();
        // n3 was reborn as 0x301 at 5 s (its samples say so), then crashed.
        for s in h.samples.iter_mut().filter(|s| s.node == "n3" && s.t > 5.0) {
            s.view = Some(view(3, &[0x100, 0x200, 0x301], &[1, 2, 3], 1));
        }
        h.incarnations[2].end = Some((10.0, Ending::Crashed));
        h.registrations = Some(vec![id(1, 0x100), id(2, 0x200)]);
        let gen = [0x100, 0x200, 0x301];
        for s in h.samples.iter_mut().filter(|s| s.t > 10.0) {
            let n: usize = s.node[1..].parse().unwrap();
            if n != 3 {
                s.view = Some(view(n, &gen, &[1, 2], 1));
            }
        }
        h.samples.retain(|s| s.node != "n3" || s.t <= 10.0);
        // The old id shown down proves nothing about the crash...
        h.downs.push(failed(12.0, "n1", id(3, 0x300)));
        h.downs.push(failed(12.0, "n2", id(3, 0x300)));
        let r = check(&h, &Bounds::default());
        assert!(
            r.violations.iter().any(
                |v| matches!(v, Violation::CrashNotDown { member, .. } if *member == id(3, 0x301))
            ),
            "{:?}",
            r.violations
        );
        // ...the id it crashed with does.
        h.downs.push(failed(12.5, "n1", id(3, 0x301)));
        h.downs.push(failed(13.0, "n2", id(3, 0x301)));
        assert_eq!(check(&h, &Bounds::default()).violations, vec![]);
    }

    #[test]
    fn registrations_must_match_the_live_members() {
        let mut h = clean();
        h.registrations = Some(vec![id(1, 0x100), id(2, 0x200), id(3, 0x2ff)]);
        assert!(matches!(
            &final_state(&h)[..],
            [Violation::Registrations { .. }]
        ));
    }

    #[test]
    fn owners_follow_rebirths_and_restarts() {
        let mut h = clean();
        h.incarnations[2].end = Some((10.0, Ending::Crashed));
        h.incarnations.push(Incarnation {
            node: "n3".into(),
            id: id(3, 0x900),
            start: 11.0,
            end: None,
        });
        assert_eq!(h.owner(&id(3, 0x301)).unwrap().start, 0.0);
        assert_eq!(h.owner(&id(3, 0x901)).unwrap().start, 11.0);
        assert!(h.owner("m@1.2.3.4:5-1").is_none());
    }
}
