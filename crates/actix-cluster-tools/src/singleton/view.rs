//! The manager's view of the cluster and its one rule: which member should
//! host the singleton, and may this member start it now. No actix, no
//! clock: the manager feeds it membership events and peer news.

use std::collections::{BTreeMap, BTreeSet};

use actix_cluster::{DownReason, Event, MemberId, MemberInfo, Status};

/// What an event did to the members that may still run an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing that matters to the singleton.
    None,
    /// The candidates or the gates changed: decide again.
    Decide,
    /// This member is down or reborn: stop the instance before anything else.
    SelfGone,
    /// A member that may run an instance left without handing over: it is
    /// taken as stopped only after the left grace.
    LeftUnannounced(MemberId),
}

/// One member's view, as far as the singleton cares.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// This member (changes on a rebirth).
    me: Option<MemberId>,
    /// The role the singleton is limited to.
    role: Option<String>,
    /// Members `Up` in this view (reachable or not: a suspicion moves
    /// nothing), with whether they have the role and their age (up number).
    up: BTreeMap<MemberId, (bool, u64)>,
    /// Whether this node names a leader: false while it is joining, down, or
    /// sees itself in a minority (the losing side steps down before the
    /// surviving side decides).
    has_leader: bool,
    /// Members that handed over and are leaving: never hosts again.
    retired: BTreeSet<MemberId>,
    /// Other members that may be running an instance: they announced a
    /// start and neither announced a stop nor are down (or their grace after
    /// an unannounced leave has not run out).
    running: BTreeSet<MemberId>,
    /// This member is down (left, fenced, failed): it never hosts again
    /// under this id.
    self_gone: bool,
    /// Members down in this view and not yet removed: a late announcement
    /// from one of them is ignored.
    down: BTreeSet<MemberId>,
}

impl View {
    pub(crate) fn new(role: Option<String>) -> Self {
        View {
            role,
            ..View::default()
        }
    }

    pub(crate) fn me(&self) -> Option<&MemberId> {
        self.me.as_ref()
    }

    pub(crate) fn set_me(&mut self, me: MemberId) {
        self.me = Some(me);
    }

    /// The member that should host: the oldest `Up` member of the role in
    /// this view (the lowest up number, the order in which members became
    /// `Up`, as the protocol's leader; then the id), without retired members.
    /// Not the generation: a member reborn after a fence keeps an old
    /// process start time, and would take the singleton back after a heal. `None` while this node names
    /// no leader or is down itself.
    pub(crate) fn target(&self) -> Option<&MemberId> {
        if !self.has_leader || self.self_gone {
            return None;
        }
        self.up
            .iter()
            .filter(|(id, (has_role, _))| *has_role && !self.retired.contains(*id))
            .min_by_key(|(id, (_, up_number))| (*up_number, *id))
            .map(|(id, _)| id)
    }

    /// Whether this member may start an instance now: it is the target and
    /// no other member may still be running one.
    pub(crate) fn may_start(&self) -> bool {
        self.me.is_some() && self.target() == self.me.as_ref() && self.running.is_empty()
    }

    /// Whether this member should keep an instance it runs.
    pub(crate) fn should_run(&self) -> bool {
        self.me.is_some() && self.target() == self.me.as_ref()
    }

    /// Other members that may be running an instance.
    pub(crate) fn running(&self) -> &BTreeSet<MemberId> {
        &self.running
    }

    /// Whether the claim held by `holder` (a member id's string form) may be
    /// displaced: only once that member is neither `Up` nor possibly running
    /// an instance in this view (down, or never seen: a stale key).
    pub(crate) fn may_displace(&self, holder: &str) -> bool {
        match holder.parse::<MemberId>() {
            Ok(h) => !self.up.contains_key(&h) && !self.running.contains(&h),
            Err(_) => true,
        }
    }

    /// The members `Up` in this view.
    pub(crate) fn up_members(&self) -> impl Iterator<Item = &MemberId> {
        self.up.keys()
    }

    /// A peer announced a start.
    pub(crate) fn started(&mut self, member: MemberId) -> Change {
        if Some(&member) == self.me.as_ref() || self.gone(&member) {
            return Change::None;
        }
        self.running.insert(member);
        Change::Decide
    }

    /// A peer announced that its instance stopped (`retire`: and it never
    /// hosts again, it is leaving).
    pub(crate) fn stopped(&mut self, member: &MemberId, retire: bool) -> Change {
        let was = self.running.remove(member);
        let newly_retired = retire && self.retired.insert(member.clone());
        if was || newly_retired {
            Change::Decide
        } else {
            Change::None
        }
    }

