//! The arbiter of downing decisions (strategy lease-majority): a small trait
//! the `Cluster` actor calls when the protocol core asks whether its side wins.
//! `actix-cluster-etcd` implements it over etcd; without one, a lease-majority
//! decision is never won (a side that cannot reach the arbiter cannot win).

use std::future::Future;
use std::pin::Pin;

use actix::prelude::*;
use actix_cluster_proto::MemberId;

/// The answer of a [`DowningArbiter`]: `Ok(true)` this side won, `Ok(false)` another
/// side holds the decision, `Err` the arbiter could not be asked (the reason,
/// for the log).
pub type ArbiterFuture = Pin<Box<dyn Future<Output = Result<bool, String>> + 'static>>;

/// The answer of [`DowningArbiter::probe`]: `Ok` the arbiter answered, `Err`
/// it could not be reached (the reason, for the log).
pub type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + 'static>>;

/// Decides which side of a partition survives (see `docs/PROTOCOL.md`,
/// "Downing"). Called from the `Cluster` actor's thread. (Not to be confused
/// with actix's `Arbiter`, an event loop.)
pub trait DowningArbiter: 'static {
    /// Whether the side of `decider` (whose members are `side`, `decider`
    /// first) wins.
    fn acquire(&self, decider: &MemberId, side: &[MemberId]) -> ArbiterFuture;

    /// Whether the arbiter can be reached at all, now: a cheap request that
    /// decides nothing. A minority side waits
    /// `downing.acquire_delay_for_minority` before it asks (so that a
    /// majority that reaches the arbiter wins first) and probes meanwhile: a
    /// side that cannot reach the arbiter cannot win, so an `Err`, or no
    /// answer within that delay, fences it at once. With lease-majority a
    /// node also probes while it names no leader, and again after each
    /// failure (at most once a second), so that its verdict, if it is a
    /// minority, finds the arbiter already known unreachable. Bound it by what a
    /// healthy arbiter needs: the shorter, the sooner a cut-off minority
    /// fences, and the likelier a slow arbiter fences a minority that would
    /// have won (its majority gone). The default answers `Ok` at once (no
    /// probe: the request after the delay decides).
    fn probe(&self) -> ProbeFuture {
        Box::pin(async { Ok(()) })
    }

    /// Tells the arbiter that the surviving side is now `side` (called by the
    /// side's leader when its membership changes), so that a decision shortly
    /// after compares against the side as it is. `Ok(true)` when recorded.
    /// The default records nothing.
    fn refresh(&self, decider: &MemberId, side: &[MemberId]) -> ArbiterFuture {
        let _ = (decider, side);
        Box::pin(async { Ok(false) })
    }
}

/// Installs the arbiter the `Cluster` asks for lease-majority decisions
/// (replacing any earlier one). `actix-cluster-etcd` sends it when discovery
/// starts.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetArbiter(pub Box<dyn DowningArbiter + Send>);
