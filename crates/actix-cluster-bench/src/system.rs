//! The systems under comparison, behind one small trait so every scenario runs
//! them the same way on the same simulated network.

use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::Config;

use crate::foca_node::{self, FocaNode, Watch};
use actix_cluster_sim::{CoreNode, CoreOpts, Sim, SimError, SimNode, Start};

/// Which system a figure is for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum SystemKind {
    /// Our core with `Config::lan()`.
    Ours,
    /// Our core with Lifeguard off (plain SWIM).
    PlainSwim,
    /// foca 2 with `Config::new_lan(N)`.
    Foca,
}

impl SystemKind {
    /// All three, in table order.
    pub const ALL: [SystemKind; 3] = [SystemKind::Ours, SystemKind::PlainSwim, SystemKind::Foca];

    /// Column label.
    pub fn label(self) -> &'static str {
        match self {
            SystemKind::Ours => "ours lan()",
            SystemKind::PlainSwim => "ours, Lifeguard off",
            SystemKind::Foca => "foca 2 new_lan(N)",
        }
    }

    /// Short label for file names and CLI.
    pub fn short(self) -> &'static str {
        match self {
            SystemKind::Ours => "ours",
            SystemKind::PlainSwim => "plain",
            SystemKind::Foca => "foca",
        }
    }

    /// Parses [`SystemKind::short`].
    pub fn from_short(s: &str) -> Option<SystemKind> {
        SystemKind::ALL.into_iter().find(|k| k.short() == s)
    }
}

/// A membership implementation the benchmark can drive.
pub trait BenchSystem {
    /// Its simulator node.
    type Node: SimNode + 'static;

    /// Which one it is.
    fn kind(&self) -> SystemKind;

    /// Starts a node at `addr` now: it forms a cluster when `seeds` is empty,
    /// else joins through `seeds`. `cluster_size` is the expected size (for
    /// configurations that depend on it).
    fn spawn(
        &self,
        sim: &mut Sim<Self::Node>,
        addr: SocketAddr,
        seeds: &[SocketAddr],
        cluster_size: usize,
    ) -> Result<(), SimError>;

    /// Suspicions this node raised so far (its own probes failed).
    fn suspicions_raised(node: &Self::Node) -> u64;

    /// Members this node has in its table (for memory accounting).
    fn table_len(node: &Self::Node) -> usize;

    /// Whether it publishes suspicion (unreachable) events.
    fn reports_unreachable(&self) -> bool {
        true
    }

    /// Asks a node to report suspicion of `target` (only needed by adapters
    /// that cannot publish it for free).
    fn watch(sim: &mut Sim<Self::Node>, node: SocketAddr, target: Option<SocketAddr>) {
        let _ = (sim, node, target);
    }
}

/// Our core with a given configuration.
#[derive(Clone, Debug)]
pub struct Ours {
    /// Which variant (Ours or PlainSwim).
    pub kind: SystemKind,
    /// The configuration every node gets.
    pub config: Config,
}

impl Ours {
    /// `Config::lan()`.
    pub fn lan() -> Ours {
        Ours {
            kind: SystemKind::Ours,
            config: Config::lan(),
        }
    }

    /// `Config::lan()` with Lifeguard off.
    pub fn plain() -> Ours {
        let mut config = Config::lan();
        config.lifeguard = false;
        Ours {
            kind: SystemKind::PlainSwim,
            config,
        }
    }

    /// The same with another suspicion multiplier (for the sweep).
    pub fn with_suspicion_mult(mut self, mult: u32) -> Ours {
        self.config.suspicion_mult = mult;
        self
    }
}

impl BenchSystem for Ours {
    type Node = CoreNode;

    fn kind(&self) -> SystemKind {
        self.kind
    }

    fn spawn(
        &self,
        sim: &mut Sim<CoreNode>,
        addr: SocketAddr,
        seeds: &[SocketAddr],
        _cluster_size: usize,
    ) -> Result<(), SimError> {
        let opts = CoreOpts {
            config: self.config.clone(),
            record_events: false,
            ..CoreOpts::default()
        };
        let start = if seeds.is_empty() {
            Start::Form
        } else {
            Start::Join(seeds.to_vec())
        };
        sim.spawn_core(addr, &opts, start).map(|_| ())
    }

    fn suspicions_raised(node: &CoreNode) -> u64 {
        node.core().stats().suspicions_raised
    }

    fn table_len(node: &CoreNode) -> usize {
        node.core().members().len()
    }
}

/// foca with its LAN configuration for the cluster size, optionally with
/// another suspicion multiplier.
#[derive(Clone, Debug, Default)]
pub struct Foca {
    /// `None`: foca's own `new_lan` (multiplier 4).
    pub suspicion_mult: Option<f64>,
}

impl BenchSystem for Foca {
    type Node = FocaNode;

    fn kind(&self) -> SystemKind {
        SystemKind::Foca
    }

    fn spawn(
        &self,
        sim: &mut Sim<FocaNode>,
        addr: SocketAddr,
        seeds: &[SocketAddr],
        cluster_size: usize,
    ) -> Result<(), SimError> {
        let config = match self.suspicion_mult {
            None => foca_node::lan_config(cluster_size),
            Some(m) => foca_node::lan_config_with_suspicion_mult(cluster_size, m),
        };
        let slot = sim.len();
        // Generations increase with start time, like our cores'.
        let generation = (sim.now().as_micros() as u64 + 1) << 12;
        let mut node = FocaNode::new(addr, generation, sim.node_seed(slot, 0), config);
        node.join(seeds);
        sim.add_node(addr, node)
    }

    fn suspicions_raised(node: &FocaNode) -> u64 {
        node.stats().suspicions_raised
    }

    fn table_len(node: &FocaNode) -> usize {
        node.table_len()
    }

    fn watch(sim: &mut Sim<FocaNode>, node: SocketAddr, target: Option<SocketAddr>) {
        let w = match target {
            Some(t) => Watch::One(t),
            None => Watch::Nothing,
        };
        let _ = sim.with_node(node, |n, _| n.set_watch(w));
    }
}

/// The default probe period of each system (for reporting).
pub fn probe_period(kind: SystemKind) -> Duration {
    match kind {
        SystemKind::Ours | SystemKind::PlainSwim => Config::lan().probe_interval,
        SystemKind::Foca => foca_node::lan_config(100).probe_period,
    }
}
