//! Sealed messages: XChaCha20-Poly1305 over everything after the header, with
//! the header (magic, version, flags, key id, cluster name, nonce) as
//! associated data. See `docs/PROTOCOL.md`, "Sealed messages".
//!
//! ```text
//! magic "AC" | version u8 | flags u8 (= 0x03) | key id u32 | cluster name (u8 len + bytes)
//! | nonce 16 | ciphertext of (kind | sender | body) | tag 16
//! ```
//!
//! The wire nonce is `salt (8 bytes) | counter (u64, big-endian)`, and the
//! cipher's 24-byte nonce is the wire nonce followed by 8 zero bytes. The salt
//! is drawn from the operating system once per [`Sealer`] (one per `Core`),
//! the counter never goes back, so a nonce never repeats under a key as long
//! as two sealers never draw the same salt (probability about k^2 / 2^65 for
//! k process starts with one key: 2^-25 after 2^20 starts).

use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use super::{FLAG_AUTHENTICATED, FLAG_ENCRYPTED, MAGIC, VERSION};
use crate::error::{ConfigError, DecodeError, KeyError};

/// Length of a key, in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the cipher's (XChaCha20) nonce, in bytes.
const CIPHER_NONCE_LEN: usize = 24;
/// Length of the nonce on the wire, in bytes: the first bytes of the cipher's
/// nonce, the rest of which is zero.
pub(crate) const NONCE_LEN: usize = 16;
/// Length of the authentication tag, in bytes.
pub(crate) const TAG_LEN: usize = 16;
/// Length of the nonce salt, in bytes (the rest of the wire nonce is the
/// counter).
pub(crate) const SALT_LEN: usize = 8;
/// Bytes a sealed message has beyond its plaintext form: key id, nonce, tag.
pub const SEAL_OVERHEAD: usize = 4 + NONCE_LEN + TAG_LEN;
/// Most keys a keyring holds (a rotation needs two; a few spare).
pub const MAX_KEYS: usize = 16;
/// Both header flags of a sealed message.
pub(crate) const FLAGS_SEALED: u8 = FLAG_AUTHENTICATED | FLAG_ENCRYPTED;
/// The nonce of the key id derivation: it ends in `0xff` bytes where every
/// message's cipher nonce ends in zeros, so it is never a message's nonce.
const KEY_ID_NONCE: [u8; CIPHER_NONCE_LEN] = *b"actix-cluster id\xff\xff\xff\xff\xff\xff\xff\xff";

/// Names a key on the wire: derived from the key itself (the first four
/// bytes of the tag of an empty message under a fixed nonce), so every node
/// that has the key computes the same id without configuration, and the id
/// says nothing about the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 32-byte cluster key. `Debug` shows only its id.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    bytes: [u8; KEY_LEN],
    id: KeyId,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

