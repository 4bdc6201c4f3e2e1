//! The queued actions and how each reaches its node: deliveries through the
//! network model (latency, jitter, loss, cuts), timers, resumes, the arbiter's
//! verdicts, refused connections; and the outputs a node hands back.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;

use super::{NodeState, Sim};
use crate::sim::net::{GeLink, Loss};
use crate::sim::node::{SimNode, SimOutput};

/// Something the engine does at a point of virtual time.
pub(super) enum Action<T> {
    Deliver {
        to: u32,
        from_idx: u32,
        from: SocketAddr,
        stream: bool,
        /// For streams: the receiver's epoch at send time (a connection does not
        /// survive a restart of its peer).
        to_epoch: u32,
        bytes: Vec<u8>,
    },
    Timer {
        node: u32,
        epoch: u32,
        timer: T,
    },
    Resume {
        node: u32,
        epoch: u32,
    },
    Stop {
        node: u32,
        epoch: u32,
    },
    /// The arbiter's verdict on a node's request (`None`: it timed out).
    ArbiterVerdict {
        node: u32,
        epoch: u32,
        round: u64,
        won: Option<bool>,
    },
    /// A stream connection from `node` to `to` was refused.
    Refused {
        node: u32,
        epoch: u32,
        to: SocketAddr,
    },
}

/// The queue of actions, ordered by (time, sequence number). The heap
/// moves only small keys; the actions (a delivery holds an address and its
/// bytes) stay put in slots, reused as they are taken.
pub(super) struct Queue<A> {
    heap: BinaryHeap<Key>,
    slots: Vec<Option<A>>,
    free: Vec<u32>,
}

/// A queued action's place in the order, (time in nanoseconds, sequence
/// number) in one integer so that the heap compares once, and its slot.
struct Key {
    order: u128,
    slot: u32,
}

impl Key {
    fn new(at: Duration, seq: u64, slot: u32) -> Key {
        // Virtual time stays far below 2^64 ns (584 years).
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        Key {
            order: (u128::from(nanos) << 64) | u128::from(seq),
            slot,
        }
    }

    fn at(&self) -> Duration {
        Duration::from_nanos((self.order >> 64) as u64)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, seq) is on
        // top. Sequence numbers are unique, so no two keys are equal.
        other.order.cmp(&self.order)
    }
}

