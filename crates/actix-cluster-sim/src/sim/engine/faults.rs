//! Faults: crashes, restarts, pauses, partitions and cuts, node and link
//! loss, leaves.

use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;

use super::dispatch::Action;
use super::{NodeState, Sim};
use crate::sim::error::SimError;
use crate::sim::node::SimNode;

/// A set of node slots as a bit set.
#[derive(Clone, Debug, Default)]
pub(super) struct NodeSet {
    bits: Vec<u64>,
}

impl NodeSet {
    pub(super) fn insert(&mut self, i: u32) {
        let w = (i / 64) as usize;
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= 1 << (i % 64);
    }

    pub(super) fn contains(&self, i: u32) -> bool {
        let w = (i / 64) as usize;
        w < self.bits.len() && self.bits[w] & (1 << (i % 64)) != 0
    }
}

/// Traffic from any node in `from` to any node in `to` is dropped.
#[derive(Clone, Debug)]
pub(super) struct Cut {
    from: NodeSet,
    to: NodeSet,
}

impl<N: SimNode> Sim<N> {
    /// Crashes the node: it stops dead, its queued inputs, timers and pause are
    /// dropped, and everything sent to it from now on is dropped.
    pub fn crash(&mut self, addr: SocketAddr) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        self.crash_idx(i);
        Ok(())
    }

    pub(super) fn crash_idx(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        if s.state == NodeState::Crashed {
            return;
        }
        s.state = NodeState::Crashed;
        s.epoch += 1;
        s.paused_until = None;
        s.inbox.clear();
    }

    /// Replaces the node at `addr` with a new instance (a new process on the same
    /// address, e.g. a core with a new generation), crashing the old one first if
    /// it still runs. The old instance is kept in [`Sim::retired`]. Stream frames
    /// in flight to the old instance are dropped; datagrams in flight reach the
    /// new one.
    pub fn restart(&mut self, addr: SocketAddr, node: N) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        self.crash_idx(i);
        let s = &mut self.slots[i as usize];
        let old = std::mem::replace(&mut s.node, node);
        s.retired.push(old);
        s.state = NodeState::Running;
        s.left = false;
        s.epoch += 1;
        s.restarts += 1;
        self.views[i as usize].iter_mut().for_each(|v| *v = 0);
        self.drain(i);
        Ok(())
    }

    /// Pauses the node for `dur` (a stalled process, a GC pause): it handles
    /// nothing until then; datagrams, frames and timers that arrive meanwhile are
    /// queued and handled in order when it resumes. Pausing a paused node extends
    /// the pause if the new end is later.
    pub fn pause(&mut self, addr: SocketAddr, dur: Duration) -> Result<(), SimError> {
        let i = self.running_idx(addr)?;
        let until = self.now + dur;
        let s = &mut self.slots[i as usize];
        if s.paused_until.is_some_and(|u| u >= until) {
            return Ok(());
        }
        s.paused_until = Some(until);
        let epoch = s.epoch;
        self.push(until, Action::Resume { node: i, epoch });
        Ok(())
    }

    /// Cuts every link between the two sets, both ways.
    pub fn partition(&mut self, a: &[SocketAddr], b: &[SocketAddr]) -> Result<(), SimError> {
        let sa = self.set(a)?;
        let sb = self.set(b)?;
        self.cuts.push(Cut {
            from: sa.clone(),
            to: sb.clone(),
        });
        self.cuts.push(Cut { from: sb, to: sa });
        Ok(())
    }

    /// Cuts the node off from every other node, both ways.
    pub fn isolate(&mut self, addr: SocketAddr) -> Result<(), SimError> {
        let others: Vec<SocketAddr> = self.addrs().into_iter().filter(|&a| a != addr).collect();
        self.partition(&[addr], &others)
    }

    /// Drops everything sent from `from` to `to` (the other direction still works).
    pub fn cut_one_way(&mut self, from: SocketAddr, to: SocketAddr) -> Result<(), SimError> {
        let f = self.set(&[from])?;
        let t = self.set(&[to])?;
        self.cuts.push(Cut { from: f, to: t });
        Ok(())
    }

    /// Drops everything any other node sends to the node at `addr` while
    /// `cut` is true, as one-way cuts into it from everyone would (it still
    /// sends; a node that hears nothing). Also checked on arrival, so
    /// messages in flight are dropped too. [`Sim::heal`] ends it as well.
    pub fn cut_inbound(&mut self, addr: SocketAddr, cut: bool) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        self.slots[i as usize].deaf = cut;
        Ok(())
    }

    /// The node at `addr` loses each message it sends, and each message sent
    /// to it, with probability `p` (a bad NIC or an overloaded host), on top of
    /// the network's loss: a message between two lossy nodes survives both
    /// draws. Applies to datagrams and to stream frames (a lost frame stands
    /// for a connection that failed). `0` ends it; [`Sim::heal`] does not.
    pub fn set_node_loss(&mut self, addr: SocketAddr, p: f64) -> Result<(), SimError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(SimError::bad_field(
                "node loss",
                format!("{p} is not a probability in 0..=1"),
            ));
        }
        let i = self.idx(addr)?;
        self.slots[i as usize].loss = p;
        Ok(())
    }

    /// The directed link `from -> to` loses each message with probability
    /// `p` (one bad link: a flaky cable or switch port between two hosts),
    /// on top of the network's and the nodes' loss; datagrams and stream
    /// frames alike. `0` ends it; [`Sim::heal`] does not.
    pub fn set_link_loss(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        p: f64,
    ) -> Result<(), SimError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(SimError::bad_field(
                "link loss",
                format!("{p} is not a probability in 0..=1"),
            ));
        }
        let (f, t) = (self.idx(from)?, self.idx(to)?);
        if p > 0.0 {
            self.link_loss.insert((f, t), p);
        } else {
            self.link_loss.remove(&(f, t));
        }
        Ok(())
    }

    /// The node loss of the node at `addr` (see [`Sim::set_node_loss`]).
    pub fn node_loss(&self, addr: SocketAddr) -> f64 {
        self.index
            .get(&addr)
            .map_or(0.0, |&i| self.slots[i as usize].loss)
    }

    /// Removes every partition and cut, inbound cuts included.
    pub fn heal(&mut self) {
        self.cuts.clear();
        for s in &mut self.slots {
            s.deaf = false;
        }
    }

    /// True if traffic from `from` to `to` is currently cut.
    pub fn is_cut(&self, from: SocketAddr, to: SocketAddr) -> bool {
        match (self.index.get(&from), self.index.get(&to)) {
            (Some(&f), Some(&t)) => self.cut_idx(f, t),
            _ => false,
        }
    }

    /// Starts a graceful leave on the node ([`SimNode::leave`]). The node keeps
    /// running (it has to tell the others) but no longer counts as live; stop it
    /// later with [`Sim::crash`] or use [`Sim::leave_and_stop`].
    pub fn leave(&mut self, addr: SocketAddr) -> Result<(), SimError> {
        let i = self.running_idx(addr)?;
        self.slots[i as usize].left = true;
        self.with_node(addr, |n, now| n.leave(now))
    }

    /// [`Sim::leave`], then stops (crashes) the node `linger` later, as a process
    /// that exits after announcing its leave.
    pub fn leave_and_stop(&mut self, addr: SocketAddr, linger: Duration) -> Result<(), SimError> {
        self.leave(addr)?;
        let i = self.idx(addr)?;
        let epoch = self.slots[i as usize].epoch;
        self.push(self.now + linger, Action::Stop { node: i, epoch });
        Ok(())
    }

    pub(super) fn cut_idx(&self, f: u32, t: u32) -> bool {
        (f != t && self.slots[t as usize].deaf)
            || self
                .cuts
                .iter()
                .any(|c| c.from.contains(f) && c.to.contains(t))
    }

    /// Draws the node loss of both ends of `f -> t`, and the link's loss.
    pub(super) fn node_lose(&mut self, f: u32, t: u32) -> bool {
        let (pf, pt) = (self.slots[f as usize].loss, self.slots[t as usize].loss);
        let pl = if self.link_loss.is_empty() {
            0.0
        } else {
            self.link_loss.get(&(f, t)).copied().unwrap_or(0.0)
        };
        let rng = &mut self.rng;
        let mut draw = |p: f64| p > 0.0 && rng.gen::<f64>() < p;
        draw(pf) || draw(pt) || draw(pl)
    }
}
