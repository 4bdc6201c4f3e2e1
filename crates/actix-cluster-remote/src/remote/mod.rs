//! The `Remote` actor: one per actix `System`, beside the `Cluster`. It
//! follows membership (links and sessions to members that run a remote
//! layer, reachability, the downing decision), keeps the registry, and
//! carries out death watch. The data path (tell, ask, replies) does not go
//! through its mailbox: see `shared.rs`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;
use actix_cluster::{ClusterEvent, DownReason, Event, GetKeyring, MemberInfo, Status};
use actix_cluster_proto::MemberId;
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::control::{Control, WatchId, CONTROL_TAG};
use crate::env::Env;
use crate::envelope::Kind;
use crate::reference::{ActorAddr, ActorId};
use crate::registry::Registry;
use crate::session::{self, Lanes};
use crate::shared::{Link, Outgoing};
use crate::METADATA_KEY;

mod handlers;

pub(crate) use self::handlers::{Find, Refresh, Register, SubscribeKey, Unwatch, Watch};
pub use self::handlers::{GetRemoteStats, GetServices};

/// How often the keyring is read from the `Cluster`.
const KEY_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a watched actor is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminatedReason {
    /// The actor stopped (or was not running when the watch arrived).
    Stopped,
    /// Its member is down by the downing decision: failed, left or fenced.
    MemberDown(DownReason),
}

/// Sent to a watcher, exactly once per watch: the watched actor is gone.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct Terminated {
    /// The actor that was watched.
    pub reference: ActorAddr,
    /// Why it is gone.
    pub reason: TerminatedReason,
}

/// Who watches a local actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Watcher {
    Remote { member: MemberId, id: WatchId },
    Local { id: WatchId },
}

struct WatchOut {
    target: ActorAddr,
    watcher: Recipient<Terminated>,
}

/// Sends a listing to a subscriber; `false` once the subscriber is gone.
pub(crate) type ListingSink = Box<dyn Fn(Vec<ActorAddr>) -> Sent + Send>;

/// What became of a listing sent to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Delivered to its mailbox.
    Delivered,
    /// Its mailbox is full: the listing is sent again on a later tick (the
    /// newest one then), so a slow subscriber misses steps, never the end.
    Full,
    /// The subscriber stopped: the subscription ends.
    Gone,
}

struct ServiceSub {
    /// A listing could not be delivered; resend on the next tick.
    behind: bool,
    include_unreachable: bool,
    sink: ListingSink,
}

/// See the module docs.
pub struct Remote {
    env: Option<Arc<Env>>,
    cluster: Addr<actix_cluster::Cluster>,
    registry: Registry,
    watches: HashMap<WatchId, WatchOut>,
    watched: HashMap<ActorId, Vec<Watcher>>,
    subs: HashMap<String, Vec<ServiceSub>>,
    next_watch: WatchId,
}

impl ServiceSub {
    /// Sends a listing; `false` once the subscriber is gone.
    fn send(&mut self, listing: Vec<ActorAddr>) -> bool {
        match (self.sink)(listing) {
            Sent::Delivered => {
                self.behind = false;
                true
            }
            Sent::Full => {
                self.behind = true;
                true
            }
            Sent::Gone => false,
        }
    }
}

impl Remote {
    pub(crate) fn new(cluster: Addr<actix_cluster::Cluster>, registry: Registry) -> Self {
        Remote {
            env: None,
            cluster,
            registry,
            watches: HashMap::new(),
            watched: HashMap::new(),
            subs: HashMap::new(),
            next_watch: 1,
        }
    }

    pub(crate) fn set_env(&mut self, env: Arc<Env>) {
        self.env = Some(env);
    }

    fn env(&self) -> &Arc<Env> {
        self.env.as_ref().expect("set before the actor starts")
    }

    fn control(&self, member: &MemberId, control: &Control) {
        let Ok(payload) = crate::payload::encode(control) else {
            return;
        };
        let out = Outgoing {
            kind: Kind::Control,
            to: ActorId(0),
            tag: CONTROL_TAG,
            correlation: 0,
            payload,
        };
        if let Err(e) = self.env().shared.enqueue(member, out) {
            debug!(%member, error = %e, "control message not queued");
        }
    }

    fn broadcast_record(&self) {
        let record = Control::Record(self.registry.own_record().clone());
        for member in self.env().shared.links() {
            self.control(&member, &record);
        }
    }

    fn notify(&mut self, keys: BTreeSet<String>) {
        for key in keys {
            self.send_listings(&key, false);
        }
    }

    /// Resends the current listing to subscribers that missed one.
    fn catch_up_subscribers(&mut self) {
        let behind: Vec<String> = self
            .subs
            .iter()
            .filter(|(_, subs)| subs.iter().any(|s| s.behind))
            .map(|(k, _)| k.clone())
            .collect();
        for key in behind {
            self.send_listings(&key, true);
        }
    }

