//! The formation rule: what this node knows of the cluster's keys in etcd
//! ([`View`]), and [`decide`], which turns that picture into joining the
//! seeds, forming the cluster (through the formation transaction), or waiting.
//!
//! The rule reaches etcd only through a [`FormationStore`], so it is tested
//! here against an in-memory store with etcd's transaction semantics; the
//! `SeedWatcher` runs it against the real client.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use actix_cluster::MemberId;
use tracing::{debug, warn};

use crate::error::DiscoveryError;
use crate::keys::{Keys, Registration};
use crate::store::{Entry, FormationStore};
use crate::supervision::Control;

/// What this node knows of the cluster's keys in etcd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct View {
    /// member id -> (create revision, registration)
    pub(crate) members: BTreeMap<String, (i64, Option<Registration>)>,
    /// member id -> create revision of its `up/` key
    pub(crate) ups: BTreeMap<String, i64>,
    /// the formation key: (member id, create revision)
    pub(crate) formation: Option<(String, i64)>,
    /// Keys under the prefix that are not ours, with the reason (at most
    /// [`MAX_IGNORED`] are remembered): they never count for seeds or
    /// formation.
    pub(crate) ignored: BTreeMap<String, &'static str>,
    /// The last etcd revision this view reflects (listed, or watched up to).
    pub(crate) revision: i64,
}

/// How many keys that are not ours a [`View`] remembers (for the status).
pub(crate) const MAX_IGNORED: usize = 64;

/// What a key under the cluster's prefix is, once judged.
enum Key {
    /// `members/<id>`: a registration.
    Member(String, Registration),
    /// `up/<id>`.
    Up(String),
    /// `formation`, naming this member.
    Formation(String),
    /// The arbiter's keys (`downing/lease`, `leader`): ours, not read here.
    Arbiter,
    /// Under `app/`: the application's own keys (see
    /// [`DiscoveryConfig::app_prefix`](crate::DiscoveryConfig::app_prefix)).
    App,
}

impl View {
    /// The view of a full listing read at `revision`.
    pub(crate) fn from_entries(keys: &Keys, entries: &[Entry], revision: i64) -> View {
        let mut view = View {
            revision,
            ..View::default()
        };
        for e in entries {
            view.apply_put(keys, e);
        }
        view
    }

    /// A key was put (listed, or seen by the watch). A put replaces what the
    /// key held, so its earlier meaning is forgotten first. A key that is not
    /// ours (see [`judge`]) is logged and remembered in `ignored`, never used.
    pub(crate) fn apply_put(&mut self, keys: &Keys, e: &Entry) {
        self.apply_delete(keys, &e.key);
        match judge(keys, e) {
            Ok(Key::Member(id, reg)) => {
                self.members.insert(id, (e.create_revision, Some(reg)));
            }
            Ok(Key::Up(id)) => {
                self.ups.insert(id, e.create_revision);
            }
            Ok(Key::Formation(id)) => self.formation = Some((id, e.create_revision)),
            Ok(Key::Arbiter) | Ok(Key::App) => {}
            Err(reason) => {
                warn!(key = %e.key, reason, "ignoring a key under the cluster's prefix that is not ours");
                if self.ignored.len() < MAX_IGNORED {
                    self.ignored.insert(e.key.clone(), reason);
                }
            }
        }
    }

    /// A key was deleted (seen by the watch).
    pub(crate) fn apply_delete(&mut self, keys: &Keys, key: &str) {
        self.ignored.remove(key);
        if let Some(id) = key.strip_prefix(&keys.members()) {
            self.members.remove(id);
        } else if let Some(id) = key.strip_prefix(&keys.ups()) {
            self.ups.remove(id);
        } else if key == keys.formation() {
            self.formation = None;
        }
    }

    /// Forgets every key of `id` (after [`FormationStore::remove`]).
    pub(crate) fn remove_member(&mut self, id: &str) {
        self.members.remove(id);
        self.ups.remove(id);
        if self.formation.as_ref().is_some_and(|(f, _)| f == id) {
            self.formation = None;
        }
    }

