//! Messages that can cross the network: a stable name, a version and a reply type.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A message type that can be sent to an actor on another member.
///
/// The name is the message's identity on the wire, not its Rust path: renaming
/// or moving the type keeps it compatible as long as `NAME` stays. `VERSION`
/// names the payload's layout; see `docs/REMOTE.md` for the evolution rules
/// (the payload format is positional, so any change of fields is a new
/// version).
///
/// Implement it with [`remote_message!`](crate::remote_message).
pub trait RemoteMessage: Serialize + DeserializeOwned + Send + 'static {
    /// The stable name of the type on the wire, unique in the cluster.
    const NAME: &'static str;
    /// The version of the payload's layout.
    const VERSION: u16;
    /// What an ask of this message answers with (`()` for tell-only messages).
    type Reply: Serialize + DeserializeOwned + Send + 'static;

    /// The tag that names this type and version in an envelope.
    fn tag() -> TypeTag {
        TypeTag::of(Self::NAME, Self::VERSION)
    }
}

/// What an envelope carries to name its payload's type: a 32-bit hash of the
/// stable name and the version. Six bytes instead of the name itself on every
/// message; a registry of handlers refuses two names with one hash, so a
/// collision is found when the handler is registered, never on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeTag {
    /// FNV-1a of the name's bytes.
    pub name_hash: u32,
    /// The version.
    pub version: u16,
}

impl TypeTag {
    /// The tag of a name and version.
    pub const fn of(name: &str, version: u16) -> Self {
        TypeTag {
            name_hash: fnv1a(name.as_bytes()),
            version,
        }
    }
}

/// FNV-1a, 32 bits: stable across builds, platforms and Rust versions (which
/// `std`'s hashers do not promise), and computable in a `const fn`.
const fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}

/// Makes a type a [`RemoteMessage`].
///
/// ```
/// use actix_cluster_remote::{remote_message, RemoteMessage};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Ping { seq: u64 }
///
/// remote_message!(Ping => u64, name = "demo.Ping", version = 1);
/// assert_eq!(<Ping as RemoteMessage>::NAME, "demo.Ping");
/// ```
#[macro_export]
macro_rules! remote_message {
    ($ty:ty => $reply:ty, name = $name:expr, version = $version:expr) => {
        impl $crate::RemoteMessage for $ty {
            const NAME: &'static str = $name;
            const VERSION: u16 = $version;
            type Reply = $reply;
        }
    };
    ($ty:ty, name = $name:expr, version = $version:expr) => {
        $crate::remote_message!($ty => (), name = $name, version = $version);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn a_tag_differs_by_name_and_by_version() {
        let a = TypeTag::of("demo.Ping", 1);
        assert_eq!(a, TypeTag::of("demo.Ping", 1));
        assert_ne!(a, TypeTag::of("demo.Ping", 2));
        assert_ne!(a, TypeTag::of("demo.Pong", 1));
    }
}
