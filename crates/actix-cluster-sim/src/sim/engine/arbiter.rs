//! The arbiter model: the etcd downing lease's rule, and nodes cut from it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::dispatch::Action;
use super::Sim;
use crate::sim::error::SimError;
use crate::sim::node::SimNode;

/// The simulated arbiter, with the rule of `actix-cluster-etcd`'s
/// `EtcdArbiter::acquire`: one key holding the side that won last, until
/// `hold_for` has passed. A request wins when the key is free (or expired) or
/// when the asking side holds a strict majority of the last winners; a win
/// writes the asking side with a fresh expiry. Nodes cut from the arbiter get
/// no verdict, after the request timeout.
#[derive(Debug)]
pub(super) struct ArbiterModel {
    holder: Option<(Vec<SocketAddr>, Duration)>,
    cut: HashSet<u32>,
    hold_for: Duration,
    latency: Duration,
    timeout: Duration,
}

impl ArbiterModel {
    /// No holder, nobody cut; the lease lasts 20 s, a verdict takes 5 ms and
    /// a request from a node cut from the arbiter times out after 1 s.
    pub(super) fn new() -> Self {
        ArbiterModel {
            holder: None,
            cut: HashSet::new(),
            hold_for: Duration::from_secs(20),
            latency: Duration::from_millis(5),
            timeout: Duration::from_secs(1),
        }
    }
}

impl<N: SimNode> Sim<N> {
    /// Node `i` asks the arbiter for its side.
    pub(super) fn arbitrate(&mut self, i: u32, round: u64, side: &[SocketAddr]) {
        let epoch = self.slots[i as usize].epoch;
        let (at, won) = if self.arbiter.cut.contains(&i) {
            (self.now + self.arbiter.timeout, None)
        } else {
            let won = match &self.arbiter.holder {
                Some((winners, until)) if *until > self.now => {
                    let ours = winners.iter().filter(|w| side.contains(w)).count();
                    ours * 2 > winners.len()
                }
                _ => true,
            };
            if won {
                self.arbiter.holder = Some((side.to_vec(), self.now + self.arbiter.hold_for));
            }
            (self.now + self.arbiter.latency, Some(won))
        };
        self.push(
            at,
            Action::ArbiterVerdict {
                node: i,
                epoch,
                round,
                won,
            },
        );
    }

    /// Cuts the node at `addr` off from the arbiter (its requests time out),
    /// or reconnects it.
    pub fn cut_from_arbiter(&mut self, addr: SocketAddr, cut: bool) -> Result<(), SimError> {
        let i = self.idx(addr)?;
        if cut {
            self.arbiter.cut.insert(i);
        } else {
            self.arbiter.cut.remove(&i);
        }
        Ok(())
    }

    /// The side that holds the arbiter's key now (its members' addresses), if
    /// any.
    pub fn arbiter_holder(&self) -> Option<&[SocketAddr]> {
        self.arbiter
            .holder
            .as_ref()
            .filter(|(_, until)| *until > self.now)
            .map(|(side, _)| side.as_slice())
    }
}
