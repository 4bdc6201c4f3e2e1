//! How this member goes: a graceful leave, the guards it waits for first,
//! the callers waiting for it to reach the others, and whether a `Down` of this member (fenced, or failed)
//! stops the actix `System` (`OnFenced::Stop`).

use actix::Recipient;
use actix_cluster_proto::{DownReason, OnFenced};
use futures::future::join_all;
use tokio::sync::oneshot;

use crate::messages::BeforeLeave;

/// The leave's progress and what to do when this member is down.
pub(crate) struct Departure {
    leave: LeaveState,
    /// What this member does when its side loses (from the protocol config).
    on_fenced: OnFenced,
    /// Asked before a leave goes out; the leave waits for their answers.
    guards: Vec<Recipient<BeforeLeave>>,
}

/// Where a graceful leave stands.
enum LeaveState {
    /// Not asked to leave.
    Member,
    /// The leave was started; these wait for it to have reached the others.
    Leaving(Vec<oneshot::Sender<()>>),
    /// Done.
    Left,
}

impl Departure {
    /// A member not leaving.
    pub(crate) fn new(on_fenced: OnFenced) -> Self {
        Departure {
            leave: LeaveState::Member,
            on_fenced,
            guards: Vec::new(),
        }
    }

    /// Adds a guard that a leave waits for (guards whose actor stopped are
    /// forgotten here, so they stay bounded by the live ones).
    pub(crate) fn add_guard(&mut self, guard: Recipient<BeforeLeave>) {
        self.guards.retain(Recipient::connected);
        self.guards.push(guard);
    }

    /// Asks every guard; resolves once all answered (a stopped guard counts
    /// as answered). Nothing to wait for once the leave has started.
    pub(crate) fn ask_guards(&self) -> impl std::future::Future<Output = ()> + 'static {
        let asks: Vec<_> = if self.is_member() {
            self.guards.iter().map(|g| g.send(BeforeLeave)).collect()
        } else {
            Vec::new()
        };
        async move {
            join_all(asks).await;
        }
    }

    /// Not asked to leave yet.
    pub(crate) fn is_member(&self) -> bool {
        matches!(self.leave, LeaveState::Member)
    }

    /// Starts the leave: true the first time only.
    pub(crate) fn begin(&mut self) -> bool {
        if !self.is_member() {
            return false;
        }
        self.leave = LeaveState::Leaving(Vec::new());
        true
    }

    /// `waiter` is answered once the leave is done (at once if it is, or
    /// if no leave is under way).
    pub(crate) fn wait(&mut self, waiter: oneshot::Sender<()>) {
        match &mut self.leave {
            LeaveState::Leaving(waiters) => waiters.push(waiter),
            _ => {
                let _ = waiter.send(());
            }
        }
    }

    /// The leave reached the others (or we stop waiting): answer the waiters.
    pub(crate) fn done(&mut self) {
        if let LeaveState::Leaving(waiters) = std::mem::replace(&mut self.leave, LeaveState::Left) {
            for w in waiters {
                let _ = w.send(());
            }
        }
    }

    /// This member is down for `reason`: a leave is done; otherwise true when
    /// it is configured to stop the `System`.
    pub(crate) fn own_down(&mut self, reason: DownReason) -> bool {
        if reason == DownReason::Left {
            self.done();
            return false;
        }
        self.on_fenced == OnFenced::Stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_answered_once_the_leave_is_done() {
        let mut d = Departure::new(OnFenced::Rejoin);
        assert!(d.is_member());
        assert!(d.begin());
        assert!(!d.begin(), "a leave starts once");
        let (tx, mut rx) = oneshot::channel();
        d.wait(tx);
        assert!(rx.try_recv().is_err(), "not before the leave is done");
        assert!(!d.own_down(DownReason::Left));
        assert_eq!(rx.try_recv(), Ok(()));
        // After the leave, a waiter is answered at once.
        let (tx, mut rx) = oneshot::channel();
        d.wait(tx);
        assert_eq!(rx.try_recv(), Ok(()));
    }

    #[test]
    fn only_a_member_set_to_stop_stops_when_down() {
        let mut stay = Departure::new(OnFenced::Rejoin);
        assert!(!stay.own_down(DownReason::Fenced));
        let mut stop = Departure::new(OnFenced::Stop);
        assert!(stop.own_down(DownReason::Fenced));
        assert!(stop.own_down(DownReason::Failed));
        assert!(!stop.own_down(DownReason::Left));
    }
}
