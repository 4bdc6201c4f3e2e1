//! The cluster registry's pure rules: service keys, each member's record of
//! its own registrations, merging records from others, and listings.
//!
//! Each member is the single writer of its record and raises its version on
//! every change, so merging is "keep the highest version per owner": records
//! may arrive late, twice or out of order and every member still ends with
//! the same listing. A record names its owner with the generation, so a
//! restarted process starts a new record that its old one cannot overwrite.
//! Records count only while their owner is a current member; the caller (the
//! remote actor) reports `MemberUp`, reachability and the downing decision.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;

use actix_cluster_proto::MemberId;
use serde::{Deserialize, Serialize};

use crate::message::RemoteMessage;
use crate::reference::{ActorAddr, ActorId};

/// A typed name for a kind of actor: every actor registered under it handles
/// `M`.
pub struct ServiceKey<M> {
    name: Cow<'static, str>,
    _message: PhantomData<fn() -> M>,
}

impl<M: RemoteMessage> ServiceKey<M> {
    /// A key with a name fixed at compile time.
    pub const fn new(name: &'static str) -> Self {
        ServiceKey {
            name: Cow::Borrowed(name),
            _message: PhantomData,
        }
    }

    /// A key with a name made at run time.
    pub fn named(name: String) -> Self {
        ServiceKey {
            name: Cow::Owned(name),
            _message: PhantomData,
        }
    }
}

impl<M> ServiceKey<M> {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<M> Clone for ServiceKey<M> {
    fn clone(&self) -> Self {
        ServiceKey {
            name: self.name.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> fmt::Debug for ServiceKey<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceKey({:?})", self.name)
    }
}

/// One member's registrations, written by that member only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRecord {
    /// The member whose actors these are (and who writes the record).
    pub owner: OwnerWire,
    /// Raised by the owner on every change.
    pub version: u64,
    /// Service key name -> the owner's actors registered under it.
    pub entries: BTreeMap<String, BTreeSet<ActorId>>,
}

/// A member id as a record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerWire {
    /// The member's name.
    pub name: String,
    /// Its gossip address.
    pub addr: std::net::SocketAddr,
    /// Its generation.
    pub generation: u64,
}

impl OwnerWire {
    fn id(&self) -> MemberId {
        MemberId::new(self.name.clone(), self.addr, self.generation)
    }

    fn of(id: &MemberId) -> Self {
        OwnerWire {
            name: id.name.clone(),
            addr: id.addr,
            generation: id.generation,
        }
    }
}

/// Bounds on what another member's record may hold, so that one member
/// cannot make every other hold unbounded state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryLimits {
    /// Registrations (key, actor pairs) in one record.
    pub max_entries_per_member: usize,
    /// Bytes in one service key's name.
    pub max_key_len: usize,
    /// Records held for members not (yet) known to be Up.
    pub max_pending: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_entries_per_member: 10_000,
            max_key_len: 256,
            max_pending: 1024,
        }
    }
}

/// What merging a record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The record replaced an older one: these keys' listings changed.
    Changed(BTreeSet<String>),
    /// The record is not newer than the one held: nothing changed.
    Stale,
    /// The owner is not a current member yet: held until it is.
    Pending,
    /// The owner is gone (Down, Left, Fenced) or is this member: dropped.
    Gone,
    /// The record breaks a limit: dropped.
    Refused(&'static str),
}

/// The registry as one member sees it.
#[derive(Debug)]
pub struct Registry {
    local: MemberId,
    own: RegistryRecord,
    records: HashMap<MemberId, RegistryRecord>,
    pending: HashMap<MemberId, RegistryRecord>,
    members: HashSet<MemberId>,
    gone: HashSet<MemberId>,
    unreachable: HashSet<MemberId>,
    limits: RegistryLimits,
}

impl Registry {
    /// An empty registry for the local member.
    pub fn new(local: MemberId, limits: RegistryLimits) -> Self {
        let own = RegistryRecord {
            owner: OwnerWire::of(&local),
            version: 0,
            entries: BTreeMap::new(),
        };
        Registry {
            local,
            own,
            records: HashMap::new(),
            pending: HashMap::new(),
            members: HashSet::new(),
            gone: HashSet::new(),
            unreachable: HashSet::new(),
            limits,
        }
    }

    /// This member became a new member (a rebirth): its registrations carry
    /// over to a new record under the new id.
    pub fn rekey(&mut self, local: MemberId) {
        self.own.owner = OwnerWire::of(&local);
        self.own.version = 1;
        self.gone.insert(self.local.clone());
        self.local = local;
    }

    /// This member's own record, as it is sent to the others.
    pub fn own_record(&self) -> &RegistryRecord {
        &self.own
    }

    /// Registers a local actor under a key. Returns whether anything changed
    /// (then the own record's version was raised and should be sent).
    pub fn register(&mut self, key: &str, actor: ActorId) -> bool {
        let changed = self
            .own
            .entries
            .entry(key.to_owned())
            .or_default()
            .insert(actor);
        self.bump(changed)
    }

    /// Removes one registration of a local actor.
    pub fn deregister(&mut self, key: &str, actor: ActorId) -> bool {
        let changed = match self.own.entries.get_mut(key) {
            Some(set) => {
                let removed = set.remove(&actor);
                if set.is_empty() {
                    self.own.entries.remove(key);
                }
                removed
            }
            None => false,
        };
        self.bump(changed)
    }

