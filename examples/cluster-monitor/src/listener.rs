//! The cluster listener: an actor subscribed to every cluster event. It keeps
//! the view the page starts from and fans each event out to the open event
//! streams through bounded channels. A stream whose buffer is full is closed
//! (the browser reconnects and starts again from a fresh snapshot), so a slow
//! browser never slows the listener, let alone the cluster.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{ClusterEvent, Event, MemberId, MemberInfo, Status};
use actix_web::web::Bytes;
use futures::channel::mpsc;

use crate::views::{now_ms, StreamEvent, StreamMember};

/// Events kept for the log of a page that connects later.
const RECENT: usize = 100;
/// A comment line sent this often keeps idle streams open through proxies and
/// finds closed ones.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// This node's current id, shared by the listener (which follows
/// `SelfChanged`) and the HTTP handlers (`self`, `/readyz`, leave requests).
#[derive(Clone, Debug)]
pub(crate) struct CurrentSelf(Arc<RwLock<MemberId>>);

impl CurrentSelf {
    pub(crate) fn new(id: MemberId) -> Self {
        CurrentSelf(Arc::new(RwLock::new(id)))
    }

    /// The id this node has now.
    pub(crate) fn get(&self) -> MemberId {
        self.0
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn set(&self, id: MemberId) {
        match self.0.write() {
            Ok(mut g) => *g = id,
            Err(p) => *p.into_inner() = id,
        }
    }
}

/// See the module documentation.
pub(crate) struct Listener {
    /// This node, to tell when it is Up (readiness); follows `SelfChanged`.
    self_id: MemberId,
    /// The same, shared with the HTTP handlers.
    current: CurrentSelf,
    /// Set while this node is Up; read by `/readyz`.
    ready: Arc<AtomicBool>,
    /// Every member not yet removed, as last seen.
    members: BTreeMap<MemberId, MemberInfo>,
    leader: Option<MemberId>,
    /// The last events, for the log of pages that connect later.
    recent: VecDeque<StreamEvent>,
    /// Open streams and their bounded senders.
    clients: Vec<mpsc::Sender<Bytes>>,
    /// Capacity of each stream's channel.
    buffer: usize,
    /// Streams closed because they fell behind (logged, for the curious).
    dropped_slow: u64,
}

impl Listener {
    pub(crate) fn new(current: CurrentSelf, ready: Arc<AtomicBool>, buffer: usize) -> Self {
        Listener {
            self_id: current.get(),
            current,
            ready,
            members: BTreeMap::new(),
            leader: None,
            recent: VecDeque::with_capacity(RECENT),
            clients: Vec::new(),
            buffer,
            dropped_slow: 0,
        }
    }

    fn snapshot(&self) -> StreamEvent {
        StreamEvent::Snapshot {
            time: now_ms(),
            self_id: self.self_id.to_string(),
            leader: self.leader.as_ref().map(MemberId::to_string),
            members: self.members.values().map(StreamMember::new).collect(),
            recent: self.recent.iter().cloned().collect(),
        }
    }

    /// Sends to every stream; closes those that are full or gone.
    fn broadcast(&mut self, frame: Bytes) {
        let before = self.clients.len();
        let mut slow = 0;
        self.clients
            .retain_mut(|tx| match tx.try_send(frame.clone()) {
                Ok(()) => true,
                Err(e) if e.is_full() => {
                    slow += 1;
                    false
                }
                Err(_) => false,
            });
        if slow > 0 {
            self.dropped_slow += slow;
            tracing::warn!(
                closed = slow,
                total = self.dropped_slow,
                "closed event streams that fell behind (the page reconnects)"
            );
        }
        if self.clients.len() != before {
            tracing::debug!(open = self.clients.len(), "event streams");
        }
        metrics::gauge!("cluster_monitor_event_streams").set(self.clients.len() as f64);
        metrics::counter!("cluster_monitor_event_streams_closed_slow_total")
            .absolute(self.dropped_slow);
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Joined(m)
            | Event::Up(m)
            | Event::Unreachable(m)
            | Event::Reachable(m)
            | Event::Updated(m)
            | Event::Leaving(m) => {
                self.members.insert(m.id.clone(), m.clone());
            }
            Event::Down { member, .. } => {
                self.members.insert(member.id.clone(), member.clone());
            }
            Event::Removed(id) => {
                self.members.remove(id);
            }
            Event::LeaderChanged(leader) => self.leader = leader.clone(),
            Event::SelfChanged { old, new } => {
                tracing::warn!(%old, %new, "this node rejoins as a new member");
                self.self_id = new.clone();
                self.current.set(new.clone());
            }
        }
        let up = self
            .members
            .get(&self.self_id)
            .is_some_and(|me| me.status == Status::Up);
        if self.ready.swap(up, Ordering::SeqCst) != up {
            tracing::info!(ready = up, "readiness changed");
        }
    }
}

