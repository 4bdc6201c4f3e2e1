//! The simulator: engine, network model, node interface, our core's adapter and
//! scenario scripts.

pub(crate) mod check;
pub(crate) mod core_node;
pub mod downing_scenarios;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod hash;
pub(crate) mod net;
pub(crate) mod node;
pub(crate) mod script;
