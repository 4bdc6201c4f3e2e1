//! The simulator: engine, network model, node interface, our core's adapter and
//! scenario scripts.

pub mod core_node;
pub mod engine;
pub mod error;
pub mod hash;
pub mod net;
pub mod node;
pub mod script;
