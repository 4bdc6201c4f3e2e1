//! `LeaseKeeper`: registers this member in etcd under a lease and keeps it alive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use etcd_client::{Client, PutOptions, Txn, TxnOp};
use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::client::{bounded, connect};
use crate::config::DiscoveryConfig;
use crate::error::DiscoveryError;
use crate::keys::{Keys, Registration};
use crate::span::MemberSpan;
#[cfg(feature = "testing")]
use crate::supervision::{inject_failure, InjectFailure};
use crate::supervision::{
    start_session, Child, ChildLink, ChildReport, Control, Revoke, Run, SupervisedChild,
};

/// What survives a restart of the keeper (the actor instance is kept by its
/// supervisor; the session future is not).
#[derive(Default)]
struct State {
    /// The lease we hold, if any; kept across failures so a short etcd outage
    /// does not change the registration.
    lease: Option<i64>,
    /// The last connected client, reused for the revoke.
    client: Option<Client>,
    /// Set once the lease is revoked on leave: never register again.
    done: bool,
}

/// Grants a lease, registers this member under
/// `<prefix>/<cluster>/members/<member-id>` bound to it (plus `up/<member-id>`
/// once this member is `Up`), keeps the lease alive every TTL/3 through the
/// keep-alive stream, registers again with a new lease when the lease is lost,
/// and revokes the lease on a graceful leave so the keys vanish at once.
///
/// Started and supervised by [`DiscoveryActor`](crate::DiscoveryActor); it
/// does nothing until the parent sends `Run`, and any error ends the session:
/// the actor stops, its supervisor restarts it and the parent sends `Run` again
/// after a jittered backoff. When the actix `System` stops while a lease is held, the lease is
/// revoked on a helper thread, bounded by the request timeout.
pub struct LeaseKeeper {
    config: Arc<DiscoveryConfig>,
    keys: Keys,
    registration: Registration,
    link: ChildLink,
    control: watch::Sender<Control>,
    shared: Arc<Mutex<State>>,
    /// The revoke in progress (or done): every `Revoke` waits for the same one.
    revoking: Option<Shared<BoxFuture<'static, ()>>>,
}

impl LeaseKeeper {
    pub(crate) fn new(
        config: Arc<DiscoveryConfig>,
        registration: Registration,
        parent: Recipient<ChildReport>,
        control: watch::Sender<Control>,
        span: MemberSpan,
    ) -> Self {
        LeaseKeeper {
            keys: Keys::new(&config),
            config,
            registration,
            link: ChildLink::new(Child::LeaseKeeper, parent, span),
            control,
            shared: Arc::default(),
            revoking: None,
        }
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Actor for LeaseKeeper {
    type Context = Context<Self>;
}

impl SupervisedChild for LeaseKeeper {
    fn link(&mut self) -> &mut ChildLink {
        &mut self.link
    }
}

impl Supervised for LeaseKeeper {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.link.restarting();
        let _span = self.link.span().enter();
        debug!("lease keeper restarting");
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        let (lease, done) = {
            let s = self.shared();
            (s.lease, s.done)
        };
        let Some(lease) = lease.filter(|_| !done) else {
            return;
        };
        // The System is going away: revoke on a fresh runtime, bounded.
        let config = self.config.clone();
        let handle = std::thread::Builder::new()
            .name("etcd-revoke".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let bound = config.request_timeout().min(Duration::from_secs(2));
                    let _ = tokio::time::timeout(bound, async {
                        if let Ok(client) = connect(&config).await {
                            let mut lc = client.lease_client();
                            let _ = lc.revoke(lease).await;
                        }
                    })
                    .await;
                });
            });
        if let Ok(h) = handle {
            let _ = h.join();
            let _span = self.link.span().enter();
            info!(
                lease = format_args!("{lease:x}"),
                "lease revoked as the system stops"
            );
        }
    }
}

impl Handler<Run> for LeaseKeeper {
    type Result = ();

