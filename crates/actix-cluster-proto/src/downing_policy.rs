//! Downing: the decision that turns unreachable members into `Down`.
//!
//! Failure detection only *observes*: a suspected member is `Unreachable`, and
//! that is reversible. This module *decides*, on a reachability [`Picture`]
//! that the core builds once nothing is pending (see `docs/PROTOCOL.md`,
//! "Downing"): which side of the cluster survives. The side that survives
//! downs the members it cannot reach; the side that loses fences itself. A
//! [`DowningStrategy`] is that one rule; [`Strategy`] holds the built-in ones
//! (Akka's split brain resolver strategies).

use std::time::Duration;

use crate::error::ConfigError;
use crate::id::MemberId;

/// The built-in downing strategies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The side with more than half of the members survives; on a tie the side
    /// with the member of the lowest address (then id) survives. The default
    /// without an arbiter.
    KeepMajority,
    /// A side survives if it has at least this many members; a side smaller
    /// than the quorum fences itself. (With a quorum of at most half the
    /// cluster, two sides could both survive: choose more than half of the
    /// largest size the cluster will have.)
    StaticQuorum(usize),
    /// The side with the oldest member (the leader: lowest up number)
    /// survives. With `down_if_alone`, an oldest member that is alone on its
    /// side is downed instead and the other side survives.
    KeepOldest {
        /// Down the oldest member when it is alone on its side.
        down_if_alone: bool,
    },
    /// Every side fences itself: a partition ends the cluster (for
    /// applications that prefer a full restart to any split).
    DownAll,
    /// The side that wins an arbiter (etcd) transaction survives; the side that
    /// is a minority (by [`Strategy::KeepMajority`]'s rule) asks only after
    /// [`DowningConfig::acquire_delay_for_minority`], and a side that cannot
    /// reach the arbiter cannot win. The default with etcd.
    LeaseMajority,
}

impl Strategy {
    /// Parses `keep-majority`, `static-quorum:N`, `keep-oldest`,
    /// `keep-oldest:down-if-alone`, `down-all` or `lease-majority`.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s.trim() {
            "keep-majority" => Some(Strategy::KeepMajority),
            "keep-oldest" => Some(Strategy::KeepOldest {
                down_if_alone: false,
            }),
            "keep-oldest:down-if-alone" => Some(Strategy::KeepOldest {
                down_if_alone: true,
            }),
            "down-all" => Some(Strategy::DownAll),
            "lease-majority" => Some(Strategy::LeaseMajority),
            other => {
                let n = other.strip_prefix("static-quorum:")?.parse().ok()?;
                (n > 0).then_some(Strategy::StaticQuorum(n))
            }
        }
    }

    /// The name [`Strategy::parse`] reads.
    pub fn name(&self) -> String {
        match self {
            Strategy::KeepMajority => "keep-majority".into(),
            Strategy::StaticQuorum(n) => format!("static-quorum:{n}"),
            Strategy::KeepOldest {
                down_if_alone: false,
            } => "keep-oldest".into(),
            Strategy::KeepOldest {
                down_if_alone: true,
            } => "keep-oldest:down-if-alone".into(),
            Strategy::DownAll => "down-all".into(),
            Strategy::LeaseMajority => "lease-majority".into(),
        }
    }
}

/// What a fenced member (one on a side that lost) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFenced {
    /// Become a new member (generation + 1) and keep asking the members it
    /// knew to let it join; only a member of the surviving side (`Up`) can
    /// accept it, so it rejoins once it can reach them. Until then it is
    /// `Joining`, with no leader.
    Rejoin,
    /// Stop: the core goes silent like after a leave, and the driver stops
    /// (the actix layer stops the `System`).
    Stop,
}

