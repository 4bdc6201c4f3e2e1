//! State shared by the `Remote` actor, the connection tasks and every
//! `RemoteHandle`: the links to peers (their outbound lanes), the local actors
//! that can be reached, the asks waiting for answers, and the counters.
//!
//! Kept behind short mutexes rather than in the actor's mailbox so that a tell
//! costs an encode and a queue push, not an actor round trip.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use actix_cluster_proto::{DownReason, MemberId};
use tokio::sync::{mpsc, oneshot};

use crate::envelope::Kind;
use crate::error::{AskError, Failure, FailureCode};
use crate::fast_hash::FastMap;
use crate::message::TypeTag;
use crate::reference::ActorId;
use crate::stats::Counters;

/// One envelope waiting in a lane.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) kind: Kind,
    pub(crate) to: ActorId,
    pub(crate) tag: TypeTag,
    pub(crate) correlation: u64,
    pub(crate) payload: Vec<u8>,
}

/// The lanes to one peer. Dropping it ends the peer's session.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) data: mpsc::Sender<Outgoing>,
    pub(crate) control: mpsc::Sender<Outgoing>,
    pub(crate) reachable: bool,
    /// Hands connections accepted from this peer to its session.
    pub(crate) accepted: Option<mpsc::Sender<Box<crate::frame_io::Accepted>>>,
}

/// Where the answer to an ask goes.
#[derive(Debug, Clone)]
pub(crate) enum ReplyTo {
    /// An ask from another member: a `Reply` or `Failure` envelope back.
    Remote { member: MemberId, correlation: u64 },
    /// An ask from this member: straight to the waiting caller.
    Local { correlation: u64 },
}

/// A delivery that must wait for room in the recipient's mailbox: the
/// connection's reader awaits it, so a slow actor slows its sender down
/// (through TCP and the sender's bounded lane) instead of growing a queue.
pub(crate) type Wait = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// How a payload is to be handed to its actor.
#[derive(Debug, Clone)]
pub(crate) enum Delivery {
    /// A tell from another member: into the mailbox if it has room, else a
    /// [`Wait`] for the connection's reader.
    RemoteTell,
    /// A tell from this member: queued like actix's `do_send`, in order.
    LocalTell,
    /// An ask: the answer goes to `ReplyTo`.
    Ask(ReplyTo),
}

/// Delivers one payload to a local actor; the payload is already checked
/// against the size limit.
pub(crate) type Dispatch =
    Box<dyn Fn(&Arc<Shared>, &[u8], Delivery) -> Result<Option<Wait>, Failure> + Send + Sync>;

/// A local actor reachable from other members.
pub(crate) struct LocalActor {
    pub(crate) handlers: FastMap<TypeTag, Dispatch>,
    /// Whether the actor still runs.
    pub(crate) alive: Box<dyn Fn() -> bool + Send + Sync>,
}

struct Pending {
    member: MemberId,
    tx: oneshot::Sender<Result<Vec<u8>, AskError>>,
}

/// How many gone member ids are remembered (to answer `MemberDown` at once
/// rather than `Unreachable`); older ones are forgotten first.
const GONE_MEMORY: usize = 4096;

#[derive(Default)]
struct Gone {
    reasons: HashMap<MemberId, DownReason>,
    order: VecDeque<MemberId>,
}

/// See the module docs.
pub(crate) struct Shared {
    local: RwLock<MemberId>,
    pub(crate) max_message_size: usize,
    links: Mutex<FastMap<MemberId, Link>>,
    gone: Mutex<Gone>,
    actors: Mutex<FastMap<ActorId, LocalActor>>,
    next_actor: AtomicU64,
    pending: Mutex<FastMap<u64, Pending>>,
    next_correlation: AtomicU64,
    pub(crate) counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these leaves plain data behind; carry on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(local: MemberId, max_message_size: usize) -> Self {
        Shared {
            local: RwLock::new(local),
            max_message_size,
            links: Mutex::default(),
            gone: Mutex::default(),
            actors: Mutex::default(),
            next_actor: AtomicU64::new(1),
            pending: Mutex::default(),
            next_correlation: AtomicU64::new(1),
            counters: Counters::default(),
        }
    }

