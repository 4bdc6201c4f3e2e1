//! Member identity.
//!
//! A [`MemberId`] is a cheap handle: its parts live once behind a shared
//! pointer, so every index of the members table, every queued update and
//! every probe list holds eight bytes per member rather than a copy of the
//! name and address. Its hash is computed once, when the id is made, with a
//! keyed hash (SipHash with a random key per process): the maps keyed by ids
//! then hash one word, and a peer that chooses ids still cannot aim them at
//! one bucket, because it does not know the key.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

/// A number that is new for every process start (e.g. start time in microseconds
/// mixed with randomness). Two processes on the same address with different
/// generations are different members, so a restarted process can never be
/// confused with its old self.
pub type Generation = u64;

/// SWIM incarnation number: only the member itself raises it, to refute a
/// suspicion or to announce a change of its own state.
pub type Incarnation = u32;

/// What a [`MemberId`] is made of (it dereferences to this, so `id.addr`
/// reads the address).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IdParts {
    /// Human-readable name (host name by default); not necessarily unique.
    pub name: String,
    /// Advertised gossip address (UDP and TCP share this port).
    pub addr: SocketAddr,
    /// Process generation; see [`Generation`].
    pub generation: Generation,
}

/// The parts and their keyed hash, shared by every copy of one id.
struct Shared {
    parts: IdParts,
    hash: u64,
}

/// The identity of one member: a name, the gossip address others reach it at,
/// and the generation of the process. Cloning it copies a pointer.
///
/// Its string form, `name@addr-gen` with the generation in hex, e.g.
/// `node-1@10.0.0.5:7946-1a2b3c`, is what the HTTP API and the logs show.
#[derive(Clone)]
pub struct MemberId(Arc<Shared>);

/// The per-process key of the ids' hash.
fn key() -> &'static RandomState {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new)
}

/// The keyed hash of an id's parts: the same whether they are held
/// ([`MemberId`]) or borrowed from a message ([`IdRef`]).
fn hash_parts(name: &str, addr: &SocketAddr, generation: Generation) -> u64 {
    key().hash_one((name, addr, generation))
}

impl MemberId {
    /// Builds an id.
    pub fn new(name: impl Into<String>, addr: SocketAddr, generation: Generation) -> Self {
        let name = name.into();
        let hash = hash_parts(&name, &addr, generation);
        let parts = IdParts {
            name,
            addr,
            generation,
        };
        MemberId(Arc::new(Shared { parts, hash }))
    }

    /// The id of `r`'s parts, its keyed hash reused.
    pub(crate) fn from_ref(r: &IdRef<'_>) -> MemberId {
        let parts = IdParts {
            name: r.name.to_owned(),
            addr: r.addr,
            generation: r.generation,
        };
        MemberId(Arc::new(Shared {
            parts,
            hash: r.hash,
        }))
    }

    /// The same name and address with another generation.
    pub fn with_generation(&self, generation: Generation) -> MemberId {
        MemberId::new(self.name.clone(), self.addr, generation)
    }

    /// Whether both are the very same allocation (tests of id sharing).
    #[cfg(test)]
    pub(crate) fn same(&self, other: &MemberId) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The parts (also reachable through `Deref`).
    pub fn parts(&self) -> &IdParts {
        &self.0.parts
    }
}

impl Deref for MemberId {
    type Target = IdParts;

    fn deref(&self) -> &IdParts {
        &self.0.parts
    }
}

impl PartialEq for MemberId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash && self.0.parts == other.0.parts)
    }
}

impl Eq for MemberId {}