    /// Removes every registration of a local actor that stopped; returns the
    /// keys whose listings changed.
    pub fn actor_stopped(&mut self, actor: ActorId) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        self.own.entries.retain(|key, set| {
            if set.remove(&actor) {
                keys.insert(key.clone());
            }
            !set.is_empty()
        });
        self.bump(!keys.is_empty());
        keys
    }

    fn bump(&mut self, changed: bool) -> bool {
        if changed {
            self.own.version = self.own.version.saturating_add(1);
        }
        changed
    }

    /// Merges a record received from another member.
    pub fn merge(&mut self, record: RegistryRecord) -> Merged {
        let owner = record.owner.id();
        if owner == self.local || self.gone.contains(&owner) {
            return Merged::Gone;
        }
        if let Err(why) = self.check(&record) {
            return Merged::Refused(why);
        }
        if !self.members.contains(&owner) {
            return self.hold(owner, record);
        }
        match self.records.get(&owner) {
            Some(held) if held.version >= record.version => Merged::Stale,
            _ => {
                let old = self.records.insert(owner, record.clone());
                Merged::Changed(changed_keys(old.as_ref(), Some(&record)))
            }
        }
    }

    fn check(&self, record: &RegistryRecord) -> Result<(), &'static str> {
        let entries: usize = record.entries.values().map(BTreeSet::len).sum();
        if entries > self.limits.max_entries_per_member {
            return Err("too many registrations");
        }
        if record
            .entries
            .keys()
            .any(|k| k.len() > self.limits.max_key_len)
        {
            return Err("service key name too long");
        }
        Ok(())
    }

    fn hold(&mut self, owner: MemberId, record: RegistryRecord) -> Merged {
        let newer = self
            .pending
            .get(&owner)
            .is_none_or(|held| held.version < record.version);
        if !newer {
            return Merged::Stale;
        }
        if !self.pending.contains_key(&owner) && self.pending.len() >= self.limits.max_pending {
            return Merged::Refused("too many records of members not yet Up");
        }
        self.pending.insert(owner, record);
        Merged::Pending
    }

    /// The member is Up: its records count from now on (a held one at once).
    pub fn member_up(&mut self, member: &MemberId) -> BTreeSet<String> {
        if *member == self.local || self.gone.contains(member) {
            return BTreeSet::new();
        }
        self.members.insert(member.clone());
        match self.pending.remove(member) {
            Some(record) => match self.merge(record) {
                Merged::Changed(keys) => keys,
                _ => BTreeSet::new(),
            },
            None => BTreeSet::new(),
        }
    }

    /// The member is Down, Left or Fenced (the downing decision, not a
    /// suspicion): its registrations leave every listing for good.
    pub fn member_gone(&mut self, member: &MemberId) -> BTreeSet<String> {
        self.members.remove(member);
        self.pending.remove(member);
        self.unreachable.remove(member);
        self.gone.insert(member.clone());
        let old = self.records.remove(member);
        changed_keys(old.as_ref(), None)
    }

    /// The member's reachability changed: listings that exclude unreachable
    /// members change with it.
    pub fn set_reachable(&mut self, member: &MemberId, reachable: bool) -> BTreeSet<String> {
        let changed = if reachable {
            self.unreachable.remove(member)
        } else {
            self.unreachable.insert(member.clone())
        };
        match (changed, self.records.get(member)) {
            (true, Some(record)) => record.entries.keys().cloned().collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Whether a member is known to be gone.
    pub fn is_gone(&self, member: &MemberId) -> bool {
        self.gone.contains(member)
    }

    /// The actors registered under a key, sorted: local ones first, then the
    /// current members' (unreachable ones only when asked for).
    pub fn listing(&self, key: &str, include_unreachable: bool) -> Vec<ActorAddr> {
        let mut out = Vec::new();
        let mut push = |member: &MemberId, record: &RegistryRecord| {
            if let Some(actors) = record.entries.get(key) {
                out.extend(actors.iter().map(|a| ActorAddr {
                    member: member.clone(),
                    actor: *a,
                }));
            }
        };
        push(&self.local, &self.own);
        let mut others: Vec<_> = self
            .records
            .iter()
            .filter(|(m, _)| include_unreachable || !self.unreachable.contains(*m))
            .collect();
        others.sort_by(|a, b| a.0.cmp(b.0));
        for (member, record) in others {
            push(member, record);
        }
        out
    }

    /// Every key with at least one listed actor, with its members.
    pub fn services(&self, include_unreachable: bool) -> BTreeMap<String, BTreeSet<MemberId>> {
        let mut out: BTreeMap<String, BTreeSet<MemberId>> = BTreeMap::new();
        let own = std::iter::once((&self.local, &self.own));
        let others = self
            .records
            .iter()
            .filter(|(m, _)| include_unreachable || !self.unreachable.contains(*m));
        for (member, record) in own.chain(others) {
            for key in record.entries.keys() {
                out.entry(key.clone()).or_default().insert(member.clone());
            }
        }
        out
    }
}

fn changed_keys(old: Option<&RegistryRecord>, new: Option<&RegistryRecord>) -> BTreeSet<String> {
    let empty = BTreeMap::new();
    let old = old.map_or(&empty, |r| &r.entries);
    let new = new.map_or(&empty, |r| &r.entries);
    old.keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
