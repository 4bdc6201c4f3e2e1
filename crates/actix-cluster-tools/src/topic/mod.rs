//! Pub-sub topics: typed topics by name, local subscribers, one delivery per
//! member that has subscribers.
//!
//! Each member runs one hub actor per topic it has subscribers for. The hub
//! is listed in the cluster registry under a service key made from the topic
//! name while it has local subscribers, and hands every message it receives
//! to each of them. A publisher follows that listing and tells each hub once:
//! a message crosses the network once per member, not once per subscriber.
//!
//! Guarantees (see `docs/REMOTE.md`, "Topics"): at most once, in order per
//! publishing member and receiving member; a subscription ends when its
//! actor stops, when it is unsubscribed, or with its member.

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;
use actix_cluster_proto::MemberId;
use actix_cluster_remote::{AskError, RemoteHandle, RemoteMessage, ServiceKey};

mod hub;
mod outbox;

use self::hub::{Hub, Subscribe, Unsubscribe};
use self::outbox::{Follower, Outbox};

/// The longest topic name: the registry refuses longer service key names,
/// and the key is the name with a short prefix.
pub const MAX_TOPIC_NAME: usize = 200;

/// How many messages a publisher holds for a topic it has just started
/// publishing on, until the topic's first listing arrives (a few
/// milliseconds); then they go out in order. Past this, `publish` answers
/// [`PublishError::Backlog`].
pub const PUBLISH_BACKLOG: usize = 1000;

/// A message type a topic can carry: sent with tell (no reply) and cloned
/// for each local subscriber.
pub trait TopicMessage:
    RemoteMessage<Reply = ()> + Message<Result = ()> + Clone + Send + 'static
{
}

impl<M> TopicMessage for M where
    M: RemoteMessage<Reply = ()> + Message<Result = ()> + Clone + Send + 'static
{
}

/// A typed topic: a name, and the type of message it carries. One name
/// carries one type in the whole cluster.
pub struct Topic<M> {
    name: Cow<'static, str>,
    _message: PhantomData<fn() -> M>,
}

impl<M> Topic<M> {
    /// A topic with a name fixed at compile time: `Topic::new("ticks")`.
    pub const fn new(name: &'static str) -> Self {
        Topic {
            name: Cow::Borrowed(name),
            _message: PhantomData,
        }
    }

