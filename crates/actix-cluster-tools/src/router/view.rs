//! The router's view of its routees: the key's listing (reachable members
//! only, from the registry), narrowed by what the router's own subscription
//! to the cluster says: members suspected or down, and members' roles.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};

use actix::prelude::*;
use actix_cluster::{ClusterEvent, Event, Subscribe};
use actix_cluster_proto::MemberId;
use actix_cluster_remote::{Listing, RemoteHandle, RemoteMessage, RemoteRef, ServiceKey};

use super::rendezvous::routee_hash;

/// The routees in force: replaced whole on every change, read without
/// waiting for the view actor.
pub(super) struct Routees<M> {
    pub(super) refs: Vec<RemoteRef<M>>,
    /// Each routee's rendezvous hash, by index.
    pub(super) hashes: Vec<u64>,
}

pub(super) type Slot<M> = RwLock<Arc<Routees<M>>>;

pub(super) struct View<M: RemoteMessage> {
    local: MemberId,
    slot: Weak<Slot<M>>,
    role: Option<String>,
    /// The key's listing as the registry last sent it.
    listing: Vec<RemoteRef<M>>,
    roles: HashMap<MemberId, BTreeSet<String>>,
    unreachable: HashSet<MemberId>,
    /// Down members, until their tombstone is removed (the registry may
    /// still list them for an instant after the cluster said `Down`).
    gone: HashSet<MemberId>,
}

impl<M: RemoteMessage> View<M> {
    /// Starts the view and its two subscriptions.
    pub(super) fn start(
        remote: &RemoteHandle,
        key: &ServiceKey<M>,
        role: Option<String>,
        slot: &Arc<Slot<M>>,
    ) -> Addr<Self> {
        let addr = View {
            local: remote.local_member(),
            slot: Arc::downgrade(slot),
            role,
            listing: Vec::new(),
            roles: HashMap::new(),
            unreachable: HashSet::new(),
            gone: HashSet::new(),
        }
        .start();
        remote.cluster().do_send(Subscribe {
            events: Some(addr.clone().recipient()),
            ..Subscribe::default()
        });
        remote.subscribe(key, addr.clone().recipient());
        addr
    }

    fn eligible(&self, member: &MemberId) -> bool {
        if self.unreachable.contains(member) || self.gone.contains(member) {
            return false;
        }
        match &self.role {
            None => true,
            Some(role) => self
                .roles
                .get(member)
                .is_some_and(|roles| roles.contains(role)),
        }
    }

    /// Publishes the routees now in force; stops once the router is gone.
    fn update(&mut self, ctx: &mut Context<Self>) {
        let Some(slot) = self.slot.upgrade() else {
            ctx.stop();
            return;
        };
        let refs: Vec<RemoteRef<M>> = self
            .listing
            .iter()
            .filter(|r| self.eligible(r.member()))
            .cloned()
            .collect();
        let hashes = refs.iter().map(|r| routee_hash(r.addr())).collect();
        tracing::debug!(member = %self.local, routees = refs.len(), "router routees");
        *slot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Routees { refs, hashes });
    }

    /// Applies a membership event; answers whether the routees may change.
    fn apply(&mut self, event: Event) -> bool {
        match event {
            Event::Up(info) | Event::Updated(info) => {
                self.roles.insert(info.id, info.roles);
            }
            Event::Unreachable(info) => {
                self.unreachable.insert(info.id);
            }
            Event::Reachable(info) => {
                self.unreachable.remove(&info.id);
                self.roles.insert(info.id, info.roles);
            }
            Event::Down { member, .. } => {
                self.unreachable.remove(&member.id);
                self.roles.remove(&member.id);
                self.gone.insert(member.id);
            }
            Event::Removed(id) => {
                self.gone.remove(&id);
                return false;
            }
            Event::SelfChanged { new, .. } => {
                self.local = new;
                return false;
            }
            _ => return false,
        }
        true
    }
}

impl<M: RemoteMessage> Actor for View<M> {
    type Context = Context<Self>;
}

impl<M: RemoteMessage> Handler<Listing<M>> for View<M> {
    type Result = ();

    fn handle(&mut self, listing: Listing<M>, ctx: &mut Context<Self>) {
        self.listing = listing.actors;
        self.update(ctx);
    }
}

impl<M: RemoteMessage> Handler<ClusterEvent> for View<M> {
    type Result = ();

    fn handle(&mut self, ClusterEvent(event): ClusterEvent, ctx: &mut Context<Self>) {
        if self.apply(event) {
            self.update(ctx);
        }
    }
}
