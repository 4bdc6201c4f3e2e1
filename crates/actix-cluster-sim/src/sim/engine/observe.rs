//! What the engine observes: the event log and its hash, each observer's view
//! of each subject, traffic counters.

use std::net::SocketAddr;
use std::time::Duration;

use super::Sim;
use crate::sim::node::{SimEvent, SimNode};

/// Traffic counters of one node slot (kept across restarts of the slot; see
/// [`Sim::reset_stats`]). Sent counters count every message the node sent,
/// whether or not the network delivered it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Bytes sent in datagrams.
    pub datagram_bytes_sent: u64,
    /// Stream frames sent.
    pub streams_sent: u64,
    /// Bytes sent in stream frames.
    pub stream_bytes_sent: u64,
    /// Datagrams handed to the node.
    pub datagrams_received: u64,
    /// Stream frames handed to the node.
    pub streams_received: u64,
    /// Bytes handed to the node (both kinds).
    pub bytes_received: u64,
    /// Messages from this node lost to the loss model.
    pub dropped_loss: u64,
    /// Messages from this node dropped by a partition or cut.
    pub dropped_cut: u64,
    /// Messages from this node that found no running receiver (crashed,
    /// restarted stream peer, or an address no node has).
    pub dropped_no_receiver: u64,
}

impl NodeStats {
    /// Messages sent (both kinds).
    pub fn messages_sent(&self) -> u64 {
        self.datagrams_sent + self.streams_sent
    }

    /// Bytes sent (both kinds).
    pub fn bytes_sent(&self) -> u64 {
        self.datagram_bytes_sent + self.stream_bytes_sent
    }

    fn add(&mut self, o: &NodeStats) {
        self.datagrams_sent += o.datagrams_sent;
        self.datagram_bytes_sent += o.datagram_bytes_sent;
        self.streams_sent += o.streams_sent;
        self.stream_bytes_sent += o.stream_bytes_sent;
        self.datagrams_received += o.datagrams_received;
        self.streams_received += o.streams_received;
        self.bytes_received += o.bytes_received;
        self.dropped_loss += o.dropped_loss;
        self.dropped_cut += o.dropped_cut;
        self.dropped_no_receiver += o.dropped_no_receiver;
    }
}

/// One entry of the event log: at `time`, node `observer` published `event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Virtual time.
    pub time: Duration,
    /// The node that published the event.
    pub observer: SocketAddr,
    /// The event.
    pub event: SimEvent,
}

/// What one observer currently believes about one subject, from the events it
/// published (see [`Sim::sees`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViewState {
    /// No event about the subject yet.
    Unknown,
    /// Up and reachable.
    Up,
    /// Up but suspected.
    Unreachable,
    /// Declared failed.
    Down,
    /// Left gracefully.
    Left,
}

impl ViewState {
    fn from_u8(v: u8) -> ViewState {
        match v {
            1 => ViewState::Up,
            2 => ViewState::Unreachable,
            3 => ViewState::Down,
            4 => ViewState::Left,
            _ => ViewState::Unknown,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            ViewState::Unknown => 0,
            ViewState::Up => 1,
            ViewState::Unreachable => 2,
            ViewState::Down => 3,
            ViewState::Left => 4,
        }
    }
}

