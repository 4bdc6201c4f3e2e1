//! What members tell each other on the control lane: death watch and
//! registry records. Small, and never held up by ordinary messages.

use serde::{Deserialize, Serialize};

use crate::reference::ActorId;
use crate::registry::RegistryRecord;

/// Names a watch: chosen by the watching member, unique there.
pub type WatchId = u64;

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Control {
    /// Watch `actor` on the receiving member. Idempotent, so that a watcher
    /// can repeat its watches on every new connection.
    Watch { id: WatchId, actor: ActorId },
    /// Forget a watch.
    Unwatch { id: WatchId },
    /// The watched actor stopped (or never existed): the watch is over.
    Terminated { id: WatchId, existed: bool },
    /// The sender's registry record.
    Record(RegistryRecord),
}

/// The tag of control envelopes (no user type uses this name).
pub(crate) const CONTROL_TAG: crate::TypeTag = crate::TypeTag::of("actix-cluster.control", 1);
