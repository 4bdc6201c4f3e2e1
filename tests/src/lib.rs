//! Integration tests that need etcd or docker: see tests/tests/.
//!
//! The shared harness: [`etcd::Etcd`] starts a private etcd (docker container
//! or local process) per test; [`node::Node`] runs a cluster node with etcd
//! discovery as a child process; [`fault`] is the fault tier's harness
//! (network namespaces, nemesis, history checker).

pub mod demo;
pub mod etcd;
pub mod fault;
pub mod metrics;
pub mod node;

/// The README's Rust examples, compiled (and, unless marked `no_run`, run) as
/// doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

/// The guides' Rust examples under `docs/`, doctested the same way.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../docs/USAGE.md")]
    struct Usage;
    #[doc = include_str!("../../docs/OPERATING.md")]
    struct Operating;
    #[doc = include_str!("../../docs/TESTING.md")]
    struct Testing;
    #[doc = include_str!("../../docs/REMOTE.md")]
    struct Remote;
}

/// The library crates' READMEs (their crates.io pages), doctested the same way.
#[cfg(doctest)]
mod crate_readmes {
    #[doc = include_str!("../../crates/actix-cluster-proto/README.md")]
    struct Proto;
    #[doc = include_str!("../../crates/actix-cluster/README.md")]
    struct Cluster;
    #[doc = include_str!("../../crates/actix-cluster-etcd/README.md")]
    struct Etcd;
    #[doc = include_str!("../../crates/actix-cluster-sim/README.md")]
    struct Sim;
    #[doc = include_str!("../../crates/actix-cluster-remote/README.md")]
    struct Remote;
}
