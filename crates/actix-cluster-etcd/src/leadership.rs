//! Leadership in etcd: the `leader` key and its fencing token.
//!
//! The key is `<prefix>/<cluster>/leader`. The leader of the surviving side
//! calls [`EtcdArbiter::claim_leadership`] with a lease it keeps alive (its
//! registration lease). The key's create revision is the fencing token:
//! etcd revisions only grow, so a later leader always holds a larger token
//! than an earlier one, and a singleton can reject writes that carry a
//! smaller one. A new leader first displaces the old
//! holder ([`EtcdArbiter::displace_leader`], a compare-and-delete on the
//! holder's id) once the old holder is down.
//!
//! Which member leads is the cluster's decision (`Core::leader` in the
//! protocol crate); the [`DiscoveryActor`] follows it here: it claims the key
//! when this member becomes the leader, gives it up when it stops leading,
//! and claims again under a new registration lease.

use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{MemberId, SetFencingToken};
use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use tracing::{info, warn};

use crate::arbiter::{EtcdArbiter, Held};
use crate::client::bounded;
use crate::discovery::DiscoveryActor;
use crate::error::DiscoveryError;

/// A leader's fencing token: the create revision of the `leader` key. Tokens
/// of later leaders are larger; a singleton fences its writes with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub i64);

/// Why a leadership claim did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another member holds the `leader` key; displace it first (once it is
    /// down) or wait for its lease to expire.
    #[error("the leader key is held by {holder} (token {})", token.0)]
    Held {
        /// The member that holds the key.
        holder: String,
        /// Its fencing token.
        token: FencingToken,
    },
    /// etcd could not be asked.
    #[error(transparent)]
    Etcd(#[from] DiscoveryError),
}

impl EtcdArbiter {
    /// Claims leadership for `leader`, binding the `leader` key to `lease` (a
    /// lease the caller keeps alive, e.g. its registration lease). Idempotent:
    /// the holder gets its token again.
    pub async fn claim_leadership(
        &self,
        leader: &str,
        lease: i64,
    ) -> Result<FencingToken, ClaimError> {
        match self
            .create_or_read(self.keys.leader(), leader, lease, "leader txn")
            .await?
        {
            Held::Created(revision) => {
                info!(leader, token = revision, "leadership claimed");
                Ok(FencingToken(revision))
            }
            Held::By(holder, revision, _) if holder == leader => Ok(FencingToken(revision)),
            Held::By(holder, revision, _) => Err(ClaimError::Held {
                holder,
                token: FencingToken(revision),
            }),
        }
    }

    /// The current leader and its token, if the key exists.
    pub async fn leader(&self) -> Result<Option<(String, FencingToken)>, DiscoveryError> {
        let mut kv = self.client.kv_client();
        let resp = bounded(&self.config, "get leader", kv.get(self.keys.leader(), None)).await?;
        Ok(resp.kvs().first().map(|kv| {
            (
                String::from_utf8_lossy(kv.value()).into_owned(),
                FencingToken(kv.create_revision()),
            )
        }))
    }

    /// Deletes the `leader` key if `holder` holds it: a new leader calls this
    /// once `holder` is down (or when `holder` steps down). True when deleted.
    pub async fn displace_leader(&self, holder: &str) -> Result<bool, DiscoveryError> {
        self.compare_and_delete(self.keys.leader(), holder, "displace leader")
            .await
    }

    pub(crate) async fn compare_and_delete(
        &self,
        key: String,
        holder: &str,
        what: &'static str,
    ) -> Result<bool, DiscoveryError> {
        let txn = Txn::new()
            .when(vec![Compare::value(key.clone(), CompareOp::Equal, holder)])
            .and_then(vec![TxnOp::delete(key, None)]);
        let mut kv = self.client.kv_client();
        Ok(bounded(&self.config, what, kv.txn(txn)).await?.succeeded())
    }
}

impl DiscoveryActor {
    /// The cluster named a new leader (or none): claim or give up the key
    /// when this member's part changed.
    pub(crate) fn leader_changed(&mut self, leader: Option<&MemberId>, ctx: &mut Context<Self>) {
        let leading = leader.is_some_and(|l| self.is_me(l));
        if leading != self.leading {
            self.leading = leading;
            self.claim_or_resign(ctx);
        }
    }

    /// The registration holds `lease`: a leader whose key was claimed with
    /// another lease (or not yet) claims it again with this one.
    pub(crate) fn lease_granted(&mut self, lease: i64, ctx: &mut Context<Self>) {
        if self.leading && self.claimed.is_none_or(|(l, _)| l != lease) {
            self.claim_or_resign(ctx);
        }
    }

    /// Claims the `leader` key in etcd when this member leads (the fencing
    /// token goes to the `Cluster`), or gives it up when it no longer does.
    /// A key still held by an earlier leader is displaced: the cluster agreed
    /// that this member leads, and the token it gets is larger than the earlier
    /// leader's, so the earlier leader's late writes are fenced off.
    fn claim_or_resign(&mut self, ctx: &mut Context<Self>) {
        let (Some(me), Some(lease)) = (self.me.clone(), self.status.lease_id) else {
            return;
        };
        let (config, leading) = ((*self.config).clone(), self.leading);
        let id = me.to_string();
        let work = async move {
            let arbiter = EtcdArbiter::connect(config).await?;
            if !leading {
                arbiter.displace_leader(&id).await?;
                return Ok(None);
            }
            match arbiter.claim_leadership(&id, lease).await {
                Ok(token) => Ok(Some(token)),
                Err(ClaimError::Held { holder, .. }) => {
                    arbiter.displace_leader(&holder).await?;
                    match arbiter.claim_leadership(&id, lease).await {
                        Ok(token) => Ok(Some(token)),
                        Err(ClaimError::Etcd(e)) => Err(e),
                        Err(ClaimError::Held { .. }) => Err(DiscoveryError::Unexpected(
                            "the leader key was taken again right after it was displaced",
                        )),
                    }
                }
                Err(ClaimError::Etcd(e)) => Err(e),
            }
        };
        ctx.spawn(self.span.instrument(work).into_actor(self).map(
            move |res: Result<Option<FencingToken>, DiscoveryError>, act, ctx| {
                let _span = act.span.enter();
                match res {
                    Ok(Some(token)) if act.leading && act.is_me(&me) => {
                        info!(token = token.0, "leadership claimed in etcd");
                        act.claimed = Some((lease, token.0));
                        act.cluster.do_send(SetFencingToken {
                            leader: me.clone(),
                            token: token.0,
                        });
                    }
                    Ok(_) => act.claimed = None,
                    Err(e) => {
                        warn!(error = %e, "leadership in etcd not updated; retrying");
                        ctx.run_later(
                            Duration::from_millis(act.config.backoff_max_ms),
                            |act, ctx| act.claim_or_resign(ctx),
                        );
                    }
                }
            },
        ));
    }
}