/// The `downing` section of [`Config`](crate::Config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DowningConfig {
    /// The rule that picks the surviving side. Default: keep-majority.
    pub strategy: Strategy,
    /// How long the reachability picture must stay unchanged (and nothing be
    /// pending) before a decision. Default (lan): 500 ms.
    pub stable_after: Duration,
    /// Pauses shorter than this never down a member: a member is downable only
    /// once it has been suspected for this long. Default (lan): 4 s.
    pub max_pause: Duration,
    /// What a member on a losing side does. Default: rejoin.
    pub on_fenced: OnFenced,
    /// With [`Strategy::LeaseMajority`], how long a minority side waits before
    /// it asks the arbiter (so that a majority that can reach it wins). Default
    /// 2 s.
    pub acquire_delay_for_minority: Duration,
    /// Flap memory (a member that keeps failing probes while it refutes
    /// each suspicion, docs/PROTOCOL.md §5): its fresh suspicions (of new
    /// incarnations) in each of the last two windows of `max_pause` plus
    /// the refutation spread must exceed what noise explains by this
    /// margin to make it unreachable for the decision. With `m` the other
    /// members' average in a window and `l = max(m, 1)`, a window must hold
    /// at least `ceil(l + 4 sqrt(l))` plus this, and more than `3 m`. 0
    /// turns the rule off; so does `Config::lifeguard` off (only a node in
    /// good local health decides on flap evidence). Default (lan): 3 (8 per
    /// window while the others average at most 1).
    pub flap_refutations: u32,
    /// Flap memory: the distinct suspecters (members whose own probe of it
    /// failed) the last window needs. At least 2: the other end of one bad
    /// link is one suspecter. Default (lan): 3.
    pub flap_observers: u32,
}

impl DowningConfig {
    /// The lan defaults.
    pub fn lan() -> Self {
        DowningConfig {
            strategy: Strategy::KeepMajority,
            stable_after: Duration::from_millis(500),
            max_pause: Duration::from_secs(4),
            on_fenced: OnFenced::Rejoin,
            acquire_delay_for_minority: Duration::from_secs(2),
            flap_refutations: 3,
            flap_observers: 3,
        }
    }

    /// This config with flap memory on (a margin of 3, see
    /// [`DowningConfig::flap_refutations`];
    /// [`DowningConfig::flap_observers`] unchanged): a member that refutes
    /// every suspicion while most of its packets are lost is downed. The
    /// lan default already is.
    pub fn with_flap_memory(mut self) -> Self {
        self.flap_refutations = 3;
        self
    }

    /// This config with flap memory off: a member is downed only once a
    /// suspicion of it outlives `max_pause` (or it is proven dead).
    pub fn without_flap_memory(mut self) -> Self {
        self.flap_refutations = 0;
        self
    }

    /// Returns the first bad field, named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError { field, reason });
        let day = Duration::from_secs(24 * 3600);
        if self.stable_after.is_zero() || self.stable_after > day {
            return bad(
                "downing.stable_after",
                format!("{:?} must be in (0, 24 h]", self.stable_after),
            );
        }
        if self.max_pause > day {
            return bad(
                "downing.max_pause",
                format!("{:?} is too long (at most 24 h)", self.max_pause),
            );
        }
        if self.acquire_delay_for_minority > day {
            return bad(
                "downing.acquire_delay_for_minority",
                format!(
                    "{:?} is too long (at most 24 h)",
                    self.acquire_delay_for_minority
                ),
            );
        }
        if self.flap_refutations > 0 && self.flap_observers < 2 {
            return bad(
                "downing.flap_observers",
                format!(
                    "{} is too few: one bad link has one other end, so at least 2",
                    self.flap_observers
                ),
            );
        }
        if self.strategy == Strategy::StaticQuorum(0) {
            return bad(
                "downing.strategy",
                "static-quorum needs a quorum of at least 1".into(),
            );
        }
        Ok(())
    }
}

/// One member in a [`Picture`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Who.
    pub id: MemberId,
    /// Its up number (age: lower is older; 0 = not `Up` yet).
    pub up_number: u64,
    /// Whether it counts for the sizes of sides (`Up` or `Leaving`; a
    /// `Joining` member is downed with its side but counts for neither).
    pub counts: bool,
}

impl Seen {
    /// Keep-majority's tie-break order: the lowest address first.
    pub(crate) fn tie_order(&self) -> (std::net::SocketAddr, MemberId) {
        (self.id.addr, self.id.clone())
    }

    /// Keep-oldest's order: the lowest up number first, not yet `Up` last.
    pub(crate) fn age_order(&self) -> (bool, u64, MemberId) {
        (self.up_number == 0, self.up_number, self.id.clone())
    }
}

