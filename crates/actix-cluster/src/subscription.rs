//! Subscriptions: each subscriber gets its own bounded queue and a task that
//! hands it one message at a time, in order. A subscriber that falls more
//! than the queue's capacity behind is not given an ever-growing mailbox: the
//! events it cannot take are dropped and counted, and once it catches up it
//! gets a fresh snapshot instead (the difference between what it was told and
//! the current membership).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use actix_cluster_proto::{DownReason, Event, MemberId, MemberInfo, Status};
use futures::channel::mpsc;
use futures::StreamExt;

use crate::messages::{ClusterEvent, GetLeader, GetMembers, MemberDown, MemberUp};

/// Where a subscriber that fell behind reads the current membership to
/// resynchronise (the `Cluster` actor's own queries).
#[derive(Clone)]
pub(crate) struct Membership {
    /// Answers every member known.
    pub(crate) members: Recipient<GetMembers>,
    /// Answers the leader.
    pub(crate) leader: Recipient<GetLeader>,
}

/// Where one `Subscribe`'s messages go: one queue and one task for all
/// three, so a subscriber taking both `MemberUp` and `MemberDown` gets them
/// in the order they happened.
pub(crate) struct Target {
    /// Receives `MemberUp`.
    pub(crate) up: Option<Recipient<MemberUp>>,
    /// Receives `MemberDown`.
    pub(crate) down: Option<Recipient<MemberDown>>,
    /// Receives every event.
    pub(crate) events: Option<Recipient<ClusterEvent>>,
}

impl Target {
    /// How many of the recipients still run.
    fn connected(&self) -> usize {
        usize::from(self.up.as_ref().is_some_and(|r| r.connected()))
            + usize::from(self.down.as_ref().is_some_and(|r| r.connected()))
            + usize::from(self.events.as_ref().is_some_and(|r| r.connected()))
    }

    fn clone_all(&self) -> Target {
        Target {
            up: self.up.clone(),
            down: self.down.clone(),
            events: self.events.clone(),
        }
    }

    /// How many recipients (each counts as a subscription).
    pub(crate) fn len(&self) -> usize {
        usize::from(self.up.is_some())
            + usize::from(self.down.is_some())
            + usize::from(self.events.is_some())
    }
}

/// The cluster's end of one subscription.
pub(crate) struct Subscription {
    tx: mpsc::Sender<Event>,
    /// Events dropped since the task last caught up (it resynchronises when
    /// it sees this above zero).
    missed: Arc<AtomicU64>,
    /// Events dropped over the subscription's life (all subscriptions share
    /// the cluster's counter).
    lagged: Arc<AtomicU64>,
    /// The recipients, to tell which still run.
    recipients: Target,
}

impl Subscription {
    /// Starts the task for `target`, which first gets `snapshot`, then what
    /// [`Subscription::offer`] hands it; at most `capacity` events wait
    /// beyond the snapshot. `None` if the subscriber's actor has stopped.
    pub(crate) fn start(
        target: Target,
        snapshot: Vec<Event>,
        capacity: usize,
        cluster: Membership,
        lagged: Arc<AtomicU64>,
    ) -> Option<Subscription> {
        if target.connected() == 0 {
            return None;
        }
        let (mut tx, rx) = mpsc::channel(capacity.saturating_add(snapshot.len()));
        for event in snapshot {
            // Room for the whole snapshot was made above.
            let _ = tx.try_send(event);
        }
        let missed = Arc::new(AtomicU64::new(0));
        let recipients = target.clone_all();
        let pump = Pump {
            target,
            told: HashMap::new(),
            cluster,
            missed: missed.clone(),
        };
        actix::spawn(pump.run(rx));
        Some(Subscription {
            tx,
            missed,
            lagged,
            recipients,
        })
    }

    /// Queues `event`; false once the subscriber is gone (drop it). A full
    /// queue drops the event and counts it: the subscriber resynchronises.
    pub(crate) fn offer(&mut self, event: &Event) -> bool {
        match self.tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(e) if e.is_full() => {
                if self.missed.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        "a subscriber lags behind: events dropped, it will get a fresh snapshot"
                    );
                }
                self.lagged.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the subscriber still runs.
    pub(crate) fn connected(&self) -> bool {
        !self.tx.is_closed() && self.recipients() > 0
    }

    /// Recipients still running (each counts as a subscription).
    pub(crate) fn recipients(&self) -> usize {
        self.recipients.connected()
    }
}

/// What a subscriber was last told about a member.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Told {
    /// Up, and whether reachable.
    Up { reachable: bool },
    /// Down.
    Down,
}

/// The task's end: delivers in order and keeps what it told, to resync.
struct Pump {
    target: Target,
    told: HashMap<MemberId, Told>,
    cluster: Membership,
    missed: Arc<AtomicU64>,
}

