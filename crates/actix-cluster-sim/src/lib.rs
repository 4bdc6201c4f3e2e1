//! Deterministic simulator for the actix-cluster membership protocol.
//!
//! [`Sim`] runs many protocol nodes (any [`SimNode`]: our [`CoreNode`], or another
//! SWIM implementation through an adapter) on a simulated network in virtual
//! time. Everything comes from one seed: the network's RNG (jitter, loss) and each
//! node's RNG seed are derived from it, and one priority queue ordered by
//! (time, sequence number) decides what happens next. No wall clock, no threads.
//!
//! The network model ([`NetConfig`]): per-link latency plus jitter, uniform or
//! bursty ([`GilbertElliott`]) datagram loss, partitions and one-way cuts; stream
//! frames are reliable and ordered per link unless the link is cut. Node faults:
//! pause (a stalled process: inputs and timers queue until it resumes), crash,
//! restart (a new instance on the same address), graceful leave, a node that
//! hears nobody ([`Sim::cut_inbound`]) and a node that loses part of its
//! traffic ([`Sim::set_node_loss`]).
//!
//! [`DowningCheck`] watches a whole run of our cores for the downing
//! decision's promises (nobody healthy downed, the cut-off side downed in
//! time, never two sides with a leader, one id each at the end); the module
//! [`downing_scenarios`] holds the fault scenarios it judges, shared by the tests and
//! the benchmark report (the `actix-cluster-bench` crate).
//!
//! ```
//! use std::time::Duration;
//! use actix_cluster_sim::{CoreOpts, NetConfig, Sim};
//! use actix_cluster_proto::Config;
//!
//! let mut sim = Sim::new(7, NetConfig::default()).unwrap();
//! let nodes = sim
//!     .start_cluster(10, 1, &CoreOpts::with_config(Config::local()))
//!     .unwrap();
//! let converged = sim.run_until_condition(Duration::from_secs(30), |s| s.all_see_up());
//! assert!(converged.is_some());
//! sim.crash(nodes[3]).unwrap();
//! let at = sim.run_until_condition(Duration::from_secs(90), |s| s.all_see_down(nodes[3]));
//! println!("crash seen down everywhere at {at:?}");
//! ```
//!
//! Scenario scripts (a small text format, see [`run_script`]) drive the same API.
//!
//! Every item of the simulator is exported here, at the crate root, and only
//! here (the downing scenarios as the module [`downing_scenarios`]). The feature
//! `serde` makes the downing summaries serializable.

mod sim;

pub use crate::sim::check::{DowningCheck, DowningReport};
pub use crate::sim::core_node::{CoreNode, CoreOpts, Start};
pub use crate::sim::downing_scenarios;
pub use crate::sim::engine::{
    derive_seed, node_addr, LogEntry, NodeState, NodeStats, Sim, ViewState,
};
pub use crate::sim::error::SimError;
pub use crate::sim::net::{GilbertElliott, Loss, NetConfig};
pub use crate::sim::node::{SimEvent, SimNode, SimOutput};
pub use crate::sim::script::{run_script, Outcome, ScriptReport};