    /// Whether `member` is this member (without cloning the id).
    pub(crate) fn is_local(&self, member: &MemberId) -> bool {
        *self.local.read().unwrap_or_else(|e| e.into_inner()) == *member
    }

    pub(crate) fn local(&self) -> MemberId {
        self.local.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_local(&self, id: MemberId) {
        *self.local.write().unwrap_or_else(|e| e.into_inner()) = id;
    }

    // ---- peers -----------------------------------------------------------

    pub(crate) fn add_link(&self, member: MemberId, link: Link) {
        lock(&self.links).insert(member, link);
    }

    pub(crate) fn has_link(&self, member: &MemberId) -> bool {
        lock(&self.links).contains_key(member)
    }

    /// Envelopes waiting in every outbound lane.
    #[cfg(feature = "metrics")]
    pub(crate) fn queue_depth(&self) -> usize {
        lock(&self.links)
            .values()
            .map(|l| {
                (l.data.max_capacity() - l.data.capacity())
                    + (l.control.max_capacity() - l.control.capacity())
            })
            .sum()
    }

    pub(crate) fn links(&self) -> Vec<MemberId> {
        lock(&self.links).keys().cloned().collect()
    }

    /// The member is gone for good: its lanes close (its session ends), asks
    /// waiting on it fail with `MemberDown`.
    pub(crate) fn member_gone(&self, member: &MemberId, reason: DownReason) {
        lock(&self.links).remove(member);
        {
            let mut gone = lock(&self.gone);
            if gone.reasons.insert(member.clone(), reason).is_none() {
                gone.order.push_back(member.clone());
                if gone.order.len() > GONE_MEMORY {
                    if let Some(old) = gone.order.pop_front() {
                        gone.reasons.remove(&old);
                    }
                }
            }
        }
        self.fail_pending(member, AskError::MemberDown);
    }

    /// Closes a member's lanes without deciding anything about it (this
    /// member changed its own id, so every session must be made anew).
    pub(crate) fn member_gone_quietly(&self, member: &MemberId) {
        lock(&self.links).remove(member);
        self.fail_pending(member, AskError::Unreachable);
    }

    pub(crate) fn is_gone(&self, member: &MemberId) -> bool {
        lock(&self.gone).reasons.contains_key(member)
    }

    /// Why a member is gone, if it is (and still remembered).
    pub(crate) fn gone_reason(&self, member: &MemberId) -> Option<DownReason> {
        lock(&self.gone).reasons.get(member).copied()
    }

    /// Reachability from the membership layer; asks waiting on a member that
    /// became unreachable fail at once rather than at their timeout.
    pub(crate) fn set_reachable(&self, member: &MemberId, reachable: bool) {
        if let Some(link) = lock(&self.links).get_mut(member) {
            link.reachable = reachable;
        }
        if !reachable {
            self.fail_pending(member, AskError::Unreachable);
        }
    }

    pub(crate) fn accepted_sender(
        &self,
        member: &MemberId,
    ) -> Option<mpsc::Sender<Box<crate::frame_io::Accepted>>> {
        lock(&self.links)
            .get(member)
            .and_then(|l| l.accepted.clone())
    }

    /// Queues an envelope for a member. Errors say why it cannot go.
    pub(crate) fn enqueue(&self, member: &MemberId, out: Outgoing) -> Result<(), AskError> {
        let control = out.kind == Kind::Control;
        let sent = {
            let links = lock(&self.links);
            let Some(link) = links.get(member) else {
                return Err(self.absent(member));
            };
            if !link.reachable && !control {
                return Err(AskError::Unreachable);
            }
            let lane = if control { &link.control } else { &link.data };
            lane.try_send(out)
        };
        match sent {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                Err(AskError::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.absent(member)),
        }
    }

    fn absent(&self, member: &MemberId) -> AskError {
        if self.is_gone(member) {
            AskError::MemberDown
        } else {
            AskError::Unreachable
        }
    }

    // ---- local actors ----------------------------------------------------

    pub(crate) fn new_actor_id(&self) -> ActorId {
        ActorId(self.next_actor.fetch_add(1, Ordering::Relaxed))
    }

    /// Makes a local actor reachable, or adds handlers to one that is.
    pub(crate) fn add_actor(&self, actor: ActorId, local: LocalActor) {
        let mut actors = lock(&self.actors);
        match actors.get_mut(&actor) {
            Some(existing) => existing.handlers.extend(local.handlers),
            None => {
                actors.insert(actor, local);
            }
        }
    }

    /// Removes local actors that stopped; returns their ids.
    pub(crate) fn reap_stopped(&self) -> Vec<ActorId> {
        let mut actors = lock(&self.actors);
        let dead: Vec<ActorId> = actors
            .iter()
            .filter(|(_, a)| !(a.alive)())
            .map(|(id, _)| *id)
            .collect();
        for id in &dead {
            actors.remove(id);
        }
        dead
    }

    pub(crate) fn has_actor(&self, actor: ActorId) -> bool {
        lock(&self.actors).contains_key(&actor)
    }

    /// Hands a payload to a local actor.
    pub(crate) fn deliver(
        self: &Arc<Self>,
        actor: ActorId,
        tag: TypeTag,
        payload: &[u8],
        delivery: Delivery,
    ) -> Result<Option<Wait>, Failure> {
        let actors = lock(&self.actors);
        let Some(local) = actors.get(&actor) else {
            return Err(failure(FailureCode::NoSuchActor, "no such actor"));
        };
        match local.handlers.get(&tag) {
            Some(dispatch) => dispatch(self, payload, delivery),
            None => {
                let known = local.handlers.keys().any(|t| t.name_hash == tag.name_hash);
                Err(if known {
                    failure(FailureCode::UnknownVersion, "no handler for this version")
                } else {
                    failure(FailureCode::UnknownType, "no handler for this message type")
                })
            }
        }
    }

    // ---- asks ------------------------------------------------------------

    pub(crate) fn new_ask(
        &self,
        member: MemberId,
    ) -> (u64, oneshot::Receiver<Result<Vec<u8>, AskError>>) {
        let correlation = self.next_correlation.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(correlation, Pending { member, tx });
        (correlation, rx)
    }

    pub(crate) fn forget_ask(&self, correlation: u64) {
        lock(&self.pending).remove(&correlation);
    }

    /// An answer arrived (from `member`, which must be the member asked).
    pub(crate) fn answer(
        &self,
        member: &MemberId,
        correlation: u64,
        result: Result<Vec<u8>, AskError>,
    ) {
        let mut pending = lock(&self.pending);
        let Some(p) = pending.get(&correlation) else {
            self.counters.late_replies.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if p.member != *member {
            self.counters.late_replies.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(p) = pending.remove(&correlation) {
            let _ = p.tx.send(result);
        }
    }

    fn fail_pending(&self, member: &MemberId, error: AskError) {
        let mut pending = lock(&self.pending);
        let ids: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| p.member == *member)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(p) = pending.remove(&id) {
                let _ = p.tx.send(Err(error.clone()));
            }
        }
    }

    /// Sends the answer to an ask where it belongs.
    pub(crate) fn reply(&self, to: ReplyTo, tag: TypeTag, result: Result<Vec<u8>, Failure>) {
        match to {
            ReplyTo::Local { correlation } => {
                let local = self.local();
                self.answer(&local, correlation, result.map_err(AskError::from));
            }
            ReplyTo::Remote {
                member,
                correlation,
            } => {
                let (kind, payload) = match result {
                    Ok(bytes) => (Kind::Reply, bytes),
                    Err(f) => (
                        Kind::Failure,
                        crate::payload::encode(&f).unwrap_or_default(),
                    ),
                };
                let out = Outgoing {
                    kind,
                    to: ActorId(0),
                    tag,
                    correlation,
                    payload,
                };
                if self.enqueue(&member, out).is_err() {
                    self.counters.replies_lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

pub(crate) fn failure(code: FailureCode, detail: &str) -> Failure {
    Failure {
        code,
        detail: detail.to_owned(),
    }
}