    /// Sends `key`'s listing to its subscribers (only those behind, when
    /// asked); drops the ones that stopped.
    fn send_listings(&mut self, key: &str, only_behind: bool) {
        let Some(subs) = self.subs.get_mut(key) else {
            return;
        };
        let (all, reachable) = (
            self.registry.listing(key, true),
            self.registry.listing(key, false),
        );
        subs.retain_mut(|s| {
            if only_behind && !s.behind {
                return true;
            }
            let listing = if s.include_unreachable {
                all.clone()
            } else {
                reachable.clone()
            };
            s.send(listing)
        });
    }

    // ---- membership ----------------------------------------------------

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Up(info) | Event::Updated(info) => self.member_up(&info),
            Event::Unreachable(info) => self.reachability(&info.id, false),
            Event::Reachable(info) => {
                // A member heard from again after this member was reborn is
                // announced Reachable, not Up: it may have no link yet.
                self.member_up(&info);
                self.reachability(&info.id, true)
            }
            Event::Down { member, reason } => self.member_down(&member.id, reason),
            Event::SelfChanged { old, new } => self.self_changed(old, new),
            _ => {}
        }
    }

    fn member_up(&mut self, info: &MemberInfo) {
        let env = self.env().clone();
        if info.id == env.shared.local() || info.status != Status::Up {
            return;
        }
        let Some(port) = info
            .metadata
            .get(METADATA_KEY)
            .and_then(|p| p.parse::<u16>().ok())
        else {
            return;
        };
        if !env.shared.has_link(&info.id) && !self.registry.is_gone(&info.id) {
            let addr = SocketAddr::new(info.id.addr.ip(), port);
            let (data_tx, data) = mpsc::channel(env.config.outbound_queue);
            let (control_tx, control) = mpsc::channel(env.config.control_queue);
            let (accepted_tx, accepted) = mpsc::channel(1);
            env.shared.add_link(
                info.id.clone(),
                Link {
                    data: data_tx,
                    control: control_tx,
                    reachable: info.reachable,
                    accepted: Some(accepted_tx),
                },
            );
            let lanes = Lanes {
                data,
                control,
                accepted,
            };
            actix_rt::spawn(session::run(env, info.id.clone(), addr, lanes));
            info!(peer = %info.id, %addr, "remote peer up");
        }
        let keys = self.registry.member_up(&info.id);
        self.notify(keys);
    }

    fn reachability(&mut self, member: &MemberId, reachable: bool) {
        self.env().shared.set_reachable(member, reachable);
        let keys = self.registry.set_reachable(member, reachable);
        self.notify(keys);
    }

    fn member_down(&mut self, member: &MemberId, reason: DownReason) {
        self.env().shared.member_gone(member, reason);
        let keys = self.registry.member_gone(member);
        self.notify(keys);
        let fired: Vec<WatchId> = self
            .watches
            .iter()
            .filter(|(_, w)| w.target.member == *member)
            .map(|(id, _)| *id)
            .collect();
        for id in fired {
            self.fire(id, TerminatedReason::MemberDown(reason));
        }
        for watchers in self.watched.values_mut() {
            watchers.retain(|w| !matches!(w, Watcher::Remote { member: m, .. } if m == member));
        }
    }

    fn self_changed(&mut self, old: MemberId, new: MemberId) {
        info!(%old, %new, "remote: this member is reborn");
        let env = self.env().clone();
        env.shared.set_local(new.clone());
        // Sessions were bound to the old id: every peer sees it Down and
        // closes; links are made anew as members come Up for the new id.
        for member in env.shared.links() {
            env.shared.member_gone_quietly(&member);
        }
        self.registry.rekey(new);
        for watchers in self.watched.values_mut() {
            watchers.retain(|w| matches!(w, Watcher::Local { .. }));
        }
    }

    // ---- death watch -------------------------------------------------

    fn fire(&mut self, id: WatchId, reason: TerminatedReason) {
        if let Some(w) = self.watches.remove(&id) {
            // Past the watcher's mailbox capacity too: one message per watch,
            // so the watches bound it, and a Terminated is never lost.
            w.watcher.do_send(Terminated {
                reference: w.target,
                reason,
            });
        }
    }

    fn watch(&mut self, target: ActorAddr, watcher: Recipient<Terminated>) -> WatchId {
        let id = self.next_watch;
        self.next_watch += 1;
        let env = self.env().clone();
        let local = env.shared.local();
        self.watches.insert(
            id,
            WatchOut {
                target: target.clone(),
                watcher,
            },
        );
        if target.member == local {
            if env.shared.has_actor(target.actor) {
                self.watched
                    .entry(target.actor)
                    .or_default()
                    .push(Watcher::Local { id });
            } else {
                self.fire(id, TerminatedReason::Stopped);
            }
        } else if let Some(reason) = env.shared.gone_reason(&target.member) {
            self.fire(id, TerminatedReason::MemberDown(reason));
        } else if self.registry.is_gone(&target.member) {
            self.fire(id, TerminatedReason::MemberDown(DownReason::Failed));
        } else {
            self.control(
                &target.member,
                &Control::Watch {
                    id,
                    actor: target.actor,
                },
            );
        }
        id
    }

    fn unwatch(&mut self, id: WatchId) {
        let Some(w) = self.watches.remove(&id) else {
            return;
        };
        if w.target.member == self.env().shared.local() {
            if let Some(ws) = self.watched.get_mut(&w.target.actor) {
                ws.retain(|x| *x != Watcher::Local { id });
            }
        } else {
            self.control(&w.target.member, &Control::Unwatch { id });
        }
    }

    fn on_control(&mut self, member: MemberId, control: Control) {
        match control {
            Control::Watch { id, actor } => {
                if self.env().shared.has_actor(actor) {
                    let w = Watcher::Remote {
                        member: member.clone(),
                        id,
                    };
                    let list = self.watched.entry(actor).or_default();
                    if !list.contains(&w) {
                        list.push(w);
                    }
                } else {
                    self.control(&member, &Control::Terminated { id, existed: false });
                }
            }
            Control::Unwatch { id } => {
                let w = Watcher::Remote { member, id };
                for list in self.watched.values_mut() {
                    list.retain(|x| *x != w);
                }
            }
            Control::Terminated { id, .. } => {
                if self
                    .watches
                    .get(&id)
                    .is_some_and(|w| w.target.member == member)
                {
                    self.fire(id, TerminatedReason::Stopped);
                }
            }
            Control::Record(record) => {
                if let crate::registry::Merged::Changed(keys) = self.registry.merge(record) {
                    self.notify(keys);
                }
            }
        }
    }

    /// A (re)opened connection: the peer gets this member's record and its
    /// watches again, since what was in flight on the old one may be lost.
    fn connected(&mut self, member: MemberId) {
        self.control(
            &member,
            &Control::Record(self.registry.own_record().clone()),
        );
        let watches: Vec<(WatchId, ActorId)> = self
            .watches
            .iter()
            .filter(|(_, w)| w.target.member == member)
            .map(|(id, w)| (*id, w.target.actor))
            .collect();
        for (id, actor) in watches {
            self.control(&member, &Control::Watch { id, actor });
        }
    }

    fn tick(&mut self) {
        self.catch_up_subscribers();
        let env = self.env().clone();
        let stopped = env.shared.reap_stopped();
        let mut changed = BTreeSet::new();
        for actor in stopped {
            changed.extend(self.registry.actor_stopped(actor));
            for w in self.watched.remove(&actor).unwrap_or_default() {
                match w {
                    Watcher::Local { id } => self.fire(id, TerminatedReason::Stopped),
                    Watcher::Remote { member, id } => {
                        self.control(&member, &Control::Terminated { id, existed: true })
                    }
                }
            }
        }
        if !changed.is_empty() {
            self.broadcast_record();
            self.notify(changed);
        }
        // Watchers that stopped leave on both sides.
        let dead: Vec<WatchId> = self
            .watches
            .iter()
            .filter(|(_, w)| !w.watcher.connected())
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.unwatch(id);
        }
    }
}

