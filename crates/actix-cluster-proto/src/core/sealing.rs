//! Sealing: the keyring a running core installs, rotates and removes keys
//! in, the sealer with its per-process nonce salt, and how many bytes a
//! message may have before sealing adds its overhead.

use tracing::info;

use super::Core;
use crate::codec::{self, Key, KeyId, Sealer};
use crate::error::{ConfigError, KeyError};

impl Core {
    /// Installs `key` in the keyring for opening (see [`crate::Keyring`]);
    /// a node without keys gets a keyring of this one key and then seals and
    /// verifies as `seal_outgoing` and `verify_incoming` say.
    pub fn install_key(&mut self, key: Key) -> Result<KeyId, KeyError> {
        if self.sealer.is_none() {
            self.sealer = Some(new_sealer().map_err(|_| KeyError::NoKeyring)?);
        }
        let id = match &mut self.config.keyring {
            Some(ring) => ring.install(key)?,
            None => {
                let id = key.id();
                self.config.keyring = Some(codec::Keyring::new(key));
                id
            }
        };
        info!(member = %self.local, key = %id, "key installed");
        Ok(id)
    }

    /// Makes the installed key `id` the one that seals.
    pub fn use_primary(&mut self, id: KeyId) -> Result<(), KeyError> {
        let ring = self.config.keyring.as_mut().ok_or(KeyError::NoKeyring)?;
        ring.use_primary(id)?;
        info!(member = %self.local, key = %id, "primary key changed");
        Ok(())
    }

    /// Removes the installed key `id` (not the primary): what it sealed no
    /// longer opens here.
    pub fn remove_key(&mut self, id: KeyId) -> Result<(), KeyError> {
        let ring = self.config.keyring.as_mut().ok_or(KeyError::NoKeyring)?;
        ring.remove(id)?;
        info!(member = %self.local, key = %id, "key removed");
        Ok(())
    }

    /// The installed keys (`None` without keys): for channels sealed with
    /// the same keyring, such as the remote actors' transport.
    pub fn keyring(&self) -> Option<&codec::Keyring> {
        self.config.keyring.as_ref()
    }

    /// The ids of the installed keys, the primary first (empty without keys).
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.config
            .keyring
            .as_ref()
            .map(codec::Keyring::ids)
            .unwrap_or_default()
    }

    /// Whether what we send is sealed (and so [`codec::SEAL_OVERHEAD`]
    /// bytes longer than what we build).
    pub(super) fn sealing(&self) -> bool {
        self.config.keyring.is_some() && self.config.seal_outgoing
    }

    /// The most bytes a datagram we build may have before sealing.
    pub(super) fn datagram_budget(&self) -> usize {
        let seal = if self.sealing() {
            codec::SEAL_OVERHEAD
        } else {
            0
        };
        self.config.max_datagram_size - seal
    }

    /// The most bytes a stream frame we build may have before sealing.
    pub(super) fn frame_budget(&self) -> usize {
        let seal = if self.sealing() {
            codec::SEAL_OVERHEAD
        } else {
            0
        };
        self.config.max_frame_size - seal
    }
}

/// A sealer with a nonce salt from the operating system's random source: the
/// one input the core takes from outside its arguments, since two cores must
/// never share a salt (a seeded RNG would repeat it in two processes).
pub(super) fn new_sealer() -> Result<Sealer, ConfigError> {
    use rand::RngCore;
    let mut salt = [0u8; codec::SALT_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| ConfigError {
            field: "keyring",
            reason: format!("no random nonce salt from the operating system: {e}"),
        })?;
    Ok(Sealer::new(salt))
}