    fn handle(&mut self, _: Run, ctx: &mut Context<Self>) {
        if self.shared().done {
            return;
        }
        let fut = session(
            self.config.clone(),
            self.keys.clone(),
            self.registration.clone(),
            self.shared.clone(),
            self.control.subscribe(),
            self.link.parent(),
        );
        start_session(self, ctx, fut);
    }
}

#[cfg(feature = "testing")]
impl Handler<InjectFailure> for LeaseKeeper {
    type Result = ();

    fn handle(&mut self, _: InjectFailure, ctx: &mut Context<Self>) {
        inject_failure(self, ctx);
    }
}

impl Handler<Revoke> for LeaseKeeper {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Revoke, ctx: &mut Context<Self>) -> Self::Result {
        self.link.cancel_session(ctx);
        if let Some(r) = &self.revoking {
            return Box::pin(r.clone());
        }
        let (lease, client) = {
            let mut s = self.shared();
            s.done = true;
            (s.lease.take(), s.client.clone())
        };
        let config = self.config.clone();
        let parent = self.link.parent();
        let fut = async move {
            let Some(lease) = lease else {
                parent.do_send(ChildReport::Revoked);
                return;
            };
            let client = match client {
                Some(c) => Ok(c),
                None => connect(&config).await,
            };
            let result = match client {
                Ok(c) => {
                    let mut lc = c.lease_client();
                    bounded(&config, "lease revoke", lc.revoke(lease))
                        .await
                        .map(|_| ())
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => info!(
                    lease = format_args!("{lease:x}"),
                    "left the cluster: lease revoked, registration removed"
                ),
                Err(e) => warn!(
                    lease = format_args!("{lease:x}"),
                    error = %e,
                    "could not revoke the lease on leave; the registration expires with its TTL"
                ),
            }
            parent.do_send(ChildReport::Revoked);
        };
        let fut = self.link.span().instrument(fut).boxed().shared();
        self.revoking = Some(fut.clone());
        Box::pin(fut)
    }
}

fn is_lease_not_found(e: &DiscoveryError) -> bool {
    matches!(e, DiscoveryError::Etcd(err) if err.to_string().contains("lease not found"))
}

async fn grant(
    config: &DiscoveryConfig,
    client: &Client,
    shared: &Mutex<State>,
) -> Result<i64, DiscoveryError> {
    let mut lc = client.lease_client();
    let ttl = config.lease_ttl_secs as i64;
    let resp = bounded(config, "lease grant", lc.grant(ttl, None)).await?;
    let id = resp.id();
    shared.lock().unwrap_or_else(|p| p.into_inner()).lease = Some(id);
    debug!(lease = format_args!("{id:x}"), ttl, "lease granted");
    Ok(id)
}

async fn put(
    config: &DiscoveryConfig,
    client: &Client,
    key: String,
    value: Vec<u8>,
    lease: i64,
) -> Result<(), DiscoveryError> {
    let mut kv = client.kv_client();
    bounded(
        config,
        "put",
        kv.put(key, value, Some(PutOptions::new().with_lease(lease))),
    )
    .await
    .map(|_| ())
}

/// This member rejoined as a new member: drop the keys of its old id and
/// register the new one under the same lease, in one transaction.
async fn rebind(
    config: &DiscoveryConfig,
    client: &Client,
    keys: &Keys,
    old: &Registration,
    new: &Registration,
    lease: i64,
) -> Result<(), DiscoveryError> {
    let value = serde_json::to_vec(new).expect("registration serializes");
    let txn = Txn::new().and_then(vec![
        TxnOp::delete(keys.member(&old.id), None),
        TxnOp::delete(keys.up(&old.id), None),
        TxnOp::put(
            keys.member(&new.id),
            value,
            Some(PutOptions::new().with_lease(lease)),
        ),
    ]);
    let mut kv = client.kv_client();
    bounded(config, "re-register under the new id", kv.txn(txn)).await?;
    info!(old = %old.id, new = %new.id, "registration moved to this member's new id");
    Ok(())
}

