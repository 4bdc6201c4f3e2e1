//! `SeedWatcher`: lists and watches the registrations, hands seeds to the
//! cluster, and forms the cluster exactly once.

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{Cluster, Form, GetMembers, Join, MemberId};
use etcd_client::{EventType, WatchOptions, WatchResponse};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::client::{bounded, connect};
use crate::config::DiscoveryConfig;
use crate::error::DiscoveryError;
use crate::formation::{decide, Decision, View};
use crate::keys::Keys;
use crate::span::MemberSpan;
use crate::store::{Entry, EtcdStore, FormationStore};
#[cfg(feature = "testing")]
use crate::supervision::{inject_failure, InjectFailure};
use crate::supervision::{
    start_session, Child, ChildLink, ChildReport, Control, Run, SupervisedChild,
};

/// The watch id of etcd's answer to a progress request.
const PROGRESS_ANSWER: i64 = -1;

/// What the watch loop does after a response.
enum Flow {
    /// Go on watching.
    Watch,
    /// The revision was compacted: list again and watch from there.
    Relist,
}

/// A quiet watch is asked for progress after this many lease TTLs without a
/// message.
const WATCH_QUIET_TTLS: u32 = 3;

/// Whether the watch stream still reaches etcd. etcd sends nothing on a quiet
/// watch (its progress notifications come every 10 minutes). The HTTP/2
/// keep-alive finds a dead connection under it within its interval plus the
/// request timeout, but it may be off (see `client::connect`); so after
/// `quiet` without a message the watcher asks for progress, and no answer
/// within `quiet` more ends the session (the supervisor then connects again,
/// maybe to another endpoint). Rare on purpose: three TTLs, a watch on a
/// healthy connection costs etcd one small answer per 30 s at the default TTL.
struct Liveness {
    quiet: Duration,
    last: Instant,
    asked: bool,
}

impl Liveness {
    fn new(quiet: Duration) -> Self {
        Liveness {
            quiet,
            last: Instant::now(),
            asked: false,
        }
    }

    /// When to ask for progress, or (once asked) when the answer is overdue.
    fn due(&self) -> Instant {
        self.last + self.quiet
    }

    fn asked(&self) -> bool {
        self.asked
    }

    fn ask(&mut self) {
        self.asked = true;
        self.last = Instant::now();
    }

    fn heard(&mut self) {
        self.asked = false;
        self.last = Instant::now();
    }
}

/// What the watcher last told the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sent {
    Join(Vec<SocketAddr>),
    Form,
}

#[derive(Default)]
struct Shared {
    view: View,
    /// Last revision seen (listed or watched); `None` forces a fresh list.
    revision: Option<i64>,
    sent: Option<Sent>,
    /// Members Up in etcd but unknown to our cluster that we already joined.
    merged: BTreeSet<String>,
}

/// Lists the registrations under `<prefix>/<cluster>/`, hands seed addresses
/// to the [`Cluster`] (members already `Up`, oldest registration first, at
/// most `max_seeds`, never this node), then watches the prefix from the listed
/// revision + 1. It never lists again while the watch holds; a watch silent
/// for three lease TTLs is asked for progress, and one that does not answer
/// within three more counts as broken. A broken watch resumes from the last revision
/// seen; a compacted one lists again and watches from there.
///
/// Forming: while nobody is `Up` and no formation key exists, it runs one etcd
/// transaction that creates `<prefix>/<cluster>/formation` bound to this
/// node's lease only if the key is absent and no `up/` key exists. The winner
/// sends [`Form`]; everyone else joins the winner (and later the `Up` members).
pub struct SeedWatcher {
    /// What every session starts from (a new `Run` clones it).
    session: Session,
    link: ChildLink,
    control: watch::Sender<Control>,
}

impl SeedWatcher {
    pub(crate) fn new(
        config: Arc<DiscoveryConfig>,
        me: MemberId,
        cluster: Addr<Cluster>,
        parent: Recipient<ChildReport>,
        control: watch::Sender<Control>,
        span: MemberSpan,
    ) -> Self {
        SeedWatcher {
            session: Session {
                keys: Keys::new(&config),
                config,
                my_addr: me.addr,
                me: me.to_string(),
                cluster,
                parent: parent.clone(),
                shared: Arc::default(),
            },
            link: ChildLink::new(Child::SeedWatcher, parent, span),
            control,
        }
    }
}

impl Actor for SeedWatcher {
    type Context = Context<Self>;
}

impl SupervisedChild for SeedWatcher {
    fn link(&mut self) -> &mut ChildLink {
        &mut self.link
    }
}

impl Supervised for SeedWatcher {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.link.restarting();
        let _span = self.link.span().enter();
        debug!("seed watcher restarting");
    }
}

impl Handler<Run> for SeedWatcher {
    type Result = ();

    fn handle(&mut self, _: Run, ctx: &mut Context<Self>) {
        let session = self.session.clone().run(self.control.subscribe());
        start_session(self, ctx, session);
    }
}

#[cfg(feature = "testing")]
impl Handler<InjectFailure> for SeedWatcher {
    type Result = ();

