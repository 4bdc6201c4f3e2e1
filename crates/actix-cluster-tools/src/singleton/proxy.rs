//! The proxy: delivers to the singleton's instance wherever it runs,
//! buffers (bounded, oldest dropped and counted) while there is none.
//!
//! Where the instance runs comes from two sources that must agree: the
//! manager's news (which member hosts it, and whether a handover has paused
//! it) and the registry's listing of the instance's key for `M` (the
//! instance's reference, reachable members only). A reference on another
//! member than the announced host is never used, so an old instance that is
//! still listed while it stops gets nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use actix::prelude::*;
use actix_cluster::MemberId;
use actix_cluster_remote::{Listing, RemoteHandle, RemoteMessage, RemoteRef};

use super::instance_key;

/// A proxy's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Messages held now, waiting for an instance.
    pub buffered: usize,
    /// Messages dropped because the buffer was full (the oldest go first).
    pub dropped: u64,
    /// Messages handed to the remote layer for the instance.
    pub forwarded: u64,
    /// Messages the remote layer refused (its queue to the host was full, or
    /// the host went down at that moment): lost, at most once.
    pub refused: u64,
}

struct Core<M: RemoteMessage> {
    remote: RemoteHandle,
    capacity: usize,
    buffer: VecDeque<M>,
    host: Option<MemberId>,
    paused: bool,
    listing: Vec<RemoteRef<M>>,
    stats: ProxyStats,
}

impl<M: RemoteMessage> Core<M> {
    /// The instance's reference, when one may be sent to now.
    fn target(&self) -> Option<RemoteRef<M>> {
        if self.paused {
            return None;
        }
        let host = self.host.as_ref()?;
        self.listing.iter().find(|r| r.member() == host).cloned()
    }

    fn send(&mut self, to: &RemoteRef<M>, msg: M) {
        match self.remote.tell(to, msg) {
            Ok(()) => self.stats.forwarded += 1,
            Err(e) => {
                tracing::debug!(message = M::NAME, error = %e, "singleton proxy: not sent");
                self.stats.refused += 1;
            }
        }
    }

    fn push(&mut self, msg: M) {
        if self.buffer.len() >= self.capacity {
            self.buffer.pop_front();
            self.stats.dropped += 1;
        }
        self.buffer.push_back(msg);
    }

    /// Sends the buffer, in order, when there is an instance.
    fn flush(&mut self) {
        let Some(to) = self.target() else { return };
        while let Some(msg) = self.buffer.pop_front() {
            self.send(&to, msg);
        }
    }
}

/// Delivers `M` to the singleton's instance wherever it runs; see the
/// module docs. Cheap to clone; made by `SingletonHandle::proxy`.
pub struct SingletonProxy<M: RemoteMessage> {
    core: Arc<Mutex<Core<M>>>,
}

impl<M: RemoteMessage> Clone for SingletonProxy<M> {
    fn clone(&self) -> Self {
        SingletonProxy {
            core: self.core.clone(),
        }
    }
}

impl<M: RemoteMessage> std::fmt::Debug for SingletonProxy<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SingletonProxy<{}>", M::NAME)
    }
}

fn lock<M: RemoteMessage>(core: &Mutex<Core<M>>) -> MutexGuard<'_, Core<M>> {
    core.lock().unwrap_or_else(|e| e.into_inner())
}

impl<M: RemoteMessage> SingletonProxy<M> {
    /// A proxy for singleton `name`, following the listing of its instance
    /// for `M`; the manager tells it the host (`control`).
    pub(crate) fn new(remote: &RemoteHandle, name: &str, capacity: usize) -> Self {
        let core = Arc::new(Mutex::new(Core {
            remote: remote.clone(),
            capacity: capacity.max(1),
            buffer: VecDeque::new(),
            host: None,
            paused: false,
            listing: Vec::new(),
            stats: ProxyStats::default(),
        }));
        let listener = ListingListener {
            core: Arc::downgrade(&core),
        }
        .start();
        remote.subscribe(&instance_key::<M>(name), listener.recipient());
        SingletonProxy { core }
    }

    /// Sends `msg` to the instance: at once when there is one (at most
    /// once, in order per proxy), else into the buffer, which is forwarded in
    /// order once an instance is up. A full buffer drops its oldest message
    /// (counted in [`ProxyStats::dropped`]).
    pub fn tell(&self, msg: M) {
        let mut core = lock(&self.core);
        match core.target() {
            Some(to) if core.buffer.is_empty() => core.send(&to, msg),
            Some(_) => {
                core.push(msg);
                core.flush();
            }
            None => core.push(msg),
        }
    }

    /// The proxy's counters.
    pub fn stats(&self) -> ProxyStats {
        let core = lock(&self.core);
        ProxyStats {
            buffered: core.buffer.len(),
            ..core.stats
        }
    }

    /// The handle by which the manager steers this proxy.
    pub(crate) fn control(&self) -> Box<dyn ProxyControl + Send> {
        Box::new(Arc::downgrade(&self.core))
    }
}

/// How the manager steers its member's proxies.
pub(crate) trait ProxyControl {
    /// The instance runs on `host` (`paused`: it is being handed over, hold
    /// messages). False once the proxy is gone.
    fn set(&self, host: Option<&MemberId>, paused: bool) -> bool;
}

impl<M: RemoteMessage> ProxyControl for Weak<Mutex<Core<M>>> {
    fn set(&self, host: Option<&MemberId>, paused: bool) -> bool {
        let Some(core) = self.upgrade() else {
            return false;
        };
        let mut core = lock(&core);
        core.host = host.cloned();
        core.paused = paused;
        core.flush();
        true
    }
}

/// Receives the listing of the instance's key and flushes the buffer when
/// the instance appears.
struct ListingListener<M: RemoteMessage> {
    core: Weak<Mutex<Core<M>>>,
}

impl<M: RemoteMessage> Actor for ListingListener<M> {
    type Context = Context<Self>;
}

impl<M: RemoteMessage> Handler<Listing<M>> for ListingListener<M> {
    type Result = ();

    fn handle(&mut self, listing: Listing<M>, ctx: &mut Context<Self>) {
        let Some(core) = self.core.upgrade() else {
            ctx.stop();
            return;
        };
        let mut core = lock(&core);
        core.listing = listing.actors;
        core.flush();
    }
}
