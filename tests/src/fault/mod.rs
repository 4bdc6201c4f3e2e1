//! The fault tier: real faults on real processes. Five `cluster-monitor`
//! nodes and a 3-member etcd, each in its own network namespace on a private
//! bridge ([`net`]); a nemesis that partitions, cuts, drops, pauses, kills and
//! stops etcd ([`cluster`]); a recorder of what every node shows ([`record`]);
//! a pure history checker ([`checker`]), the singleton rule
//! ([`singleton`]), and the hard cases ([`hard_cases`]: a lossy node, how
//! fast a minority steps down and fences). The scenarios are in
//! `tests/tests/fault_tier.rs`; docs/FAULTS.md has their results.

pub mod checker;
pub mod cluster;
pub mod hard_cases;
pub mod net;
pub mod record;
pub mod singleton;
