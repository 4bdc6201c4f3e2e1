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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use actix_cluster_proto::{MemberInfo, Status};
    use actix_cluster_remote::{ActorAddr, ActorId};

    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Job;
    actix_cluster_remote::remote_message!(Job, name = "t.Job", version = 1);

    fn member(i: u16) -> MemberId {
        MemberId::new(format!("n{i}"), ([127, 0, 0, 1], 7000 + i).into(), 1)
    }

    fn info(i: u16, roles: &[&str]) -> MemberInfo {
        MemberInfo {
            id: member(i),
            status: Status::Up,
            reachable: true,
            incarnation: Default::default(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            metadata: BTreeMap::new(),
            up_number: 1,
        }
    }

    fn view(role: Option<&str>) -> View<Job> {
        View {
            local: member(1),
            slot: Weak::new(),
            role: role.map(str::to_owned),
            listing: (1..=3)
                .map(|i| {
                    RemoteRef::new(ActorAddr {
                        member: member(i),
                        actor: ActorId(9),
                    })
                })
                .collect(),
            roles: HashMap::new(),
            unreachable: HashSet::new(),
            gone: HashSet::new(),
        }
    }

    fn eligible(v: &View<Job>) -> Vec<u16> {
        (1..=3).filter(|i| v.eligible(&member(*i))).collect()
    }

    #[test]
    fn a_role_filter_keeps_only_members_known_to_have_the_role() {
        let mut v = view(Some("backend"));
        assert_eq!(eligible(&v), Vec::<u16>::new(), "roles not known yet");
        v.apply(Event::Up(info(1, &["frontend"])));
        v.apply(Event::Up(info(2, &["backend"])));
        v.apply(Event::Up(info(3, &["backend", "worker"])));
        assert_eq!(eligible(&v), vec![2, 3]);
        // A role given up leaves; without a filter every member counts.
        v.apply(Event::Updated(info(3, &["worker"])));
        assert_eq!(eligible(&v), vec![2]);
        assert_eq!(eligible(&view(None)), vec![1, 2, 3]);
    }

    #[test]
    fn suspected_and_down_members_leave_at_once_and_a_suspect_may_return() {
        let mut v = view(None);
        assert!(v.apply(Event::Unreachable(info(2, &[]))));
        assert_eq!(eligible(&v), vec![1, 3]);
        v.apply(Event::Reachable(info(2, &[])));
        assert_eq!(eligible(&v), vec![1, 2, 3]);
        v.apply(Event::Down {
            member: info(3, &[]),
            reason: actix_cluster_proto::DownReason::Failed,
        });
        // Gone even while the registry still lists it.
        assert_eq!(eligible(&v), vec![1, 2]);
        assert!(!v.apply(Event::Removed(member(3))));
    }
}