/// Writes our `up/` key (the seeds are read from these), under our lease.
async fn mark_up(
    config: &DiscoveryConfig,
    client: &Client,
    keys: &Keys,
    registration: &Registration,
    lease: i64,
) -> Result<(), DiscoveryError> {
    let id = registration.id.clone().into_bytes();
    put(config, client, keys.up(&registration.id), id, lease).await?;
    debug!("marked Up in etcd");
    Ok(())
}

/// Puts our registration under a lease: the one we hold (a short outage must
/// not change our registration), or a new one when etcd does not know it any
/// more. Answers the lease.
async fn register(
    config: &DiscoveryConfig,
    client: &Client,
    shared: &Arc<Mutex<State>>,
    member_key: String,
    value: Vec<u8>,
) -> Result<i64, DiscoveryError> {
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    let held = lock().lease;
    let lease = match held {
        Some(id) => match put(config, client, member_key.clone(), value.clone(), id).await {
            Ok(()) => id,
            Err(e) if is_lease_not_found(&e) => {
                info!(
                    lease = format_args!("{id:x}"),
                    "lease expired while etcd was away; registering with a new lease"
                );
                lock().lease = None;
                let id = grant(config, client, shared).await?;
                put(config, client, member_key.clone(), value.clone(), id).await?;
                id
            }
            Err(e) => return Err(e),
        },
        None => {
            let id = grant(config, client, shared).await?;
            put(config, client, member_key.clone(), value.clone(), id).await?;
            id
        }
    };
    Ok(lease)
}

/// One registration session: ends with an error (then the parent restarts us
/// with backoff) or with `Ok` when the actor is gone or we left.
async fn session(
    config: Arc<DiscoveryConfig>,
    keys: Keys,
    registration: Registration,
    shared: Arc<Mutex<State>>,
    mut control: watch::Receiver<Control>,
    parent: Recipient<ChildReport>,
) -> Result<(), DiscoveryError> {
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    let client = connect(&config).await?;
    lock().client = Some(client.clone());
    let mut registration = registration;
    if let Some(current) = control.borrow().registration.clone() {
        registration = current;
    }
    let value = serde_json::to_vec(&registration).expect("registration serializes");
    let member_key = keys.member(&registration.id);

    let lease = register(&config, &client, &shared, member_key.clone(), value).await?;
    info!(key = %member_key, lease = format_args!("{lease:x}"), "registered in etcd");
    parent.do_send(ChildReport::Registered { lease });

    let mut lc = client.lease_client();
    let (mut keeper, mut stream) =
        bounded(&config, "lease keep-alive", lc.keep_alive(lease)).await?;
    let ttl = config.lease_ttl();
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_answer = tokio::time::Instant::now();
    let mut up_put = false;
    loop {
        let c = control.borrow_and_update().clone();
        if let Some(new) = c.registration.filter(|r| r.id != registration.id) {
            rebind(&config, &client, &keys, &registration, &new, lease).await?;
            registration = new;
            up_put = false;
        }
        if c.up && !up_put {
            mark_up(&config, &client, &keys, &registration, lease).await?;
            up_put = true;
        }
        tokio::select! {
            _ = tick.tick() => {
                if last_answer.elapsed() > ttl {
                    return Err(DiscoveryError::StreamEnded(
                        "lease keep-alive got no answer within the TTL".into(),
                    ));
                }
                bounded(&config, "lease keep-alive", keeper.keep_alive()).await?;
            }
            msg = stream.message() => match msg {
                Ok(Some(r)) if r.ttl() > 0 => {
                    last_answer = tokio::time::Instant::now();
                    parent.do_send(ChildReport::Alive);
                }
                Ok(Some(_)) => {
                    warn!(lease = format_args!("{lease:x}"), "lease lost; registering again with a new lease");
                    lock().lease = None;
                    return Err(DiscoveryError::LeaseLost(lease));
                }
                Ok(None) => {
                    return Err(DiscoveryError::StreamEnded("keep-alive stream ended".into()))
                }
                Err(e) => return Err(e.into()),
            },
            changed = control.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
        }
    }
}