impl Key {
    /// A key from its 32 bytes (draw them from the operating system's random
    /// source).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        let cipher = XChaCha20Poly1305::new(&bytes.into());
        let mut empty = [0u8; 0];
        let tag = cipher
            .encrypt_in_place_detached(XNonce::from_slice(&KEY_ID_NONCE), b"", &mut empty)
            .expect("an empty message is within the cipher's limits");
        let id = KeyId(u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]));
        Key { bytes, id }
    }

    /// A key from standard base64 (with or without padding) of exactly 32
    /// bytes. The error names `field` (e.g. `CLUSTER_SECRET_KEYS`) and never
    /// repeats the input.
    pub fn from_base64(field: &'static str, text: &str) -> Result<Key, ConfigError> {
        let text = text.trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| ConfigError {
                field,
                reason: "a key is not valid base64 (generate one with `cluster-monitor keygen` \
                         or `head -c 32 /dev/urandom | base64`)"
                    .into(),
            })?;
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| ConfigError {
            field,
            reason: format!(
                "a key decodes to {} bytes; keys are {KEY_LEN} bytes",
                decoded.len()
            ),
        })?;
        Ok(Key::from_bytes(bytes))
    }

    /// The key as standard base64 (what [`Key::from_base64`] reads).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    /// The key's id, as written in the header of what it seals.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key's bytes, for deriving the keys of other channels sealed with
    /// the same keyring (the remote actors' transport derives a key per
    /// connection from it). Never log or send them.
    pub fn secret(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

/// The keys of a cluster: the primary seals, every installed key opens.
/// Rotation: install the new key on every node, make it primary on every
/// node, then remove the old one (see the README, "Security").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    /// The primary first; at most [`MAX_KEYS`], ids distinct.
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring of one key, the primary.
    pub fn new(primary: Key) -> Keyring {
        Keyring {
            keys: vec![primary],
        }
    }

    /// A keyring of `keys`, the first one primary. The error names `field`.
    pub fn from_keys(field: &'static str, keys: Vec<Key>) -> Result<Keyring, ConfigError> {
        let mut it = keys.into_iter();
        let Some(primary) = it.next() else {
            return Err(ConfigError {
                field,
                reason: "no key given".into(),
            });
        };
        let mut ring = Keyring::new(primary);
        for k in it {
            ring.install(k).map_err(|e| ConfigError {
                field,
                reason: e.to_string(),
            })?;
        }
        Ok(ring)
    }

    /// Parses comma-separated base64 keys, the first one primary (the demo's
    /// `CLUSTER_SECRET_KEYS`). Blank entries are skipped. The error names
    /// `field` and which key (counting from 1) is wrong.
    pub fn parse(field: &'static str, text: &str) -> Result<Keyring, ConfigError> {
        let mut keys = Vec::new();
        for (i, part) in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let key = Key::from_base64(field, part).map_err(|e| ConfigError {
                field,
                reason: format!("key {}: {}", i + 1, e.reason),
            })?;
            keys.push(key);
        }
        Keyring::from_keys(field, keys)
    }

    /// The key that seals.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// The ids of all installed keys, the primary first.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(Key::id).collect()
    }

    /// Installs `key` for opening (installing a key already there does
    /// nothing). Refused when the ring is full or another key has its id.
    pub fn install(&mut self, key: Key) -> Result<KeyId, KeyError> {
        let id = key.id();
        if let Some(k) = self.get(id) {
            return if k == &key {
                Ok(id)
            } else {
                Err(KeyError::IdCollision(id))
            };
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(KeyError::Full(MAX_KEYS));
        }
        self.keys.push(key);
        Ok(id)
    }

    /// Makes the installed key `id` the primary.
    pub fn use_primary(&mut self, id: KeyId) -> Result<(), KeyError> {
        let i = self
            .keys
            .iter()
            .position(|k| k.id() == id)
            .ok_or(KeyError::Unknown(id))?;
        self.keys.swap(0, i);
        Ok(())
    }

    /// Removes the installed key `id`; the primary cannot be removed.
    pub fn remove(&mut self, id: KeyId) -> Result<(), KeyError> {
        if self.primary().id() == id {
            return Err(KeyError::Primary(id));
        }
        let i = self
            .keys
            .iter()
            .position(|k| k.id() == id)
            .ok_or(KeyError::Unknown(id))?;
        self.keys.remove(i);
        Ok(())
    }

    /// The installed key with this id, if any.
    pub fn get(&self, id: KeyId) -> Option<&Key> {
        self.keys.iter().find(|k| k.id() == id)
    }
}

/// Seals messages of one core: the nonce salt and counter.
#[derive(Debug)]
pub(crate) struct Sealer {
    salt: [u8; SALT_LEN],
    counter: u64,
}

impl Sealer {
    /// A sealer whose nonces start with `salt` (draw it from the operating
    /// system: two sealers with one salt would repeat nonces).
    pub(crate) fn new(salt: [u8; SALT_LEN]) -> Sealer {
        Sealer { salt, counter: 0 }
    }

    /// Seals `plain`, a whole plaintext message whose header (magic, version,
    /// flags, cluster name) is `prefix_len` bytes long, with the primary key.
    /// `None` only when the counter is exhausted (2^64 - 1 messages).
    pub(crate) fn seal(
        &mut self,
        keys: &Keyring,
        plain: &[u8],
        prefix_len: usize,
    ) -> Option<Vec<u8>> {
        if self.counter == u64::MAX || prefix_len < 5 || plain.len() < prefix_len {
            return None;
        }
        self.counter += 1;
        let mut nonce = [0u8; CIPHER_NONCE_LEN];
        nonce[..SALT_LEN].copy_from_slice(&self.salt);
        nonce[SALT_LEN..NONCE_LEN].copy_from_slice(&self.counter.to_be_bytes());
        let key = keys.primary();
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(FLAGS_SEALED);
        out.extend_from_slice(&key.id().0.to_be_bytes());
        // The cluster name, as in the plaintext header (length byte + bytes).
        out.extend_from_slice(&plain[4..prefix_len]);
        out.extend_from_slice(&nonce[..NONCE_LEN]);
        let ad_len = out.len();
        out.extend_from_slice(&plain[prefix_len..]);
        let (ad, body) = out.split_at_mut(ad_len);
        let tag = key
            .cipher()
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), ad, body)
            .ok()?;
        out.extend_from_slice(&tag);
        Some(out)
    }
}

