//! References to actors on some member of the cluster.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::net::SocketAddr;

use actix_cluster_proto::MemberId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::message::RemoteMessage;

/// An actor's number on its own member, unique for the life of the process
/// (never reused, so a stale reference can only miss, never reach another
/// actor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActorId(pub u64);

/// Where an actor lives: its member (with the generation, so a restarted
/// process is another target) and its number there. The untyped form of
/// [`RemoteRef`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorAddr {
    /// The member the actor runs on.
    pub member: MemberId,
    /// The actor on that member.
    pub actor: ActorId,
}

impl fmt::Debug for ActorAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.member, self.actor.0)
    }
}

impl fmt::Display for ActorAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The wire form of an actor address. A member id is written as its parts so
/// that the receiver rebuilds the very same id (generation included).
#[derive(Serialize, Deserialize)]
struct WireAddr {
    name: String,
    addr: SocketAddr,
    generation: u64,
    actor: u64,
}

impl Serialize for ActorAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireAddr {
            name: self.member.name.clone(),
            addr: self.member.addr,
            generation: self.member.generation,
            actor: self.actor.0,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ActorAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireAddr::deserialize(d)?;
        Ok(ActorAddr {
            member: MemberId::new(w.name, w.addr, w.generation),
            actor: ActorId(w.actor),
        })
    }
}

/// A typed reference to an actor that handles `M`, on this member or another.
///
/// It is plain data: it can be cloned, compared, hashed, and sent inside
/// other messages (e.g. as a reply-to), and it stays valid only as long as
/// its actor and its member's process live.
pub struct RemoteRef<M> {
    addr: ActorAddr,
    _message: PhantomData<fn() -> M>,
}

impl<M: RemoteMessage> RemoteRef<M> {
    /// A reference to the actor at `addr`. The caller asserts that it handles
    /// `M`; a wrong assertion is answered by the receiver with an unknown-type
    /// failure, never a misread payload (the envelope names the type).
    pub fn new(addr: ActorAddr) -> Self {
        RemoteRef {
            addr,
            _message: PhantomData,
        }
    }
}

impl<M> RemoteRef<M> {
    /// The untyped address.
    pub fn addr(&self) -> &ActorAddr {
        &self.addr
    }

    /// The member the actor runs on.
    pub fn member(&self) -> &MemberId {
        &self.addr.member
    }
}

impl<M> Clone for RemoteRef<M> {
    fn clone(&self) -> Self {
        RemoteRef {
            addr: self.addr.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> PartialEq for RemoteRef<M> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

impl<M> Eq for RemoteRef<M> {}

impl<M> Hash for RemoteRef<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr.hash(state);
    }
}

impl<M> fmt::Debug for RemoteRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteRef({:?})", self.addr)
    }
}

impl<M> Serialize for RemoteRef<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.addr.serialize(s)
    }
}

impl<'de, M> Deserialize<'de> for RemoteRef<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RemoteRef {
            addr: ActorAddr::deserialize(d)?,
            _message: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload;

    #[derive(Serialize, Deserialize)]
    struct Hello {
        reply_to: RemoteRef<Hello>,
        text: String,
    }
    crate::remote_message!(Hello, name = "t.Hello", version = 1);

    #[test]
    fn a_reference_travels_inside_a_message_and_keeps_its_generation() {
        let member = MemberId::new("n1", "127.0.0.1:7001".parse().unwrap(), 0xfeed);
        let r = RemoteRef::<Hello>::new(ActorAddr {
            member: member.clone(),
            actor: ActorId(7),
        });
        let bytes = payload::encode(&Hello {
            reply_to: r.clone(),
            text: "hi".into(),
        })
        .unwrap();
        let back: Hello = payload::decode(&bytes).unwrap();
        assert_eq!(back.reply_to, r);
        assert_eq!(back.reply_to.member().generation, 0xfeed);
        assert_eq!(back.text, "hi");
    }

    #[test]
    fn a_reborn_member_is_another_target() {
        let a = |generation| ActorAddr {
            member: MemberId::new("n1", "127.0.0.1:7001".parse().unwrap(), generation),
            actor: ActorId(1),
        };
        assert_ne!(a(1), a(2));
    }
}