/// Encodes one server-sent event.
pub(crate) fn sse_frame(event: &StreamEvent) -> Bytes {
    let json = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("data: {json}\n\n"))
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(KEEPALIVE, |this, _| {
            this.broadcast(Bytes::from_static(b": keepalive\n\n"));
        });
    }
}

impl Handler<ClusterEvent> for Listener {
    type Result = ();

    fn handle(&mut self, ClusterEvent(event): ClusterEvent, _: &mut Self::Context) {
        tracing::debug!(?event, "cluster event");
        self.apply(&event);
        let view = StreamEvent::from_event(&event, now_ms());
        let frame = sse_frame(&view);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(view);
        self.broadcast(frame);
    }
}

/// Puts an event that is not a membership event (e.g. a death watch's
/// `Terminated`) on every stream and in the recent log.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Publish(pub(crate) StreamEvent);

impl Handler<Publish> for Listener {
    type Result = ();

    fn handle(&mut self, Publish(view): Publish, _: &mut Self::Context) {
        let frame = sse_frame(&view);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(view);
        self.broadcast(frame);
    }
}

/// Opens a stream: the receiver gets the snapshot first, then every event.
#[derive(Message)]
#[rtype(result = "mpsc::Receiver<Bytes>")]
pub(crate) struct Connect;

impl Handler<Connect> for Listener {
    type Result = MessageResult<Connect>;

    fn handle(&mut self, _: Connect, _: &mut Self::Context) -> Self::Result {
        let (mut tx, rx) = mpsc::channel(self.buffer);
        // A new channel has room for at least one frame. `retry` makes the
        // browser reconnect 1 s after the stream drops.
        let mut first = b"retry: 1000\n".to_vec();
        first.extend_from_slice(&sse_frame(&self.snapshot()));
        let _ = tx.try_send(Bytes::from(first));
        self.clients.push(tx);
        MessageResult(rx)
    }
}

/// Closes every stream (at shutdown), so the HTTP server can stop at once, and
/// marks the node not ready.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CloseAll;

impl Handler<CloseAll> for Listener {
    type Result = ();

    fn handle(&mut self, _: CloseAll, _: &mut Self::Context) {
        self.ready.store(false, Ordering::SeqCst);
        self.clients.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::collections::BTreeSet;

    fn info(name: &str, port: u16, status: Status) -> MemberInfo {
        MemberInfo {
            id: MemberId::new(name, ([127, 0, 0, 1], port).into(), 1),
            status,
            reachable: true,
            incarnation: 0,
            roles: BTreeSet::from(["backend".to_owned()]),
            metadata: BTreeMap::new(),
            up_number: 1,
        }
    }

    #[actix_rt::test]
    async fn snapshot_then_events_and_slow_streams_are_closed() {
        let me = info("me", 1, Status::Up);
        let ready = Arc::new(AtomicBool::new(false));
        let listener = Listener::new(CurrentSelf::new(me.id.clone()), ready.clone(), 2).start();
        listener
            .send(ClusterEvent(Event::Up(me.clone())))
            .await
            .unwrap();
        assert!(ready.load(Ordering::SeqCst));

        let mut fast = listener.send(Connect).await.unwrap();
        let slow = listener.send(Connect).await.unwrap();
        let first = fast.next().await.unwrap();
        let text = std::str::from_utf8(&first).unwrap();
        assert!(
            text.starts_with("retry: 1000\ndata: {\"type\":\"snapshot\""),
            "{text}"
        );
        assert!(text.contains("\"self\":\"me@127.0.0.1:1-1\""), "{text}");

        for port in 2..10 {
            listener
                .send(ClusterEvent(Event::Up(info("b", port, Status::Up))))
                .await
                .unwrap();
            let frame = fast.next().await.unwrap();
            assert!(std::str::from_utf8(&frame)
                .unwrap()
                .contains("\"type\":\"up\""));
        }
        // The slow stream was closed once its buffer filled: it ends after what it holds.
        let held: Vec<Bytes> = slow.collect().await;
        assert!(held.len() <= 4, "{}", held.len());

        listener
            .send(ClusterEvent(Event::Leaving(info("me", 1, Status::Leaving))))
            .await
            .unwrap();
        assert!(!ready.load(Ordering::SeqCst));
    }
}