/// What a received message is once its header is read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened<'a> {
    /// A plaintext message: the bytes after its header (kind, sender, body).
    Plain(&'a [u8]),
    /// A sealed message that opened: its plaintext (kind, sender, body).
    Sealed(Vec<u8>),
}

/// Reads the header of `bytes` (at most `limit` long) of cluster
/// `cluster_name` and opens it when sealed, with any key of `keys`. Checks, in
/// order: size, magic, version, flags, (key id), cluster name, then the tag.
/// Never panics; allocates at most one copy of the input.
pub(crate) fn open<'a>(
    bytes: &'a [u8],
    cluster_name: &str,
    limit: usize,
    keys: Option<&Keyring>,
) -> Result<Opened<'a>, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let need = |n: usize, have: usize| DecodeError::Truncated { needed: n - have };
    if bytes.len() < 4 {
        return Err(need(4, bytes.len()));
    }
    if bytes[..2] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if bytes[2] != VERSION {
        return Err(DecodeError::UnsupportedVersion(bytes[2]));
    }
    let flags = bytes[3];
    let sealed = match flags {
        0 => false,
        FLAGS_SEALED => true,
        f if f & !FLAGS_SEALED == 0 => {
            return Err(DecodeError::Malformed(
                "authenticated and encrypted go together",
            ))
        }
        _ => return Err(DecodeError::Malformed("unknown header flags")),
    };
    let mut pos = 4;
    let key_id = if sealed {
        let Some(b) = bytes.get(pos..pos + 4) else {
            return Err(DecodeError::Unauthenticated("sealed message truncated"));
        };
        pos += 4;
        Some(KeyId(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    } else {
        None
    };
    let Some(&n) = bytes.get(pos) else {
        return Err(need(pos + 1, bytes.len()));
    };
    let n = usize::from(n);
    pos += 1;
    let Some(name) = bytes.get(pos..pos + n) else {
        return Err(need(pos + n, bytes.len()));
    };
    if name != cluster_name.as_bytes() {
        return Err(DecodeError::WrongCluster(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    pos += n;
    match key_id {
        None => Ok(Opened::Plain(&bytes[pos..])),
        Some(key_id) => unseal(bytes, pos, key_id, keys).map(Opened::Sealed),
    }
}

/// Opens the sealed message `bytes` whose header (key id included) ends at
/// `header_len`: the nonce follows, then the ciphertext and the tag.
fn unseal(
    bytes: &[u8],
    header_len: usize,
    key_id: KeyId,
    keys: Option<&Keyring>,
) -> Result<Vec<u8>, DecodeError> {
    let Some(keys) = keys else {
        return Err(DecodeError::Unauthenticated(
            "sealed message, but this node has no keys",
        ));
    };
    let ad_len = header_len + NONCE_LEN;
    if bytes.len() < ad_len + TAG_LEN {
        return Err(DecodeError::Unauthenticated("sealed message truncated"));
    }
    let Some(key) = keys.get(key_id) else {
        return Err(DecodeError::Unauthenticated(
            "sealed with a key not installed",
        ));
    };
    let (ad, rest) = bytes.split_at(ad_len);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut nonce = [0u8; CIPHER_NONCE_LEN];
    nonce[..NONCE_LEN].copy_from_slice(&ad[header_len..]);
    let nonce = XNonce::from_slice(&nonce);
    let mut plain = ct.to_vec();
    key.cipher()
        .decrypt_in_place_detached(nonce, ad, &mut plain, Tag::from_slice(tag))
        .map_err(|_| DecodeError::Unauthenticated("sealed message does not open"))?;
    Ok(plain)
}