    /// A peer is about to hand over (it stops hosting for good).
    pub(crate) fn retiring(&mut self, member: MemberId) -> Change {
        if self.retired.insert(member) {
            Change::Decide
        } else {
            Change::None
        }
    }

    /// This member hands over: it never hosts again.
    pub(crate) fn retire_self(&mut self) {
        if let Some(me) = self.me.clone() {
            self.retired.insert(me);
        }
    }

    /// The left grace of `member` ran out: its instance is taken as stopped.
    pub(crate) fn grace_over(&mut self, member: &MemberId) -> Change {
        if self.running.remove(member) {
            Change::Decide
        } else {
            Change::None
        }
    }

    fn gone(&self, member: &MemberId) -> bool {
        self.down.contains(member) || self.retired.contains(member)
    }

    fn has_role(&self, info: &MemberInfo) -> bool {
        self.role.as_ref().is_none_or(|r| info.roles.contains(r))
    }

    /// Applies a membership event.
    pub(crate) fn apply(&mut self, event: &Event) -> Change {
        match event {
            Event::Up(info) | Event::Updated(info) | Event::Reachable(info)
                if info.status == Status::Up =>
            {
                let has_role = self.has_role(info);
                let entry = (has_role, info.up_number);
                let before = self.up.insert(info.id.clone(), entry);
                if before == Some(entry) {
                    Change::None
                } else {
                    Change::Decide
                }
            }
            Event::LeaderChanged(leader) => {
                let has = leader.is_some();
                if has == self.has_leader {
                    return Change::None;
                }
                self.has_leader = has;
                Change::Decide
            }
            Event::Leaving(info) => self.left(&info.id),
            Event::Down { member, reason } => self.down(&member.id, *reason),
            Event::SelfChanged { old, new } => {
                self.up.remove(old);
                self.me = Some(new.clone());
                self.self_gone = false;
                self.has_leader = false;
                Change::SelfGone
            }
            Event::Removed(member) => {
                // Gone for good: what was kept about it goes too (bounded).
                self.down.remove(member);
                self.retired.remove(member);
                Change::None
            }
            _ => Change::None,
        }
    }

    fn down(&mut self, member: &MemberId, reason: DownReason) -> Change {
        self.down.insert(member.clone());
        if Some(member) == self.me.as_ref() {
            self.up.remove(member);
            self.self_gone = true;
            return Change::SelfGone;
        }
        match reason {
            DownReason::Left => self.left(member),
            DownReason::Failed | DownReason::Fenced => {
                // The downing decision: whatever ran there is gone (or
                // fences itself on its side).
                let was_up = self.up.remove(member).is_some();
                let was_running = self.running.remove(member);
                if was_up || was_running {
                    Change::Decide
                } else {
                    Change::None
                }
            }
        }
    }

    /// `member` leaves. Had it handed over, nothing runs there; else the
    /// member that was the target (or announced a start) may still be
    /// stopping its instance: it counts as running until the grace is over.
    fn left(&mut self, member: &MemberId) -> Change {
        if Some(member) == self.me.as_ref() {
            self.up.remove(member);
            self.self_gone = true;
            return Change::SelfGone;
        }
        let was_target = self.target() == Some(member);
        let was_up = self.up.remove(member).is_some();
        let handed_over = self.retired.contains(member) && !self.running.contains(member);
        if handed_over {
            return if was_up { Change::Decide } else { Change::None };
        }
        if was_target || self.running.contains(member) {
            self.running.insert(member.clone());
            return Change::LeftUnannounced(member.clone());
        }
        if was_up {
            Change::Decide
        } else {
            Change::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, generation: u64) -> MemberId {
        MemberId::new(
            name,
            ([127, 0, 0, 1], 7000 + generation as u16).into(),
            generation,
        )
    }

    fn info(id: &MemberId, roles: &[&str]) -> MemberInfo {
        MemberInfo {
            id: id.clone(),
            status: Status::Up,
            reachable: true,
            incarnation: 1,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            metadata: Default::default(),
            // The tests' ids are made in the order the members came up.
            up_number: id.generation,
        }
    }

    fn view(me: &MemberId, members: &[(&MemberId, &[&str])], role: Option<&str>) -> View {
        let mut v = View::new(role.map(str::to_owned));
        v.set_me(me.clone());
        for (m, roles) in members {
            v.apply(&Event::Up(info(m, roles)));
        }
        v.apply(&Event::LeaderChanged(Some(members[0].0.clone())));
        v
    }

    #[test]
    fn the_oldest_member_of_the_role_is_the_target() {
        let (a, b, c) = (id("a", 1), id("b", 2), id("c", 3));
        let v = view(&c, &[(&c, &["x"]), (&a, &[]), (&b, &["x"])], Some("x"));
        assert_eq!(v.target(), Some(&b));
        let v = view(&c, &[(&c, &["x"]), (&a, &[]), (&b, &["x"])], None);
        assert_eq!(v.target(), Some(&a));
    }

    #[test]
    fn a_suspicion_moves_nothing_and_a_down_does() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut v = view(&b, &[(&a, &[]), (&b, &[])], None);
        v.started(a.clone());
        assert!(!v.may_start());
        assert_eq!(v.apply(&Event::Unreachable(info(&a, &[]))), Change::None);
        assert!(!v.may_start());
        let down = Event::Down {
            member: info(&a, &[]),
            reason: DownReason::Failed,
        };
        assert_eq!(v.apply(&down), Change::Decide);
        assert!(v.may_start());
    }

