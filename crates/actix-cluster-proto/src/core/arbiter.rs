//! The arbiter's round trip for the downing decision (lease-majority): the
//! request waiting for its delay, the minority that fences when the arbiter
//! cannot be reached, and the answer that downs the other side or fences
//! this one. The decision that starts a round is `decision`'s.

use tracing::{debug, info, warn};

use super::{Core, Output};
use crate::id::MemberId;
use crate::member::DownReason;
use crate::members::Entry;

/// A downing decision waiting for the arbiter.
#[derive(Debug)]
pub(super) struct Arbitration {
    /// The request's number (answers to older ones are ignored).
    pub(super) round: u64,
    /// The members this side would down if it wins.
    pub(super) unreachable: Vec<MemberId>,
    /// This side, sent with the request.
    pub(super) side: Vec<MemberId>,
    /// Whether the request went out (after the minority's delay).
    pub(super) asked: bool,
    /// Whether this side is a majority by keep-majority's rule: a majority
    /// that cannot reach the arbiter waits; a minority fences itself.
    pub(super) majority: bool,
    /// Whether it is about flapping members (`flap`): a change of the
    /// picture does not drop it, and a lost or unanswered request downs
    /// nobody and fences nobody.
    pub(super) flap: bool,
}

/// The addresses of `ids` (a fence rejoins through the winners).
fn addrs(ids: &[MemberId]) -> Vec<std::net::SocketAddr> {
    ids.iter().map(|id| id.addr).collect()
}

impl Core {
    /// The arbitration delay is over: ask.
    pub(super) fn arbitrate_tick(&mut self) {
        let Some(a) = self.arbitration.as_mut() else {
            return;
        };
        a.asked = true;
        let (round, side) = (a.round, a.side.clone());
        debug!(member = %self.local, round, "asking the arbiter");
        self.out.push_back(Output::Arbitrate { round, side });
    }

    /// The arbiter could not be reached while this minority waited to ask
    /// for `round`: it cannot win, so it fences itself now (fail closed)
    /// instead of waiting out its delay and then the request's timeout. Not
    /// once the request went out (its answer decides), nor for a majority
    /// (it waits for the arbiter) or flapping members (they down nobody).
    pub(super) fn arbiter_unreachable(&mut self, round: u64) {
        let early = self
            .arbitration
            .as_ref()
            .is_some_and(|a| a.round == round && !a.asked && !a.majority && !a.flap);
        if !early {
            return;
        }
        let a = self.arbitration.take().expect("checked above");
        warn!(member = %self.local, round, "minority cannot reach the arbiter: fencing without asking");
        self.fence(addrs(&a.unreachable));
    }

    /// The arbiter's answer to request `round`: `Some(true)` won, `Some(false)`
    /// lost, `None` the arbiter could not be asked: a minority fences itself
    /// (it cannot win); a majority downs nobody and decides again after
    /// `stable_after`.
    pub(super) fn arbiter_answer(&mut self, round: u64, won: Option<bool>) {
        let current = self
            .arbitration
            .as_ref()
            .is_some_and(|a| a.round == round && a.asked);
        if !current {
            return;
        }
        let a = self.arbitration.take().expect("checked above");
        match won {
            Some(true) => {
                self.stats.downing_survived += 1;
                for id in &a.unreachable {
                    if self.table.get(id).is_some_and(Entry::is_live) {
                        info!(member = %self.local, down = %id, "arbiter won: unreachable member down");
                        self.set_down(id, DownReason::Failed);
                    }
                }
            }
            Some(false) | None if a.flap => {
                debug!(member = %self.local, ?won, "flapping members: the arbiter did not let this side down them");
            }
            Some(false) => self.fence(addrs(&a.unreachable)),
            None if a.majority => {
                // A majority without the arbiter downs nobody (a minority
                // that can reach it may win), and asks again later.
                warn!(member = %self.local, "the arbiter cannot be reached: no downing decision yet");
                self.schedule_decision(self.config.downing.stable_after);
            }
            None => {
                // A minority that cannot reach the arbiter cannot win.
                warn!(member = %self.local, "minority without the arbiter: fencing");
                self.fence(addrs(&a.unreachable));
            }
        }
    }
}
