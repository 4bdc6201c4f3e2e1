//! The etcd operations behind the formation decision, as a small trait
//! ([`FormationStore`]), implemented over the real etcd client
//! ([`EtcdStore`]) and, for unit tests, in memory (`MemStore`).

use std::sync::Arc;

use etcd_client::{Client, Compare, CompareOp, GetOptions, KeyValue, PutOptions, Txn, TxnOp};

use crate::client::bounded;
use crate::config::DiscoveryConfig;
use crate::error::DiscoveryError;
use crate::keys::{prefix_end, Keys};

/// One key under the cluster's prefix, as etcd reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The full key, `<prefix>/<cluster>/...`.
    pub(crate) key: String,
    /// Its value.
    pub(crate) value: Vec<u8>,
    /// The revision that created it (orders registrations oldest first).
    pub(crate) create_revision: i64,
    /// The lease it is bound to; 0 for none (every key of ours has one).
    pub(crate) lease: i64,
}

impl Entry {
    /// The entry for an etcd key-value; `None` for a key that is not UTF-8
    /// (never one of ours).
    pub(crate) fn of(kv: &KeyValue) -> Option<Entry> {
        Some(Entry {
            key: kv.key_str().ok()?.to_owned(),
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            lease: kv.lease(),
        })
    }
}

/// The key-value operations the formation decision needs from etcd, for one
/// cluster's key space (see [`Keys`]). The watch stays on the client: it feeds
/// the same view, but the decision never waits on it.
pub(crate) trait FormationStore {
    /// Every key under `<prefix>/<cluster>/`, and the revision of the read
    /// (a consistent snapshot at that revision, possibly behind the latest).
    async fn list(&self) -> Result<(Vec<Entry>, i64), DiscoveryError>;

    /// The formation transaction: puts `formation` = `me`, bound to `lease`,
    /// only if neither `formation` nor any `up/` key changed after `seen` (the
    /// revision of the view that decided nobody is `Up` and nobody forms).
    /// Keys that were already there at `seen` were judged by that view: keys
    /// that are not ours (no lease, not a member id) do not block forming, and
    /// a `formation` key that is not ours is overwritten. True when this call
    /// wrote the key; false when the comparison failed (someone formed, or
    /// someone came `Up`, after `seen`).
    async fn try_form(&self, me: &str, lease: i64, seen: i64) -> Result<bool, DiscoveryError>;

    /// Deletes the `members/` and `up/` keys of `id`, and `formation` when
    /// `id` holds it, in one transaction.
    async fn remove(&self, id: &str) -> Result<(), DiscoveryError>;
}

/// [`FormationStore`] over a connected etcd client; every request is bounded
/// by the configured request timeout.
pub(crate) struct EtcdStore {
    client: Client,
    config: Arc<DiscoveryConfig>,
    keys: Keys,
}

impl EtcdStore {
    pub(crate) fn new(client: Client, config: Arc<DiscoveryConfig>, keys: Keys) -> Self {
        EtcdStore {
            client,
            config,
            keys,
        }
    }
}

impl FormationStore for EtcdStore {
    async fn list(&self) -> Result<(Vec<Entry>, i64), DiscoveryError> {
        let mut kv = self.client.kv_client();
        // Serializable: answered from the member's applied state at once. A
        // linearizable read first waits until etcd has applied everything it
        // committed, and when many members start at once (each granting a
        // lease and registering) that wait is what held back every joiner's
        // seeds, past the request timeout. A read that is behind is safe: it
        // is a consistent snapshot at its revision, the watch resumes right
        // after that revision, and the formation transaction fails if the
        // formation key or an `up/` key changed after it.
        let options = GetOptions::new().with_prefix().with_serializable();
        let resp = bounded(
            &self.config,
            "list",
            kv.get(self.keys.root.clone(), Some(options)),
        )
        .await?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        Ok((resp.kvs().iter().filter_map(Entry::of).collect(), revision))
    }

    async fn try_form(&self, me: &str, lease: i64, seen: i64) -> Result<bool, DiscoveryError> {
        let mut kv = self.client.kv_client();
        let (formation, ups) = (self.keys.formation(), self.keys.ups());
        // An absent key (or an empty range) compares as revision 0.
        let after = seen.saturating_add(1);
        let txn = Txn::new()
            .when(vec![
                Compare::mod_revision(formation.clone(), CompareOp::Less, after),
                Compare::mod_revision(ups.clone(), CompareOp::Less, after)
                    .with_range(prefix_end(&ups)),
            ])
            .and_then(vec![TxnOp::put(
                formation,
                me,
                Some(PutOptions::new().with_lease(lease)),
            )]);
        let resp = bounded(&self.config, "formation txn", kv.txn(txn)).await?;
        Ok(resp.succeeded())
    }