impl Hash for MemberId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl PartialOrd for MemberId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MemberId {
    /// By name, then address, then generation.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.0.parts.cmp(&other.0.parts)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}-{:x}", self.name, self.addr, self.generation)
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for MemberId {
    type Err = String;

    /// Parses the [`Display`](fmt::Display) form back.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("member id {s:?} has no '@' (expected name@addr-gen)"))?;
        let (addr, gen) = rest.rsplit_once('-').ok_or_else(|| {
            format!("member id {s:?} has no '-gen' suffix (expected name@addr-gen)")
        })?;
        let addr = addr
            .parse()
            .map_err(|e| format!("member id {s:?}: bad address {addr:?}: {e}"))?;
        let generation = u64::from_str_radix(gen, 16)
            .map_err(|e| format!("member id {s:?}: bad generation {gen:?}: {e}"))?;
        Ok(MemberId::new(name, addr, generation))
    }
}

/// An id's parts borrowed from a received message, with their keyed hash:
/// what the decoder looks up in the table (through [`IdKey`]) before it
/// allocates a [`MemberId`], so news about a known member allocates no id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdRef<'a> {
    name: &'a str,
    addr: SocketAddr,
    generation: Generation,
    hash: u64,
}

impl<'a> IdRef<'a> {
    pub(crate) fn new(name: &'a str, addr: SocketAddr, generation: Generation) -> IdRef<'a> {
        IdRef {
            name,
            addr,
            generation,
            hash: hash_parts(name, &addr, generation),
        }
    }
}

/// An id held or borrowed, as the key of a lookup in the maps and sets keyed
/// by ids: `map.get(&id_ref as &dyn IdKey)` finds the held [`MemberId`] with
/// equal parts.
pub(crate) trait IdKey {
    fn key_hash(&self) -> u64;
    fn key_parts(&self) -> (&str, &SocketAddr, Generation);

    /// Whether `id` is the id this key names.
    fn names(&self, id: &MemberId) -> bool {
        id.key_hash() == self.key_hash() && id.key_parts() == self.key_parts()
    }
}

impl IdKey for MemberId {
    fn key_hash(&self) -> u64 {
        self.0.hash
    }

    fn key_parts(&self) -> (&str, &SocketAddr, Generation) {
        (&self.name, &self.addr, self.generation)
    }

    /// The very same allocation needs no look at the parts.
    fn names(&self, id: &MemberId) -> bool {
        self == id
    }
}

impl IdKey for IdRef<'_> {
    fn key_hash(&self) -> u64 {
        self.hash
    }

    fn key_parts(&self) -> (&str, &SocketAddr, Generation) {
        (self.name, &self.addr, self.generation)
    }
}

impl PartialEq for dyn IdKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key_hash() == other.key_hash() && self.key_parts() == other.key_parts()
    }
}

impl Eq for dyn IdKey + '_ {}

/// As [`MemberId`]'s own hash, so that a borrowed key finds a held one.
impl Hash for dyn IdKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.key_hash());
    }
}

impl<'a> Borrow<dyn IdKey + 'a> for MemberId {
    fn borrow(&self) -> &(dyn IdKey + 'a) {
        self
    }
}

/// Ids shared by the cores of one process that runs many (a simulator):
/// a core given the pool ([`Core::share_ids`](crate::Core::share_ids))
/// takes every id it learns through it, so a member known to ten thousand
/// simulated cores is held once. The pool keeps every id it saw, so it is
/// for simulations, not for a long-lived process facing a network.
#[derive(Clone, Default)]
pub struct IdPool(Arc<Mutex<IdSet>>);

impl IdPool {
    /// An empty pool.
    pub fn new() -> IdPool {
        IdPool::default()
    }

    /// The pool's copy of `id` (`id` itself, kept, if new).
    pub(crate) fn share(&self, id: MemberId) -> MemberId {
        let mut ids = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match ids.get(&id) {
            Some(held) => held.clone(),
            None => {
                ids.insert(id.clone());
                id
            }
        }
    }

    /// The pool's copy of the id `r` names, if it holds one (nothing kept).
    pub(crate) fn find(&self, r: &IdRef<'_>) -> Option<MemberId> {
        let ids = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ids.get(r as &dyn IdKey).cloned()
    }