impl<A> Default for Queue<A> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<A> Queue<A> {
    /// Queues `action` at `at` with the unique sequence number `seq`.
    pub(super) fn push(&mut self, at: Duration, seq: u64, action: A) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(action);
                slot
            }
            None => {
                self.slots.push(Some(action));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Key::new(at, seq, slot));
    }

    /// Takes the earliest action and its time.
    pub(super) fn pop(&mut self) -> Option<(Duration, A)> {
        let key = self.heap.pop()?;
        let action = self.slots[key.slot as usize]
            .take()
            .expect("every queued key has its action");
        self.free.push(key.slot);
        Some((key.at(), action))
    }

    /// The time of the earliest action.
    pub(super) fn next_at(&self) -> Option<Duration> {
        self.heap.peek().map(Key::at)
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

impl<N: SimNode> Sim<N> {
    pub(super) fn process(&mut self, action: Action<N::Timer>) {
        self.processed += 1;
        match action {
            Action::Resume { node, epoch } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                match s.paused_until {
                    Some(until) if until <= self.now => {}
                    _ => return, // extended or already resumed
                }
                s.paused_until = None;
                while let Some(a) = self.slots[node as usize].inbox.pop_front() {
                    self.handle(a);
                    if self.slots[node as usize].state != NodeState::Running {
                        break;
                    }
                }
            }
            Action::Stop { node, epoch } => {
                if self.slots[node as usize].epoch == epoch {
                    self.crash_idx(node);
                }
            }
            a @ (Action::Deliver { .. }
            | Action::Timer { .. }
            | Action::ArbiterVerdict { .. }
            | Action::Refused { .. }) => {
                let target = match &a {
                    Action::Deliver {
                        to,
                        from_idx,
                        stream,
                        to_epoch,
                        ..
                    } => {
                        let s = &self.slots[*to as usize];
                        let (state, epoch) = (s.state, s.epoch);
                        if self.cut_idx(*from_idx, *to) {
                            self.slots[*from_idx as usize].stats.dropped_cut += 1;
                            return;
                        }
                        if state != NodeState::Running || (*stream && epoch != *to_epoch) {
                            self.slots[*from_idx as usize].stats.dropped_no_receiver += 1;
                            if *stream && state == NodeState::Crashed {
                                // Nothing listens at a crashed process's port
                                // (its host is up): the connection is refused.
                                let (from, to_addr) = (*from_idx, self.slots[*to as usize].addr);
                                let from_epoch = self.slots[from as usize].epoch;
                                let at = self.now + self.latency(from, *to);
                                self.push(
                                    at,
                                    Action::Refused {
                                        node: from,
                                        epoch: from_epoch,
                                        to: to_addr,
                                    },
                                );
                            }
                            return;
                        }
                        *to
                    }
                    Action::Timer { node, .. }
                    | Action::ArbiterVerdict { node, .. }
                    | Action::Refused { node, .. } => *node,
                    _ => return,
                };
                let s = &mut self.slots[target as usize];
                if s.paused_until.is_some() && s.state == NodeState::Running {
                    s.inbox.push_back(a);
                } else {
                    self.handle(a);
                }
            }
        }
    }

    /// Hands one delivery or timer to its node (not paused), dropping it if the
    /// node is gone.
    pub(super) fn handle(&mut self, action: Action<N::Timer>) {
        let now = self.now;
        match action {
            Action::Deliver {
                to,
                from,
                stream,
                bytes,
                ..
            } => {
                // Reachability was checked on arrival (see `process`).
                let s = &mut self.slots[to as usize];
                if s.state != NodeState::Running {
                    return;
                }
                s.stats.bytes_received += bytes.len() as u64;
                if stream {
                    s.stats.streams_received += 1;
                    s.node.handle_stream(now, from, &bytes);
                } else {
                    s.stats.datagrams_received += 1;
                    s.node.handle_datagram(now, from, &bytes);
                }
                self.drain(to);
            }
            Action::Timer { node, epoch, timer } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                s.node.handle_timer(now, timer);
                self.drain(node);
            }
            Action::ArbiterVerdict {
                node,
                epoch,
                round,
                won,
            } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                s.node.handle_arbiter(now, round, won);
                self.drain(node);
            }
            Action::Refused { node, epoch, to } => {
                let s = &mut self.slots[node as usize];
                if s.epoch != epoch || s.state != NodeState::Running {
                    return;
                }
                s.node.handle_refused(now, to);
                self.drain(node);
            }
            Action::Resume { .. } | Action::Stop { .. } => {}
        }
    }

    /// Carries out every pending output of node `i`.
    pub(super) fn drain(&mut self, i: u32) {
        let mut buf = std::mem::take(&mut self.out_buf);
        let node = &mut self.slots[i as usize].node;
        while let Some(o) = node.poll_output() {
            buf.push(o);
        }
        for o in buf.drain(..) {
            match o {
                SimOutput::Send { to, stream, bytes } => self.send(i, to, stream, bytes),
                SimOutput::Schedule { after, timer } => {
                    let epoch = self.slots[i as usize].epoch;
                    self.push(
                        self.now + after,
                        Action::Timer {
                            node: i,
                            epoch,
                            timer,
                        },
                    );
                }
                SimOutput::Event(ev) => self.record(i, ev),
                SimOutput::Arbitrate { round, side } => self.arbitrate(i, round, &side),
            }
        }
        self.out_buf = buf;
    }

    /// The base latency of the link `f -> t` (without jitter).
    pub(super) fn latency(&self, f: u32, t: u32) -> Duration {
        if self.link_latency.is_empty() {
            self.net.latency
        } else {
            self.link_latency
                .get(&(f, t))
                .copied()
                .unwrap_or(self.net.latency)
        }
    }

    pub(super) fn send(&mut self, f: u32, to: SocketAddr, stream: bool, bytes: Vec<u8>) {
        let len = bytes.len() as u64;
        {
            let st = &mut self.slots[f as usize].stats;
            if stream {
                st.streams_sent += 1;
                st.stream_bytes_sent += len;
            } else {
                st.datagrams_sent += 1;
                st.datagram_bytes_sent += len;
            }
        }
        let Some(&t) = self.index.get(&to) else {
            self.slots[f as usize].stats.dropped_no_receiver += 1;
            return;
        };
        if self.cut_idx(f, t) {
            self.slots[f as usize].stats.dropped_cut += 1;
            return;
        }
        if (!stream && self.lose(f, t)) || self.node_lose(f, t) {
            self.slots[f as usize].stats.dropped_loss += 1;
            return;
        }
        let base = self.latency(f, t);
        let jitter = if self.net.jitter.is_zero() {
            Duration::ZERO
        } else {
            let j = self.net.jitter.as_nanos() as u64;
            Duration::from_nanos(self.rng.gen_range(0..=j))
        };
        let mut at = self.now + base + jitter;
        let from_addr = self.slots[f as usize].addr;
        let from = if stream {
            let last = self.stream_last.entry((f, t)).or_insert(at);
            at = at.max(*last);
            *last = at;
            if self.net.ephemeral_stream_ports {
                self.ephemeral = self.ephemeral.wrapping_add(1);
                SocketAddr::new(from_addr.ip(), 32768 + (self.ephemeral % 28000) as u16)
            } else {
                from_addr
            }
        } else {
            from_addr
        };
        let to_epoch = self.slots[t as usize].epoch;
        self.push(
            at,
            Action::Deliver {
                to: t,
                from_idx: f,
                from,
                stream,
                to_epoch,
                bytes,
            },
        );
    }

    pub(super) fn lose(&mut self, f: u32, t: u32) -> bool {
        match &self.net.loss {
            Loss::None => false,
            Loss::Uniform(p) => *p > 0.0 && self.rng.gen::<f64>() < *p,
            Loss::Bursty(ge) => {
                let now = self.now;
                let rng = &mut self.rng;
                let link = self
                    .ge_links
                    .entry((f, t))
                    .or_insert_with(|| GeLink::fresh(ge, rng, now));
                link.lose(ge, rng, now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Actions come out by (time, sequence number) however they went in,
    /// and taken slots are reused.
    #[test]
    fn the_queue_gives_actions_by_time_then_sequence() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut q = Queue::default();
        let mut want = Vec::new();
        let mut seq = 0u64;
        for round in 0..50 {
            for _ in 0..40 {
                let at = Duration::from_millis(round * 10 + rng.gen_range(0..30));
                q.push(at, seq, seq);
                want.push((at, seq));
                seq += 1;
            }
            for _ in 0..30 {
                want.sort();
                let (at, s) = want.remove(0);
                assert_eq!(q.next_at(), Some(at));
                assert_eq!(q.pop(), Some((at, s)));
            }
        }
        assert_eq!(q.len(), want.len());
        // 2,000 pushed, never more than 530 queued at once.
        assert_eq!(q.slots.len(), 530, "slots are reused");
        want.sort();
        for (at, s) in want {
            assert_eq!(q.pop(), Some((at, s)));
        }
        assert_eq!(q.pop(), None);
    }
}