/// The reachability picture a strategy decides on: this node's side (the
/// members it can reach, itself included), the members it cannot reach, and
/// those it cannot tell (suspected by too few observers). Built only when the
/// picture has been stable and nothing is pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    /// This node.
    pub me: MemberId,
    /// The members this side can reach, this node included.
    pub reachable: Vec<Seen>,
    /// The members this side cannot reach (confirmed by enough observers).
    pub unreachable: Vec<Seen>,
    /// Suspected by too few observers to tell: on neither side, they count
    /// against this side's share (a side survives only on members it is sure
    /// of) and are not downed.
    pub unknown: Vec<Seen>,
}

impl Picture {
    fn counted(side: &[Seen]) -> impl Iterator<Item = &Seen> {
        side.iter().filter(|s| s.counts)
    }

    /// Members of this side that count.
    pub fn ours(&self) -> usize {
        Self::counted(&self.reachable).count()
    }

    /// Members of the other side(s) that count.
    pub fn theirs(&self) -> usize {
        Self::counted(&self.unreachable).count()
    }

    /// Every counted member: ours, theirs and those we cannot tell.
    pub fn total(&self) -> usize {
        self.ours() + self.theirs() + Self::counted(&self.unknown).count()
    }

    /// Keep-majority: more than half of all counted members, or exactly half
    /// with the member of the lowest address of them all.
    pub fn majority(&self) -> bool {
        let (ours, total) = (self.ours(), self.total());
        if ours * 2 != total {
            return ours * 2 > total;
        }
        let lowest = |side: &[Seen]| Self::counted(side).map(Seen::tie_order).min();
        let mine = lowest(&self.reachable);
        let other = [lowest(&self.unreachable), lowest(&self.unknown)]
            .into_iter()
            .flatten()
            .min();
        match (mine, other) {
            (Some(a), Some(b)) => a < b,
            (a, _) => a.is_some(),
        }
    }

    /// The oldest counted member overall and whether it is on our side.
    fn oldest(&self) -> Option<(bool, &Seen)> {
        let ours = Self::counted(&self.reachable).map(|s| (true, s));
        let theirs = Self::counted(&self.unreachable)
            .chain(Self::counted(&self.unknown))
            .map(|s| (false, s));
        ours.chain(theirs).min_by_key(|(_, s)| s.age_order())
    }
}

/// What a strategy says about this node's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideVerdict {
    /// This side survives: down the unreachable members.
    Survive,
    /// This side loses: fence this node.
    Fence,
    /// Ask the arbiter (lease-majority); `delay` before asking.
    Arbitrate {
        /// How long to wait before asking (the minority's delay, or zero).
        delay: Duration,
    },
}

/// A downing rule: pluggable, like Akka's downing provider. It sees a stable
/// [`Picture`] with at least one unreachable member and says whether this
/// node's side survives.
pub trait DowningStrategy: std::fmt::Debug {
    /// The verdict for this node's side.
    fn decide(&self, picture: &Picture, config: &DowningConfig) -> SideVerdict;
}

