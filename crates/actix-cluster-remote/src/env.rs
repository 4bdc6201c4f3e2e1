//! What the connection tasks share: the shared state, the settings, the
//! keyring as the `Cluster` has it, and the way to tell the `Remote` actor
//! about connections and control messages. Below the sessions and the actor,
//! so that neither imports the other.

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use actix_cluster_proto::{Keyring, MemberId};

use crate::config::RemoteConfig;
use crate::control::Control;
use crate::shared::Shared;

/// From a session: a connection opened (`control` is `None`) or a control
/// message arrived.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FromPeer {
    pub(crate) member: MemberId,
    pub(crate) control: Option<Control>,
}

/// What every session needs.
pub(crate) struct Env {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: RemoteConfig,
    pub(crate) cluster_name: String,
    pub(crate) remote: Recipient<FromPeer>,
    pub(crate) keyring: Mutex<Option<Keyring>>,
}

impl Env {
    pub(crate) fn keyring(&self) -> Option<Keyring> {
        self.keyring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Follows the cluster's keyring (rotation).
    pub(crate) fn set_keyring(&self, keyring: Option<Keyring>) {
        *self.keyring.lock().unwrap_or_else(|e| e.into_inner()) = keyring;
    }
}
