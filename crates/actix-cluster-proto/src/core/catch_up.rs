//! The catch-up after a join: a few full-state exchanges with random members
//! at short, growing intervals, until one finds the two views equal; and the
//! bound on the full states a member sends in answer.
//!
//! A join answer carries the members its sender knew at that moment. When
//! many members join at once (a cold start), each of them learns little more
//! than the seed knew, and what each new member has to say, its own `Up`,
//! must reach everyone. Piggybacking alone spreads those N records at a few
//! hundred records a second per member, so the cold start grows linearly
//! with N; full-state exchanges with random members carry all of them at
//! once and reach everyone in a number of rounds logarithmic in N. A member
//! that joins an established cluster gets everything in its join answer: its
//! first exchange brings nothing new and it stops there (one exchange, as
//! before this rule). Peers are drawn among members known as `Up` or
//! `Joining`: in a cold start the join answer lists the other newcomers as
//! `Joining`, and most of them are `Up` by the first exchange.
//!
//! What a catching-up member learns from a full state is known to the member
//! that sent it, and the other newcomers catch up the same way: it is not
//! queued for piggybacking (a `Down` still is, see `set_down`), which keeps
//! the piggyback queue for what is new. The member that let a newcomer in is
//! not catching up and so is not reached that way: the newcomer tells it its
//! `Up` itself (`on_join_ack`).

use std::time::Duration;

use super::timer::TimerKind;
use super::Core;
use crate::id::MemberId;
use crate::member::Status;
use crate::members::Entry;

/// Most exchanges of one catch-up.
pub(super) const MAX_ROUNDS: u32 = 8;

/// Most push-pull requests answered per `gossip_interval`; the requests
/// beyond are merged but not answered (`Stats::state_answers_withheld`).
pub(super) const MAX_ANSWERS: u32 = 4;

/// Where a member is in its catch-up.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CatchUp {
    /// Exchanges started so far.
    round: u32,
    /// Records merged from full states since the last exchange started that
    /// changed the table (new members, newer records).
    learned: u64,
    /// Whether an answer to one of our exchanges came since then.
    answered: bool,
    /// Whether such an answer lacked something we hold (a member, or a
    /// record as new as ours): its sender was behind us, so that it brought
    /// nothing new does not show that we are complete.
    peer_behind: bool,
}

/// Push-pull answers sent in the current window.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Answers {
    since: Duration,
    count: u32,
}

impl Core {
    /// The delay before catch-up exchange `round` (0 for the first): the
    /// first after `[0.55, 1.5] * 2 * gossip_interval` (jittered so that
    /// members who joined together do not exchange at the same instant), then
    /// `2 * gossip_interval * (1 + floor(round / 2))`.
    fn catch_up_delay(&mut self, round: u32) -> Duration {
        let base = self.config.gossip_interval * 2;
        if round == 0 {
            return self.jitter(base) + base / 2;
        }
        base + base * (round / 2)
    }

    /// This member became `Up` through a join answer: start catching up.
    pub(super) fn start_catch_up(&mut self) {
        self.catch_up = Some(CatchUp::default());
        let d = self.catch_up_delay(0);
        self.schedule(TimerKind::Sync, d);
    }

    /// Whether what full states tell this member is old news to the members
    /// that send them: it is joining, or catching up after its join.
    fn catching_up(&self) -> bool {
        self.catch_up.is_some() || self.local_status() == Status::Joining
    }

    /// An answer to one of our full-state exchanges came; `behind`: it
    /// lacked something we hold.
    pub(super) fn exchange_answered(&mut self, behind: bool) {
        if let Some(c) = self.catch_up.as_mut() {
            c.answered = true;
            c.peer_behind |= behind;
        }
    }

    /// Queues news about `id` for piggybacking, unless it came in a full
    /// state while this member catches up (see the module docs).
    pub(super) fn queue_news(&mut self, id: &MemberId) {
        if self.from_state {
            if let Some(c) = self.catch_up.as_mut() {
                c.learned = c.learned.saturating_add(1);
            }
            if self.catching_up() {
                return;
            }
        }
        self.broadcasts.push(id);
    }

    /// The catch-up timer: the next exchange, or the end of the catch-up
    /// when the last exchange was answered by a member that knew all we do
    /// and nothing new came, or after [`MAX_ROUNDS`] exchanges.
    pub(super) fn catch_up_tick(&mut self) {
        let Some(c) = self.catch_up else { return };
        let idle = c.round > 0 && c.answered && c.learned == 0 && !c.peer_behind;
        if self.phase.left() || idle || c.round >= MAX_ROUNDS {
            self.catch_up = None;
            return;
        }
        self.catch_up = Some(CatchUp {
            round: c.round + 1,
            ..CatchUp::default()
        });
        let peer = |e: &Entry| matches!(e.status, Status::Up | Status::Joining);
        if self.push_full_state_to_one(peer) {
            self.stats.catch_up_exchanges += 1;
        }
        let d = self.catch_up_delay(c.round + 1);
        self.schedule(TimerKind::Sync, d);
    }

    /// Whether a push-pull request may be answered now: at most
    /// [`MAX_ANSWERS`] per `gossip_interval`, so that a crowd of members
    /// catching up at once never makes one member send many full states.
    pub(super) fn may_answer_state(&mut self) -> bool {
        let a = &mut self.answers;
        if self.now >= a.since + self.config.gossip_interval {
            *a = Answers {
                since: self.now,
                count: 0,
            };
        }
        if a.count >= MAX_ANSWERS {
            self.stats.state_answers_withheld += 1;
            return false;
        }
        a.count += 1;
        true
    }
}
