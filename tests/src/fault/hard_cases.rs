//! The hard cases of the fault tier: a node that loses a share of all its
//! traffic with the other nodes and etcd (nftables `numgen`), and the figures
//! of a partition's minority (how soon it names no leader and fences itself,
//! against the majority's decision), read from the recorded history.

use super::checker::{Faulty, History, Time};
use super::cluster::{Cluster, ETCDS, NODES};
use super::net::{etcd_ip, node_ip};

impl Cluster {
    /// Node `i` loses `pct`% of the packets it exchanges with the other nodes
    /// and etcd, each way (the observer still reaches it). With `faulty` it is
    /// declared faulty (it may be downed) until [`Cluster::heal_partition`].
    pub fn node_loss(&mut self, i: usize, pct: u32, faulty: bool) {
        let peers: Vec<String> = (1..=NODES)
            .filter(|&n| n != i)
            .map(node_ip)
            .chain((1..=ETCDS).map(etcd_ip))
            .collect();
        let set = peers.join(", ");
        self.install(
            i,
            vec![format!(
                "ip saddr {{ {set} }} numgen random mod 100 < {pct} drop"
            )],
            vec![format!(
                "ip daddr {{ {set} }} numgen random mod 100 < {pct} drop"
            )],
        );
        if faulty {
            let from = self.now();
            self.history.faulty.push(Faulty {
                node: format!("n{i}"),
                from,
                to: f64::INFINITY,
            });
        }
    }
}

/// How a partition's minority fared, in seconds from the partition.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MinorityFigures {
    /// Every majority node showed every minority member down.
    pub decision: Option<f64>,
    /// Every minority node named no leader (or was no longer the member it
    /// was at the partition).
    pub stepped_down: Option<f64>,
    /// Every minority node was no longer `up` as the member it was at the
    /// partition (it fenced itself, or was downed and rejoined).
    pub fenced: Option<f64>,
}

impl MinorityFigures {
    /// One line for the report.
    pub fn line(&self) -> String {
        let s = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.1} s"));
        format!(
            "majority's decision {}, minority named no leader {}, fenced {}",
            s(self.decision),
            s(self.stepped_down),
            s(self.fenced)
        )
    }
}

/// The figures of a partition made at `from`: `majority` are node names,
/// `minority` the `(node name, member id)` of each minority node then.
pub fn minority_figures(
    h: &History,
    from: Time,
    majority: &[String],
    minority: &[(String, String)],
) -> MinorityFigures {
    let latest = |v: Vec<Option<Time>>| -> Option<f64> {
        v.into_iter()
            .try_fold(0.0f64, |m, t| t.map(|t| m.max(t - from)))
    };
    let shown_down = |node: &str, id: &str| {
        h.downs
            .iter()
            .filter(|d| d.t >= from && d.node == node && d.member == id)
            .map(|d| d.t)
            .reduce(f64::min)
    };
    let decision = latest(
        majority
            .iter()
            .flat_map(|n| minority.iter().map(move |(_, id)| shown_down(n, id)))
            .collect(),
    );
    // The first sample of `node` at or after the partition where `cond`
    // holds of its view.
    let first = |node: &str, cond: &dyn Fn(&super::checker::View) -> bool| {
        h.samples
            .iter()
            .filter(|s| s.t >= from && s.node == node)
            .find(|s| s.view.as_ref().is_some_and(cond))
            .map(|s| s.t)
    };
    let stepped_down = latest(
        minority
            .iter()
            .map(|(n, id)| first(n, &|v| v.leader.is_none() || &v.self_id != id))
            .collect(),
    );
    let fenced = latest(
        minority
            .iter()
            .map(|(n, id)| first(n, &|v| &v.self_id != id || v.own_status() != Some("up")))
            .collect(),
    );
    MinorityFigures {
        decision,
        stepped_down,
        fenced,
    }
}