impl Actor for Remote {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.cluster.do_send(actix_cluster::Subscribe {
            events: Some(ctx.address().recipient()),
            ..Default::default()
        });
        #[cfg(feature = "metrics")]
        {
            crate::metrics::describe();
            ctx.run_interval(std::time::Duration::from_secs(1), |this, _| {
                let shared = &this.env().shared;
                let gauges = crate::metrics::Gauges {
                    queue_depth: shared.queue_depth(),
                    peers: shared.links().len(),
                    watching: this.watches.len(),
                    watched: this.watched.values().map(Vec::len).sum(),
                };
                crate::metrics::publish(&shared.counters.snapshot(), &gauges);
            });
        }
        let every = self.env().config.liveness_interval;
        ctx.run_interval(every, |this, _| this.tick());
        // The keys follow the cluster's: installed, made primary and removed
        // there, they apply here within a second.
        ctx.run_interval(KEY_REFRESH, |this, ctx| {
            let env = this.env().clone();
            this.cluster
                .send(GetKeyring)
                .into_actor(this)
                .map(move |ring, _, _| {
                    if let Ok(ring) = ring {
                        env.set_keyring(ring);
                    }
                })
                .spawn(ctx);
        });
    }
}

impl Handler<ClusterEvent> for Remote {
    type Result = ();

    fn handle(&mut self, ClusterEvent(event): ClusterEvent, ctx: &mut Context<Self>) {
        let reborn = matches!(event, Event::SelfChanged { .. });
        self.on_event(event);
        if reborn {
            // Every link was made for the old id: make them anew for the
            // members this member knows Up (they are not announced again).
            ctx.notify(Refresh);
        }
    }
}
