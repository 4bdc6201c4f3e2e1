//! What the managers of one singleton tell each other, over the remote
//! layer: starts, stops and handovers of the instance.

use actix::prelude::*;
use actix_cluster_remote::{ActorAddr, ServiceKey};
use serde::{Deserialize, Serialize};

/// A message from one manager to another; answers `true` when handled
/// (for [`News::Running`]: whether an instance runs or stops there).
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "bool")]
pub(crate) struct Peer {
    /// The sending manager (its member is the news' subject).
    pub(crate) from: ActorAddr,
    /// What happened.
    pub(crate) news: News,
}

actix_cluster_remote::remote_message!(Peer => bool, name = "actix-cluster-tools.singleton.Peer", version = 1);

/// The news a manager sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum News {
    /// The instance started on the sender's member (with this token).
    Started {
        /// The fencing token, with a claim.
        token: Option<i64>,
    },
    /// The sender's instance has stopped (`retire`: and the sender never
    /// hosts again: it is leaving).
    Stopped {
        /// The sender leaves.
        retire: bool,
    },
    /// The sender hands over: pause the proxies (answered once paused), its
    /// `Stopped` follows.
    Retiring,
    /// Does an instance run (or stop) on the receiver's member?
    Running,
}

/// The key under which the managers of singleton `name` are listed.
pub(crate) fn managers_key(name: &str) -> ServiceKey<Peer> {
    ServiceKey::named(format!("actix-cluster-tools.singleton/{name}/managers"))
}
