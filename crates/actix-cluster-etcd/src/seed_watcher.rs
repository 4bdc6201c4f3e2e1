//! `SeedWatcher`: lists and watches the registrations, hands seeds to the
//! cluster, and forms the cluster exactly once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use actix_cluster::{Cluster, Form, GetMembers, Join, MemberId};
use etcd_client::{
    Client, Compare, CompareOp, EventType, GetOptions, KeyValue, PutOptions, Txn, TxnOp,
    WatchOptions,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::client::{bounded, connect};
use crate::config::DiscoveryConfig;
use crate::error::DiscoveryError;
use crate::keys::{prefix_end, Keys, Registration};
use crate::supervision::{
    inject_failure, start_session, Child, ChildLink, ChildReport, Control, InjectFailure, Run,
    SupervisedChild,
};

/// What this node knows of the cluster's keys in etcd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct View {
    /// member id -> (create revision, registration)
    pub(crate) members: BTreeMap<String, (i64, Option<Registration>)>,
    /// member id -> create revision of its `up/` key
    pub(crate) ups: BTreeMap<String, i64>,
    /// the formation key: (member id, create revision)
    pub(crate) formation: Option<(String, i64)>,
}

impl View {
    fn apply_put(&mut self, keys: &Keys, kv: &KeyValue) {
        let Ok(key) = kv.key_str() else { return };
        if let Some(id) = key.strip_prefix(&keys.members()) {
            let reg = serde_json::from_slice::<Registration>(kv.value()).ok();
            if reg.is_none() {
                warn!(key, "ignoring a registration that is not valid JSON");
            }
            self.members
                .insert(id.to_owned(), (kv.create_revision(), reg));
        } else if let Some(id) = key.strip_prefix(&keys.ups()) {
            self.ups.insert(id.to_owned(), kv.create_revision());
        } else if key == keys.formation() {
            let id = String::from_utf8_lossy(kv.value()).into_owned();
            self.formation = Some((id, kv.create_revision()));
        }
    }

    fn apply_delete(&mut self, keys: &Keys, kv: &KeyValue) {
        let Ok(key) = kv.key_str() else { return };
        if let Some(id) = key.strip_prefix(&keys.members()) {
            self.members.remove(id);
        } else if let Some(id) = key.strip_prefix(&keys.ups()) {
            self.ups.remove(id);
        } else if key == keys.formation() {
            self.formation = None;
        }
    }

    fn addr_of(&self, id: &str) -> Option<SocketAddr> {
        match self.members.get(id) {
            Some((_, Some(reg))) => Some(reg.address),
            _ => id.parse::<MemberId>().ok().map(|m| m.addr),
        }
    }

    /// Seeds: members marked Up, oldest registration first, without `me` (nor
    /// anything on our own address), at most `max`.
    pub(crate) fn seeds(&self, me: &str, my_addr: SocketAddr, max: usize) -> Vec<SocketAddr> {
        let mut up: Vec<(i64, &str)> = self
            .ups
            .iter()
            .filter(|(id, _)| id.as_str() != me && self.addr_of(id) != Some(my_addr))
            .map(|(id, up_rev)| {
                let rev = self.members.get(id).map(|(r, _)| *r).unwrap_or(*up_rev);
                (rev, id.as_str())
            })
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
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids
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
    merged: std::collections::BTreeSet<String>,
}

/// Lists the registrations under `<prefix>/<cluster>/`, hands seed addresses
/// to the [`Cluster`] (members already `Up`, oldest registration first, at
/// most `max_seeds`, never this node), then watches the prefix from the listed
/// revision + 1. It never polls. A broken watch resumes from the last revision
/// seen; a compacted one lists again and watches from there.
///
/// Forming: while nobody is `Up` and no formation key exists, it runs one etcd
/// transaction that creates `<prefix>/<cluster>/formation` bound to this
/// node's lease only if the key is absent and no `up/` key exists. The winner
/// sends [`Form`]; everyone else joins the winner (and later the `Up` members).
pub struct SeedWatcher {
    config: Arc<DiscoveryConfig>,
    keys: Keys,
    me: String,
    my_addr: SocketAddr,
    cluster: Addr<Cluster>,
    link: ChildLink,
    control: watch::Sender<Control>,
    shared: Arc<Mutex<Shared>>,
}

impl SeedWatcher {
    pub(crate) fn new(
        config: Arc<DiscoveryConfig>,
        me: MemberId,
        cluster: Addr<Cluster>,
        parent: Recipient<ChildReport>,
        control: watch::Sender<Control>,
    ) -> Self {
        SeedWatcher {
            keys: Keys::new(&config),
            config,
            my_addr: me.addr,
            me: me.to_string(),
            cluster,
            link: ChildLink::new(Child::SeedWatcher, parent),
            control,
            shared: Arc::default(),
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
        debug!("seed watcher restarting");
    }
}

impl Handler<Run> for SeedWatcher {
    type Result = ();

