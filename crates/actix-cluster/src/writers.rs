//! The outgoing writer cache: one writer per peer we send stream frames to,
//! at most `transport.max_outgoing` of them; when every writer slot is taken,
//! the least recently used one makes room.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use actix::Recipient;

use crate::config::TransportConfig;
use crate::counters::{inc, Counters};
use crate::transport::{Outgoing, Refused};

/// The writers, by peer, and what a new writer is started with.
pub(crate) struct Writers {
    by_peer: HashMap<SocketAddr, Outgoing>,
    /// The transport's slots, queues and timeouts.
    limits: TransportConfig,
    counters: Arc<Counters>,
    /// Where writers report refused connections (set once the actor runs).
    refusals: Option<Recipient<Refused>>,
}

impl Writers {
    /// No writers yet.
    pub(crate) fn new(limits: TransportConfig, counters: Arc<Counters>) -> Self {
        Writers {
            by_peer: HashMap::new(),
            limits,
            counters,
            refusals: None,
        }
    }

    /// Writers started from now on tell `refusals` of refused connections.
    pub(crate) fn report_refusals_to(&mut self, refusals: Recipient<Refused>) {
        self.refusals = Some(refusals);
    }

    /// Queues a stream frame towards `to`, starting a writer (in `span`) when
    /// there is none or it exited.
    pub(crate) fn send(&mut self, to: SocketAddr, frame: Vec<u8>, span: &tracing::Span) {
        let frame = match self.by_peer.get(&to) {
            Some(out) => match out.push(frame, &self.counters) {
                Ok(()) => return,
                Err(frame) => frame,
            },
            None => frame,
        };
        if self.by_peer.len() >= self.limits.max_outgoing {
            self.make_room();
        }
        let out = Outgoing::spawn(
            to,
            self.limits,
            self.counters.clone(),
            span.clone(),
            self.refusals.clone(),
        );
        if out.push(frame, &self.counters).is_err() {
            inc(&self.counters.frames_dropped);
        }
        self.by_peer.insert(to, out);
    }

    /// Forgets the writers that exited; if every slot is still taken, the
    /// least recently used writer goes (dropping it lets it finish what it
    /// queued).
    fn make_room(&mut self) {
        self.by_peer.retain(|_, out| !out.is_closed());
        if self.by_peer.len() < self.limits.max_outgoing {
            return;
        }
        let lru = self
            .by_peer
            .iter()
            .min_by_key(|(addr, out)| (out.last_used(), **addr))
            .map(|(addr, _)| *addr);
        if let Some(addr) = lru {
            self.by_peer.remove(&addr);
            inc(&self.counters.writers_evicted);
        }
    }
}
