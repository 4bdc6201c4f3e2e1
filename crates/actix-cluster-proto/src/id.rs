//! Member identity.

use std::fmt;
use std::net::SocketAddr;

/// A number that is new for every process start (e.g. start time in microseconds
/// mixed with randomness). Two processes on the same address with different
/// generations are different members, so a restarted process can never be
/// confused with its old self.
pub type Generation = u64;

/// SWIM incarnation number: only the member itself raises it, to refute a
/// suspicion or to announce a change of its own state.
pub type Incarnation = u32;

/// The identity of one member: a name, the gossip address others reach it at,
/// and the generation of the process.
///
/// Its string form, `name@addr/gen` with the generation in hex, e.g.
/// `node-1@10.0.0.5:7946-1a2b3c`, is what the HTTP API and the logs show.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    /// Human-readable name (host name by default); not necessarily unique.
    pub name: String,
    /// Advertised gossip address (UDP and TCP share this port).
    pub addr: SocketAddr,
    /// Process generation; see [`Generation`].
    pub generation: Generation,
}

impl MemberId {
    /// Builds an id.
    pub fn new(name: impl Into<String>, addr: SocketAddr, generation: Generation) -> Self {
        MemberId {
            name: name.into(),
            addr,
            generation,
        }
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}-{:x}", self.name, self.addr, self.generation)
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for MemberId {
    type Err = String;

    /// Parses the [`Display`](fmt::Display) form back.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("member id {s:?} has no '@' (expected name@addr-gen)"))?;
        let (addr, gen) = rest.rsplit_once('-').ok_or_else(|| {
            format!("member id {s:?} has no '-gen' suffix (expected name@addr-gen)")
        })?;
        let addr = addr
            .parse()
            .map_err(|e| format!("member id {s:?}: bad address {addr:?}: {e}"))?;
        let generation = u64::from_str_radix(gen, 16)
            .map_err(|e| format!("member id {s:?}: bad generation {gen:?}: {e}"))?;
        Ok(MemberId::new(name, addr, generation))
    }
}