    fn handle(&mut self, _: InjectFailure, ctx: &mut Context<Self>) {
        inject_failure(self, ctx);
    }
}

/// One session of the watcher: list, watch, decide, until an error.
#[derive(Clone)]
struct Session {
    config: Arc<DiscoveryConfig>,
    keys: Keys,
    me: String,
    my_addr: SocketAddr,
    cluster: Addr<Cluster>,
    parent: Recipient<ChildReport>,
    shared: Arc<Mutex<Shared>>,
}

impl Session {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows this member's id: it changes when the member rejoins as a new
    /// member (see `Control::registration`).
    fn follow(&mut self, c: &Control) {
        if let Some(r) = c.registration.as_ref().filter(|r| r.id != self.me) {
            debug!(old = %self.me, new = %r.id, "following this member's new id");
            self.me = r.id.clone();
        }
    }

    async fn run(mut self, mut control: watch::Receiver<Control>) -> Result<(), DiscoveryError> {
        let client = connect(&self.config).await?;
        let store = EtcdStore::new(client.clone(), self.config.clone(), self.keys.clone());
        let root = self.keys.root.clone();
        loop {
            self.follow(&control.borrow_and_update());
            if self.lock().revision.is_none() {
                self.list(&store).await?;
            }
            self.reap(&store).await?;
            let c = control.borrow_and_update().clone();
            self.decide(&store, &c).await?;

            let from = self.lock().revision.unwrap_or(0) + 1;
            let mut wc = client.watch_client();
            let opts = WatchOptions::new()
                .with_prefix()
                .with_start_revision(from)
                .with_progress_notify();
            let mut stream =
                bounded(&self.config, "watch", wc.watch(root.clone(), Some(opts))).await?;
            debug!(from, "watching {root}");
            let mut alive = Liveness::new(self.config.lease_ttl() * WATCH_QUIET_TTLS);
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(alive.due()) => {
                        if alive.asked() {
                            return Err(DiscoveryError::StreamEnded(format!(
                                "the watch answered no progress request within {:?}",
                                alive.quiet
                            )));
                        }
                        bounded(&self.config, "watch progress request", stream.request_progress()).await?;
                        debug!("the watch is quiet: asked etcd for its progress");
                        alive.ask();
                    }
                    msg = stream.message() => {
                        let resp = match msg {
                            Ok(Some(r)) => r,
                            Ok(None) => return Err(DiscoveryError::StreamEnded("watch stream ended".into())),
                            Err(e) => return Err(e.into()),
                        };
                        if alive.asked() {
                            debug!(watch_id = resp.watch_id(), "the quiet watch answered");
                        }
                        alive.heard();
                        match self.on_response(&resp, from, &store, &mut control).await? {
                            Flow::Watch => {}
                            Flow::Relist => break,
                        }
                    }
                    changed = control.changed() => {
                        if changed.is_err() {
                            return Ok(());
                        }
                        let c = control.borrow_and_update().clone();
                        self.follow(&c);
                        self.decide(&store, &c).await?;
                    }
                }
            }
        }
    }

    /// One watch response: a compaction (list again), a cancellation (the
    /// session fails), or events and progress to apply, then the formation
    /// decision.
    async fn on_response(
        &mut self,
        resp: &WatchResponse,
        from: i64,
        store: &EtcdStore,
        control: &mut watch::Receiver<Control>,
    ) -> Result<Flow, DiscoveryError> {
        if resp.compact_revision() > 0 {
            warn!(
                wanted = from,
                compacted = resp.compact_revision(),
                "watch revision was compacted; listing again"
            );
            self.lock().revision = None;
            self.parent.do_send(ChildReport::Compacted);
            return Ok(Flow::Relist);
        }
        if resp.canceled() {
            return Err(DiscoveryError::StreamEnded(format!(
                "watch cancelled by etcd: {}",
                resp.cancel_reason()
            )));
        }
        self.follow(&control.borrow_and_update());
        let own_deleted = self.apply(resp);
        self.report();
        self.reap(store).await?;
        let c = control.borrow_and_update().clone();
        if own_deleted && !c.leaving {
            warn!("our registration was deleted from etcd; registering again");
            self.parent.do_send(ChildReport::OwnKeysDeleted);
        }
        self.decide(store, &c).await?;
        Ok(Flow::Watch)
    }

    /// Applies a response's events (and a progress notification's revision)
    /// to the view; answers whether our own keys were deleted.
    fn apply(&self, resp: &WatchResponse) -> bool {
        // A progress notification of our watch carries the
        // revision it has delivered up to. The answer to a
        // progress request (watch id -1, broadcast to the
        // stream) carries etcd's current revision, which etcd
        // before 3.4.24 / 3.5.8 may send ahead of events not
        // yet delivered to an unsynced watch: resuming from it
        // could skip them, so it only proves the watch alive.
        let progress =
            !resp.created() && resp.events().is_empty() && resp.watch_id() != PROGRESS_ANSWER;
        let mut own_deleted = false;
        let mut s = self.lock();
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            match (ev.event_type(), Entry::of(kv)) {
                (EventType::Put, Some(e)) => s.view.apply_put(&self.keys, &e),
                (EventType::Delete, Some(e)) => {
                    s.view.apply_delete(&self.keys, &e.key);
                    own_deleted |=
                        e.key == self.keys.member(&self.me) || e.key == self.keys.up(&self.me);
                }
                (_, None) => {}
            }
            s.revision = Some(s.revision.unwrap_or(0).max(kv.mod_revision()));
            s.view.revision = s.revision.unwrap_or(0);
        }
        if progress {
            if let Some(h) = resp.header() {
                s.revision = Some(s.revision.unwrap_or(0).max(h.revision()));
                s.view.revision = s.revision.unwrap_or(0);
            }
        }
        own_deleted
    }

    async fn list(&self, store: &impl FormationStore) -> Result<(), DiscoveryError> {
        let (entries, revision) = store.list().await?;
        let view = View::from_entries(&self.keys, &entries, revision);
        debug!(
            revision,
            members = view.members.len(),
            up = view.ups.len(),
            "listed registrations"
        );
        {
            let mut s = self.lock();
            s.view = view;
            s.revision = Some(revision);
        }
        self.parent.do_send(ChildReport::Listed);
        self.report();
        Ok(())
    }

    /// Removes the keys of earlier processes on our own address (a restart on
    /// the same address): they are certainly dead, and waiting for their
    /// leases to expire would only delay forming after a cold restart.
    async fn reap(&self, store: &impl FormationStore) -> Result<(), DiscoveryError> {
        let stale = self.lock().view.stale_on(&self.me, self.my_addr);
        for id in stale {
            info!(stale = %id, "removing the registration of an earlier process on our address");
            store.remove(&id).await?;
            self.lock().view.remove_member(&id);
        }
        Ok(())
    }

    fn report(&self) {
        let s = self.lock();
        self.parent.do_send(ChildReport::Watched {
            revision: s.revision.unwrap_or(0),
            seeds: s.view.seeds(&self.me, self.my_addr, self.config.max_seeds),
            members: s.view.members.len(),
            ignored: s
                .view
                .ignored
                .iter()
                .map(|(k, why)| format!("{k}: {why}"))
                .collect(),
        });
    }

    /// Runs the formation rule ([`decide`]) and carries out its decision.
    async fn decide(&self, store: &impl FormationStore, c: &Control) -> Result<(), DiscoveryError> {
        let picture = || {
            self.lock()
                .view
                .picture(&self.me, self.my_addr, self.config.max_seeds)
        };
        match decide(store, &self.me, c, picture).await? {
            Decision::Wait => {}
            Decision::MergeStrangers => self.merge_strangers().await,
            Decision::Join(seeds) => self.join(seeds),
            Decision::Form => self.form(),
        }
        Ok(())
    }

    /// Safety net once we are Up: members marked Up in etcd that our cluster
    /// does not know belong to another cluster under the same name (possible
    /// only after etcd lost its data while nodes were starting). Joining them
    /// makes the two merge.
    async fn merge_strangers(&self) {
        let candidates: Vec<(String, SocketAddr)> = {
            let s = self.lock();
            s.view
                .ups
                .keys()
                .filter(|id| *id != &self.me && !s.merged.contains(*id))
                .filter_map(|id| s.view.addr_of(id).map(|a| (id.clone(), a)))
                .filter(|(_, a)| *a != self.my_addr)
                .collect()
        };
        if candidates.is_empty() {
            return;
        }
        let Ok(members) = self.cluster.send(GetMembers).await else {
            return;
        };
        let known: HashSet<String> = members.iter().map(|m| m.id.to_string()).collect();
        let strangers: Vec<(String, SocketAddr)> = candidates
            .into_iter()
            .filter(|(id, _)| !known.contains(id))
            .collect();
        if strangers.is_empty() {
            return;
        }
        let addrs: Vec<SocketAddr> = strangers.iter().map(|(_, a)| *a).collect();
        info!(
            members = ?strangers.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            "members Up in etcd are unknown to our cluster; joining them so the clusters merge"
        );
        self.lock()
            .merged
            .extend(strangers.into_iter().map(|(id, _)| id));
        self.cluster.do_send(Join(addrs));
    }

    /// Sends `Join(seeds)` unless these seeds were the last thing sent.
    fn join(&self, seeds: Vec<SocketAddr>) {
        let next = Sent::Join(seeds.clone());
        if self.lock().sent.as_ref() == Some(&next) {
            return;
        }
        info!(?seeds, "joining the cluster through seeds from etcd");
        self.cluster.do_send(Join(seeds));
        self.lock().sent = Some(next);
    }

    /// Sends `Form` once.
    fn form(&self) {
        if self.lock().sent == Some(Sent::Form) {
            return;
        }
        info!("nobody else is up: forming the cluster");
        self.cluster.do_send(Form);
        self.lock().sent = Some(Sent::Form);
        self.parent.do_send(ChildReport::Formed);
    }
}
