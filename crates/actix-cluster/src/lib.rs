//! Cluster membership for Actix actors.
//!
//! (Crate-level tutorial with a doctest to be written with the actor.)

mod cluster;
mod config;
mod error;
mod messages;

pub use crate::cluster::Cluster;
pub use crate::config::ClusterConfig;
pub use crate::error::ClusterError;
pub use crate::messages::{
    ClusterEvent, Form, GetLeader, GetMembers, GetSelf, Join, Leave, MemberDown, MemberUp,
    SelfInfo, Subscribe, UpdateMetadata,
};
pub use actix_cluster_proto::{
    Config as ProtocolConfig, DownReason, Event, MemberId, MemberInfo, Status,
};
