//! Fenced key claims: one key per claimed thing (a singleton), bound to the
//! holder's lease, whose create revision is the fencing token. The same
//! primitive as the `leader` key (`leadership.rs`), for any name under
//! `<prefix>/<cluster>/singleton/<name>`.
//!
//! - [`EtcdArbiter::claim_key`]: one transaction creates the key for the
//!   holder if it does not exist, else reads who holds it. etcd revisions
//!   only grow, so every later holder's token is larger.
//! - [`EtcdArbiter::release_key`]: a compare-and-delete on the holder: a
//!   holder gives the key up, or a new holder displaces an old one (the
//!   caller's rule: only once the old holder is down in its view).
//! - [`EtcdArbiter::key_holder`]: who holds it, with the token.
//!
//! The key lives as long as the holder's lease: a holder whose lease
//! expires (its process died or lost etcd for the TTL) loses the key by
//! itself.

use tracing::{info, info_span};

use crate::arbiter::{EtcdArbiter, Held};
use crate::client::bounded;
use crate::error::DiscoveryError;
use crate::leadership::{ClaimError, FencingToken};

impl EtcdArbiter {
    /// Claims `name` for `holder`, binding the key to `lease` (a lease the
    /// caller keeps alive, e.g. its registration lease). Idempotent: the
    /// holder gets its token again. `ClaimError::Held` names the holder.
    pub async fn claim_key(
        &self,
        name: &str,
        holder: &str,
        lease: i64,
    ) -> Result<FencingToken, ClaimError> {
        match self
            .create_or_read(self.keys.singleton(name), holder, lease, "claim txn")
            .await?
        {
            Held::Created(revision) => {
                // Called by the application (a singleton's claim), outside
                // discovery's span: every line of this crate names its member.
                let _span = info_span!(parent: None, "etcd_discovery", member = %holder).entered();
                info!(name, holder, token = revision, "key claimed");
                Ok(FencingToken(revision))
            }
            Held::By(h, revision, _) if h == holder => Ok(FencingToken(revision)),
            Held::By(h, revision, _) => Err(ClaimError::Held {
                holder: h,
                token: FencingToken(revision),
            }),
        }
    }

    /// Deletes the key of `name` if `holder` holds it. True when deleted.
    pub async fn release_key(&self, name: &str, holder: &str) -> Result<bool, DiscoveryError> {
        self.compare_and_delete(self.keys.singleton(name), holder, "release claim")
            .await
    }

    /// Who holds `name`, with the token, if anybody.
    pub async fn key_holder(
        &self,
        name: &str,
    ) -> Result<Option<(String, FencingToken)>, DiscoveryError> {
        let mut kv = self.client.kv_client();
        let resp = bounded(
            &self.config,
            "get claim",
            kv.get(self.keys.singleton(name), None),
        )
        .await?;
        Ok(resp.kvs().first().map(|kv| {
            (
                String::from_utf8_lossy(kv.value()).into_owned(),
                FencingToken(kv.create_revision()),
            )
        }))
    }
}