    pub(crate) fn addr_of(&self, id: &str) -> Option<SocketAddr> {
        match self.members.get(id) {
            Some((_, Some(reg))) => Some(reg.address),
            _ => id.parse::<MemberId>().ok().map(|m| m.addr),
        }
    }

    /// Seeds: members marked Up that are registered too (an `up/` key alone
    /// names nobody that announced an address), oldest registration first,
    /// without `me` (nor anything on our own address), at most `max`.
    pub(crate) fn seeds(&self, me: &str, my_addr: SocketAddr, max: usize) -> Vec<SocketAddr> {
        let mut up: Vec<(i64, &str)> = self
            .ups
            .keys()
            .filter(|id| id.as_str() != me && self.addr_of(id) != Some(my_addr))
            .filter_map(|id| self.members.get(id).map(|(rev, _)| (*rev, id.as_str())))
            .collect();
        up.sort();
        let mut seeds = Vec::new();
        for (_, id) in up {
            if seeds.len() >= max {
                break;
            }
            if let Some(a) = self.addr_of(id) {
                if !seeds.contains(&a) {
                    seeds.push(a);
                }
            }
        }
        seeds
    }

    /// Ids of other members registered on our own address: earlier processes
    /// on this address, certainly dead since we hold the address now.
    pub(crate) fn stale_on(&self, me: &str, my_addr: SocketAddr) -> Vec<String> {
        let mut ids: Vec<String> = self
            .members
            .keys()
            .chain(self.ups.keys())
            .chain(self.formation.iter().map(|(id, _)| id))
            .filter(|id| id.as_str() != me && self.addr_of(id) == Some(my_addr))
            .filter(|id| older_than(id, me))
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// What [`decide`] reads: the seeds, and who holds the formation key, as
    /// of the revision this view reflects.
    pub(crate) fn picture(
        &self,
        me: &str,
        my_addr: SocketAddr,
        max_seeds: usize,
    ) -> FormationInput {
        FormationInput {
            revision: self.revision,
            seeds: self.seeds(me, my_addr, max_seeds),
            former: self
                .formation
                .as_ref()
                .map(|(id, _)| (id.clone(), self.addr_of(id))),
        }
    }
}

/// Judges a key under the cluster's prefix: ours, or why not. Every key of
/// ours is bound to a lease and names a member id that parses; a registration
/// is JSON that names the same id and address as its key.
fn judge(keys: &Keys, e: &Entry) -> Result<Key, &'static str> {
    let key = e.key.as_str();
    let member_id = |id: &str| id.parse::<MemberId>().map_err(|_| "not a member id");
    if key == keys.downing_lease() || key == keys.leader() || key.starts_with(&keys.singletons()) {
        return Ok(Key::Arbiter);
    }
    if key.starts_with(&keys.app()) {
        return Ok(Key::App);
    }
    if e.lease == 0 {
        return Err("no lease");
    }
    if let Some(id) = key.strip_prefix(&keys.members()) {
        let parsed = member_id(id)?;
        let reg = serde_json::from_slice::<Registration>(&e.value)
            .map_err(|_| "registration is not valid JSON")?;
        if reg.id != id || reg.address != parsed.addr {
            return Err("registration names another member");
        }
        Ok(Key::Member(id.to_owned(), reg))
    } else if let Some(id) = key.strip_prefix(&keys.ups()) {
        member_id(id)?;
        Ok(Key::Up(id.to_owned()))
    } else if key == keys.formation() {
        let id = std::str::from_utf8(&e.value).map_err(|_| "not a member id")?;
        member_id(id)?;
        Ok(Key::Formation(id.to_owned()))
    } else {
        Err("unknown key")
    }
}