    /// A topic with a name made at run time.
    pub fn named(name: String) -> Self {
        Topic {
            name: Cow::Owned(name),
            _message: PhantomData,
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<M: RemoteMessage> Topic<M> {
    /// The service key its hubs are listed under.
    fn key(&self) -> ServiceKey<M> {
        ServiceKey::named(format!("topic/{}", self.name))
    }
}

impl<M> Clone for Topic<M> {
    fn clone(&self) -> Self {
        Topic {
            name: self.name.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Topic<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", self.name)
    }
}

/// Why a message was not published to every member with subscribers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The topic's name is longer than [`MAX_TOPIC_NAME`]: nothing sent.
    #[error("topic name of {0} bytes exceeds {MAX_TOPIC_NAME}")]
    NameTooLong(usize),
    /// The topic's name is in use on this member with another message type:
    /// nothing sent.
    #[error("topic {0:?} carries another message type")]
    WrongType(String),
    /// The topic's first listing has not arrived yet and the backlog of
    /// [`PUBLISH_BACKLOG`] messages is full: not sent.
    #[error("the topic's backlog is full (no listing yet)")]
    Backlog,
    /// The message cannot be sent at all (over the size limit, or it does
    /// not encode): nothing sent.
    #[error("the message was refused: {0}")]
    Rejected(AskError),
    /// Some members with subscribers did not get it (their outbound queue
    /// was full, or they became unreachable or down an instant ago); the
    /// others did.
    #[error("{missed} of {of} members missed the message: {cause}")]
    Missed {
        /// Members that did not get it.
        missed: usize,
        /// Members it was for.
        of: usize,
        /// Why the first of them missed it.
        cause: AskError,
    },
}

/// What this member holds for one topic: its hub (while it has subscribers
/// here, or had) and its publishing side.
struct TopicState<M: TopicMessage> {
    hub: Mutex<Option<Addr<Hub<M>>>>,
    outbox: Arc<Mutex<Outbox<M>>>,
    /// Keeps the publishing side's listing subscription alive.
    _follower: Addr<Follower<M>>,
}

struct Inner {
    remote: RemoteHandle,
    topics: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

/// Pub-sub on this member: one per actix `System` (two would run two hubs
/// per topic, and subscribers would get every message twice). Cheap to
/// clone; use it from any actor of that system.
#[derive(Clone)]
pub struct Topics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topics({})", self.inner.remote.local_member())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Topics {
    /// Starts pub-sub on this member's remote layer. Call it once per
    /// `System`, from inside it.
    pub fn start(remote: &RemoteHandle) -> Topics {
        Topics {
            inner: Arc::new(Inner {
                remote: remote.clone(),
                topics: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The state of a topic, made on first use (which starts following the
    /// topic's listing).
    fn state<M: TopicMessage>(&self, topic: &Topic<M>) -> Result<Arc<TopicState<M>>, PublishError> {
        if topic.name().len() > MAX_TOPIC_NAME {
            return Err(PublishError::NameTooLong(topic.name().len()));
        }
        let mut topics = lock(&self.inner.topics);
        if let Some(any) = topics.get(topic.name()) {
            return any
                .clone()
                .downcast::<TopicState<M>>()
                .map_err(|_| PublishError::WrongType(topic.name().to_owned()));
        }
        let outbox = Arc::new(Mutex::new(Outbox::new()));
        let follower = Follower::start(&self.inner.remote, topic.key(), &outbox);
        let state = Arc::new(TopicState {
            hub: Mutex::new(None),
            outbox,
            _follower: follower,
        });
        topics.insert(topic.name().to_owned(), state.clone());
        Ok(state)
    }

    /// Subscribes a local actor: from the time this member's hub is listed
    /// on a publisher's member (the registry's gossip, milliseconds), the
    /// actor gets every message published there on the topic. Subscribing
    /// twice is once. The subscription ends when the actor stops or with
    /// [`unsubscribe`](Self::unsubscribe). A topic name that is too long or
    /// taken by another type is refused (logged; nothing subscribed).
    pub fn subscribe<M: TopicMessage>(&self, topic: &Topic<M>, to: Recipient<M>) {
        let state = match self.state(topic) {
            Ok(state) => state,
            Err(e) => {
                tracing::error!(topic = topic.name(), error = %e, "subscribe refused");
                return;
            }
        };
        let mut hub = lock(&state.hub);
        let addr = match hub.as_ref() {
            Some(addr) if addr.connected() => addr.clone(),
            _ => {
                let addr = Hub::new(self.inner.remote.clone(), topic.key()).start();
                *hub = Some(addr.clone());
                addr
            }
        };
        addr.do_send(Subscribe(to));
    }

    /// Ends a subscription (nothing more is delivered to it once the hub has
    /// handled this, in order with the messages before).
    pub fn unsubscribe<M: TopicMessage>(&self, topic: &Topic<M>, to: &Recipient<M>) {
        let Ok(state) = self.state(topic) else {
            return;
        };
        let hub = lock(&state.hub).clone();
        if let Some(addr) = hub {
            addr.do_send(Unsubscribe(to.clone()));
        }
    }

    /// Publishes a message: every member that has subscribers (this one
    /// included) gets it once, at most once, in order per publishing member.
    /// An error says who may have missed it; see [`PublishError`].
    pub fn publish<M: TopicMessage>(&self, topic: &Topic<M>, msg: M) -> Result<(), PublishError> {
        let state = self.state(topic)?;
        let mut outbox = lock(&state.outbox);
        outbox.publish(&self.inner.remote, msg)
    }

    /// The members that have subscribers, as this member's publishing side
    /// sees them now (empty until the topic's first listing has arrived).
    pub fn members<M: TopicMessage>(&self, topic: &Topic<M>) -> Vec<MemberId> {
        match self.state(topic) {
            Ok(state) => lock(&state.outbox).members(),
            Err(_) => Vec::new(),
        }
    }
}