    fn handle(&mut self, _: Run, ctx: &mut Context<Self>) {
        let s = Session {
            config: self.config.clone(),
            keys: self.keys.clone(),
            me: self.me.clone(),
            my_addr: self.my_addr,
            cluster: self.cluster.clone(),
            parent: self.link.parent(),
            shared: self.shared.clone(),
        };
        start_session(self, ctx, s.run(self.control.subscribe()));
    }
}

impl Handler<InjectFailure> for SeedWatcher {
    type Result = ();

    fn handle(&mut self, _: InjectFailure, ctx: &mut Context<Self>) {
        inject_failure(self, ctx);
    }
}

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

    async fn run(self, mut control: watch::Receiver<Control>) -> Result<(), DiscoveryError> {
        let client = connect(&self.config).await?;
        let root = self.keys.root.clone();
        loop {
            if self.lock().revision.is_none() {
                self.list(&client).await?;
            }
            self.reap(&client).await?;
            let c = control.borrow_and_update().clone();
            self.decide(&client, &c).await?;

            let from = self.lock().revision.unwrap_or(0) + 1;
            let mut wc = client.watch_client();
            let opts = WatchOptions::new()
                .with_prefix()
                .with_start_revision(from)
                .with_progress_notify();
            let mut stream =
                bounded(&self.config, "watch", wc.watch(root.clone(), Some(opts))).await?;
            debug!(from, "watching {root}");
            loop {
                tokio::select! {
                    msg = stream.message() => {
                        let resp = match msg {
                            Ok(Some(r)) => r,
                            Ok(None) => return Err(DiscoveryError::StreamEnded("watch stream ended".into())),
                            Err(e) => return Err(e.into()),
                        };
                        if resp.compact_revision() > 0 {
                            warn!(
                                wanted = from,
                                compacted = resp.compact_revision(),
                                "watch revision was compacted; listing again"
                            );
                            self.lock().revision = None;
                            self.parent.do_send(ChildReport::Compacted);
                            break;
                        }
                        if resp.canceled() {
                            return Err(DiscoveryError::StreamEnded(format!(
                                "watch cancelled by etcd: {}",
                                resp.cancel_reason()
                            )));
                        }
                        let progress = !resp.created() && resp.events().is_empty();
                        let mut own_deleted = false;
                        {
                            let mut s = self.lock();
                            for ev in resp.events() {
                                let Some(kv) = ev.kv() else { continue };
                                match ev.event_type() {
                                    EventType::Put => s.view.apply_put(&self.keys, kv),
                                    EventType::Delete => {
                                        s.view.apply_delete(&self.keys, kv);
                                        own_deleted |= kv.key() == self.keys.member(&self.me).as_bytes()
                                            || kv.key() == self.keys.up(&self.me).as_bytes();
                                    }
                                }
                                s.revision = Some(s.revision.unwrap_or(0).max(kv.mod_revision()));
                            }
                            if progress {
                                if let Some(h) = resp.header() {
                                    s.revision = Some(s.revision.unwrap_or(0).max(h.revision()));
                                }
                            }
                        }
                        self.report();
                        self.reap(&client).await?;
                        let c = control.borrow_and_update().clone();
                        if own_deleted && !c.leaving {
                            warn!("our registration was deleted from etcd; registering again");
                            self.parent.do_send(ChildReport::OwnKeysDeleted);
                        }
                        self.decide(&client, &c).await?;
                    }
                    changed = control.changed() => {
                        if changed.is_err() {
                            return Ok(());
                        }
                        let c = control.borrow_and_update().clone();
                        self.decide(&client, &c).await?;
                    }
                }
            }
        }
    }