/// Whether `id` is an earlier process than `me` (a lower generation; an id
/// that does not parse counts as earlier). A later one on our address is our
/// own new self after a rebirth, never a stale registration.
fn older_than(id: &str, me: &str) -> bool {
    match (id.parse::<MemberId>(), me.parse::<MemberId>()) {
        (Ok(a), Ok(b)) => a.generation < b.generation,
        _ => true,
    }
}

/// The part of the [`View`] the formation rule reads, small enough to take
/// out of the watcher's lock before the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FormationInput {
    /// The revision the view reflects (see [`FormationStore::try_form`]).
    pub(crate) revision: i64,
    /// See [`View::seeds`].
    pub(crate) seeds: Vec<SocketAddr>,
    /// The member holding the formation key, and its address if known.
    pub(crate) former: Option<(String, Option<SocketAddr>)>,
}

/// What the formation rule says to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing for now: leaving, or waiting (for our lease, for a usable
    /// formation key, or for the key of the member that won the transaction).
    Wait,
    /// We are `Up`: look for members `Up` in etcd our cluster does not know.
    MergeStrangers,
    /// Join the cluster through these seeds.
    Join(Vec<SocketAddr>),
    /// Form the cluster: we hold the formation key.
    Form,
}

/// The formation decision of member `me`, from what it knows (`picture`, read
/// only when needed) and its [`Control`]. Seeds win: somebody `Up` means join
/// them. Else the holder of the formation key forms and everyone else joins
/// it. Else, once we hold a lease, the formation transaction through `store`
/// decides: the one member whose transaction succeeds forms; a member that
/// loses waits for the winner's key to show in its view. An etcd error is
/// returned as is (the watcher fails and is restarted with backoff).
pub(crate) async fn decide(
    store: &impl FormationStore,
    me: &str,
    c: &Control,
    picture: impl FnOnce() -> FormationInput,
) -> Result<Decision, DiscoveryError> {
    if c.leaving {
        return Ok(Decision::Wait);
    }
    if c.up {
        return Ok(Decision::MergeStrangers);
    }
    let FormationInput {
        revision,
        seeds,
        former,
    } = picture();
    if !seeds.is_empty() {
        return Ok(Decision::Join(seeds));
    }
    match former {
        Some((id, _)) if id == me => Ok(Decision::Form),
        Some((id, Some(addr))) => {
            debug!(former = %id, "cluster being formed by another member; joining it");
            Ok(Decision::Join(vec![addr]))
        }
        Some((id, None)) => {
            warn!(former = %id, "formation key names no usable address; waiting");
            Ok(Decision::Wait)
        }
        None => {
            let Some(lease) = c.lease else {
                debug!("nobody is up; waiting for our registration before forming");
                return Ok(Decision::Wait);
            };
            if store.try_form(me, lease, revision).await? {
                Ok(Decision::Form)
            } else {
                debug!("another member won the formation; waiting for its key");
                Ok(Decision::Wait)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use futures::executor::block_on;

    use super::*;
    use crate::store::MemStore;

    fn id(port: u16, gen: u64) -> String {
        format!("n@127.0.0.1:{port}-{gen:x}")
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn keys() -> Keys {
        Keys {
            root: "/actix-cluster/test/".into(),
        }
    }

    fn view(entries: &[(u16, u64, i64, bool)]) -> View {
        let mut v = View::default();
        for &(port, gen, rev, up) in entries {
            v.members.insert(id(port, gen), (rev, None));
            if up {
                v.ups.insert(id(port, gen), rev + 100);
            }
        }
        v
    }

    #[test]
    fn seeds_are_up_members_oldest_first_without_us_capped() {
        let v = view(&[
            (5, 1, 50, true),
            (3, 1, 30, true),
            (4, 1, 40, false),
            (9, 1, 10, true),
            (7, 1, 70, true),
        ]);
        // Registered oldest first; not-Up members are no seeds.
        assert_eq!(
            v.seeds(&id(1, 1), addr(1), 10),
            vec![addr(9), addr(3), addr(5), addr(7)]
        );
        // Never ourselves, nor anything on our address (an earlier process).
        assert_eq!(
            v.seeds(&id(9, 1), addr(9), 10),
            vec![addr(3), addr(5), addr(7)]
        );
        assert_eq!(
            v.seeds(&id(9, 2), addr(9), 10),
            vec![addr(3), addr(5), addr(7)]
        );
        // At most max.
        assert_eq!(v.seeds(&id(1, 1), addr(1), 2), vec![addr(9), addr(3)]);
    }

    #[test]
    fn stale_registrations_on_our_address_are_found() {
        let mut v = view(&[(5, 1, 50, true), (6, 1, 60, true)]);
        v.formation = Some((id(5, 1), 51));
        assert_eq!(v.stale_on(&id(5, 2), addr(5)), vec![id(5, 1)]);
        assert!(v.stale_on(&id(5, 1), addr(5)).is_empty());
        assert!(v.stale_on(&id(7, 1), addr(7)).is_empty());
    }

    /// A starting member: its id, its address and the lease its keeper holds.
    struct Node {
        id: String,
        addr: SocketAddr,
        lease: i64,
    }

    fn node(port: u16) -> Node {
        Node {
            id: id(port, 1),
            addr: addr(port),
            lease: i64::from(port) * 1000,
        }
    }

    /// What the node's `LeaseKeeper` puts: its registration, and `up/` once Up.
    fn register(store: &MemStore, n: &Node, up: bool) {
        let reg = Registration {
            id: n.id.clone(),
            name: "n".into(),
            address: n.addr,
            roles: BTreeSet::new(),
            metadata: BTreeMap::new(),
            version: "test".into(),
            started_at_ms: 0,
        };
        let json = serde_json::to_vec(&reg).expect("serializes");
        store.put(keys().member(&n.id), &json, n.lease);
        if up {
            store.put(keys().up(&n.id), n.id.as_bytes(), n.lease);
        }
    }

    /// Two members starting, registered, nobody Up.
    fn two_starting() -> (MemStore, Node, Node) {
        let store = MemStore::new(keys());
        let (a, b) = (node(1), node(2));
        register(&store, &a, false);
        register(&store, &b, false);
        (store, a, b)
    }

    /// `n` wins the formation transaction.
    fn form(store: &MemStore, n: &Node) {
        let seen = store.revision();
        assert!(block_on(store.try_form(&n.id, n.lease, seen)).expect("store is up"));
    }

    /// What the node's `SeedWatcher` lists.
    fn listed(store: &MemStore) -> View {
        let (entries, revision) = block_on(store.list()).expect("store is up");
        View::from_entries(&keys(), &entries, revision)
    }

    fn starting(n: &Node) -> Control {
        Control {
            lease: Some(n.lease),
            ..Control::default()
        }
    }

    /// `decide` for `n` with what it listed (`view`, possibly stale).
    fn decide_with(
        store: &MemStore,
        view: &View,
        n: &Node,
        c: &Control,
    ) -> Result<Decision, DiscoveryError> {
        block_on(decide(store, &n.id, c, || view.picture(&n.id, n.addr, 5)))
    }

    /// `decide` for `n`, which must not fail.
    fn decided(store: &MemStore, view: &View, n: &Node, c: &Control) -> Decision {
        decide_with(store, view, n, c).expect("no etcd error")
    }

    fn formation(store: &MemStore) -> Option<(Vec<u8>, Option<i64>)> {
        store.get(&keys().formation())
    }

    #[test]
    fn nobody_up_and_no_formation_means_this_node_forms() {
        let (store, a, _other) = two_starting(); // the other is registered, not Up
        let view = listed(&store);
        assert_eq!(decided(&store, &view, &a, &starting(&a)), Decision::Form);
        // The key names us and is bound to our lease.
        assert_eq!(formation(&store), Some((a.id.into_bytes(), Some(a.lease))));
    }

    #[test]
    fn someone_up_means_join_the_seeds_and_never_form() {
        let store = MemStore::new(keys());
        let (a, b, c) = (node(1), node(2), node(3));
        register(&store, &c, true); // registered first: the oldest seed
        register(&store, &b, true);
        register(&store, &a, false);
        let view = listed(&store);
        assert_eq!(
            decided(&store, &view, &a, &starting(&a)),
            Decision::Join(vec![c.addr, b.addr])
        );
        assert_eq!(formation(&store), None);
    }

    #[test]
    fn a_formation_held_by_another_means_join_it_or_wait() {
        let (store, a, b) = two_starting();
        form(&store, &b);
        let view = listed(&store);
        // B formed but is not Up yet: join B.
        assert_eq!(
            decided(&store, &view, &a, &starting(&a)),
            Decision::Join(vec![b.addr])
        );
        // B itself (e.g. its watcher restarted) forms again: the key is its.
        assert_eq!(decided(&store, &view, &b, &starting(&b)), Decision::Form);
        // A formation key that names no member is not ours: it is ignored,
        // and the formation transaction writes over it.
        store.put(keys().formation(), b"not a member id", 77);
        let view = listed(&store);
        assert_eq!(view.formation, None);
        assert_eq!(
            view.ignored.get(&keys().formation()),
            Some(&"not a member id")
        );
        assert_eq!(decided(&store, &view, &a, &starting(&a)), Decision::Form);
        assert_eq!(formation(&store).map(|(v, _)| v), Some(a.id.into_bytes()));
    }

    #[test]
    fn keys_that_are_not_ours_never_block_forming_nor_become_seeds() {
        let (store, a, _b) = two_starting();
        let ghost = node(9);
        let k = keys();
        // An operator's stray keys, without a lease.
        store.put_raw(format!("{}junk", k.ups()), b"x", None);
        store.put_raw(k.up(&ghost.id), b"x", None);
        store.put_raw(k.formation(), b"anything", None);
        store.put_raw(format!("{}notes", k.root), b"x", None);
        // Leased, but naming nobody that registered (a black hole), and a
        // registration whose key and content disagree.
        store.put(k.up(&ghost.id), ghost.id.as_bytes(), 5);
        let other = node(8);
        let reg = serde_json::to_vec(&Registration {
            id: other.id.clone(),
            name: "n".into(),
            address: other.addr,
            roles: BTreeSet::new(),
            metadata: BTreeMap::new(),
            version: "test".into(),
            started_at_ms: 0,
        })
        .expect("serializes");
        store.put(k.member(&id(7, 1)), &reg, 5);
        let view = listed(&store);
        assert!(view.seeds(&a.id, a.addr, 5).is_empty(), "{view:?}");
        assert_eq!(view.formation, None);
        assert_eq!(
            view.ignored.get(&format!("{}junk", k.ups())),
            Some(&"no lease")
        );
        assert_eq!(
            view.ignored.get(&k.member(&id(7, 1))),
            Some(&"registration names another member")
        );
        assert_eq!(view.ignored.get(&k.formation()), Some(&"no lease"));
        assert_eq!(
            view.ignored.get(&format!("{}notes", k.root)),
            Some(&"no lease")
        );
        // The application's keys under `app/` are neither used nor counted.
        store.put_raw(format!("{}ticker/token", k.app()), b"7", None);
        let view = listed(&store);
        assert!(!view
            .ignored
            .contains_key(&format!("{}ticker/token", k.app())));
        assert!(view.seeds(&a.id, a.addr, 5).is_empty(), "{view:?}");
        // Nobody real is Up: A forms, over the stray formation key.
        assert_eq!(decided(&store, &view, &a, &starting(&a)), Decision::Form);
        assert_eq!(
            formation(&store).map(|(v, _)| v),
            Some(a.id.clone().into_bytes())
        );
    }

    #[test]
    fn the_transaction_lost_to_a_racer_means_do_not_form() {
        let (store, a, b) = two_starting();
        // Both list an empty cluster at the same time...
        let (seen_by_a, seen_by_b) = (listed(&store), listed(&store));
        // ...B's transaction commits first, A's fails.
        assert_eq!(
            decided(&store, &seen_by_b, &b, &starting(&b)),
            Decision::Form
        );
        assert_eq!(
            decided(&store, &seen_by_a, &a, &starting(&a)),
            Decision::Wait
        );
        assert_eq!(formation(&store).map(|(v, _)| v), Some(b.id.into_bytes()));
    }

    #[test]
    fn a_member_up_since_our_list_stops_the_transaction() {
        // A stale view that misses a member already Up (the former left, so
        // there is no formation key): forming again would split the cluster.
        let store = MemStore::new(keys());
        let (a, b) = (node(1), node(2));
        register(&store, &a, false);
        let view = listed(&store);
        register(&store, &b, true);
        assert_eq!(decided(&store, &view, &a, &starting(&a)), Decision::Wait);
        assert_eq!(formation(&store), None);
    }

    #[test]
    fn the_former_dying_before_anyone_joined_lets_the_next_member_form() {
        let (store, a, b) = two_starting();
        form(&store, &b);
        store.expire(b.lease);
        let view = listed(&store);
        assert_eq!(decided(&store, &view, &a, &starting(&a)), Decision::Form);
        assert_eq!(formation(&store).map(|(v, _)| v), Some(a.id.into_bytes()));
    }

    #[test]
    fn the_keys_of_an_earlier_process_on_our_address_are_removed_then_we_form() {
        // Cold restart on the same address before the old lease expired: the
        // old process formed and was Up.
        let store = MemStore::new(keys());
        let old = node(1);
        let a = Node {
            id: id(1, 2),
            addr: addr(1),
            lease: 4242,
        };
        register(&store, &old, false);
        form(&store, &old);
        register(&store, &old, true);
        register(&store, &a, false);
        let mut view = listed(&store);
        assert_eq!(view.formation.as_ref().map(|(f, _)| f), Some(&old.id));
        assert_eq!(view.stale_on(&a.id, a.addr), vec![old.id.clone()]);
        // What the watcher's reap does.
        for stale in view.stale_on(&a.id, a.addr) {
            block_on(store.remove(&stale)).expect("store is up");
            view.remove_member(&stale);
        }
        let now = listed(&store);
        assert_eq!(
            View {
                revision: 0,
                ..view.clone()
            },
            View { revision: 0, ..now }
        );
        assert_eq!(decided(&store, &view, &a, &starting(&a)), Decision::Form);
        assert_eq!(formation(&store).map(|(v, _)| v), Some(a.id.into_bytes()));
    }

    #[test]
    fn an_etcd_error_takes_the_error_path() {
        let store = MemStore::new(keys());
        let a = node(1);
        register(&store, &a, false);
        let view = listed(&store);
        store.set_down(true);
        assert!(matches!(
            decide_with(&store, &view, &a, &starting(&a)),
            Err(DiscoveryError::Timeout("formation txn"))
        ));
        assert_eq!(formation(&store), None);
        // Once etcd is back, the restarted watcher forms.
        store.set_down(false);
        assert_eq!(decided(&store, &view, &a, &starting(&a)), Decision::Form);
    }

    #[test]
    fn without_a_lease_leaving_or_up_the_store_is_not_asked() {
        // etcd is down: a decision that asked it would be an error.
        let store = MemStore::new(keys());
        let a = node(1);
        let view = View::default();
        store.set_down(true);
        let no_lease = Control::default();
        assert_eq!(decided(&store, &view, &a, &no_lease), Decision::Wait);
        let leaving = Control {
            leaving: true,
            ..starting(&a)
        };
        assert_eq!(decided(&store, &view, &a, &leaving), Decision::Wait);
        let up = Control {
            up: true,
            ..starting(&a)
        };
        assert_eq!(decided(&store, &view, &a, &up), Decision::MergeStrangers);
    }
}