    /// How many ids it holds.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for IdPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdPool({} ids)", self.len())
    }
}

/// The hasher of the maps keyed by ids: an id hashes as its keyed hash, one
/// word, which this takes as it is. Anything else written (no id map holds
/// other keys) is mixed in word by word.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ word;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by member ids (see [`IdHasher`]).
pub(crate) type IdMap<V> = HashMap<MemberId, V, BuildHasherDefault<IdHasher>>;

/// Gives back most of an id map's room once it holds a quarter of what it
/// has room for: queues that fill during a cold start (one entry per
/// member) and then drain would otherwise keep their peak for good.
pub(crate) fn trim<V>(map: &mut IdMap<V>) {
    if map.capacity() > 64 && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

/// A set of member ids (see [`IdHasher`]).
pub(crate) type IdSet = HashSet<MemberId, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, port: u16, generation: u64) -> MemberId {
        MemberId::new(name, ([10, 0, 0, 1], port).into(), generation)
    }

    #[test]
    fn equal_parts_are_equal_ids_with_one_hash() {
        let (a, b) = (id("n", 1, 2), id("n", 1, 2));
        assert!(!Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal);
        let mut set = IdSet::default();
        set.insert(a);
        assert!(set.contains(&b));
        for other in [id("m", 1, 2), id("n", 2, 2), id("n", 1, 3)] {
            assert_ne!(other, b);
            assert!(!set.contains(&other));
        }
    }

    #[test]
    fn a_pool_hands_out_its_first_copy() {
        let pool = IdPool::new();
        let first = pool.share(id("n", 1, 2));
        let again = pool.share(id("n", 1, 2));
        assert!(Arc::ptr_eq(&first.0, &again.0));
        assert!(!Arc::ptr_eq(&first.0, &pool.share(id("n", 1, 3)).0));
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn order_is_name_then_address_then_generation() {
        let mut v = [id("b", 1, 1), id("a", 2, 1), id("a", 1, 2), id("a", 1, 1)];
        v.sort();
        let got: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "a@10.0.0.1:1-1",
                "a@10.0.0.1:1-2",
                "a@10.0.0.1:2-1",
                "b@10.0.0.1:1-1"
            ]
        );
    }

    #[test]
    fn a_borrowed_id_finds_the_held_one() {
        let held = id("n", 1, 2);
        let mut set = IdSet::default();
        set.insert(held.clone());
        let r = IdRef::new("n", held.addr, 2);
        assert!(set.get(&r as &dyn IdKey).is_some_and(|f| f.same(&held)));
        for (name, port, generation) in [("m", 1, 2), ("n", 2, 2), ("n", 1, 3)] {
            let other = IdRef::new(name, ([10, 0, 0, 1], port).into(), generation);
            assert!(!set.contains(&other as &dyn IdKey));
        }
        // Made from its borrowed parts, an id equals (and hashes as) the held one.
        let made = MemberId::from_ref(&r);
        assert!(!made.same(&held));
        assert_eq!(made, held);
        assert_eq!(made.0.hash, held.0.hash);
        let pool = IdPool::new();
        assert!(pool.find(&r).is_none());
        let kept = pool.share(made);
        assert!(pool.find(&r).is_some_and(|f| f.same(&kept)));
    }

    /// The hash depends on every part and on the process's key: names a
    /// peer picks to collide under a fixed hash spread over the buckets.
    #[test]
    fn hash_is_keyed_and_covers_every_part() {
        let a = id("n", 1, 2);
        let unkeyed = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            a.parts().hash(&mut h);
            h.finish()
        };
        assert_ne!(a.0.hash, unkeyed, "the per-process key is used");
        let hashes: HashSet<u64> = (0..1000u16)
            .map(|i| id(&format!("n{i}"), i, u64::from(i)).0.hash)
            .collect();
        assert_eq!(hashes.len(), 1000);
    }
}