    async fn list(&self, client: &Client) -> Result<(), DiscoveryError> {
        let mut kv = client.kv_client();
        let resp = bounded(
            &self.config,
            "list",
            kv.get(
                self.keys.root.clone(),
                Some(GetOptions::new().with_prefix()),
            ),
        )
        .await?;
        let mut view = View::default();
        for kv in resp.kvs() {
            view.apply_put(&self.keys, kv);
        }
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
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
    async fn reap(&self, client: &Client) -> Result<(), DiscoveryError> {
        let stale = self.lock().view.stale_on(&self.me, self.my_addr);
        for id in stale {
            info!(stale = %id, "removing the registration of an earlier process on our address");
            let mut kv = client.kv_client();
            let formation = self.keys.formation();
            let txn = Txn::new()
                .when(vec![Compare::value(
                    formation.clone(),
                    CompareOp::Equal,
                    id.clone(),
                )])
                .and_then(vec![
                    TxnOp::delete(formation, None),
                    TxnOp::delete(self.keys.member(&id), None),
                    TxnOp::delete(self.keys.up(&id), None),
                ])
                .or_else(vec![
                    TxnOp::delete(self.keys.member(&id), None),
                    TxnOp::delete(self.keys.up(&id), None),
                ]);
            bounded(&self.config, "remove stale registration", kv.txn(txn)).await?;
            let mut s = self.lock();
            s.view.members.remove(&id);
            s.view.ups.remove(&id);
            if s.view.formation.as_ref().is_some_and(|(f, _)| *f == id) {
                s.view.formation = None;
            }
        }
        Ok(())
    }

    fn report(&self) {
        let s = self.lock();
        self.parent.do_send(ChildReport::Watched {
            revision: s.revision.unwrap_or(0),
            seeds: s.view.seeds(&self.me, self.my_addr, self.config.max_seeds),
            members: s.view.members.len(),
        });
    }

    /// Joins the seeds, or forms the cluster when nobody is there.
    async fn decide(&self, client: &Client, c: &Control) -> Result<(), DiscoveryError> {
        if c.leaving {
            return Ok(());
        }
        if c.up {
            self.merge_strangers().await;
            return Ok(());
        }
        let (seeds, formation, sent) = {
            let s = self.lock();
            let formation = s
                .view
                .formation
                .as_ref()
                .map(|(id, _)| (id.clone(), s.view.addr_of(id)));
            (
                s.view.seeds(&self.me, self.my_addr, self.config.max_seeds),
                formation,
                s.sent.clone(),
            )
        };
        if !seeds.is_empty() {
            self.join(seeds, sent);
            return Ok(());
        }
        match formation {
            Some((id, _)) if id == self.me => {
                if sent != Some(Sent::Form) {
                    self.form();
                }
                Ok(())
            }
            Some((id, Some(addr))) => {
                debug!(former = %id, "cluster being formed by another member; joining it");
                self.join(vec![addr], sent);
                Ok(())
            }
            Some((id, None)) => {
                warn!(former = %id, "formation key names no usable address; waiting");
                Ok(())
            }
            None => {
                let Some(lease) = c.lease else {
                    debug!("nobody is up; waiting for our registration before forming");
                    return Ok(());
                };
                if self.try_form(client, lease).await? {
                    if sent != Some(Sent::Form) {
                        self.form();
                    }
                } else {
                    debug!("another member won the formation; waiting for its key");
                }
                Ok(())
            }
        }
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
        let known: std::collections::HashSet<String> =
            members.iter().map(|m| m.id.to_string()).collect();
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

    fn join(&self, seeds: Vec<SocketAddr>, sent: Option<Sent>) {
        let next = Sent::Join(seeds.clone());
        if sent.as_ref() == Some(&next) {
            return;
        }
        info!(?seeds, "joining the cluster through seeds from etcd");
        self.cluster.do_send(Join(seeds));
        self.lock().sent = Some(next);
    }

    fn form(&self) {
        info!("nobody else is up: forming the cluster");
        self.cluster.do_send(Form);
        self.lock().sent = Some(Sent::Form);
        self.parent.do_send(ChildReport::Formed);
    }

    /// The formation transaction: create the formation key bound to our lease
    /// only if it is absent and no member is marked Up. True when we won.
    async fn try_form(&self, client: &Client, lease: i64) -> Result<bool, DiscoveryError> {
        let mut kv = client.kv_client();
        let ups = self.keys.ups();
        let txn = Txn::new()
            .when(vec![
                Compare::create_revision(self.keys.formation(), CompareOp::Equal, 0),
                Compare::create_revision(ups.clone(), CompareOp::Equal, 0)
                    .with_range(prefix_end(&ups)),
            ])
            .and_then(vec![TxnOp::put(
                self.keys.formation(),
                self.me.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )]);
        let resp = bounded(&self.config, "formation txn", kv.txn(txn)).await?;
        Ok(resp.succeeded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(port: u16, gen: u64) -> String {
        format!("n@127.0.0.1:{port}-{gen:x}")
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
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
}