    #[test]
    fn a_host_that_left_without_handing_over_blocks_until_its_grace() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut v = view(&b, &[(&a, &[]), (&b, &[])], None);
        let left = Event::Down {
            member: info(&a, &[]),
            reason: DownReason::Left,
        };
        assert_eq!(v.apply(&left), Change::LeftUnannounced(a.clone()));
        assert!(!v.may_start());
        assert_eq!(v.grace_over(&a), Change::Decide);
        assert!(v.may_start());
    }

    #[test]
    fn a_handover_unblocks_at_once() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut v = view(&b, &[(&a, &[]), (&b, &[])], None);
        v.started(a.clone());
        v.retiring(a.clone());
        assert_eq!(v.target(), Some(&b));
        assert!(!v.may_start(), "a's instance is still stopping");
        v.stopped(&a, true);
        assert!(v.may_start());
        let left = Event::Down {
            member: info(&a, &[]),
            reason: DownReason::Left,
        };
        assert_eq!(v.apply(&left), Change::Decide);
        assert!(v.may_start());
        v.apply(&Event::Removed(a.clone()));
        assert!(
            v.retired.is_empty() && v.down.is_empty(),
            "nothing kept of a removed member"
        );
    }

    #[test]
    fn a_reborn_member_is_the_youngest() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut v = view(&a, &[(&a, &[]), (&b, &[])], None);
        assert_eq!(v.target(), Some(&a));
        // A rebirth keeps the process: its generation is the old one plus
        // one, still below b's; its up number is the newest.
        let reborn = MemberId::new("a", a.addr, 1 + 1);
        assert!(reborn.generation <= b.generation);
        let fenced = Event::Down {
            member: info(&a, &[]),
            reason: DownReason::Fenced,
        };
        assert_eq!(v.apply(&fenced), Change::SelfGone);
        v.apply(&Event::SelfChanged {
            old: a.clone(),
            new: reborn.clone(),
        });
        let mut reborn_info = info(&reborn, &[]);
        reborn_info.up_number = 3;
        v.apply(&Event::Up(reborn_info));
        v.apply(&Event::LeaderChanged(Some(b.clone())));
        assert_eq!(v.target(), Some(&b));
        assert!(!v.should_run());
    }

    #[test]
    fn a_claim_is_displaced_only_from_a_member_that_is_down_here() {
        let (a, b, c) = (id("a", 1), id("b", 2), id("c", 3));
        let mut v = view(&b, &[(&a, &[]), (&b, &[])], None);
        assert!(!v.may_displace(&a.to_string()), "a is Up");
        v.started(a.clone());
        v.apply(&Event::Unreachable(info(&a, &[])));
        assert!(!v.may_displace(&a.to_string()), "a suspicion is not a Down");
        let left = Event::Down {
            member: info(&a, &[]),
            reason: DownReason::Left,
        };
        v.apply(&left);
        assert!(!v.may_displace(&a.to_string()), "a may still be stopping");
        v.grace_over(&a);
        assert!(v.may_displace(&a.to_string()));
        assert!(v.may_displace(&c.to_string()), "never seen: a stale key");
        assert!(v.may_displace("not a member id"));
    }

    #[test]
    fn no_leader_no_target_and_self_down_stops() {
        let (a, b) = (id("a", 1), id("b", 2));
        let mut v = view(&a, &[(&a, &[]), (&b, &[])], None);
        assert!(v.should_run());
        v.apply(&Event::LeaderChanged(None));
        assert!(!v.should_run(), "a minority steps down");
        v.apply(&Event::LeaderChanged(Some(a.clone())));
        assert!(v.should_run());
        let fenced = Event::Down {
            member: info(&a, &[]),
            reason: DownReason::Fenced,
        };
        assert_eq!(v.apply(&fenced), Change::SelfGone);
        assert!(!v.should_run());
    }
}
