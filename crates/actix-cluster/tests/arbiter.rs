//! The downing arbiter as the `Cluster` actor uses it (strategy
//! lease-majority): a minority side that cannot reach the arbiter fences
//! itself without waiting for an answer.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_cluster::{
    ArbiterFuture, ClusterConfig, DownReason, DowningArbiter, Event, MemberId, ProbeFuture,
    SetArbiter, Strategy,
};
use common::*;

/// An arbiter whose backend is cut off: the probe fails at once, and a
/// request, once sent, never gets an answer (as with an etcd whose packets
/// are dropped, until the request times out).
struct CutOff;

impl DowningArbiter for CutOff {
    fn acquire(&self, _: &MemberId, _: &[MemberId]) -> ArbiterFuture {
        Box::pin(futures::future::pending())
    }

    fn probe(&self) -> ProbeFuture {
        Box::pin(async { Err("cut off".to_owned()) })
    }
}

/// An arbiter whose backend goes away: its first probe fails at once, and
/// nothing after that (probe or request) is ever answered.
struct GoesAway {
    probes: Arc<AtomicUsize>,
}

impl DowningArbiter for GoesAway {
    fn acquire(&self, _: &MemberId, _: &[MemberId]) -> ArbiterFuture {
        Box::pin(futures::future::pending())
    }

    fn probe(&self) -> ProbeFuture {
        if self.probes.fetch_add(1, Ordering::SeqCst) == 0 {
            Box::pin(async { Err("refused".to_owned()) })
        } else {
            Box::pin(futures::future::pending())
        }
    }
}

fn lease_majority(name: &str) -> ClusterConfig {
    let mut c = config(name, local0());
    c.protocol.downing.strategy = Strategy::LeaseMajority;
    c
}

fn fenced(recs: &[Rec], me: &MemberId) -> bool {
    recs.iter().any(|r| {
        matches!(r, Rec::Event(Event::Down { member, reason: DownReason::Fenced }) if &member.id == me)
    })
}

/// A 3-node cluster (the first node on `config`, the others lease-majority,
/// named `prefix-i`) whose first node gets `arbiter` before the other two
/// crash: waits until that survivor, now a minority, fences itself, and
/// answers it with the id it fenced.
fn fenced_survivor(
    config: ClusterConfig,
    prefix: &str,
    arbiter: Box<dyn DowningArbiter + Send>,
) -> (Node, MemberId) {
    let survivor = Node::join(config, &[]);
    let seed = survivor.addr();
    let others: Vec<Node> = (1..3)
        .map(|i| Node::join(lease_majority(&format!("{prefix}-{i}")), &[seed]))
        .collect();
    let mut all = ids(&others);
    all.push(survivor.id());
    wait_all_up(std::slice::from_ref(&survivor), &all);
    survivor.ask(SetArbiter(arbiter));
    for node in others {
        node.kill();
    }
    let me = survivor.id();
    survivor
        .events
        .wait("the survivor to fence itself", |recs| fenced(recs, &me));
    (survivor, me)
}

/// The survivor of a 3-node cluster whose two other members crashed is a
/// minority. Its arbiter cannot be reached: the probe it sends while it waits
/// its turn fails, so it fences itself (and rejoins as a new member) although
/// its request, if it went out, is never answered.
#[test]
fn a_minority_that_cannot_reach_the_arbiter_fences_without_an_answer() {
    let _serial = serial();
    let (survivor, me) = fenced_survivor(lease_majority("cutoff-0"), "cutoff", Box::new(CutOff));
    let reborn = survivor.ask(actix_cluster::GetSelf).id;
    assert_ne!(reborn, me, "fenced, it rejoins as a new member");
}

/// A node that names no leader probes the arbiter, and again after each
/// failure: when its verdict (a minority) comes, the arbiter is already known
/// unreachable and it fences at once. Here the minority's delay is an hour
/// and the probe after the first failure never answers, so only what the
/// probes before the verdict learned can fence it.
#[test]
fn a_minority_that_probed_in_vain_since_it_stepped_down_fences_at_its_verdict() {
    let _serial = serial();
    let mut config = lease_majority("away-0");
    config.protocol.downing.acquire_delay_for_minority = Duration::from_secs(3600);
    let away = Box::new(GoesAway {
        probes: Arc::new(AtomicUsize::new(0)),
    });
    fenced_survivor(config, "away", away);
}