    async fn remove(&self, id: &str) -> Result<(), DiscoveryError> {
        let mut kv = self.client.kv_client();
        let formation = self.keys.formation();
        let own = || {
            vec![
                TxnOp::delete(self.keys.member(id), None),
                TxnOp::delete(self.keys.up(id), None),
            ]
        };
        let mut with_formation = own();
        with_formation.insert(0, TxnOp::delete(formation.clone(), None));
        let txn = Txn::new()
            .when(vec![Compare::value(formation, CompareOp::Equal, id)])
            .and_then(with_formation)
            .or_else(own());
        bounded(&self.config, "remove stale registration", kv.txn(txn)).await?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) use mem::MemStore;

#[cfg(test)]
mod mem {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    use super::{Entry, FormationStore};
    use crate::error::DiscoveryError;
    use crate::keys::Keys;

    /// One stored key.
    #[derive(Clone, Debug)]
    struct Stored {
        value: Vec<u8>,
        create_revision: i64,
        mod_revision: i64,
        lease: Option<i64>,
    }

    /// An in-memory etcd key space with etcd's semantics for what the
    /// formation needs: a revision bumped by every write, create revisions,
    /// keys bound to leases (gone when the lease expires), the formation
    /// transaction's two comparisons, and requests that fail while "down".
    pub(crate) struct MemStore {
        keys: Keys,
        kv: RefCell<BTreeMap<String, Stored>>,
        revision: Cell<i64>,
        down: Cell<bool>,
    }

    impl MemStore {
        pub(crate) fn new(keys: Keys) -> Self {
            MemStore {
                keys,
                kv: RefCell::default(),
                revision: Cell::new(1),
                down: Cell::new(false),
            }
        }

        /// Puts `key` = `value` bound to `lease`, as a member's own keeper
        /// would.
        pub(crate) fn put(&self, key: String, value: &[u8], lease: i64) {
            self.put_raw(key, value, Some(lease));
        }

        /// A put with or without a lease (keys that are not ours have none).
        pub(crate) fn put_raw(&self, key: String, value: &[u8], lease: Option<i64>) {
            let rev = self.bump();
            let mut kv = self.kv.borrow_mut();
            let create_revision = kv.get(&key).map_or(rev, |s| s.create_revision);
            kv.insert(
                key,
                Stored {
                    value: value.to_vec(),
                    create_revision,
                    mod_revision: rev,
                    lease,
                },
            );
        }

        /// The current revision.
        pub(crate) fn revision(&self) -> i64 {
            self.revision.get()
        }

        /// The lease expires: every key bound to it vanishes.
        pub(crate) fn expire(&self, lease: i64) {
            self.bump();
            self.kv.borrow_mut().retain(|_, s| s.lease != Some(lease));
        }

        /// Every request fails (etcd unreachable) until `set_down(false)`.
        pub(crate) fn set_down(&self, down: bool) {
            self.down.set(down);
        }

        /// The value of `key` and the lease it is bound to.
        pub(crate) fn get(&self, key: &str) -> Option<(Vec<u8>, Option<i64>)> {
            self.kv
                .borrow()
                .get(key)
                .map(|s| (s.value.clone(), s.lease))
        }

        fn bump(&self) -> i64 {
            self.revision.set(self.revision.get() + 1);
            self.revision.get()
        }

        fn reachable(&self, what: &'static str) -> Result<(), DiscoveryError> {
            if self.down.get() {
                Err(DiscoveryError::Timeout(what))
            } else {
                Ok(())
            }
        }
    }

    impl FormationStore for MemStore {
        async fn list(&self) -> Result<(Vec<Entry>, i64), DiscoveryError> {
            self.reachable("list")?;
            let entries = self
                .kv
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(&self.keys.root))
                .map(|(k, s)| Entry {
                    key: k.clone(),
                    value: s.value.clone(),
                    create_revision: s.create_revision,
                    lease: s.lease.unwrap_or(0),
                })
                .collect();
            Ok((entries, self.revision.get()))
        }

        async fn try_form(&self, me: &str, lease: i64, seen: i64) -> Result<bool, DiscoveryError> {
            self.reachable("formation txn")?;
            let (formation, ups) = (self.keys.formation(), self.keys.ups());
            let free = {
                let kv = self.kv.borrow();
                kv.iter()
                    .filter(|(k, _)| **k == formation || k.starts_with(&ups))
                    .all(|(_, s)| s.mod_revision <= seen)
            };
            if free {
                self.put(formation, me.as_bytes(), lease);
            }
            Ok(free)
        }

        async fn remove(&self, id: &str) -> Result<(), DiscoveryError> {
            self.reachable("remove stale registration")?;
            self.bump();
            let formation = self.keys.formation();
            let mut kv = self.kv.borrow_mut();
            if kv.get(&formation).is_some_and(|s| s.value == id.as_bytes()) {
                kv.remove(&formation);
            }
            kv.remove(&self.keys.member(id));
            kv.remove(&self.keys.up(id));
            Ok(())
        }
    }
}