impl Pump {
    async fn run(mut self, mut rx: mpsc::Receiver<Event>) {
        loop {
            if self.missed.swap(0, Ordering::Relaxed) > 0 {
                // What waits is older than the snapshot we are about to take.
                while rx.try_recv().is_ok() {}
                if !self.resync().await {
                    break;
                }
                continue;
            }
            let Some(event) = rx.next().await else { break };
            if !self.deliver(event).await {
                break;
            }
        }
        rx.close();
    }

    /// Tells the subscriber the difference between what it was told and the
    /// cluster's current membership; false when it is gone.
    async fn resync(&mut self) -> bool {
        let (Ok(members), Ok(leader)) = (
            self.cluster.members.send(GetMembers).await,
            self.cluster.leader.send(GetLeader).await,
        ) else {
            return false;
        };
        let now: HashMap<&MemberId, &MemberInfo> = members.iter().map(|m| (&m.id, m)).collect();
        let mut diff = Vec::new();
        for (id, told) in &self.told {
            if *told == Told::Down {
                continue;
            }
            match now.get(id) {
                Some(m) if matches!(m.status, Status::Down(_)) => {}
                Some(_) => continue,
                // Gone from the table altogether: its tombstone expired, the
                // reason is no longer known.
                None => diff.push(Event::Down {
                    member: MemberInfo {
                        id: id.clone(),
                        status: Status::Down(DownReason::Failed),
                        reachable: false,
                        incarnation: 0,
                        roles: Default::default(),
                        metadata: Default::default(),
                        up_number: 0,
                    },
                    reason: DownReason::Failed,
                }),
            }
        }
        for m in &members {
            match m.status {
                Status::Up => {
                    diff.push(Event::Up(m.clone()));
                    let event = if m.reachable {
                        Event::Reachable(m.clone())
                    } else {
                        Event::Unreachable(m.clone())
                    };
                    diff.push(event);
                }
                Status::Down(reason) => diff.push(Event::Down {
                    member: m.clone(),
                    reason,
                }),
                Status::Joining | Status::Leaving => {}
            }
        }
        self.told
            .retain(|id, t| *t != Told::Down || now.contains_key(id));
        for event in diff {
            if !self.deliver(event).await {
                return false;
            }
        }
        if let Some(r) = &self.target.events {
            if r.send(ClusterEvent(Event::LeaderChanged(leader)))
                .await
                .is_err()
            {
                self.target.events = None;
            }
        }
        self.target.len() > 0
    }

    /// Hands `event` over if it is news to the subscriber (nothing is told
    /// twice, and nothing of a member after its `Down`); false when the
    /// subscriber is gone.
    async fn deliver(&mut self, event: Event) -> bool {
        let told = match &event {
            Event::Up(m)
            | Event::Joined(m)
            | Event::Leaving(m)
            | Event::Unreachable(m)
            | Event::Reachable(m)
            | Event::Updated(m)
            | Event::Down { member: m, .. } => self.told.get(&m.id).copied(),
            _ => None,
        };
        let news = match (&event, told) {
            (_, Some(Told::Down)) if !matches!(event, Event::Removed(_)) => false,
            (Event::Up(_), Some(Told::Up { .. })) => false,
            (Event::Joined(_), Some(Told::Up { .. })) => false,
            (Event::Unreachable(_), Some(Told::Up { reachable: false })) => false,
            (Event::Reachable(_), Some(Told::Up { reachable: true }) | None) => false,
            (Event::Unreachable(_), None) => false,
            _ => true,
        };
        if !news {
            return true;
        }
        match &event {
            Event::Up(m) => {
                self.told.insert(m.id.clone(), Told::Up { reachable: true });
            }
            Event::Unreachable(m) => {
                self.told
                    .insert(m.id.clone(), Told::Up { reachable: false });
            }
            Event::Reachable(m) => {
                self.told.insert(m.id.clone(), Told::Up { reachable: true });
            }
            Event::Down { member, .. } => {
                self.told.insert(member.id.clone(), Told::Down);
            }
            Event::Removed(id) => {
                self.told.remove(id);
            }
            _ => {}
        }
        // A recipient whose actor stopped is dropped; the others go on.
        if let (Some(r), Event::Up(m)) = (&self.target.up, &event) {
            if r.send(MemberUp(m.clone())).await.is_err() {
                self.target.up = None;
            }
        }
        if let (Some(r), Event::Down { member, reason }) = (&self.target.down, &event) {
            let msg = MemberDown {
                member: member.clone(),
                reason: *reason,
            };
            if r.send(msg).await.is_err() {
                self.target.down = None;
            }
        }
        if let Some(r) = &self.target.events {
            if r.send(ClusterEvent(event)).await.is_err() {
                self.target.events = None;
            }
        }
        self.target.len() > 0
    }
}