impl<N: SimNode> Sim<N> {
    /// The event log (empty if [`Sim::set_keep_log`] turned it off).
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Events published by `observer`, with their times.
    pub fn events_of(&self, observer: SocketAddr) -> impl Iterator<Item = &LogEntry> + '_ {
        self.log.iter().filter(move |e| e.observer == observer)
    }

    /// Number of events published so far (also when the log is not kept).
    pub fn events_total(&self) -> u64 {
        self.events_total
    }

    /// A hash of the whole event log (time, observer, event), maintained even when
    /// the log is not kept. Equal seeds and calls give equal hashes.
    pub fn log_hash(&self) -> u64 {
        self.log_hash.finish()
    }

    /// What `observer` believes about `subject` according to the events it
    /// published (a restart of `observer` resets its beliefs).
    pub fn sees(&self, observer: SocketAddr, subject: SocketAddr) -> ViewState {
        match (self.index.get(&observer), self.index.get(&subject)) {
            (Some(&o), Some(&s)) => ViewState::from_u8(self.views[o as usize][s as usize]),
            _ => ViewState::Unknown,
        }
    }

    /// True if every live node sees every other live node Up (and reachable).
    pub fn all_see_up(&self) -> bool {
        let live = self.live_idx();
        live.iter().all(|&o| {
            let row = &self.views[o];
            live.iter()
                .all(|&s| s == o || row[s] == ViewState::Up.to_u8())
        })
    }

    /// True if every live node other than `subject` sees `subject` in a state
    /// accepted by `pred`.
    pub fn all_see(&self, subject: SocketAddr, pred: impl Fn(ViewState) -> bool) -> bool {
        let Some(&s) = self.index.get(&subject) else {
            return false;
        };
        self.live_idx()
            .into_iter()
            .filter(|&o| o != s as usize)
            .all(|o| pred(ViewState::from_u8(self.views[o][s as usize])))
    }

    /// True if every live node other than `subject` sees it Down (failed) or Left.
    pub fn all_see_down(&self, subject: SocketAddr) -> bool {
        self.all_see(subject, |v| matches!(v, ViewState::Down | ViewState::Left))
    }

    /// Pairs (observer, subject) of live nodes where the observer does not see the
    /// subject Up, with what it sees instead (for diagnostics).
    pub fn not_up_pairs(&self) -> Vec<(SocketAddr, SocketAddr, ViewState)> {
        let live = self.live_idx();
        let mut out = Vec::new();
        for &o in &live {
            for &s in &live {
                let v = ViewState::from_u8(self.views[o][s]);
                if s != o && v != ViewState::Up {
                    out.push((self.slots[o].addr, self.slots[s].addr, v));
                }
            }
        }
        out
    }

    /// Traffic counters of the slot at `addr`.
    pub fn stats(&self, addr: SocketAddr) -> Option<&NodeStats> {
        self.index
            .get(&addr)
            .map(|&i| &self.slots[i as usize].stats)
    }

    /// Sum of every slot's counters.
    pub fn total_stats(&self) -> NodeStats {
        let mut t = NodeStats::default();
        for s in &self.slots {
            t.add(&s.stats);
        }
        t
    }

    /// Zeroes every slot's counters (e.g. after warm-up, before measuring).
    pub fn reset_stats(&mut self) {
        for s in &mut self.slots {
            s.stats = NodeStats::default();
        }
    }

    pub(super) fn record(&mut self, i: u32, event: SimEvent) {
        let observer = self.slots[i as usize].addr;
        if let Some(&s) = self.index.get(&event.addr()) {
            if s != i {
                let cell = &mut self.views[i as usize][s as usize];
                let new = match event {
                    SimEvent::Up(_) | SimEvent::Reachable(_) => ViewState::Up,
                    SimEvent::Unreachable(_) => ViewState::Unreachable,
                    SimEvent::Down { left: false, .. } => ViewState::Down,
                    SimEvent::Down { left: true, .. } => ViewState::Left,
                };
                *cell = new.to_u8();
            }
        }
        self.events_total += 1;
        let h = &mut self.log_hash;
        h.write_u64(self.now.as_nanos() as u64);
        h.write_addr(observer);
        match event {
            SimEvent::Up(a) => {
                h.write_u64(1);
                h.write_addr(a);
            }
            SimEvent::Unreachable(a) => {
                h.write_u64(2);
                h.write_addr(a);
            }
            SimEvent::Reachable(a) => {
                h.write_u64(3);
                h.write_addr(a);
            }
            SimEvent::Down { addr, left } => {
                h.write_u64(4 + u64::from(left));
                h.write_addr(addr);
            }
        }
        if let Some(hook) = self.hook.as_mut() {
            hook(self.now, observer, &event);
        }
        if self.keep_log {
            self.log.push(LogEntry {
                time: self.now,
                observer,
                event,
            });
        }
    }
}