impl DowningStrategy for Strategy {
    fn decide(&self, p: &Picture, config: &DowningConfig) -> SideVerdict {
        let survive = |yes: bool| {
            if yes {
                SideVerdict::Survive
            } else {
                SideVerdict::Fence
            }
        };
        match self {
            Strategy::KeepMajority => survive(p.majority()),
            Strategy::StaticQuorum(q) => survive(p.ours() >= *q),
            Strategy::KeepOldest { down_if_alone } => match p.oldest() {
                None => SideVerdict::Fence,
                Some((ours, _)) if *down_if_alone && p.ours() + p.theirs() > 2 => {
                    let alone = if ours { p.ours() } else { p.theirs() } == 1;
                    survive(ours != alone)
                }
                Some((ours, _)) => survive(ours),
            },
            Strategy::DownAll => SideVerdict::Fence,
            Strategy::LeaseMajority => SideVerdict::Arbitrate {
                delay: if p.majority() {
                    Duration::ZERO
                } else {
                    config.acquire_delay_for_minority
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(i: u8, up: u64) -> Seen {
        let addr = format!("10.0.0.{i}:7946").parse().unwrap();
        Seen {
            id: MemberId::new(format!("n{i}"), addr, 1),
            up_number: up,
            counts: true,
        }
    }

    /// Members `ours` reachable (this node first), `theirs` not; up numbers
    /// are the member numbers.
    fn picture(ours: &[u8], theirs: &[u8]) -> Picture {
        Picture {
            me: seen(ours[0], u64::from(ours[0])).id,
            reachable: ours.iter().map(|&i| seen(i, u64::from(i))).collect(),
            unreachable: theirs.iter().map(|&i| seen(i, u64::from(i))).collect(),
            unknown: Vec::new(),
        }
    }

    fn verdict(s: &Strategy, ours: &[u8], theirs: &[u8]) -> SideVerdict {
        s.decide(&picture(ours, theirs), &DowningConfig::lan())
    }

    use SideVerdict::{Fence, Survive};

    #[test]
    fn keep_majority_keeps_the_larger_side_and_breaks_ties_by_lowest_address() {
        let s = Strategy::KeepMajority;
        assert_eq!(verdict(&s, &[1, 2, 3], &[4, 5]), Survive);
        assert_eq!(verdict(&s, &[4, 5], &[1, 2, 3]), Fence);
        assert_eq!(
            verdict(&s, &[1, 4], &[2, 3]),
            Survive,
            "tie: lowest address"
        );
        assert_eq!(verdict(&s, &[2, 3], &[1, 4]), Fence);
        assert_eq!(verdict(&s, &[5], &[1, 2, 3, 4]), Fence, "an isolated node");
        // Joining members count for neither side.
        let mut p = picture(&[4, 5], &[1, 2, 3]);
        for s in &mut p.unreachable[..2] {
            s.counts = false;
        }
        assert_eq!(
            Strategy::KeepMajority.decide(&p, &DowningConfig::lan()),
            Survive
        );
        // Members we cannot tell count against us: 4 sure of 10 is no majority.
        let mut p = picture(&[6, 7, 8, 9], &[1, 2, 3, 4, 5]);
        p.unknown.push(seen(10, 10));
        assert_eq!(
            Strategy::KeepMajority.decide(&p, &DowningConfig::lan()),
            Fence
        );
        let mut p = picture(&[1, 2, 3, 4, 5, 6], &[7, 8, 9]);
        p.unknown.push(seen(10, 10));
        assert_eq!(
            Strategy::KeepMajority.decide(&p, &DowningConfig::lan()),
            Survive
        );
    }

    #[test]
    fn static_quorum_keep_oldest_and_down_all() {
        let q = Strategy::StaticQuorum(3);
        assert_eq!(verdict(&q, &[1, 2, 3], &[4, 5]), Survive);
        assert_eq!(verdict(&q, &[4, 5], &[1, 2, 3]), Fence);
        let o = Strategy::KeepOldest {
            down_if_alone: false,
        };
        assert_eq!(verdict(&o, &[1, 5], &[2, 3, 4]), Survive, "has the oldest");
        assert_eq!(verdict(&o, &[2, 3, 4], &[1, 5]), Fence);
        assert_eq!(verdict(&o, &[1], &[2, 3, 4]), Survive, "alone, kept");
        let alone = Strategy::KeepOldest {
            down_if_alone: true,
        };
        assert_eq!(verdict(&alone, &[1], &[2, 3, 4]), Fence, "alone, downed");
        assert_eq!(verdict(&alone, &[2, 3, 4], &[1]), Survive);
        assert_eq!(verdict(&alone, &[1, 5], &[2, 3, 4]), Survive);
        assert_eq!(verdict(&Strategy::DownAll, &[1, 2, 3], &[4]), Fence);
    }

    #[test]
    fn lease_majority_asks_at_once_as_majority_and_late_as_minority() {
        let l = Strategy::LeaseMajority;
        let cfg = DowningConfig::lan();
        assert_eq!(
            verdict(&l, &[1, 2, 3], &[4, 5]),
            SideVerdict::Arbitrate {
                delay: Duration::ZERO
            }
        );
        assert_eq!(
            verdict(&l, &[4, 5], &[1, 2, 3]),
            SideVerdict::Arbitrate {
                delay: cfg.acquire_delay_for_minority
            }
        );
    }

    #[test]
    fn strategies_parse_and_print() {
        for s in [
            "keep-majority",
            "static-quorum:3",
            "keep-oldest",
            "keep-oldest:down-if-alone",
            "down-all",
            "lease-majority",
        ] {
            assert_eq!(Strategy::parse(s).map(|s| s.name()).as_deref(), Some(s));
        }
        for bad in ["", "static-quorum:0", "static-quorum:x", "majority"] {
            assert_eq!(Strategy::parse(bad), None, "{bad}");
        }
    }
}
